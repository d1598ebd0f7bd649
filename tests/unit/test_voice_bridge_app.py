"""The bridge runtime's /ws edge: which provider is on the line, and refusing what no provider sends."""

from __future__ import annotations

import json

import pytest

from agentcore.voice_bridge.app import serializer_for
from oratio.voice_bridge.serializers import LocalSerializer, TwilioSerializer, VonageSerializer


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        (json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}), TwilioSerializer),
        (json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}), VonageSerializer),
        (json.dumps({"type": "start", "call_id": "local-1", "sample_rate": 8000}), LocalSerializer),
    ],
)
def test_the_first_message_tells_the_provider(first: str, kind: type) -> None:
    assert isinstance(serializer_for(first), kind)


DEEPLY_NESTED = "[" * 100_000 + "]" * 100_000  # json.loads would raise RecursionError, not a refusal


@pytest.mark.parametrize("first", [b"\x00\x01", "not json", "[1]", json.dumps({"event": "hello"}), DEEPLY_NESTED])
def test_a_stream_no_provider_would_open_is_refused_with_a_reason(first: str | bytes) -> None:
    with pytest.raises(ValueError, match=r"first message|provider|JSON"):
        serializer_for(first)


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_a_bridge_without_its_environment_closes_the_socket_as_a_server_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from agentcore.voice_bridge import app as bridge_app
    from agentcore.voice_bridge.wiring import ENVIRONMENT

    for variable in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    bridge_app.set_call_runner(None)
    with (
        TestClient(bridge_app.app) as client,
        client.websocket_connect("/ws") as socket,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        socket.receive_text()
    assert closed.value.code == 1011
