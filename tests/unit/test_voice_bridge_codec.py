"""The G.711 μ-law codec: the C implementation where the interpreter has one (audioop on 3.12, audioop-lts on
3.13+) and the table fallback, round-tripping the same way and decoding to the same samples."""

from __future__ import annotations

import array
import sys

import pytest

from oratio.voice_bridge import audio

CODES = bytes(range(256))
ZERO_CODES = {0x7F, 0xFF}  # +0 and -0 decode to the same sample; either encodes it


def _ramp() -> bytes:
    samples = array.array("h", range(-32768, 32768, 7))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@pytest.mark.parametrize("codec", ["c", "table"])
def test_every_code_decodes_and_encodes_back_to_itself(codec: str) -> None:
    if codec == "c" and audio._AUDIOOP is None:
        pytest.skip("this interpreter has no audioop (install audioop-lts on 3.13+)")
    decode = audio.ulaw_to_pcm16 if codec == "c" else audio.table_ulaw_to_pcm16
    encode = audio.pcm16_to_ulaw if codec == "c" else audio.table_pcm16_to_ulaw
    back = encode(decode(CODES))
    assert [c for c, b in zip(CODES, back, strict=True) if c != b and c not in ZERO_CODES] == []


def test_the_c_codec_is_used_on_python_3_12_and_decodes_like_the_tables() -> None:
    if sys.version_info[:2] == (3, 12):
        assert audio._AUDIOOP is not None  # the stdlib module, its DeprecationWarning silenced
    if audio._AUDIOOP is None:
        pytest.skip("no C codec here")
    assert audio.ulaw_to_pcm16(CODES) == audio.table_ulaw_to_pcm16(CODES)


def test_encoding_a_ramp_stays_within_one_quantization_step_of_the_tables() -> None:
    pcm = _ramp()
    ours, tables = audio.pcm16_to_ulaw(pcm), audio.table_pcm16_to_ulaw(pcm)
    decoded = array.array("h", audio.table_ulaw_to_pcm16(ours))
    reference = array.array("h", audio.table_ulaw_to_pcm16(tables))
    samples = array.array("h", pcm)
    # Both are G.711: each decoded sample is as close to the input as μ-law allows (within 1/16 of its size).
    for got, want, source in zip(decoded, reference, samples, strict=True):
        assert abs(got - source) <= max(abs(want - source), abs(source) // 16 + 8)


def test_a_trailing_odd_byte_is_dropped() -> None:
    assert audio.pcm16_to_ulaw(b"\x00\x10\x7f") == audio.pcm16_to_ulaw(b"\x00\x10")
