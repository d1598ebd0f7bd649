"""The voice bridge on AgentCore Runtime: `BedrockAgentCoreApp`'s WebSocket route `/ws` carries one call.

Thin edge: accept the socket, tell the provider from its first message (Twilio's `connected`/`start`,
Vonage's `websocket:connected`, or the local format), run a `VoiceCall`, close. What the call is wired
to (Nova Sonic, the tenant agent, the recorder) comes from `build_call`, set up once per process from the
environment; tests and the local mode inject their own.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp, RequestContext
from starlette.websockets import WebSocket, WebSocketDisconnect

from oratio.voice_bridge.serializers import (
    FrameSerializer,
    LocalSerializer,
    TwilioSerializer,
    VonageSerializer,
    WireMessage,
)

logger = logging.getLogger("oratio.voice_bridge")

app = BedrockAgentCoreApp()

# (serializer, send, messages) -> the call's outcome; set by the runtime's wiring or by tests.
CallRunner = Callable[
    [FrameSerializer, Callable[[WireMessage], Awaitable[None]], AsyncIterator[WireMessage]], Awaitable[Any]
]
_runner: list[CallRunner] = []


def set_call_runner(runner: CallRunner | None) -> None:
    _runner.clear()
    if runner is not None:
        _runner.append(runner)


def serializer_for(first: WireMessage) -> FrameSerializer:
    """The provider's serializer, told from its first message; a message nobody sends is refused."""
    if isinstance(first, bytes):
        raise ValueError("a media stream must open with a JSON text message, not audio")
    try:
        data = json.loads(first)
    except ValueError as e:
        raise ValueError("the first message is not JSON") from e
    if not isinstance(data, dict):
        raise ValueError("the first message is not a JSON object")
    if data.get("event") in {"connected", "start"}:
        return TwilioSerializer()
    if data.get("event") == "websocket:connected" or "content-type" in data:
        return VonageSerializer()
    if data.get("type") == "start":
        return LocalSerializer()
    raise ValueError("unknown media-stream provider: expected Twilio, Vonage or the local format")


@app.websocket
async def media_stream(websocket: WebSocket, context: RequestContext) -> None:
    await websocket.accept()
    if not _runner:
        logger.error("voice bridge has no call runner configured")
        await websocket.close(code=1011)
        return

    async def receive() -> WireMessage | None:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return None
        if message["type"] == "websocket.disconnect":
            return None
        return message.get("text") if message.get("text") is not None else message.get("bytes")

    first = await receive()
    if first is None:
        return
    try:
        serializer = serializer_for(first)
    except ValueError as e:
        logger.warning("media stream refused: %s", e)
        await websocket.close(code=1003)
        return

    async def messages() -> AsyncIterator[WireMessage]:
        yield first
        while (message := await receive()) is not None:
            yield message

    async def send(message: WireMessage) -> None:
        if isinstance(message, bytes):
            await websocket.send_bytes(message)
        else:
            await websocket.send_text(message)

    try:
        outcome = await _runner[0](serializer, send, messages())
        logger.info("call ended", extra={"session_id": context.session_id, "outcome": repr(outcome)})
    finally:
        with contextlib.suppress(RuntimeError):  # already closed by the caller's side
            await websocket.close()
