"""The voice bridge's codec and framing only, per 20 ms frame: μ-law, Twilio and Vonage messages, Sonic's
audioInput JSON and event-stream framing, timed in this process with nothing else around them.

These are not call figures: a real call also pays the SDK's serialization and SigV4 signing of every input
event, the HTTP/2 transport, the WebSocket and the event loop, which cost far more (see `bench/voice_calls.py`,
section `voice_calls`, for the bridge measured on real calls).

The "codec-only call-second" below is both directions at once with the agent talking the whole second: 50
Twilio `media` messages in (JSON, base64, μ-law → PCM, the Sonic audioInput event built), and five 100 ms
Sonic audioOutput events out (JSON, base64, PCM → 20 ms frames → μ-law, the Twilio `media` messages built).
"""

from __future__ import annotations

import base64
import json
import time

from smithy_aws_event_stream.events import EventMessage

from bench.stats import report, report_value, time_calls
from oratio.voice_bridge import sonic_protocol
from oratio.voice_bridge.audio import Framer, pcm16_to_ulaw, ulaw_to_pcm16
from oratio.voice_bridge.serializers import TwilioSerializer, VonageSerializer
from oratio_local.sonic_standin import tone

RATE = 8_000
FRAME = 320  # PCM16 bytes in 20 ms at 8 kHz


def _twilio() -> tuple[TwilioSerializer, list[str]]:
    serializer = TwilioSerializer()
    start = {
        "event": "start",
        "start": {
            "streamSid": "MZbench",
            "callSid": "CAbench",
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1},
        },
    }
    serializer.deserialize(json.dumps(start))
    pcm = tone(RATE, 1.0, frequency=220.0)
    inbound = [
        json.dumps(
            {
                "event": "media",
                "sequenceNumber": str(n),
                "media": {
                    "track": "inbound",
                    "chunk": str(n),
                    "timestamp": str(n * 20),
                    "payload": base64.b64encode(pcm16_to_ulaw(pcm[n * FRAME : (n + 1) * FRAME])).decode(),
                },
                "streamSid": "MZbench",
            }
        )
        for n in range(50)
    ]
    return serializer, inbound


def _sonic_chunks(seconds: float = 1.0, chunk_ms: int = 100) -> list[bytes]:
    pcm = tone(RATE, seconds)
    size = RATE * chunk_ms // 1000 * 2
    return [
        json.dumps(
            {
                "event": {
                    "audioOutput": {
                        "promptName": "p",
                        "contentId": "c",
                        "role": "ASSISTANT",
                        "content": base64.b64encode(pcm[i : i + size]).decode(),
                    }
                }
            }
        ).encode()
        for i in range(0, len(pcm), size)
    ]


def run() -> None:
    print("voice bridge codec and framing only — not a call (8 kHz telephony, μ-law ↔ PCM16, no resampling)")
    pcm = tone(RATE, 0.02)
    ulaw = pcm16_to_ulaw(pcm)
    report("μ-law → PCM16, one 20 ms frame", time_calls(lambda: ulaw_to_pcm16(ulaw), 20_000), "us")
    report("PCM16 → μ-law, one 20 ms frame", time_calls(lambda: pcm16_to_ulaw(pcm), 20_000), "us")
    twilio, inbound = _twilio()
    report("Twilio media message → CallerAudio frame", time_calls(lambda: twilio.deserialize(inbound[0]), 20_000), "us")
    report("PCM frame → Twilio media message", time_calls(lambda: twilio.serialize_audio(pcm), 20_000), "us")
    frames = Framer(FRAME).push(tone(RATE, 0.1))
    report(
        "100 ms chunk → 5 Twilio media messages (batched)",
        time_calls(lambda: twilio.serialize_audio_frames(frames), 20_000),
        "us",
    )
    vonage = VonageSerializer()
    vonage.deserialize(json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}))
    wide = tone(16_000, 0.02)
    report("Vonage L16 frame → CallerAudio frame", time_calls(lambda: vonage.deserialize(wide), 20_000), "us")
    framer = Framer(FRAME)
    chunk = tone(RATE, 0.1)
    report("framing a 100 ms Sonic chunk into 20 ms frames", time_calls(lambda: framer.push(chunk), 20_000), "us")
    event = sonic_protocol.audio_input_bytes("prompt", pcm)
    message = EventMessage(headers={":message-type": "event", ":event-type": "chunk"}, payload=event)
    report(
        "Sonic audioInput event (JSON) for one frame",
        time_calls(lambda: sonic_protocol.audio_input_bytes("p", pcm), 20_000),
        "us",
    )
    report("event-stream framing of that event (unsigned)", time_calls(message.encode, 20_000), "us")

    chunks = _sonic_chunks()
    parser = sonic_protocol.OutputParser(RATE)

    def call_second() -> None:
        for message in inbound:  # caller → Sonic
            frame = twilio.deserialize(message)
            sonic_protocol.audio_input_bytes("p", frame.pcm)  # type: ignore[union-attr]
        out = Framer(FRAME)
        for raw in chunks:  # Sonic → caller: as CallerOutput does, a chunk's frames serialized in one batch
            for audio in parser.parse(raw):
                twilio.serialize_audio_frames(out.push(audio.pcm))  # type: ignore[attr-defined]

    samples = time_calls(call_second, 400, warmup=20)
    report("codec-only call-second, both directions", samples, "ms")
    per_second = sorted(samples)[len(samples) // 2]
    report_value("codec-only ceiling (1 / that; no SDK, no I/O)", 1.0 / per_second, "calls")

    samples = []
    for _ in range(2_000):
        raw = chunks[_ % len(chunks)]
        out = Framer(FRAME)
        started = time.perf_counter()
        for audio in parser.parse(raw):
            twilio.serialize_audio_frames(out.push(audio.pcm))[0]  # type: ignore[attr-defined]
        samples.append(time.perf_counter() - started)
    report("codec-only: Sonic chunk → first Twilio frame", samples, "ms")
