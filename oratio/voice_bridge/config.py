"""The bridge's settings and Nova Sonic prices: validated config with every default in one place."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oratio.config.prices import load_price_catalog
from oratio.voice_bridge.audio import FRAME_MS, TELEPHONY_RATE


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SonicPrices(_Config):
    """USD per 1,000 tokens; defaults from the price catalog (`oratio/config/price_catalog.yaml`)."""

    speech_input_per_1k: float = Field(default_factory=lambda: load_price_catalog().nova_sonic.speech_input_per_1k.usd)
    speech_output_per_1k: float = Field(
        default_factory=lambda: load_price_catalog().nova_sonic.speech_output_per_1k.usd
    )
    text_input_per_1k: float = Field(default_factory=lambda: load_price_catalog().nova_sonic.text_input_per_1k.usd)
    text_output_per_1k: float = Field(default_factory=lambda: load_price_catalog().nova_sonic.text_output_per_1k.usd)

    def cost_usd(self, speech_in: int, text_in: int, speech_out: int, text_out: int) -> float:
        return (
            speech_in * self.speech_input_per_1k
            + text_in * self.text_input_per_1k
            + speech_out * self.speech_output_per_1k
            + text_out * self.text_output_per_1k
        ) / 1000


class ToolSpec(_Config):
    """A tool the speech model may call; the tenant agent runs it (a `ToolRequest`)."""

    name: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class SonicSettings(_Config):
    """How a Nova Sonic session is opened."""

    model_id: str = "amazon.nova-2-sonic-v1:0"
    region: str = "us-east-1"
    endpoint_uri: str | None = Field(default=None, description="override, e.g. the local stand-in's https URL")
    voice_id: str = "tiffany"
    max_tokens: int = Field(default=1024, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=1)
    top_p: float = Field(default=0.9, ge=0, le=1)
    # Nova 2 Sonic only; None leaves turnDetectionConfiguration out (Nova Sonic v1).
    endpointing_sensitivity: Literal["HIGH", "MEDIUM", "LOW"] | None = "MEDIUM"
    open_timeout_seconds: float = Field(default=5.0, gt=0)
    stall_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="no event from Sonic for this long while a reply is due: the stream is stalled, fail over",
    )
    close_timeout_seconds: float = Field(default=2.0, gt=0, le=30, description="the longest closing a session takes")
    # Session renewal: Nova Sonic ends a session after about 8 minutes. The bridge renews at the first
    # turn boundary after `renew_after_seconds`, and regardless of turns at `force_renew_after_seconds`.
    renew_after_seconds: float = Field(default=420.0, gt=0)
    force_renew_after_seconds: float = Field(default=460.0, gt=0)
    history_max_chars: int = Field(default=20_000, ge=0, description="conversation carried into a renewed session")

    @model_validator(mode="after")
    def _renewal_order(self) -> SonicSettings:
        if self.force_renew_after_seconds < self.renew_after_seconds:
            raise ValueError("force_renew_after_seconds must not be less than renew_after_seconds")
        return self


# Longer events would hold the caller's words back long enough to be heard as a slower agent.
MAX_CALLER_AUDIO_CHUNK_MS = 200
# The sample rates Nova 2 Sonic documents for audio input and output ("Handling input events with the
# bidirectional API": sampleRateHertz 8000 | 16000 | 24000). Telephony's 8 kHz is one: no resampling.
SONIC_SAMPLE_RATES = frozenset({8_000, 16_000, 24_000})


class BridgeSettings(_Config):
    """One call's bridge: who it speaks for and how it behaves."""

    tenant_id: str = Field(min_length=3, max_length=40)
    agent_id: str = Field(min_length=1, max_length=64)
    system_prompt: str = Field(min_length=1)
    tools: tuple[ToolSpec, ...] = ()
    sample_rate: int = TELEPHONY_RATE
    sonic: SonicSettings = Field(default_factory=SonicSettings)
    prices: SonicPrices = Field(default_factory=SonicPrices)
    cascaded_voice_engine: str = Field(default="neural", description="Polly engine of the cascaded fallback voice")
    holding_line: str = "One moment while I check that for you."
    holding_after_seconds: float = Field(default=1.5, ge=0)
    tool_timeout_seconds: float = Field(default=10.0, gt=0)
    tool_reuse_seconds: float = Field(
        default=30.0,
        ge=0,
        description="a tool call repeated with the same arguments this soon (a fresh session asking again after a "
        "failover) gets the first call's result instead of running the tool twice",
    )
    agent_turn_timeout_seconds: float = Field(
        default=15.0, gt=0, description="the longest a cascaded turn waits for the tenant agent"
    )
    trouble_text: str = Field(
        default="Sorry, I'm having a little trouble. Could you say that again?",
        min_length=1,
        description="said when the agent could not answer a cascaded turn; the call goes on",
    )
    failover_replay_seconds: float = Field(
        default=0.5, ge=0, le=5, description="caller audio replayed into the next session when one dies"
    )
    apology_text: str = "Sorry, we're having trouble right now. Please call back in a few minutes."
    # Caller audio goes to the speech session in events of this many milliseconds (telephony frames are 20 ms).
    # Each event costs the SDK a serialization, a SigV4 signature and a write, so fewer, larger events cost the
    # bridge far less CPU; the price is that the end of an utterance reaches Sonic up to this much later. 60 ms
    # (measured with `make bench`, section voice_calls) takes most of the CPU saving of 100 ms at half its delay.
    caller_audio_chunk_ms: int = Field(
        default=60,
        ge=FRAME_MS,
        le=MAX_CALLER_AUDIO_CHUNK_MS,
        description="milliseconds of caller audio per speech input event (a multiple of 20)",
    )
    # The agent's lines when it stops taking conversations during the call (from its definition).
    paused_line: str = "Our assistant is taking a short break, so let me pass you to someone from our team."
    closing_line: str = "This assistant is not available any more, so I'll end here. Goodbye."
    # Outbound pacing: keep at most this much audio ahead of the caller's playback, so a barge-in has
    # little to clear at the provider. `playback_speed` > 1 only in tests (simulated time).
    playback_lead_seconds: float = Field(default=0.1, ge=0)
    playback_speed: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _audio_formats(self) -> BridgeSettings:
        if self.sample_rate not in SONIC_SAMPLE_RATES:
            raise ValueError(
                f"sample_rate {self.sample_rate} is not a rate Nova Sonic takes ({sorted(SONIC_SAMPLE_RATES)})"
            )
        if self.caller_audio_chunk_ms % FRAME_MS:
            raise ValueError(
                f"caller_audio_chunk_ms must be a multiple of {FRAME_MS} (telephony frames are {FRAME_MS} ms), "
                f"got {self.caller_audio_chunk_ms}"
            )
        return self
