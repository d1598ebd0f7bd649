"""A local stand-in for Amazon Transcribe streaming at the SDK client's seam, so the voice bridge's own
adapter (`oratio.adapters.transcribe_streaming`) runs unchanged on the cascaded rung.

`ScriptedTranscribeClient` is what `AsyncTranscribeStreamingClient` is to the adapter:
`start_stream_transcription(StartStreamTranscriptionInput)` returns a duplex stream whose input takes
`AudioStreamAudioEvent`s and whose output gives `TranscriptResultStreamTranscriptEvent`s. It does not recognize
words: it finds the caller's turns by audio energy (as `oratio_local.speech.ScriptedRecognizer` does) and reports
the next of its lines as each turn's final result, after a partial as soon as speech starts (which is what the
bridge's barge-in listens for). It refuses a request Transcribe would refuse (encoding, sample rate, language),
and can be told to refuse every stream, to take the cascaded rung down too.
"""

from __future__ import annotations

from typing import Any

from aws_sdk_transcribe_streaming.models import (
    Alternative,
    AudioStreamAudioEvent,
    BadRequestException,
    MediaEncoding,
    Result,
    StartStreamTranscriptionInput,
    Transcript,
    TranscriptEvent,
    TranscriptResultStreamTranscriptEvent,
)

from oratio_local.speech import EnergyTurnStream

# StartStreamTranscription's documented range for PCM (MediaSampleRateHertz).
MIN_SAMPLE_RATE_HZ = 8_000
MAX_SAMPLE_RATE_HZ = 48_000


class TranscribeRefused(RuntimeError):
    """The stand-in is set to refuse streams (Transcribe unavailable)."""


def _event(text: str, *, final: bool) -> TranscriptResultStreamTranscriptEvent:
    result = Result(is_partial=not final, alternatives=[Alternative(transcript=text)])
    return TranscriptResultStreamTranscriptEvent(value=TranscriptEvent(transcript=Transcript(results=[result])))


class _Input:
    def __init__(self, stream: EnergyTurnStream) -> None:
        self._stream = stream
        self.closed = False

    async def send(self, event: AudioStreamAudioEvent) -> None:
        if self.closed:
            raise OSError("the audio stream is closed")
        await self._stream.send_audio(event.value.audio_chunk or b"")

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._stream.close()  # Transcribe sends its last results, then ends the output


class _Output:
    def __init__(self, stream: EnergyTurnStream) -> None:
        self._results = stream.results()

    async def receive(self) -> TranscriptResultStreamTranscriptEvent | None:
        recognized = await anext(self._results, None)
        return None if recognized is None else _event(recognized.text, final=recognized.final)


class _Duplex:
    def __init__(self, stream: EnergyTurnStream) -> None:
        self.input_stream = _Input(stream)
        self._output = _Output(stream)

    async def await_output(self) -> tuple[object, _Output]:
        return object(), self._output

    async def close(self) -> None:
        await self.input_stream.close()


class ScriptedTranscribeClient:
    """Transcribe streaming for a replayed call: `lines` are what the caller says, in order, across streams."""

    def __init__(self, lines: list[str], *, refuse: bool = False, silence_ms: int = 200) -> None:
        self.lines = list(lines)
        self.refuse = refuse
        self.silence_ms = silence_ms
        self.requests: list[StartStreamTranscriptionInput] = []

    async def start_stream_transcription(self, request: StartStreamTranscriptionInput) -> _Duplex:
        self.requests.append(request)
        problem = _refused(request)
        if problem:
            raise BadRequestException(message=problem)
        if self.refuse:
            raise TranscribeRefused("Transcribe streaming is down (replay fault)")
        rate = request.media_sample_rate_hertz or 0
        return _Duplex(EnergyTurnStream(self.lines, rate, self.silence_ms))

    async def close(self) -> None:
        return None


def _refused(request: Any) -> str:
    """What Transcribe would answer a bad request with (BadRequestException), or "" when it is acceptable."""
    if request.media_encoding != MediaEncoding.PCM:
        return f"media encoding {request.media_encoding!r}: the bridge streams PCM"
    rate = request.media_sample_rate_hertz
    if rate is None or not MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ:
        return f"media sample rate {rate!r} Hz is outside {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz"
    if not request.language_code and not request.identify_language:
        return "a language code (or language identification) is required"
    return ""
