"""The cascaded path's AWS speech adapters, offline: Polly's request shape against the API model (botocore
`Stubber` validates every parameter), and the Transcribe streaming adapter against a fake duplex stream at the
SDK's own boundary (the objects `start_stream_transcription` returns)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import boto3
import pytest
from aws_sdk_transcribe_streaming.models import (
    Alternative,
    AudioStreamAudioEvent,
    BadRequestException,
    MediaEncoding,
    Result,
    StartStreamTranscriptionInput,
    Transcript,
    TranscriptEvent,
    TranscriptResultStreamBadRequestException,
    TranscriptResultStreamTranscriptEvent,
)
from botocore.response import StreamingBody
from botocore.stub import Stubber

from oratio.adapters.polly import PollyRequestError, PollySynthesizer, PollyThrottledError
from oratio.adapters.transcribe_streaming import (
    TranscribeOpenError,
    TranscribeStreamError,
    TranscribeStreamingRecognizer,
)
from oratio.config.tenant import VoiceTier
from oratio.voice_bridge.ports import RecognizedText, SpeechError

PCM = b"\x01\x00\x02\x00" * 400


def _polly(tier: VoiceTier) -> tuple[PollySynthesizer, Stubber]:
    client = boto3.client("polly", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    return PollySynthesizer(tier, language_code="en-US", client=client), Stubber(client)


def _audio(pcm: bytes) -> dict[str, Any]:
    return {"AudioStream": StreamingBody(io.BytesIO(pcm), len(pcm)), "ContentType": "audio/pcm"}


@pytest.mark.parametrize(
    ("tier", "rate"),
    [(VoiceTier(voice_id="Joanna", engine="neural"), 8000), (VoiceTier(voice_id="Ruth", engine="generative"), 16000)],
)
def test_polly_speaks_pcm_at_the_call_rate_with_the_tier_voice_and_engine(tier: VoiceTier, rate: int) -> None:
    synthesizer, stubber = _polly(tier)
    expected = {
        "Engine": tier.engine,
        "OutputFormat": "pcm",
        "SampleRate": str(rate),
        "Text": "Your order ships tomorrow.",
        "TextType": "text",
        "VoiceId": tier.voice_id,
        "LanguageCode": "en-US",
    }
    stubber.add_response("synthesize_speech", _audio(PCM), expected)
    with stubber:
        pcm = asyncio.run(synthesizer.synthesize("  Your order ships tomorrow. ", rate))
    assert pcm == PCM
    stubber.assert_no_pending_responses()


def test_polly_throttling_is_a_speech_error_the_ladder_understands() -> None:
    synthesizer, stubber = _polly(VoiceTier(voice_id="Joanna"))
    stubber.add_client_error("synthesize_speech", "ThrottlingException", http_status_code=400)
    with stubber, pytest.raises(PollyThrottledError) as raised:
        asyncio.run(synthesizer.synthesize("Hello", 8000))
    assert isinstance(raised.value, SpeechError)


@pytest.mark.parametrize(
    ("text", "rate", "problem"),
    [("Hello", 24000, "8000, 16000"), ("   ", 8000, "no text"), ("x" * 3001, 8000, "at most 3000")],
)
def test_polly_refuses_what_it_cannot_speak_before_calling_aws(text: str, rate: int, problem: str) -> None:
    synthesizer, stubber = _polly(VoiceTier(voice_id="Joanna"))
    with stubber, pytest.raises(PollyRequestError, match=problem):
        asyncio.run(synthesizer.synthesize(text, rate))


# ------------------------------------------------------------------------------------- Transcribe
class FakeInput:
    def __init__(self) -> None:
        self.sent: list[AudioStreamAudioEvent] = []
        self.closed = False

    async def send(self, event: AudioStreamAudioEvent) -> None:
        if self.closed:
            raise OSError("input closed")
        self.sent.append(event)

    async def close(self) -> None:
        self.closed = True


class FakeOutput:
    def __init__(self, events: list[Any]) -> None:
        self._events = asyncio.Queue[Any]()
        for event in events:
            self._events.put_nowait(event)

    async def receive(self) -> Any:
        return await self._events.get()


class FakeDuplex:
    def __init__(self, events: list[Any]) -> None:
        self.input_stream = FakeInput()
        self.output = FakeOutput(events)
        self.closed = False

    async def await_output(self) -> tuple[object, FakeOutput]:
        return object(), self.output

    async def close(self) -> None:
        self.closed = True


class FakeTranscribeClient:
    """What `AsyncTranscribeStreamingClient.start_stream_transcription` is to the adapter."""

    def __init__(self, events: list[Any], *, refuse: Exception | None = None, hang: bool = False) -> None:
        self.duplex = FakeDuplex(events)
        self.requests: list[StartStreamTranscriptionInput] = []
        self._refuse = refuse
        self._hang = hang

    async def start_stream_transcription(self, request: StartStreamTranscriptionInput) -> FakeDuplex:
        self.requests.append(request)
        if self._refuse is not None:
            raise self._refuse
        if self._hang:
            await asyncio.sleep(60)
        return self.duplex


def _result(text: str, *, partial: bool) -> TranscriptResultStreamTranscriptEvent:
    return TranscriptResultStreamTranscriptEvent(
        value=TranscriptEvent(
            transcript=Transcript(results=[Result(is_partial=partial, alternatives=[Alternative(transcript=text)])])
        )
    )


def test_transcribe_streams_pcm_at_the_call_rate_and_reports_partial_then_final() -> None:
    client = FakeTranscribeClient([_result("do you", partial=True), _result("Do you ship?", partial=False), None])

    async def scenario() -> list[RecognizedText]:
        stream = await TranscribeStreamingRecognizer(client, language_code="en-GB").start(8000)
        for _ in range(10):  # 10 x 20 ms frames = two 100 ms audio events
            await stream.send_audio(b"\x00\x01" * 160)
        results = [r async for r in stream.results()]
        await stream.close()
        return results

    results = asyncio.run(scenario())
    assert client.requests == [
        StartStreamTranscriptionInput(
            language_code="en-GB", media_sample_rate_hertz=8000, media_encoding=MediaEncoding.PCM
        )
    ]
    chunks = [event.value.audio_chunk for event in client.duplex.input_stream.sent]
    assert [len(c or b"") for c in chunks] == [1600, 1600]
    assert results == [RecognizedText(text="do you", final=False), RecognizedText(text="Do you ship?", final=True)]
    assert client.duplex.input_stream.closed
    assert client.duplex.closed


def test_transcribe_flushes_buffered_audio_when_the_stream_closes() -> None:
    client = FakeTranscribeClient([None])

    async def scenario() -> None:
        stream = await TranscribeStreamingRecognizer(client).start(16000)
        await stream.send_audio(b"\x00\x01" * 320)  # 20 ms, less than one audio event
        await stream.close()

    asyncio.run(scenario())
    assert [len(e.value.audio_chunk or b"") for e in client.duplex.input_stream.sent] == [640]


def test_an_exception_event_from_transcribe_ends_recognition_with_a_speech_error() -> None:
    failure = TranscriptResultStreamBadRequestException(value=BadRequestException(message="bad audio"))
    client = FakeTranscribeClient([_result("hi", partial=False), failure])

    async def scenario() -> list[RecognizedText]:
        stream = await TranscribeStreamingRecognizer(client).start(8000)
        seen: list[RecognizedText] = []

        async def read() -> None:
            async for result in stream.results():
                seen.append(result)

        with pytest.raises(TranscribeStreamError, match="BadRequest"):
            await read()
        return seen

    assert asyncio.run(scenario()) == [RecognizedText(text="hi", final=True)]


@pytest.mark.parametrize(
    "client",
    [FakeTranscribeClient([], refuse=PermissionError("AccessDenied")), FakeTranscribeClient([], hang=True)],
    ids=["refused", "too-slow"],
)
def test_a_stream_transcribe_will_not_open_is_an_open_error(client: FakeTranscribeClient) -> None:
    recognizer = TranscribeStreamingRecognizer(client, open_timeout_seconds=0.05)
    with pytest.raises(TranscribeOpenError):
        asyncio.run(recognizer.start(8000))
