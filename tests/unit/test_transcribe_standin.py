"""The Transcribe streaming stand-in, driven through the bridge's own Transcribe adapter (as the bridge replay
runs it): caller turns found by energy become the script's lines, and a request Transcribe would refuse is
refused."""

from __future__ import annotations

import asyncio

import pytest
from aws_sdk_transcribe_streaming.models import MediaEncoding

from oratio.adapters.transcribe_streaming import TranscribeOpenError, TranscribeStreamingRecognizer
from oratio.voice_bridge.ports import RecognizedText
from oratio_local.sonic_standin import tone
from oratio_local.transcribe_standin import ScriptedTranscribeClient


def _silence(rate: int, seconds: float) -> bytes:
    return b"\x00\x00" * int(rate * seconds)


def test_a_caller_turn_becomes_a_partial_then_the_next_line_as_final_through_the_adapter() -> None:
    client = ScriptedTranscribeClient(["What is your return policy?", "Bye"])

    async def call() -> list[RecognizedText]:
        stream = await TranscribeStreamingRecognizer(client, language_code="en-GB").start(16_000)
        await stream.send_audio(tone(16_000, 0.5, frequency=220.0, amplitude=8_000))
        await stream.send_audio(_silence(16_000, 0.4))
        await stream.close()
        return [r async for r in stream.results()]

    results = asyncio.run(call())
    assert [(r.text, r.final) for r in results] == [("…", False), ("What is your return policy?", True)]
    assert client.lines == ["Bye"]  # the next stream (a renewed rung) goes on with the next line
    request = client.requests[0]
    assert (request.language_code, request.media_sample_rate_hertz) == ("en-GB", 16_000)
    assert request.media_encoding == MediaEncoding.PCM


def test_silence_alone_is_no_turn() -> None:
    client = ScriptedTranscribeClient(["Hello"])

    async def call() -> list[RecognizedText]:
        stream = await TranscribeStreamingRecognizer(client).start(8_000)
        await stream.send_audio(_silence(8_000, 1.0))
        await stream.close()
        return [r async for r in stream.results()]

    assert asyncio.run(call()) == []


@pytest.mark.parametrize(
    ("client", "rate", "problem"),
    [
        (ScriptedTranscribeClient(["Hi"], refuse=True), 16_000, "TranscribeRefused"),
        (ScriptedTranscribeClient(["Hi"]), 4_000, "BadRequestException"),
    ],
)
def test_a_refused_stream_is_the_adapters_open_error(client: ScriptedTranscribeClient, rate: int, problem: str) -> None:
    with pytest.raises(TranscribeOpenError, match=problem):
        asyncio.run(TranscribeStreamingRecognizer(client).start(rate))
