"""What the Connect voice Lambdas know about their tenant, frozen at deploy time and carried in one
environment variable (like the call router's `RoutingProfile`): wording, voices and tiers, the silence
budget, the breaker settings and the monthly budget the tier escalation is checked against.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent_definitions.merge import merge_fields, tenant_defaults
from oratio.agent_definitions.model import AgentLines, AgentOverrides
from oratio.config.tenant import (
    TENANT_ID_PATTERN,
    CallSlotSettings,
    ConnectVoiceSettings,
    IdentifierPattern,
    TenantConfig,
    VoiceTier,
)
from oratio.domain.call_routing import DEFAULT_RETENTION_DAYS

# Environment of the two voice Lambdas, written by stacks/constructs/connect_voice.py, read by their handlers.
VOICE_PROFILE_ENV_VAR = "ORATIO_VOICE_PROFILE"  # voice_turn: this profile as JSON
WORKER_FUNCTION_ENV_VAR = "ORATIO_VOICE_WORKER_FUNCTION"  # voice_turn: the worker function's name
TENANT_ID_ENV_VAR = "ORATIO_TENANT_ID"  # voice_agent_turn: whose jobs it accepts
AGENT_RUNTIME_ARN_ENV_VAR = "ORATIO_AGENT_RUNTIME_ARN"  # voice_agent_turn: the tenant agent
AGENT_QUALIFIER_ENV_VAR = "ORATIO_AGENT_QUALIFIER"  # voice_agent_turn: the runtime endpoint to call
AGENT_BREAKER_ENV_VAR = "ORATIO_AGENT_BREAKER"  # voice_agent_turn: the breaker settings as JSON
# Lambda allows 4 KB for all of a function's environment variables together.
MAX_ENV_CHARS = 3_000
# Between the code hook answering and the caller hearing the first word: Lambda's return, Lex rendering the
# reply, the first audio packet. The code hook's own deadline is the silence budget minus this margin.
SPEECH_START_MARGIN_SECONDS = 0.7
# A chat or SMS customer waits for a written reply (the bot shows it typing): the code hook waits for the agent up
# to this long, inside its Lambda timeout (stacks/constructs/connect_voice.py: 10 s), before the holding reply.
TEXT_REPLY_WAIT_SECONDS = 8.0
# Amazon Connect's Set voice block (UpdateContactTextToSpeechVoice) names Polly engines in title case.
CONNECT_TTS_ENGINES = {"standard": "Standard", "neural": "Neural", "generative": "Generative"}


class VoiceProfileError(ValueError):
    """The tenant's voice settings cannot drive Amazon Connect; the message names the field and the fix."""


class VoiceProfile(BaseModel):
    """The slice of a tenant the Connect voice path needs."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    business_name: str = Field(min_length=1)
    language: str
    greeting: str = Field(min_length=1)
    closed_message: str = Field(min_length=1, description="said when the human team is closed at transfer time")
    sonic_voice_id: str = Field(min_length=1, description="the Nova Sonic voice (session override)")
    sonic_prompt_voice: str | None = Field(default=None, description="Polly voice set beside Nova Sonic")
    tiers: dict[str, VoiceTier]
    default_tier: str
    premium_tier: str
    monthly_budget_usd: float = Field(gt=0)
    budget_step_down_at: float = Field(default=0.8, gt=0, le=1, description="no tier escalation past this share")
    lines: AgentLines = Field(description="the tenant's default agent lines (an agent's own override them)")
    connect: ConnectVoiceSettings = Field(default_factory=ConnectVoiceSettings)
    privacy_identifiers: tuple[IdentifierPattern, ...] = ()
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1)
    call_slots: CallSlotSettings = Field(default_factory=CallSlotSettings)

    @classmethod
    def from_tenant(cls, tenant: TenantConfig) -> VoiceProfile:
        """Take the voice path's slice of a validated tenant; fails on settings Connect cannot play."""
        for name, tier in tenant.voice.tiers.items():
            if tier.engine not in CONNECT_TTS_ENGINES:
                raise VoiceProfileError(
                    f"tenant {tenant.tenant_id}: voice.tiers.{name}.engine {tier.engine!r} is not available in "
                    f"Amazon Connect's Set voice block; use one of {', '.join(CONNECT_TTS_ENGINES)}"
                )
        return cls(
            tenant_id=tenant.tenant_id,
            business_name=tenant.business.name,
            language=tenant.voice.language,
            greeting=tenant.greeting,
            closed_message=tenant.closed_message,
            sonic_voice_id=tenant.voice.voice_id,
            sonic_prompt_voice=tenant.voice.sonic_prompt_voice,
            tiers=dict(tenant.voice.tiers),
            default_tier=tenant.voice.default_tier,
            premium_tier=tenant.agent.workflow.premium_tier,
            monthly_budget_usd=tenant.agent.monthly_budget_usd,
            budget_step_down_at=tenant.budget.step_down_at,
            privacy_identifiers=tenant.privacy.identifiers,
            lines=tenant_defaults(tenant, "*").lines,
            connect=tenant.voice.connect,
            call_slots=tenant.limits.call_slots,
        )

    def to_env(self) -> str:
        """Compact JSON for `ORATIO_VOICE_PROFILE`; fails at synth rather than at the first call when too big."""
        text = self.model_dump_json(exclude_defaults=True)
        if len(text) > MAX_ENV_CHARS:
            raise VoiceProfileError(
                f"tenant {self.tenant_id}: the voice profile is {len(text)} characters as JSON, more than the "
                f"{MAX_ENV_CHARS} that fit in a Lambda environment; shorten the voice messages"
            )
        return text

    @classmethod
    def from_env(cls, value: str) -> VoiceProfile:
        return cls.model_validate_json(value)

    @property
    def deadline_seconds(self) -> float:
        """How long the code hook may wait for the agent before it must say something itself."""
        return self.connect.max_silence_seconds - SPEECH_START_MARGIN_SECONDS

    def agent_lines(self, overrides: AgentOverrides | None) -> AgentLines:
        """What an agent says at the edges of a call: its own lines, the tenant's where it sets none."""
        return merge_fields(self.lines, overrides.lines if overrides is not None else None)

    def agent_voice(self, overrides: AgentOverrides | None) -> str:
        """The agent's Nova Sonic voice (its own, else the tenant's)."""
        own = overrides.voice.voice_id if overrides is not None and overrides.voice is not None else None
        return own or self.sonic_voice_id

    def tier(self, name: str) -> VoiceTier:
        return self.tiers.get(name) or self.tiers[self.default_tier]

    def tts_engine(self, tier_name: str) -> str:
        return CONNECT_TTS_ENGINES[self.tier(tier_name).engine]
