"""The voice bridge on AgentCore Runtime: `BedrockAgentCoreApp`'s WebSocket route `/ws` carries one call.

Thin edge: accept the socket, tell the provider from its first message (Twilio's `connected`/`start`,
Vonage's `websocket:connected`, or the local format), run a `VoiceCall`, close. What the call is wired
to (Nova Sonic, the tenant agent, the recorder) comes from `wiring.build_call_runner`, built on the first
call from the environment the stack sets (never at import); tests and the local mode inject their own
runner with `set_call_runner`.
"""

from __future__ import annotations

import contextlib
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
    wire_json,
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
        data = wire_json(first)
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


def call_runner() -> CallRunner | None:
    """The runner set by tests or the local mode, else the deployed one, built once from the environment."""
    if not _runner:
        from agentcore.voice_bridge.wiring import build_call_runner

        try:
            _runner.append(build_call_runner())
        except Exception:  # WiringError names the variables; anything else is logged with its trace
            logger.exception("voice bridge cannot build its call runner from the environment")
            return None
    return _runner[0]


@app.websocket
async def media_stream(websocket: WebSocket, context: RequestContext) -> None:
    await websocket.accept()
    runner = call_runner()
    if runner is None:
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
        outcome = await runner(serializer, send, messages())
        logger.info("call ended", extra={"session_id": context.session_id, "outcome": repr(outcome)})
    except ValueError as e:  # CallRefusedError: not a call this bridge can take
        logger.warning("media stream refused: %s", e)
    finally:
        with contextlib.suppress(RuntimeError):  # already closed by the caller's side
            await websocket.close()


def serve() -> None:
    """Run the app with uvicorn: 127.0.0.1 unless the deployment sets `ORATIO_AGENT_HOST=0.0.0.0`."""
    from agentcore.tenant_agent.wiring import ServerSettings

    settings = ServerSettings.from_environ()
    # Always pass the host: the SDK would pick 0.0.0.0 whenever /.dockerenv exists.
    app.run(port=settings.port, host=settings.host)
