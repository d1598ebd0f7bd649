"""A local telephony caller for the voice bridge: it speaks a provider's media-stream protocol (Twilio
Media Streams or Vonage's WebSocket, in the message shapes those providers document) to a `VoiceCall`,
with 'speech' that is a tone and silence that is silence. Used by the tests and by `make demo`.

`say()` sends a voiced stretch then silence; `wait_for()` keeps sending silence (as a real line does)
until a condition holds, e.g. until the agent has answered. Time runs `speed` times faster than real
time, so a call of a minute takes seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from oratio.voice_bridge.audio import pcm16_to_ulaw, silence, ulaw_to_pcm16
from oratio.voice_bridge.serializers import WireMessage
from oratio_local.sonic_standin import tone

FRAME_SECONDS = 0.02


CALLER_NUMBER = "+15551234567"
SPEED = 5.0  # simulated time runs this much faster than the wall clock


@dataclass
class Heard:
    """What the caller received from the bridge."""

    audio_frames: int = 0
    audio_bytes: int = 0
    clears: int = 0
    frames_after_clear: int = 0  # audio that still arrived after the provider was told to clear (a barge-in leak)
    marks: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


class LocalCaller:
    """Base: subclasses encode audio and control in their provider's shapes."""

    sample_rate = 8_000

    def __init__(self, call_id: str, *, caller_number: str = CALLER_NUMBER, speed: float = SPEED) -> None:
        self.call_id = call_id
        self.caller_number = caller_number
        self.speed = speed
        self.heard = Heard()
        self.sent_pcm_bytes = 0
        self._outbox: asyncio.Queue[WireMessage | None] = asyncio.Queue()
        self.hung_up = asyncio.Event()

    # --------------------------------------------------------------------------- what the bridge reads
    async def messages(self) -> AsyncIterator[WireMessage]:
        while True:
            message = await self._outbox.get()
            if message is None:
                return
            yield message

    async def receive_from_bridge(self, message: WireMessage) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------------------------- what a test does
    def opening(self) -> list[WireMessage]:
        raise NotImplementedError

    def audio_message(self, pcm: bytes) -> WireMessage:
        raise NotImplementedError

    def closing(self) -> list[WireMessage]:
        raise NotImplementedError

    async def dial(self) -> None:
        for message in self.opening():
            await self._outbox.put(message)

    async def _frames(self, pcm: bytes) -> None:
        size = self.sample_rate // 50 * 2
        for start in range(0, len(pcm), size):
            frame = pcm[start : start + size]
            self.sent_pcm_bytes += len(frame)
            await self._outbox.put(self.audio_message(frame))
            await asyncio.sleep(FRAME_SECONDS / self.speed)

    async def say(self, seconds: float = 0.4, pause: float = 0.3) -> None:
        await self._frames(tone(self.sample_rate, seconds, frequency=220.0, amplitude=8_000))
        await self._frames(silence(self.sample_rate, pause))

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Keep the line open (silence) until `condition()`; raise TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                await self._frames(silence(self.sample_rate, 0.1))

    async def hang_up(self) -> None:
        for message in self.closing():
            await self._outbox.put(message)
        await self._outbox.put(None)


class TwilioCaller(LocalCaller):
    """Twilio Media Streams: `connected`, `start` (μ-law 8 kHz), `media` with base64 μ-law, `stop`."""

    def __init__(
        self,
        call_id: str = "CA0000000000000000000000000000test",
        *,
        caller_number: str = "+15551234567",
        speed: float = 5.0,
    ) -> None:
        super().__init__(call_id, caller_number=caller_number, speed=speed)
        self.stream_sid = "MZ" + call_id[2:]
        self._sequence = 0

    def _next(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def opening(self) -> list[WireMessage]:
        return [
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            json.dumps(
                {
                    "event": "start",
                    "sequenceNumber": self._next(),
                    "start": {
                        "accountSid": "AC0000000000000000000000000000test",
                        "streamSid": self.stream_sid,
                        "callSid": self.call_id,
                        "tracks": ["inbound"],
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                        "customParameters": {"caller": self.caller_number},
                    },
                    "streamSid": self.stream_sid,
                }
            ),
        ]

    def audio_message(self, pcm: bytes) -> WireMessage:
        return json.dumps(
            {
                "event": "media",
                "sequenceNumber": self._next(),
                "media": {
                    "track": "inbound",
                    "chunk": str(self._sequence),
                    "timestamp": str(self._sequence * 20),
                    "payload": base64.b64encode(pcm16_to_ulaw(pcm)).decode(),
                },
                "streamSid": self.stream_sid,
            }
        )

    def closing(self) -> list[WireMessage]:
        return [
            json.dumps(
                {
                    "event": "stop",
                    "sequenceNumber": self._next(),
                    "stop": {"accountSid": "AC0000000000000000000000000000test", "callSid": self.call_id},
                    "streamSid": self.stream_sid,
                }
            )
        ]

    async def receive_from_bridge(self, message: WireMessage) -> None:
        data = json.loads(message)
        if data.get("streamSid") != self.stream_sid:
            self.heard.other.append("wrong streamSid")
        event = data["event"]
        if event == "media":
            pcm = ulaw_to_pcm16(base64.b64decode(data["media"]["payload"]))
            self.heard.audio_frames += 1
            self.heard.frames_after_clear += 1 if self.heard.clears else 0
            self.heard.audio_bytes += len(pcm)
        elif event == "clear":
            self.heard.clears += 1
        elif event == "mark":
            self.heard.marks.append(data["mark"]["name"])
        else:
            self.heard.other.append(event)


class VonageCaller(LocalCaller):
    """Vonage Voice API WebSocket: a `websocket:connected` JSON message, then binary L16 16 kHz frames."""

    sample_rate = 16_000

    def opening(self) -> list[WireMessage]:
        return [
            json.dumps(
                {
                    "event": "websocket:connected",
                    "content-type": "audio/l16;rate=16000",
                    "call_uuid": self.call_id,
                    "caller": self.caller_number,
                }
            )
        ]

    def audio_message(self, pcm: bytes) -> WireMessage:
        return pcm

    def closing(self) -> list[WireMessage]:
        return []

    async def receive_from_bridge(self, message: WireMessage) -> None:
        if isinstance(message, bytes):
            self.heard.audio_frames += 1
            self.heard.frames_after_clear += 1 if self.heard.clears else 0
            self.heard.audio_bytes += len(message)
            return
        data = json.loads(message)
        if data.get("action") == "clear":
            self.heard.clears += 1
        else:
            self.heard.other.append(str(data))
