"""Amazon Polly behind the voice bridge's `SpeechSynthesizer` port (the cascaded path's voice, and the spoken
apology when nothing else can speak).

`SynthesizeSpeech` with `OutputFormat="pcm"` returns signed 16-bit little-endian mono PCM at the requested
`SampleRate` ("8000" or "16000" for PCM), which is exactly what the bridge's frames carry: no decoding,
no resampling. boto3 blocks, so each request runs on a worker thread; the event loop never waits on it.
The voice and engine come from the call's voice tier (`VoiceTier`: e.g. neural for standard calls,
generative for premium).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.config.tenant import VoiceTier
from oratio.voice_bridge.ports import SynthesisError

logger = logging.getLogger(__name__)

# Polly's PCM output supports only these rates (the bridge runs at 8 kHz for telephony, 16 kHz for Vonage).
PCM_SAMPLE_RATES = frozenset({8000, 16000})
# SynthesizeSpeech accepts at most 3,000 billed characters of input text per request.
MAX_TEXT_CHARS = 3000
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0


class PollyError(SynthesisError):
    """Polly could not speak the text."""


class PollyThrottledError(PollyError):
    """Polly throttled the request; the cascaded session may try again later."""


class PollyRequestError(PollyError):
    """The request itself is wrong (unsupported voice/engine, rate, text): fix the configuration."""


_THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"})


def default_config() -> Config:
    """Short timeouts (a caller is waiting) and standard retries: synthesis is idempotent."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": 2},
    )


def polly_client(region_name: str | None = None) -> Any:
    """A Polly client with the adapter's timeouts and retries (share one across calls)."""
    return boto3.client("polly", region_name=region_name, config=default_config())


class PollySynthesizer:
    """Text → PCM16 at the call's rate with one voice tier's voice and engine."""

    def __init__(
        self,
        tier: VoiceTier,
        *,
        language_code: str | None = None,
        client: Any | None = None,
        region_name: str | None = None,
    ) -> None:
        self.tier = tier
        self.language_code = language_code
        self._client = client or polly_client(region_name)

    def request(self, text: str, sample_rate: int) -> dict[str, Any]:
        """The SynthesizeSpeech parameters for `text` (validated here, so a bad call fails before the network)."""
        if sample_rate not in PCM_SAMPLE_RATES:
            raise PollyRequestError(
                f"Polly PCM output supports {sorted(PCM_SAMPLE_RATES)} Hz, not {sample_rate}; run the call at one"
            )
        text = text.strip()
        if not text:
            raise PollyRequestError("there is no text to speak")
        if len(text) > MAX_TEXT_CHARS:
            raise PollyRequestError(f"the text is {len(text)} characters; Polly speaks at most {MAX_TEXT_CHARS}")
        params: dict[str, Any] = {
            "Engine": self.tier.engine,
            "OutputFormat": "pcm",
            "SampleRate": str(sample_rate),
            "Text": text,
            "TextType": "text",
            "VoiceId": self.tier.voice_id,
        }
        if self.language_code:
            params["LanguageCode"] = self.language_code
        return params

    async def synthesize(self, text: str, sample_rate: int) -> bytes:
        params = self.request(text, sample_rate)
        return await asyncio.to_thread(self._synthesize, params)

    def _synthesize(self, params: dict[str, Any]) -> bytes:
        try:
            response = self._client.synthesize_speech(**params)
            stream = response["AudioStream"]
            try:
                pcm: bytes = stream.read()
            finally:
                stream.close()
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            logger.warning("polly.synthesize_failed", extra={"code": code, "status": status})
            if code in _THROTTLED or status == 429:
                raise PollyThrottledError(f"Polly throttled the request ({code})") from e
            if 400 <= status < 500:
                raise PollyRequestError(f"Polly refused the request ({code})") from e
            raise PollyError(f"Polly failed ({code or status})") from e
        except BotoCoreError as e:  # timeouts, connection errors, a broken stream
            logger.warning("polly.unreachable", extra={"error": type(e).__name__})
            raise PollyError(f"Polly is unreachable ({type(e).__name__})") from e
        if len(pcm) % 2:
            pcm = pcm[:-1]  # a torn last sample would shift every later frame by one byte
        return pcm
