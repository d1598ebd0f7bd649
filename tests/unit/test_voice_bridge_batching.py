"""Caller audio joined into larger speech events: nothing lost or reordered, and a partial batch never held
longer than the configured duration (the end of an utterance is not delayed more than that)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from oratio.voice_bridge.batching import AudioBatcher
from oratio.voice_bridge.config import BridgeSettings


def _frames(count: int, size: int = 320) -> list[bytes]:
    return [bytes([n % 256]) * size for n in range(count)]


def test_frames_are_joined_into_batches_of_the_chunk_size_in_order() -> None:
    async def scenario() -> list[bytes]:
        sent: list[bytes] = []

        async def send(batch: bytes) -> None:
            sent.append(batch)

        batcher = AudioBatcher(chunk_bytes=5 * 320, max_delay_seconds=10.0, send=send)
        for frame in _frames(12):
            await batcher.push(frame)
        await batcher.flush()
        return sent

    sent = asyncio.run(scenario())
    assert [len(batch) for batch in sent] == [1600, 1600, 640]
    assert b"".join(sent) == b"".join(_frames(12))


def test_a_partial_batch_leaves_within_the_chunk_duration_when_the_caller_goes_quiet() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        sent: list[bytes] = []

        async def send(batch: bytes) -> None:
            sent.append(batch)

        batcher = AudioBatcher(chunk_bytes=5 * 320, max_delay_seconds=0.05, send=send)
        for frame in _frames(2):  # the utterance's last 40 ms, then nothing more arrives
            await batcher.push(frame)
        held = list(sent)
        await asyncio.sleep(0.2)
        return held, sent

    held, sent = asyncio.run(scenario())
    assert held == []
    assert sent == [b"".join(_frames(2))]


def test_closing_the_batcher_stops_its_timer_and_sends_nothing_more() -> None:
    async def scenario() -> list[bytes]:
        sent: list[bytes] = []

        async def send(batch: bytes) -> None:
            sent.append(batch)

        batcher = AudioBatcher(chunk_bytes=1600, max_delay_seconds=0.02, send=send)
        await batcher.push(b"\x01" * 320)
        batcher.close()
        await asyncio.sleep(0.1)
        return sent

    assert asyncio.run(scenario()) == []


@pytest.mark.parametrize("chunk_ms", [10, 30, 0, 220])
def test_a_chunk_duration_that_is_not_whole_frames_or_too_long_is_refused(chunk_ms: int) -> None:
    with pytest.raises(ValidationError, match="caller_audio_chunk_ms"):
        BridgeSettings(tenant_id="cozy-comfort", agent_id="a", system_prompt="p", caller_audio_chunk_ms=chunk_ms)
