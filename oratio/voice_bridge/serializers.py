"""Telephony wire formats ↔ frames, one serializer per media-stream provider.

- Twilio Media Streams: JSON text messages (`connected`, `start`, `media`, `mark`, `stop`); audio is
  base64 G.711 μ-law at 8 kHz (20 ms = 160 bytes). Outbound: `media`, `mark`, `clear`.
- Vonage WebSocket: the first text message is JSON with `content-type: audio/l16;rate=16000`, then
  binary 16-bit linear PCM frames (640 bytes per 20 ms); outbound audio is binary frames the same way.
- Local: a plain format for local calls: JSON control messages and binary PCM16 at the agreed rate.

The μ-law codec is part of Twilio's wire format, so it happens here; frames inside carry PCM only.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from oratio.voice_bridge.audio import TELEPHONY_RATE, WIDEBAND_RATE, pcm16_to_ulaw, ulaw_to_pcm16
from oratio.voice_bridge.frames import CallerAudio, Clear, Frame, Mark, Start, Stop

logger = logging.getLogger(__name__)

WireMessage = str | bytes

_MEDIA_EVENT = re.compile(r'"event"\s*:\s*"media"')
_PAYLOAD = re.compile(r'"payload"\s*:\s*"([A-Za-z0-9+/=]*)"')
_TRACK = re.compile(r'"track"\s*:\s*"([a-z_]+)"')


def _INBOUND_OR_NO_TRACK(message: str) -> bool:
    track = _TRACK.search(message)
    return track is None or track.group(1) == "inbound"


def wire_json(message: str | bytes) -> Any:
    """A media-stream text message as JSON. pydantic-core's parser refuses nesting past its recursion limit with a
    ValueError (`json.loads` would raise RecursionError, which no caller of a serializer expects)."""
    return from_json(message)


class WireFormatError(ValueError):
    """A message from the provider could not be understood (logged and skipped, never fatal)."""


class FrameSerializer(Protocol):
    """Translate one provider's messages into frames and frames into its messages."""

    @property
    def sample_rate(self) -> int:
        """The PCM rate of audio frames on this wire (what the speech stage runs at)."""
        ...

    @property
    def frame_bytes(self) -> int:
        """PCM16 bytes per outbound 20 ms frame."""
        ...

    def deserialize(self, message: WireMessage) -> Frame | None:
        """The frame a provider message carries, or None for messages with nothing for the call."""
        ...

    def serialize_audio(self, pcm: bytes) -> WireMessage:
        """One outbound 20 ms PCM16 frame as the provider's message."""
        ...

    def serialize_audio_frames(self, frames: list[bytes]) -> list[WireMessage]:
        """Consecutive outbound frames (one speech chunk) as messages, one per frame, in order: what
        `serialize_audio` gives for each, converted in one batch where the codec allows."""
        ...

    def serialize_control(self, frame: Mark | Clear) -> WireMessage | None:
        """A control frame as the provider's message; None when the provider has no such message."""
        ...


# ------------------------------------------------------------------------------------------ Twilio
class _TwilioMediaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    encoding: str
    sample_rate: int = Field(alias="sampleRate")
    channels: int = 1


