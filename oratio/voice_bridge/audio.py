"""G.711 μ-law ↔ 16-bit PCM and 20 ms framing for the telephony audio path.

Telephony runs Nova Sonic at 8 kHz, so the only conversion is μ-law ↔ PCM16 (no resampling). PCM is
little-endian signed 16-bit mono, as Nova Sonic's `audio/lpcm` expects.

Why tables and not `audioop`: `audioop` is deprecated in 3.12 and removed in 3.13, and its LTS port
(`audioop-lts`) only ships for 3.13+. G.711 is a pure function of one byte (decode) or one 16-bit sample
(encode), so both directions are precomputed tables built at import:
- decode: two 256-byte tables (low and high byte of each sample) applied with `bytes.translate` and
  interleaved by slice assignment: four C-level calls per frame, no third-party code;
- encode: a 65,536-entry table indexed by the sample's 16-bit pattern through a numpy view (`take`), one
  C-level gather per chunk. A pure-Python gather costs ~5x more per frame (see `make bench`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FRAME_MS = 20
SAMPLE_WIDTH = 2  # bytes per PCM16 sample
TELEPHONY_RATE = 8_000
WIDEBAND_RATE = 16_000

_BIAS = 0x84
_CLIP = 32_635


def frame_bytes(sample_rate: int, frame_ms: int = FRAME_MS) -> int:
    """PCM16 bytes in one frame: 320 at 8 kHz, 640 at 16 kHz for 20 ms."""
    return sample_rate * frame_ms // 1000 * SAMPLE_WIDTH


def seconds_of_pcm(n_bytes: int, sample_rate: int) -> float:
    return n_bytes / (sample_rate * SAMPLE_WIDTH)


def _decode_one(code: int) -> int:
    code = ~code & 0xFF
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if sign else magnitude


def _encode_one(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, _CLIP) + _BIAS
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


# Precomputed once at import: 256 decoded samples, and the code for every 16-bit sample value
# (indexed by the sample's unsigned 16-bit pattern, so a PCM buffer viewed as uint16 indexes it directly).
_DECODE: npt.NDArray[np.int16] = np.array([_decode_one(c) for c in range(256)], dtype="<i2")
_ENCODE: npt.NDArray[np.uint8] = np.array(
    [_encode_one(v - 65_536 if v >= 32_768 else v) for v in range(65_536)], dtype=np.uint8
)


_DECODE_LOW = bytes(int(v) & 0xFF for v in _DECODE)
_DECODE_HIGH = bytes((int(v) >> 8) & 0xFF for v in _DECODE)


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    """Decode G.711 μ-law bytes to PCM16 little-endian (twice the length)."""
    out = bytearray(len(ulaw) * 2)
    out[0::2] = ulaw.translate(_DECODE_LOW)
    out[1::2] = ulaw.translate(_DECODE_HIGH)
    return bytes(out)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode PCM16 little-endian to G.711 μ-law (half the length). A trailing odd byte is dropped."""
    usable = len(pcm) - (len(pcm) % SAMPLE_WIDTH)
    return bytes(_ENCODE.take(np.frombuffer(pcm, dtype="<u2", count=usable // SAMPLE_WIDTH)).tobytes())


class Framer:
    """Cuts a PCM stream of arbitrary chunk sizes into whole frames, carrying the remainder over."""

    __slots__ = ("_pending", "frame_size")

    def __init__(self, frame_size: int) -> None:
        self.frame_size = frame_size
        self._pending = b""

    def push(self, data: bytes) -> list[bytes]:
        """The whole frames now available, in order; a partial frame waits for the next push."""
        data = self._pending + data if self._pending else data
        size = self.frame_size
        whole = len(data) - len(data) % size
        self._pending = data[whole:]
        return [data[i : i + size] for i in range(0, whole, size)]

    def flush(self) -> bytes | None:
        """The partial frame left at the end of a reply, padded with silence; None if there is none."""
        if not self._pending:
            return None
        frame = self._pending + b"\x00" * (self.frame_size - len(self._pending))
        self._pending = b""
        return frame

    def drop(self) -> None:
        """Forget the partial frame (barge-in)."""
        self._pending = b""


def tone(sample_rate: int, seconds: float, frequency: float = 440.0, amplitude: int = 8_000) -> bytes:
    """A plain sine tone as PCM16: the local stand-in for speech, and the apology's beep."""
    count = round(sample_rate * seconds)
    t = np.arange(count, dtype=np.float64) / sample_rate
    wave = (amplitude * np.sin(2 * math.pi * frequency * t)).astype("<i2")
    return bytes(wave.tobytes())


def silence(sample_rate: int, seconds: float) -> bytes:
    return b"\x00\x00" * round(sample_rate * seconds)


def apology_asset(sample_rate: int) -> bytes:
    """The last-resort audio when neither Sonic nor the cascaded path can speak: two soft beeps and a
    pause, rendered at call time (deployed bridges prefer a Polly-rendered apology sentence, cached)."""
    beep = tone(sample_rate, 0.25, 660.0)
    gap = silence(sample_rate, 0.15)
    return beep + gap + beep + silence(sample_rate, 0.5)
