"""The Nova Sonic stand-in speaks the protocol, not the bridge's conventions: AWS's published Nova 2 Sonic
Python sample's event sequence (aws-samples/amazon-nova-samples, speech-to-speech/amazon-nova-2-sonic/
sample-codes/console-python/nova_sonic_tool_use.py: random UUID content names, 16 kHz in, 24 kHz out, a tool
result sent as its own TOOL content) runs against it through the real SDK client, a tool result is matched by
`toolResultInputConfiguration.toolUseId`, and audio formats the Nova Sonic reference does not list are refused
as the service would refuse them."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

from aws_sdk_bedrock_runtime.models import (
    BidirectionalInputPayloadPart,
    InvokeModelWithBidirectionalStreamInputChunk,
    InvokeModelWithBidirectionalStreamOperationInput,
)

from oratio.adapters.nova_sonic import build_client
from oratio.voice_bridge.config import SonicSettings
from oratio_local.sonic_standin import Scenario, SessionLog, SonicStandIn, ToolUse, Turn, tone

MODEL_ID = "amazon.nova-2-sonic-v1:0"
INPUT_RATE, OUTPUT_RATE = 16_000, 24_000  # the sample's rates
CHUNK_BYTES = 1024 * 2  # the sample reads 1024 frames per buffer
ORDER_TURN = Turn(
    heard="Where is my order one two three four?",
    reply="Your order: {tool_result}",
    tool=ToolUse(name="trackOrderTool", arguments={"orderId": "1234"}),
    reply_seconds=0.3,
)
ORDER_STATUS = {"orderStatus": "Shipped", "orderNumber": "1234"}


def _event(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"event": {name: body}}


def _audio_config(rate: int) -> dict[str, Any]:
    return {
        "mediaType": "audio/lpcm",
        "sampleRateHertz": rate,
        "sampleSizeBits": 16,
        "channelCount": 1,
        "audioType": "SPEECH",
        "encoding": "base64",
    }


def _prompt_start(prompt: str, output_rate: int) -> dict[str, Any]:
    no_arguments = json.dumps({"type": "object", "properties": {}, "required": []})
    order = json.dumps({"type": "object", "properties": {"orderId": {"type": "string"}}, "required": ["orderId"]})
    return _event(
        "promptStart",
        {
            "promptName": prompt,
            "textOutputConfiguration": {"mediaType": "text/plain"},
            "audioOutputConfiguration": {**_audio_config(output_rate), "voiceId": "matthew"},
            "toolUseOutputConfiguration": {"mediaType": "application/json"},
            "toolConfiguration": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "getDateAndTimeTool",
                            "description": "date",
                            "inputSchema": {"json": no_arguments},
                        }
                    },
                    {"toolSpec": {"name": "trackOrderTool", "description": "orders", "inputSchema": {"json": order}}},
                ]
            },
        },
    )


async def sample_session(
    sonic: SonicStandIn, *, input_rate: int = INPUT_RATE, output_rate: int = OUTPUT_RATE, answer_tool_use_id: str = ""
) -> list[dict[str, Any]]:
    """The sample's sequence, in our own code: sessionStart, promptStart, a SYSTEM text content, one
    interactive AUDIO content fed in 1024-frame chunks, each toolUse answered as a TOOL content of its own
    (a fresh UUID content name, `toolResultInputConfiguration.toolUseId`), then contentEnd, promptEnd and
    sessionEnd. Returns every output event. `answer_tool_use_id` overrides the id the result names."""
    client = await build_client(
        SonicSettings(endpoint_uri=sonic.endpoint),
        ca_file=sonic.ca_file,
        aws_access_key_id="AKIDSAMPLE",
        aws_secret_access_key="sample",
    )
    stream = await client.invoke_model_with_bidirectional_stream(
        InvokeModelWithBidirectionalStreamOperationInput(model_id=MODEL_ID)
    )

    async def send(event: dict[str, Any]) -> None:
        chunk = BidirectionalInputPayloadPart(bytes_=json.dumps(event).encode())
        await stream.input_stream.send(InvokeModelWithBidirectionalStreamInputChunk(value=chunk))

    prompt, system, audio = (str(uuid.uuid4()) for _ in range(3))
    await send(_event("sessionStart", {"inferenceConfiguration": {"maxTokens": 1024, "topP": 0.9, "temperature": 0.7}}))
    await send(_prompt_start(prompt, output_rate))
    text_config = {"textInputConfiguration": {"mediaType": "text/plain"}}
    await send(
        _event(
            "contentStart",
            {"promptName": prompt, "contentName": system, "type": "TEXT", "role": "SYSTEM", "interactive": False}
            | text_config,
        )
    )
    await send(_event("textInput", {"promptName": prompt, "contentName": system, "content": "You are a friend."}))
    await send(_event("contentEnd", {"promptName": prompt, "contentName": system}))
    await send(
        _event(
            "contentStart",
            {
                "promptName": prompt,
                "contentName": audio,
                "type": "AUDIO",
                "interactive": True,
                "role": "USER",
                "audioInputConfiguration": _audio_config(input_rate),
            },
        )
    )
    _, output = await stream.await_output()
    received: list[dict[str, Any]] = []
    done = asyncio.Event()
    tool_use: dict[str, Any] = {}

    async def read() -> None:
        try:
            while (event := await output.receive()) is not None:
                message = json.loads(event.value.bytes_)
                received.append(message)
                (name, body), *_ = message["event"].items()
                if name == "toolUse":
                    tool_use.update(body)
                elif name == "contentEnd" and body.get("type") == "TOOL":
                    content = str(uuid.uuid4())
                    tool_use_id = answer_tool_use_id or tool_use["toolUseId"]
                    await send(
                        _event(
                            "contentStart",
                            {
                                "promptName": prompt,
                                "contentName": content,
                                "interactive": False,
                                "type": "TOOL",
                                "role": "TOOL",
                                "toolResultInputConfiguration": {"toolUseId": tool_use_id, "type": "TEXT"}
                                | text_config,
                            },
                        )
                    )
                    result = {"promptName": prompt, "contentName": content, "content": json.dumps(ORDER_STATUS)}
                    await send(_event("toolResult", result))
                    await send(_event("contentEnd", {"promptName": prompt, "contentName": content}))
                elif name == "completionEnd":
                    done.set()
        except Exception:  # the stream ended with an exception event (a refusal): the test reads the log
            done.set()

    reader = asyncio.create_task(read())
    speech = tone(input_rate, 0.5) + bytes(input_rate * 2)  # half a second of "speech", then a second of quiet
    chunks = [speech[i : i + CHUNK_BYTES] for i in range(0, len(speech), CHUNK_BYTES)]
    for chunk in chunks:
        if done.is_set():
            break
        audio_input = {"promptName": prompt, "contentName": audio, "content": base64.b64encode(chunk).decode()}
        await send(_event("audioInput", audio_input))
        await asyncio.sleep(0.005)
    await asyncio.wait_for(done.wait(), 10)
    for event in (
        _event("contentEnd", {"promptName": prompt, "contentName": audio}),
        _event("promptEnd", {"promptName": prompt}),
        _event("sessionEnd", {}),
    ):
        try:
            await send(event)
        except Exception:  # a refused session is already over; the log holds the refusal
            break
    try:
        await stream.input_stream.close()
        await asyncio.wait_for(reader, 10)
    finally:
        await stream.close()
        await client.close()
    return received


def _names(events: list[dict[str, Any]]) -> list[str]:
    names = []
    for message in events:
        (name, body), *_ = message["event"].items()
        names.append(f"{name}:{body['type']}:{body['role']}" if name == "contentStart" else name)
    return names


def _session(sonic: SonicStandIn) -> SessionLog:
    assert len(sonic.sessions) == 1
    return sonic.sessions[0]


def test_aws_published_sample_event_sequence_is_answered_with_a_tool_call_and_audio_at_its_rate() -> None:
    async def scenario() -> tuple[list[dict[str, Any]], SessionLog]:
        async with SonicStandIn(Scenario(turns=[ORDER_TURN], speed=50.0)) as sonic:
            events = await sample_session(sonic)
            return events, _session(sonic)

    events, log = asyncio.run(scenario())
    names = _names(events)
    assert names[:7] == [
        "completionStart",
        "contentStart:TEXT:USER",
        "textOutput",
        "contentEnd",
        "contentStart:TOOL:TOOL",
        "toolUse",
        "contentEnd",
    ]
    assert names[-2:] == ["usageEvent", "completionEnd"]
    tool_use = next(e["event"]["toolUse"] for e in events if "toolUse" in e["event"])
    assert tool_use["toolName"] == "trackOrderTool"
    assert json.loads(tool_use["content"]) == {"orderId": "1234"}
    # The result the sample sent under a content name of its own reached the toolUse it answered.
    assert log.tool_results == {tool_use["toolUseId"]: json.dumps(ORDER_STATUS)}
    replies = [e["event"]["textOutput"]["content"] for e in events if "textOutput" in e["event"]]
    assert replies[0] == ORDER_TURN.heard
    assert json.dumps(ORDER_STATUS) in replies[-1]
    audio = b"".join(
        base64.b64decode(e["event"]["audioOutput"]["content"]) for e in events if "audioOutput" in e["event"]
    )
    assert len(audio) == round(ORDER_TURN.reply_seconds * OUTPUT_RATE) * 2  # 24 kHz, as the sample asked
    assert (log.audio_rate, log.output_rate) == (INPUT_RATE, OUTPUT_RATE)
    assert log.refusal is None
    assert log.closed_cleanly


def test_a_tool_result_naming_another_tool_use_id_answers_nothing() -> None:
    async def scenario() -> SessionLog:
        async with SonicStandIn(Scenario(turns=[ORDER_TURN], speed=50.0)) as sonic:
            await sample_session(sonic, answer_tool_use_id="not-the-tool-use-id")
            return _session(sonic)

    log = asyncio.run(scenario())
    assert log.tool_results == {}
    assert log.refusal is not None
    assert "answers no toolUse" in log.refusal


def test_an_audio_rate_the_sonic_reference_does_not_list_is_refused() -> None:
    async def scenario(input_rate: int, output_rate: int) -> SessionLog:
        async with SonicStandIn(Scenario(turns=[ORDER_TURN], speed=50.0)) as sonic:
            await sample_session(sonic, input_rate=input_rate, output_rate=output_rate)
            return _session(sonic)

    refused_input = asyncio.run(scenario(11_025, OUTPUT_RATE))
    assert refused_input.refusal is not None
    assert "audioInputConfiguration" in refused_input.refusal
    assert "11025" in refused_input.refusal
    refused_output = asyncio.run(scenario(INPUT_RATE, 44_100))
    assert refused_output.refusal is not None
    assert "audioOutputConfiguration" in refused_output.refusal
    assert refused_output.tool_results == {}