class _TwilioStart(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    stream_sid: str = Field(alias="streamSid")
    call_sid: str = Field(alias="callSid")
    account_sid: str = Field(default="", alias="accountSid")
    custom_parameters: dict[str, str] = Field(default_factory=dict, alias="customParameters")
    media_format: _TwilioMediaFormat = Field(alias="mediaFormat")


class TwilioSerializer:
    """Twilio Media Streams (bidirectional `<Connect><Stream>`)."""

    sample_rate = TELEPHONY_RATE
    frame_bytes = 320

    def __init__(self) -> None:
        self.stream_sid: str | None = None
        self._media_prefix = b""

    def deserialize(self, message: WireMessage) -> Frame | None:
        # Fast path for the 50-a-second `media` messages: a full JSON parse is most of their cost, and
        # their payload is a plain base64 string. Anything unusual falls through to the full parse.
        if isinstance(message, str) and self.stream_sid is not None and _MEDIA_EVENT.search(message, 0, 40):
            payload = _PAYLOAD.search(message)
            if payload is not None and _INBOUND_OR_NO_TRACK(message):
                try:
                    # strict_mode rejects anything but base64 like `b64decode(validate=True)`, in C (no regex).
                    ulaw = binascii.a2b_base64(payload.group(1), strict_mode=True)
                except binascii.Error as e:
                    raise WireFormatError("unreadable Twilio media payload") from e
                return CallerAudio(ulaw_to_pcm16(ulaw), TELEPHONY_RATE)
        try:
            data: dict[str, Any] = wire_json(message)
            event = data["event"]
            if event == "media":
                media = data["media"]
                if media.get("track", "inbound") != "inbound":
                    return None
                return CallerAudio(ulaw_to_pcm16(base64.b64decode(media["payload"])), TELEPHONY_RATE)
            if event == "start":
                start = _TwilioStart.model_validate(data["start"])
                if start.media_format.encoding != "audio/x-mulaw" or start.media_format.sample_rate != TELEPHONY_RATE:
                    raise WireFormatError(f"unsupported media format {start.media_format.encoding!r}")
                self.stream_sid = start.stream_sid
                # Outbound media messages differ only in their payload: prebuild the rest once.
                self._media_prefix = ('{"event":"media","streamSid":' + json.dumps(start.stream_sid)).encode()
                return Start(
                    call_id=start.call_sid,
                    stream_id=start.stream_sid,
                    sample_rate=TELEPHONY_RATE,
                    encoding="mulaw",
                    parameters=start.custom_parameters,
                )
            if event == "mark":
                return Mark(str(data["mark"]["name"]))
            if event == "stop":
                return Stop("caller_hung_up")
            return None  # connected, dtmf: nothing for the audio path
        except (KeyError, TypeError, ValueError, binascii.Error, ValidationError) as e:
            raise WireFormatError(f"unreadable Twilio message: {type(e).__name__}") from e

    def serialize_audio(self, pcm: bytes) -> WireMessage:
        return self._media_message(pcm16_to_ulaw(pcm))

    def serialize_audio_frames(self, frames: list[bytes]) -> list[WireMessage]:
        # One μ-law conversion for the whole chunk: the per-call overhead of the table lookup costs more than
        # the samples. Frames of odd length (a torn sample) are converted one by one, as `serialize_audio` would.
        if len(frames) < 2 or any(len(pcm) % 2 for pcm in frames):
            return [self.serialize_audio(pcm) for pcm in frames]
        ulaw = pcm16_to_ulaw(b"".join(frames))
        messages: list[WireMessage] = []
        at = 0
        for pcm in frames:
            samples = len(pcm) // 2
            messages.append(self._media_message(ulaw[at : at + samples]))
            at += samples
        return messages

    def _media_message(self, ulaw: bytes) -> str:
        return (self._media_prefix + b',"media":{"payload":"' + base64.b64encode(ulaw) + b'"}}').decode()

    def serialize_control(self, frame: Mark | Clear) -> WireMessage | None:
        if isinstance(frame, Clear):
            return json.dumps({"event": "clear", "streamSid": self.stream_sid})
        return json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": frame.name}})


# ------------------------------------------------------------------------------------------ Vonage
class VonageSerializer:
    """Vonage Voice API WebSocket (NCCO `connect` to a `websocket` endpoint, `audio/l16;rate=16000`)."""

    frame_bytes = 640

    def __init__(self, sample_rate: int = WIDEBAND_RATE) -> None:
        self.sample_rate = sample_rate
        self.frame_bytes = sample_rate // 50 * 2
        self._started = False

    def deserialize(self, message: WireMessage) -> Frame | None:
        if isinstance(message, bytes):
            if not self._started:
                raise WireFormatError("Vonage audio before the websocket:connected message")
            return CallerAudio(message, self.sample_rate)
        try:
            data: dict[str, Any] = wire_json(message)
        except ValueError as e:
            raise WireFormatError("unreadable Vonage message") from e
        if not isinstance(data, dict):
            raise WireFormatError("unreadable Vonage message")
        if data.get("event") == "websocket:connected" or "content-type" in data:
            content_type = str(data.get("content-type", ""))
            rate = _l16_rate(content_type)
            if rate is None:
                raise WireFormatError(f"unsupported Vonage content-type {content_type!r}")
            self.sample_rate = rate
            self.frame_bytes = rate // 50 * 2
            self._started = True
            params = {k: str(v) for k, v in data.items() if k not in {"event", "content-type"}}
            call_id = params.get("call_uuid") or params.get("uuid") or "vonage-call"
            return Start(call_id=call_id, stream_id=call_id, sample_rate=rate, encoding="l16", parameters=params)
        if data.get("event") == "websocket:dtmf":
            return None
        return None

    def serialize_audio(self, pcm: bytes) -> WireMessage:
        return pcm

    def serialize_audio_frames(self, frames: list[bytes]) -> list[WireMessage]:
        return list(frames)

    def serialize_control(self, frame: Mark | Clear) -> WireMessage | None:
        # Vonage has no mark echo; a clear is its `{"action":"clear"}` text command.
        if isinstance(frame, Clear):
            return json.dumps({"action": "clear"})
        return None


def _l16_rate(content_type: str) -> int | None:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "audio/l16":
        return None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip() == "rate" and value.strip() in {"8000", "16000", "24000"}:
            return int(value)
    return None


# ------------------------------------------------------------------------------------------- local
class LocalSerializer:
    """A plain format for local calls: `{"type":"start","call_id":…,"sample_rate":…}`, binary PCM16
    frames, `{"type":"mark","name":…}`, `{"type":"stop"}`; outbound `{"type":"clear"}` and marks."""

    def __init__(self, sample_rate: int = TELEPHONY_RATE) -> None:
        self.sample_rate = sample_rate
        self.frame_bytes = sample_rate // 50 * 2

    def deserialize(self, message: WireMessage) -> Frame | None:
        if isinstance(message, bytes):
            return CallerAudio(message, self.sample_rate)
        try:
            data: dict[str, Any] = wire_json(message)
            kind = data["type"]
            if kind == "start":
                self.sample_rate = int(data.get("sample_rate", self.sample_rate))
                self.frame_bytes = self.sample_rate // 50 * 2
                call_id = str(data["call_id"])
                params = {str(k): str(v) for k, v in dict(data.get("parameters", {})).items()}
                return Start(call_id, call_id, self.sample_rate, "l16", params)
            if kind == "mark":
                return Mark(str(data["name"]))
            if kind == "stop":
                return Stop(str(data.get("reason", "caller_hung_up")))
            return None
        except (KeyError, TypeError, ValueError) as e:
            raise WireFormatError("unreadable local message") from e

    def serialize_audio(self, pcm: bytes) -> WireMessage:
        return pcm

    def serialize_audio_frames(self, frames: list[bytes]) -> list[WireMessage]:
        return list(frames)

    def serialize_control(self, frame: Mark | Clear) -> WireMessage | None:
        if isinstance(frame, Clear):
            return json.dumps({"type": "clear"})
        return json.dumps({"type": "mark", "name": frame.name})
