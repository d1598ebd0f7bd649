"""G.711 μ-law ↔ 16-bit PCM and 20 ms framing for the telephony audio path.

Telephony runs Nova Sonic at 8 kHz, one of the rates Sonic documents, so the only conversion is μ-law ↔
PCM16 (no resampling). PCM is little-endian signed 16-bit mono, as Nova Sonic's `audio/lpcm` expects.

The codec is the C implementation where the interpreter has one: the standard library's `audioop` on 3.12
(deprecated there, its warning silenced for this one import) and the `audioop-lts` package on 3.13+, where
`audioop` left the standard library (an environment marker in the requirements installs it). Where neither
exists, precomputed tables do the work: decoding is two 256-byte tables applied with `bytes.translate`,
encoding a 65,536-entry table (built on first use) indexed by each sample. The C codec also keeps numpy and
that table out of the bridge's start-up (`make bench`, section cold_start, times the bridge's first call).
"""

from __future__ import annotations

import array
import math
import sys
import warnings
from functools import cache
from types import ModuleType

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


def _c_codec() -> ModuleType | None:
    """`audioop` (stdlib on 3.12, `audioop-lts` on 3.13+), or None where the interpreter has neither."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)
            import audioop
    except ImportError:
        return None
    return audioop


_AUDIOOP = _c_codec()


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


# The table path: the low and high byte of each of the 256 decoded samples (4 C-level calls per frame).
_DECODE_LOW = bytes(_decode_one(c) & 0xFF for c in range(256))
_DECODE_HIGH = bytes((_decode_one(c) >> 8) & 0xFF for c in range(256))


@cache
def _encode_table() -> bytes:
    """The code for every 16-bit sample, indexed by the sample's unsigned pattern (built once, on first use)."""
    return bytes(_encode_one(v - 65_536 if v >= 32_768 else v) for v in range(65_536))


def table_ulaw_to_pcm16(ulaw: bytes) -> bytes:
    out = bytearray(len(ulaw) * 2)
    out[0::2] = ulaw.translate(_DECODE_LOW)
    out[1::2] = ulaw.translate(_DECODE_HIGH)
    return bytes(out)


def table_pcm16_to_ulaw(pcm: bytes) -> bytes:
    samples = array.array("H")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH])
    if sys.byteorder == "big":
        samples.byteswap()  # PCM16 on the wire is little-endian
    return bytes(map(_encode_table().__getitem__, samples))


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    """Decode G.711 μ-law bytes to PCM16 little-endian (twice the length)."""
    if _AUDIOOP is not None:
        pcm: bytes = _AUDIOOP.ulaw2lin(ulaw, SAMPLE_WIDTH)
        return pcm if sys.byteorder == "little" else _AUDIOOP.byteswap(pcm, SAMPLE_WIDTH)
    return table_ulaw_to_pcm16(ulaw)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode PCM16 little-endian to G.711 μ-law (half the length). A trailing odd byte is dropped."""
    if _AUDIOOP is not None:
        usable = pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]
        if sys.byteorder == "big":
            usable = _AUDIOOP.byteswap(usable, SAMPLE_WIDTH)
        ulaw: bytes = _AUDIOOP.lin2ulaw(usable, SAMPLE_WIDTH)
        return ulaw
    return table_pcm16_to_ulaw(pcm)


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
    step = 2 * math.pi * frequency / sample_rate
    samples = array.array("h", (int(amplitude * math.sin(step * n)) for n in range(round(sample_rate * seconds))))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def silence(sample_rate: int, seconds: float) -> bytes:
    return b"\x00\x00" * round(sample_rate * seconds)


def apology_asset(sample_rate: int) -> bytes:
    """The last-resort audio when neither Sonic nor the cascaded path can speak: two soft beeps and a
    pause, rendered at call time (deployed bridges prefer a Polly-rendered apology sentence, cached)."""
    beep = tone(sample_rate, 0.25, 660.0)
    gap = silence(sample_rate, 0.15)
    return beep + gap + beep + silence(sample_rate, 0.5)
