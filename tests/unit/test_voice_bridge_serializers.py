"""Serializer hot paths give exactly what the plain paths give: batched μ-law conversion of a speech chunk,
and the Twilio `media` fast path against the full JSON parse."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from oratio.voice_bridge.audio import pcm16_to_ulaw
from oratio.voice_bridge.frames import CallerAudio
from oratio.voice_bridge.serializers import LocalSerializer, TwilioSerializer, VonageSerializer, WireFormatError
from oratio_local.sonic_standin import tone


def _twilio() -> TwilioSerializer:
    serializer = TwilioSerializer()
    start = {
        "event": "start",
        "start": {
            "streamSid": "MZ1",
            "callSid": "CA1",
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    serializer.deserialize(json.dumps(start))
    return serializer


@pytest.mark.parametrize(
    "sizes", [[320] * 5, [320], [320, 320, 100], [320, 161]], ids=["chunk", "one", "short-tail", "odd-tail"]
)
def test_a_chunk_serialized_in_one_batch_equals_frame_by_frame(sizes: list[int]) -> None:
    pcm = tone(8000, 0.2)
    frames, at = [], 0
    for size in sizes:
        frames.append(pcm[at : at + size])
        at += size
    twilio = _twilio()
    assert twilio.serialize_audio_frames(frames) == [twilio.serialize_audio(f) for f in frames]
    for other in (VonageSerializer(), LocalSerializer()):
        assert other.serialize_audio_frames(frames) == [other.serialize_audio(f) for f in frames]


@pytest.mark.parametrize("compact", [True, False], ids=["twilio-compact", "spaced"])
def test_the_media_fast_path_reads_what_the_full_parse_reads(compact: bool) -> None:
    ulaw = pcm16_to_ulaw(tone(8000, 0.02))
    message = {
        "event": "media",
        "sequenceNumber": "3",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": base64.b64encode(ulaw).decode()},
        "streamSid": "MZ1",
    }
    text = json.dumps(message, separators=(",", ":") if compact else None)
    frame = _twilio().deserialize(text)
    assert isinstance(frame, CallerAudio)
    assert pcm16_to_ulaw(frame.pcm) == ulaw


def test_outbound_track_media_is_not_caller_audio() -> None:
    payload = base64.b64encode(b"\xff" * 160).decode()
    message = json.dumps({"event": "media", "media": {"track": "outbound", "payload": payload}, "streamSid": "MZ1"})
    assert _twilio().deserialize(message) is None


def test_a_media_payload_that_is_not_base64_is_a_wire_format_error() -> None:
    message = json.dumps(
        {"event": "media", "media": {"track": "inbound", "payload": "not base64!"}, "streamSid": "MZ1"}
    )
    with pytest.raises(WireFormatError):
        _twilio().deserialize(message)


@pytest.mark.parametrize("serializer", [_twilio, VonageSerializer, LocalSerializer])
def test_a_message_nested_past_the_parsers_limit_is_a_wire_format_error(serializer: Callable[[], Any]) -> None:
    nested = '{"event":"media","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    s = serializer()
    if isinstance(s, VonageSerializer):
        s.deserialize(json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}))
    with pytest.raises(WireFormatError):
        s.deserialize(nested)
