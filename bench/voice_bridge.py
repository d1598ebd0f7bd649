"""The voice bridge's audio path: codec and framing per 20 ms frame, calls one core sustains, and the
bridge's own latency from a Nova Sonic audio chunk to the first telephony frame.

What a "call-second" costs here: both directions at once with the agent talking the whole second (the
worst case): 50 Twilio `media` messages in (JSON, base64, μ-law → PCM, the Sonic audioInput event built),
and five 100 ms Sonic audioOutput events out (JSON, base64, PCM → 20 ms frames → μ-law, the Twilio
`media` messages built). Not included: WebSocket I/O, the SDK's SigV4 signing of each input event, and
event-stream framing (timed separately below), all of which run in C or on the network in part.
"""

from __future__ import annotations

import base64
import json
import time

from smithy_aws_event_stream.events import EventMessage

from bench.stats import percentile, report, report_value, time_calls
from oratio.voice_bridge import sonic_protocol
from oratio.voice_bridge.audio import Framer, pcm16_to_ulaw, ulaw_to_pcm16
from oratio.voice_bridge.serializers import TwilioSerializer, VonageSerializer
from oratio_local.sonic_standin import tone

RATE = 8_000
FRAME = 320  # PCM16 bytes in 20 ms at 8 kHz
TARGET_CALLS_PER_CORE = 2_000
TARGET_P99_MS = 1.0


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
    print("voice bridge audio path (8 kHz telephony, μ-law ↔ PCM16, no resampling)")
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
    report("one call-second, both directions", samples, "ms")
    per_second = sorted(samples)[len(samples) // 2]
    calls = 1.0 / per_second
    verdict = "meets" if calls >= TARGET_CALLS_PER_CORE else "MISSES"
    report_value(f"concurrent calls one core sustains ({verdict} ≥ {TARGET_CALLS_PER_CORE})", calls, "calls")

    samples = []
    for _ in range(2_000):
        raw = chunks[_ % len(chunks)]
        out = Framer(FRAME)
        started = time.perf_counter()
        for audio in parser.parse(raw):
            twilio.serialize_audio_frames(out.push(audio.pcm))[0]  # type: ignore[attr-defined]
        samples.append(time.perf_counter() - started)
    report("Sonic audio chunk → first Twilio frame (added latency)", samples, "ms")
    p99_ms = percentile(samples, 99) * 1000
    print(
        f"  {'added latency p99 vs target':<48} {'meets' if p99_ms <= TARGET_P99_MS else 'MISSES'} ≤ {TARGET_P99_MS} ms"
    )
