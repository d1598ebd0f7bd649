"""Local stand-ins for the cascaded path's speech services (Amazon Transcribe streaming, Amazon Polly).

Honest about what they are: `ScriptedRecognizer` does not recognize words. It finds the caller's turns
by audio energy (voiced 20 ms frames, then `silence_ms` of quiet, in audio time) and reports the next
line of its script as the FINAL result of each turn, with a partial result as soon as speech starts (so
barge-in works as with Transcribe). `ToneSynthesizer` renders text as a tone whose length follows the
number of words. Both can be told to fail, to exercise the degradation ladder.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from oratio.voice_bridge.ports import RecognitionError, RecognizedText, SynthesisError
from oratio_local.sonic_standin import FRAME_MS, VOICE_RMS, rms, tone

SECONDS_PER_WORD = 0.08


class EnergyTurnStream:
    """Caller turns found by audio energy; each turn's final result is the next of `lines` (shared, consumed)."""

    def __init__(self, lines: list[str], sample_rate: int, silence_ms: int) -> None:
        self._lines = lines
        self._frame = sample_rate * FRAME_MS // 1000 * 2
        self._silence_ms = silence_ms
        self._pending = b""
        self._voiced = 0
        self._quiet = 0
        self._in_turn = False
        self._results: asyncio.Queue[RecognizedText | None] = asyncio.Queue()

    async def send_audio(self, pcm: bytes) -> None:
        data = self._pending + pcm
        whole = len(data) - len(data) % self._frame
        self._pending = data[whole:]
        for start in range(0, whole, self._frame):
            if rms(data[start : start + self._frame]) >= VOICE_RMS:
                self._voiced += FRAME_MS
                self._quiet = 0
                if not self._in_turn and self._voiced >= 3 * FRAME_MS:
                    self._in_turn = True
                    self._results.put_nowait(RecognizedText(text="…", final=False))
            else:
                self._quiet += FRAME_MS
                self._voiced = 0
                if self._in_turn and self._quiet >= self._silence_ms:
                    self._in_turn = False
                    if self._lines:
                        self._results.put_nowait(RecognizedText(text=self._lines.pop(0), final=True))

    async def results(self) -> AsyncIterator[RecognizedText]:
        while True:
            item = await self._results.get()
            if item is None:
                return
            yield item

    async def close(self) -> None:
        self._results.put_nowait(None)


class ScriptedRecognizer:
    def __init__(self, lines: list[str] | None = None, *, silence_ms: int = 200, fail: bool = False) -> None:
        self.lines = list(lines or [])
        self.silence_ms = silence_ms
        self.fail = fail
        self.started = 0

    async def start(self, sample_rate: int) -> EnergyTurnStream:
        self.started += 1
        if self.fail:
            raise RecognitionError("the scripted recognizer is set to fail")
        return EnergyTurnStream(self.lines, sample_rate, self.silence_ms)


class ToneSynthesizer:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.spoken: list[str] = []

    async def synthesize(self, text: str, sample_rate: int) -> bytes:
        if self.fail:
            raise SynthesisError("the tone synthesizer is set to fail")
        self.spoken.append(text)
        return tone(sample_rate, max(0.1, SECONDS_PER_WORD * len(text.split())), frequency=440.0)
