"""Amazon Transcribe streaming behind the voice bridge's `SpeechRecognizer` port (the cascaded path's ears).

Built on `aws-sdk-transcribe-streaming`, the smithy-based SDK of the same family as the Nova Sonic client
(`aws-sdk-bedrock-runtime`): `StartStreamTranscription` is a duplex event stream over HTTP/2, so it shares
the awscrt transport. The older `amazon-transcribe` package pins `awscrt~=0.26`, which conflicts with the
awscrt the Nova Sonic SDK needs, so it is not used.

Caller audio (PCM16 at the call's rate) is sent as `AudioEvent`s of about 100 ms: Transcribe recommends
50 to 200 ms chunks, and fewer events mean fewer signatures on the event stream. Results become
`RecognizedText` (partial or final, first alternative); a modelled exception event ends the stream with
a `TranscribeStreamError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aws_sdk_transcribe_streaming.client import AsyncTranscribeStreamingClient
from aws_sdk_transcribe_streaming.config import AsyncTranscribeStreamingConfig
from aws_sdk_transcribe_streaming.models import (
    AudioEvent,
    AudioStreamAudioEvent,
    MediaEncoding,
    StartStreamTranscriptionInput,
    TranscriptResultStreamTranscriptEvent,
)
from smithy_http.aio.crt import AWSCRTHTTPClient

from oratio.voice_bridge.ports import RecognitionError, RecognizedText

logger = logging.getLogger(__name__)

CHUNK_SECONDS = 0.1
OPEN_TIMEOUT_SECONDS = 5.0


class TranscribeOpenError(RecognitionError):
    """The transcription stream could not be started (refused, unreachable, or too slow to answer)."""


class TranscribeStreamError(RecognitionError):
    """The open stream failed: an exception event from the service, or a broken connection."""


async def build_client(
    region: str, *, endpoint_uri: str | None = None, **overrides: Any
) -> AsyncTranscribeStreamingClient:
    """A Transcribe streaming client on the awscrt HTTP/2 transport; credentials from the SDK's default chain
    (the runtime's role when deployed)."""
    config = await AsyncTranscribeStreamingConfig.resolve(
        region=region, endpoint_uri=endpoint_uri, transport=AWSCRTHTTPClient(), **overrides
    )
    return AsyncTranscribeStreamingClient(config=config)


class TranscribeStream:
    """One `StartStreamTranscription` stream: audio in, `RecognizedText` out."""

    def __init__(self, stream: Any, output: Any, sample_rate: int) -> None:
        self._stream = stream
        self._output = output
        self._chunk_bytes = max(2, int(sample_rate * CHUNK_SECONDS) * 2)
        self._pending = bytearray()
        self._lock = asyncio.Lock()
        self._closed = False

    async def send_audio(self, pcm: bytes) -> None:
        if self._closed:
            raise TranscribeStreamError("the transcription stream is closed")
        self._pending += pcm
        if len(self._pending) >= self._chunk_bytes:
            chunk, self._pending = bytes(self._pending), bytearray()
            await self._send(chunk)

    async def _send(self, chunk: bytes) -> None:
        try:
            async with self._lock:
                await self._stream.input_stream.send(AudioStreamAudioEvent(value=AudioEvent(audio_chunk=chunk)))
        except Exception as e:  # OSError from the publisher, CRT errors: the stream is gone
            raise TranscribeStreamError(f"sending audio to Transcribe failed ({type(e).__name__})") from e

    async def results(self) -> AsyncIterator[RecognizedText]:
        while True:
            try:
                event = await self._output.receive()
            except Exception as e:  # modelled exception events are raised by the SDK's receiver
                if self._closed:
                    return
                raise TranscribeStreamError(f"Transcribe stream failed ({type(e).__name__})") from e
            if event is None:
                return
            if not isinstance(event, TranscriptResultStreamTranscriptEvent):
                # BadRequest / LimitExceeded / InternalFailure / Conflict / ServiceUnavailable members.
                raise TranscribeStreamError(f"Transcribe ended the stream: {type(event).__name__}")
            transcript = event.value.transcript
            for result in (transcript.results if transcript else None) or []:
                if not result.alternatives:
                    continue
                text = (result.alternatives[0].transcript or "").strip()
                if text:
                    yield RecognizedText(text=text, final=not result.is_partial)

    async def close(self) -> None:
        if self._closed:
            return
        try:
            if self._pending:
                chunk, self._pending = bytes(self._pending), bytearray()
                await self._send(chunk)
        except TranscribeStreamError:
            logger.info("transcribe: last audio not sent, the stream is gone")
        self._closed = True
        try:
            async with self._lock:
                await self._stream.input_stream.close()  # ends the audio: Transcribe flushes its last results
        except Exception as e:
            logger.info("transcribe stream closed uncleanly: %s", type(e).__name__)
        try:
            await self._stream.close()
        except Exception as e:
            logger.info("transcribe stream close failed: %s", type(e).__name__)


class TranscribeStreamingRecognizer:
    """Starts one Transcribe streaming transcription per cascaded session."""

    def __init__(
        self, client: Any, *, language_code: str = "en-US", open_timeout_seconds: float = OPEN_TIMEOUT_SECONDS
    ) -> None:
        self._client = client
        self.language_code = language_code
        self.open_timeout_seconds = open_timeout_seconds

    def request(self, sample_rate: int) -> StartStreamTranscriptionInput:
        return StartStreamTranscriptionInput(
            language_code=self.language_code,
            media_sample_rate_hertz=sample_rate,
            media_encoding=MediaEncoding.PCM,
        )

    async def start(self, sample_rate: int) -> TranscribeStream:
        stream: Any = None
        try:
            async with asyncio.timeout(self.open_timeout_seconds):
                stream = await self._client.start_stream_transcription(self.request(sample_rate))
                _, output = await stream.await_output()
        except TimeoutError as e:
            await _close_quietly(stream)
            raise TranscribeOpenError("Transcribe did not answer in time") from e
        except Exception as e:  # access denied, validation, throttling, unreachable endpoint
            await _close_quietly(stream)
            raise TranscribeOpenError(f"Transcribe refused the stream ({type(e).__name__})") from e
        return TranscribeStream(stream, output, sample_rate)


async def _close_quietly(stream: Any) -> None:
    if stream is None:
        return
    try:
        await stream.close()
    except Exception as e:
        logger.debug("closing a failed transcription stream: %s", type(e).__name__)
