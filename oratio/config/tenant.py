"""Tenant configuration: `tenants/<id>.yaml` parsed into one validated, immutable model.

A bad file raises `TenantConfigError` whose message names the file, each failing field path
and what is expected, so `cdk synth` stops with something an engineer can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time
from enum import StrEnum
from functools import cached_property
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from oratio.agent.tools.egress_policy import tool_url_refusal
from oratio.config.catalog import load_model_catalog
from oratio.config.yaml_files import YamlFileError, load_yaml_file

TENANT_ID_PATTERN = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"
E164_PATTERN = r"^\+[1-9]\d{6,14}$"
MAX_BRIDGE_NUMBERS = 50  # each is one deploy-time registry claim (a custom resource) in the tenant stack
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# ISO 3166-1 alpha-2 codes of countries where Amazon Connect can claim phone numbers
# (Amazon Connect administrator guide, "Countries supported"). Extend as AWS adds countries.
CONNECT_PHONE_COUNTRIES = frozenset(
    (
        "AR AT AU BE BG BR CA CH CL CN CO CY CZ DE "
        "DK EE ES FI FR GB GR HK HR HU ID IE IL IN "
        "IS IT JP KR LT LU LV MT MX MY NL NO NZ PE "
        "PH PL PR PT RO SE SG SI SK TH TR TW US ZA "
    ).split()
)


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    X = "x"


class _Config(BaseModel):
    # defer_build: a model's validator is built on its first use, not at import; most Lambda functions import
    # these models (through the core package) and never validate a tenant file.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)


def _check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(
            f"{name!r} is not an IANA time zone; use a name like 'America/New_York' or 'Europe/London'"
        ) from e
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_time_zone)]


class OpeningHours(_Config):
    """Opening hours of one day, written 'HH:MM-HH:MM' in the tenant's time zone."""

    open: time
    close: time

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", value.strip())
            if not match:
                raise ValueError(f"{value!r} is not 'HH:MM-HH:MM' (for example '09:00-18:00') or 'closed'")
            oh, om, ch, cm = (int(g) for g in match.groups())
            if oh > 23 or ch > 24 or om > 59 or cm > 59 or (ch == 24 and cm != 0):
                raise ValueError(f"{value!r} has an hour or minute out of range")
            close = time(23, 59, 59) if ch == 24 else time(ch, cm)
            return {"open": time(oh, om), "close": close}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> OpeningHours:
        if self.close <= self.open:
            raise ValueError("closing time must be after opening time (overnight hours are not supported)")
        return self


class BusinessHours(_Config):
    """Weekly opening hours in an IANA time zone; a day left out or 'closed' is closed."""

    time_zone: TimeZoneName
    monday: OpeningHours | None = None
    tuesday: OpeningHours | None = None
    wednesday: OpeningHours | None = None
    thursday: OpeningHours | None = None
    friday: OpeningHours | None = None
    saturday: OpeningHours | None = None
    sunday: OpeningHours | None = None

    @field_validator(*WEEKDAYS, mode="before")
    @classmethod
    def _closed_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "closed":
            return None
        return value

    def day(self, weekday: int) -> OpeningHours | None:
        """Hours for a weekday number (Monday is 0)."""
        hours: OpeningHours | None = getattr(self, WEEKDAYS[weekday])
        return hours

    def is_open(self, instant: datetime) -> bool:
        """Whether the business is open at an aware instant, judged in the tenant's time zone."""
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        local = instant.astimezone(ZoneInfo(self.time_zone))
        hours = self.day(local.weekday())
        return hours is not None and hours.open <= local.time() < hours.close


class ContactInfo(_Config):
    phone: str | None = Field(default=None, pattern=E164_PATTERN, description="E.164, e.g. +15552333464")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Policies(_Config):
    returns: str | None = None
    shipping: str | None = None


class BusinessProfile(_Config):
    name: str = Field(min_length=1, max_length=120)
    business_type: str = Field(min_length=1, max_length=60)
    products: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    tone: str = "friendly_helpful"
    hours: BusinessHours
    contact: ContactInfo = Field(default_factory=ContactInfo)
    website: HttpUrl | None = None
    policies: Policies = Field(default_factory=Policies)


class VoiceTier(_Config):
    """One voice tier: the voice and Polly engine used while the call is on it."""

    voice_id: str = Field(min_length=1)
    engine: Literal["standard", "neural", "long-form", "generative"] = "neural"


# Polly voices Amazon Connect accepts in the Set voice block next to a Nova Sonic speech-to-speech bot
# (generative style), by language: the launch set of the Connect administrator guide, "Configure Amazon
# Nova Sonic Speech-to-Speech". A language not listed needs `voice.connect.sonic_prompt_voice`.
SONIC_PROMPT_VOICES = {"en-US": "Matthew", "en-GB": "Amy", "en-AU": "Olivia", "es-US": "Lupe"}
# Lex audio fillers (AWS::Lex::Bot AudioFillerSettings.AudioType), played by speech-to-speech bots while
# the code hook works; "none" turns the filler off.
AudioFiller = Literal[
    "MELODY_CHIPPER_CHIME",
    "MELODY_CURIOUS_CRAWL",
    "MELODY_RISING_RIPPLE",
    "MELODY_PATIENT_PING",
    "MELODY_PONDERING_PONG",
    "TYPING_KINETIC_KEYS",
    "TYPING_QUIET_QWERTY",
    "none",
]


class CircuitBreakerSettings(_Config):
    """When a voice dependency (speech-to-speech, cascaded speech, the agent) is taken out of the call path."""

    failure_threshold: int = Field(default=3, ge=1, le=100, description="consecutive failures that open it")
    cooldown_seconds: float = Field(default=60.0, ge=5, le=3_600, description="open time before one trial")
    trial_seconds: float = Field(default=30.0, ge=1, le=600, description="how long one half-open trial may take")


class ConnectVoiceSettings(_Config):
    """How calls on the tenant's Amazon Connect number are held: the bot, the silences, the ladder down."""

    speech_mode: Literal["speech_to_speech", "cascaded"] = Field(
        default="speech_to_speech", description="the top rung: Nova Sonic speech-to-speech, or cascaded only"
    )
    sonic_model_id: str = Field(
        default="amazon.nova-2-sonic-v1:0",
        pattern=r"^[a-z0-9-]{1,63}\.[a-z0-9-]{1,63}(?::[a-z0-9-]{1,63}){0,2}$",
        description="Bedrock foundation model of the speech-to-speech bot locale",
    )
    sonic_prompt_voice: str | None = Field(
        default=None,
        pattern=r"^[A-Z][A-Za-z]{1,30}$",
        description="Polly generative voice for the Set voice block beside Nova Sonic (default by language)",
    )
    max_silence_seconds: float = Field(
        default=3.0, ge=1.5, le=10.0, description="longest a caller may wait without hearing something"
    )
    holding_message: str = Field(default="One moment, please.", min_length=1, max_length=200)
    still_working_message: str = Field(default="Thanks for waiting, I'm still on it.", min_length=1, max_length=200)
    handoff_message: str = Field(default="Let me connect you with someone from our team.", min_length=1, max_length=200)
    unclear_message: str = Field(
        default="Sorry, I didn't catch that. Could you say it again?", min_length=1, max_length=200
    )
    silence_message: str = Field(default="Are you still there? How can I help you?", min_length=1, max_length=200)
    trouble_message: str = Field(
        default="Sorry, I'm having a little trouble. Could you say that again?", min_length=1, max_length=200
    )
    min_transcription_confidence: float = Field(default=0.4, ge=0, le=1)
    max_unclear_turns: int = Field(default=2, ge=1, le=10, description="unclear turns in a row before a person")
    max_failed_turns: int = Field(default=2, ge=1, le=10, description="failed agent turns in a row before a person")
    max_holding_rounds: int = Field(default=3, ge=1, le=10, description="'still on it' rounds before a person")
    audio_filler: AudioFiller = "TYPING_QUIET_QWERTY"
    audio_filler_delay_ms: int = Field(default=1_000, ge=500, le=5_000)
    breaker: CircuitBreakerSettings = Field(default_factory=CircuitBreakerSettings)

    @model_validator(mode="after")
    def _filler_speaks_before_the_silence_limit(self) -> ConnectVoiceSettings:
        if self.audio_filler != "none" and self.audio_filler_delay_ms >= self.max_silence_seconds * 1000:
            raise ValueError(
                f"audio_filler_delay_ms ({self.audio_filler_delay_ms}) must be below max_silence_seconds "
                f"({self.max_silence_seconds:g} s), or the filler starts after the caller already waited too long"
            )
        return self


class VoiceSettings(_Config):
    voice_id: str = Field(min_length=1, description="Nova Sonic speech-to-speech voice, e.g. 'tiffany'")
    language: str = Field(default="en-US", pattern=r"^[a-z]{2}-[A-Z]{2}$")
    default_tier: str = "standard"
    tiers: dict[str, VoiceTier] = Field(min_length=1)
    greeting: str | None = None
    closed_message: str | None = None
    paused_message: str | None = None
    unavailable_message: str | None = None
    connect: ConnectVoiceSettings = Field(default_factory=ConnectVoiceSettings)
    bridge_numbers: tuple[Annotated[str, Field(pattern=E164_PATTERN)], ...] = Field(
        default=(),
        max_length=MAX_BRIDGE_NUMBERS,
        description="Twilio/Vonage numbers (E.164) the tenant holds: registered to it at deploy, so its agents may "
        "answer them through the voice bridge",
    )

    @field_validator("bridge_numbers")
    @classmethod
    def _distinct_numbers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({n for n in value if value.count(n) > 1})
        if repeated:
            raise ValueError(f"bridge numbers must not repeat; repeated: {repeated}")
        return value

    @model_validator(mode="after")
    def _default_tier_exists(self) -> VoiceSettings:
        if self.default_tier not in self.tiers:
            raise ValueError(
                f"default_tier {self.default_tier!r} is not one of the configured tiers: {sorted(self.tiers)}"
            )
        return self

    @model_validator(mode="after")
    def _sonic_prompt_voice_known(self) -> VoiceSettings:
        if self.connect.speech_mode == "speech_to_speech" and self.sonic_prompt_voice is None:
            raise ValueError(
                f"language {self.language!r} has no default Nova Sonic-compatible Set voice voice; set "
                f"connect.sonic_prompt_voice (defaults exist for {', '.join(sorted(SONIC_PROMPT_VOICES))}) "
                "or connect.speech_mode: cascaded"
            )
        return self

    @property
    def sonic_prompt_voice(self) -> str | None:
        """The Polly voice the flow sets beside the speech-to-speech bot (configured, else the language's)."""
        return self.connect.sonic_prompt_voice or SONIC_PROMPT_VOICES.get(self.language)

    @property
    def lex_locale_id(self) -> str:
        """The language as a Lex V2 locale id ("en-US" -> "en_US")."""
        return self.language.replace("-", "_")


BUILTIN_TOOLS = ("knowledge_search", "transfer_to_human", "end_call")


def _check_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        raise ValueError(f"not a valid JSON Schema: {e.message}") from e
    if schema.get("type") != "object":
        raise ValueError('a tool input_schema must have "type": "object" at the top')
    return schema


class BusinessTool(_Config):
    """A tenant's own HTTPS endpoint the agent may call as a tool (arguments validated first)."""

    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")
    description: str = Field(min_length=1, max_length=1_000)
    url: HttpUrl
    method: Literal["GET", "POST"] = "POST"
    input_schema: Annotated[dict[str, Any], AfterValidator(_check_json_schema)]
    writes: bool = Field(default=False, description="changes something (orders, bookings): input is screened")
    timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    max_response_bytes: int = Field(default=65_536, ge=1_024, le=1_048_576)

    @field_validator("url")
    @classmethod
    def _public_https_only(cls, value: HttpUrl) -> HttpUrl:
        # The form of the URL only (synth makes no DNS lookups); the addresses its host resolves to are checked
        # again each time the tool connects (oratio.agent.tools.egress).
        refusal = tool_url_refusal(str(value))
        if refusal is not None:
            raise ValueError(f"{refusal}; give the tenant's public https:// endpoint")
        return value


class WorkflowSettings(_Config):
    """Agent roles in conversation order and when a lead counts as qualified."""

    roles: tuple[str, ...] = ("greeter", "qualifier", "sales", "support", "closer")
    initial_role: str = "greeter"
    qualification_threshold: float = Field(default=0.7, ge=0, le=1)
    premium_tier: str = "premium"

    @model_validator(mode="after")
    def _initial_role_known(self) -> WorkflowSettings:
        if self.initial_role not in self.roles:
            raise ValueError(f"initial_role {self.initial_role!r} is not one of roles {list(self.roles)}")
        return self


class AgentSettings(_Config):
    allowed_models: tuple[str, ...] = Field(min_length=1)
    monthly_budget_usd: float = Field(gt=0, le=1_000_000)
    max_turn_cost_usd: float = Field(default=0.05, gt=0, le=10)
    tools: tuple[str, ...] = Field(default=BUILTIN_TOOLS, description="built-in tools enabled for the agent")
    business_tools: tuple[BusinessTool, ...] = ()
    tool_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    max_parallel_tools: int = Field(default=20, ge=1, le=100)
    turn_deadline_seconds: float = Field(default=8.0, gt=0, le=120)
    thinking_budget_tokens: int = Field(default=2_048, ge=1_024, le=64_000)
    workflow: WorkflowSettings = Field(default_factory=WorkflowSettings)

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in BUILTIN_TOOLS]
        if unknown:
            raise ValueError(f"unknown built-in tool(s) {unknown}; available: {', '.join(BUILTIN_TOOLS)}")
        return value

    @model_validator(mode="after")
    def _unique_tool_names(self) -> AgentSettings:
        names = [*self.tools, *(t.name for t in self.business_tools)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tool names must be unique; repeated: {duplicates}")
        return self

    @field_validator("allowed_models")
    @classmethod
    def _known_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = load_model_catalog().model_ids
        unknown = [m for m in value if m not in known]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; the model catalog has: {', '.join(known)}")
        return value


class PhoneNumberSettings(_Config):
    country: str = Field(description="ISO 3166-1 alpha-2 country code, e.g. US")
    type: Literal["DID", "TOLL_FREE"] = "DID"

    @field_validator("country")
    @classmethod
    def _connect_country(cls, value: str) -> str:
        if value not in CONNECT_PHONE_COUNTRIES:
            raise ValueError(
                f"{value!r} is not a country where Amazon Connect claims numbers; use an ISO 3166-1 "
                f"alpha-2 code such as US, CA, GB (supported: {' '.join(sorted(CONNECT_PHONE_COUNTRIES))})"
            )
        return value


class SmsSettings(_Config):
    """Two-way SMS on an AWS End User Messaging SMS number the operator requested and registered; the tenant
    stack imports it into the Connect instance, where inbound texts arrive as chat contacts (SMS subtype)."""

    phone_number_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:sms-voice:[a-z0-9-]+:\d{12}:phone-number/[A-Za-z0-9_-]{1,128}$",
        description="the number's ARN: arn:aws:sms-voice:<region>:<account>:phone-number/<id>",
    )


class ConnectSettings(_Config):
    instance_alias: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,60}[a-z0-9]$")
    phone_number: PhoneNumberSettings
    queue_name: str = Field(min_length=1, max_length=127)
    hours_of_operation_name: str = Field(default="Business hours", min_length=1, max_length=127)
    sms: SmsSettings | None = None


class MessagingSettings(_Config):
    """What customers read on text channels (web chat, SMS, WhatsApp, Instagram, Messenger, X) when the agent is
    not the one answering; each defaults to a sentence with the business name (oratio.channels.lifecycle)."""

    paused_message: str | None = Field(default=None, min_length=1, max_length=500)
    closed_message: str | None = Field(default=None, min_length=1, max_length=500)
    unsupported_message: str | None = Field(default=None, min_length=1, max_length=500)
    handoff_message: str | None = Field(default=None, min_length=1, max_length=500)


class CustomerSettings(_Config):
    """How a customer proves an identity they give in a message (see oratio.customers.linking): codes go by SMS
    from `connect.sms`'s number and by email from `verification_email_from` (an SES identity)."""

    verification_email_from: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# AgentCore Runtime ends a session after 8 hours: no bridge call can be longer, so no slot needs to be.
MAX_CALL_MINUTES_LIMIT = 480


class CallSlotSettings(_Config):
    """How long a live-call slot may be held. Every slot has a lease, renewed while its call shows it is alive
    (the bridge while it streams, the Connect code hook on each turn); a slot whose lease ran out (its call's end
    event was lost) stops counting, and its call record is closed as `abandoned`."""

    max_call_minutes: int = Field(
        default=120, ge=5, le=MAX_CALL_MINUTES_LIMIT, description="no lease is renewed past this call length"
    )
    lease_seconds: int = Field(
        default=300, ge=60, le=3_600, description="a slot not renewed for this long stops counting"
    )
    dial_through_seconds: int = Field(
        default=60,
        ge=10,
        le=300,
        description="how long a Twilio call the webhook accepted may take to reach the Connect number it is dialled "
        "through to and still be taken for its agent (longer: more room for a caller spoofing that caller's number)",
    )

    @model_validator(mode="after")
    def _lease_within_the_call(self) -> CallSlotSettings:
        if self.lease_seconds > self.max_call_minutes * 60:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds}) must not exceed max_call_minutes ({self.max_call_minutes}) "
                "in seconds: a lease is bounded by the longest call"
            )
        if self.dial_through_seconds > self.lease_seconds:
            raise ValueError(
                f"dial_through_seconds ({self.dial_through_seconds}) must not exceed lease_seconds "
                f"({self.lease_seconds}): the dialled-through call's slot must still be held when Connect takes it"
            )
        return self


class BudgetSettings(_Config):
    """How the monthly budget (`agent.monthly_budget_usd`) is enforced before money is spent."""

    step_down_at: float = Field(
        default=0.8, gt=0, le=1, description="fraction of the budget from which turns use cheaper models"
    )
    step_down_models: tuple[str, ...] = Field(
        default=(), description="models allowed while stepped down (empty: the cheapest allowed model)"
    )
    at_budget_voice: Literal["human_queue", "message"] = Field(
        default="human_queue",
        description="new calls at the budget: to the human queue (closed message outside hours), or a message",
    )
    exhausted_voice_message: str | None = Field(default=None, min_length=1, max_length=300)
    exhausted_text_message: str | None = Field(default=None, min_length=1, max_length=500)
    alarm_fractions: tuple[float, ...] = Field(
        default=(0.8, 1.0), min_length=1, description="budget alarms at these fractions of the month's budget"
    )

    @field_validator("alarm_fractions")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f <= 2 for f in value) or len(set(value)) != len(value):
            raise ValueError("alarm fractions must be distinct numbers between 0 and 2 (e.g. [0.8, 1.0])")
        return tuple(sorted(value))


class IdentifierPattern(_Config):
    """A tenant identifier that is personal data (an account, a membership number): redacted wherever found."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="the label it is replaced with, e.g. order_number")
    pattern: str = Field(min_length=2, max_length=300, description="a regular expression (Python syntax)")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from e
        if compiled.match(""):
            raise ValueError("the pattern matches the empty string; it would redact nothing useful")
        return value


class PrivacySettings(_Config):
    """What is redacted from logs and stored transcripts, and whether raw text is kept at all."""

    identifiers: tuple[IdentifierPattern, ...] = ()
    store_raw_text: bool = Field(
        default=False, description="keep the raw transcript too, encrypted with the tenant's KMS key"
    )


class RecordingSettings(_Config):
    """Call recording on the Connect number (off by default) and what the caller hears about it."""

    call_recording: bool = False
    caller_notice: str = Field(
        default="This call may be recorded for quality and training purposes.", min_length=1, max_length=300
    )
    url_expires_seconds: int = Field(default=900, ge=60, le=43_200, description="life of a presigned recording URL")


class OperationsSettings(_Config):
    """Who is alarmed, at which thresholds, and how calls are analysed after they end."""

    alarm_emails: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = ()
    turn_latency_p99_target_ms: int = Field(default=3_000, ge=200, le=30_000)
    bridge_turn_latency_p90_target_ms: int = Field(
        default=1_500,
        ge=100,
        le=30_000,
        description="voice bridge calls: the caller's final words to the first audio back, p90 (alarm above it)",
    )
    latency_alarm_periods: int = Field(
        default=2, ge=1, le=12, description="5-minute periods a latency alarm must stay over its target to fire"
    )
    analysis_model: str = Field(default="nova-micro", description="the cheap catalog model that writes analyses")
    analysis_max_turns: int = Field(default=50, ge=1, le=500, description="turns of a conversation it reads")
    messaging_idle_minutes: int = Field(default=30, ge=1, le=1_440, description="a message thread ends after this")
    webhook_rejections_alarm_threshold: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="refused (unsigned or wrongly signed) channel webhook deliveries in 5 minutes that raise an alarm",
    )

    @field_validator("analysis_model")
    @classmethod
    def _known_analysis_model(cls, value: str) -> str:
        known = load_model_catalog().model_ids
        if value not in known:
            raise ValueError(f"unknown model {value!r}; the model catalog has: {', '.join(known)}")
        return value


class Limits(_Config):
    max_concurrent_calls: int = Field(default=10, ge=1, le=10_000)
    max_agents: int = Field(default=50, ge=1, le=1_000)
    call_slots: CallSlotSettings = Field(default_factory=CallSlotSettings)


class KnowledgeSource(_Config):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str | None = None
    path: str | None = Field(default=None, description="file shipped with the tenant, relative to tenants/")
    url: HttpUrl | None = None

    @field_validator("path")
    @classmethod
    def _inside_the_tenants_folder(cls, value: str | None) -> str | None:
        # Symlinks are resolved against the file system by `load_tenant_file`; here the form alone.
        if value is None:
            return value
        if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or PureWindowsPath(value).drive:
            raise ValueError(f"{value!r} is an absolute path; give a path relative to the tenants/ folder")
        if ".." in PurePosixPath(value.replace("\\", "/")).parts:
            raise ValueError(f"{value!r} leaves the tenants/ folder ('..'); keep knowledge files inside it")
        return value

    @model_validator(mode="after")
    def _one_location(self) -> KnowledgeSource:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' or 'url'")
        return self


class KnowledgeSettings(_Config):
    embedding_model: str = "titan-embed-text-v2"
    embedding_dimensions: int | None = None
    sources: tuple[KnowledgeSource, ...] = ()

    @model_validator(mode="after")
    def _known_embedding(self) -> KnowledgeSettings:
        catalog = load_model_catalog()
        if self.embedding_model not in catalog.embedding_model_ids:
            raise ValueError(
                f"unknown embedding_model {self.embedding_model!r}; "
                f"the catalog has: {', '.join(catalog.embedding_model_ids)}"
            )
        model = catalog.embedding_model(self.embedding_model)
        if self.embedding_dimensions is not None and self.embedding_dimensions not in model.dimensions:
            raise ValueError(
                f"embedding_dimensions {self.embedding_dimensions} is not offered by {model.id}; "
                f"use one of {list(model.dimensions)}"
            )
        return self

    @property
    def dimensions(self) -> int:
        model = load_model_catalog().embedding_model(self.embedding_model)
        return self.embedding_dimensions or model.default_dimensions


class TenantConfig(_Config):
    """Everything Oratio knows about one tenant at deploy time."""

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    business: BusinessProfile
    channels: tuple[Channel, ...] = Field(min_length=1)
    voice: VoiceSettings
    agent: AgentSettings
    connect: ConnectSettings
    limits: Limits = Field(default_factory=Limits)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    operations: OperationsSettings = Field(default_factory=OperationsSettings)

    @model_validator(mode="after")
    def _step_down_models_allowed(self) -> TenantConfig:
        outside = [m for m in self.budget.step_down_models if m not in self.agent.allowed_models]
        if outside:
            raise ValueError(
                f"budget.step_down_models {outside} are not in agent.allowed_models {list(self.agent.allowed_models)}"
            )
        return self

    messaging: MessagingSettings = Field(default_factory=MessagingSettings)
    customers: CustomerSettings = Field(default_factory=CustomerSettings)

    @model_validator(mode="after")
    def _premium_tier_exists(self) -> TenantConfig:
        tier = self.agent.workflow.premium_tier
        if tier not in self.voice.tiers:
            raise ValueError(
                f"agent.workflow.premium_tier {tier!r} is not one of voice.tiers: {sorted(self.voice.tiers)}"
            )
        return self

    @field_validator("channels")
    @classmethod
    def _no_duplicate_channels(cls, value: tuple[Channel, ...]) -> tuple[Channel, ...]:
        if len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value

    @cached_property
    def greeting(self) -> str:
        return self.voice.greeting or f"Welcome to {self.business.name}! How can I help you today?"

    @cached_property
    def closed_message(self) -> str:
        return self.voice.closed_message or (
            f"Thanks for calling {self.business.name}. We're closed right now; please call back during "
            "our business hours."
        )

    @cached_property
    def paused_message(self) -> str:
        return self.voice.paused_message or (
            f"Thanks for calling {self.business.name}. Our assistant is taking a short break; please call back shortly."
        )

    @cached_property
    def budget_voice_message(self) -> str:
        """What a caller hears when the month's budget is spent (before the transfer, or instead of the call)."""
        if self.budget.exhausted_voice_message:
            return self.budget.exhausted_voice_message
        if self.budget.at_budget_voice == "human_queue":
            return f"Thanks for calling {self.business.name}. Let me connect you with someone from our team."
        return f"Thanks for calling {self.business.name}. We can't take your call right now; please try again later."

    @cached_property
    def budget_text_message(self) -> str:
        """The polite reply a message gets when the month's budget is spent."""
        return self.budget.exhausted_text_message or (
            f"Thanks for your message to {self.business.name}! Our assistant is unavailable right now; "
            "a member of our team will get back to you."
        )

    @cached_property
    def unavailable_message(self) -> str:
        return self.voice.unavailable_message or (
            f"Thanks for calling {self.business.name}. We can't take your call right now; please try again later."
        )


class TenantConfigError(ValueError):
    """A tenant file is missing, unreadable or invalid. The message is meant for the engineer."""


_EXPECTATIONS = {
    "missing": "this field is required; add it",
    "extra_forbidden": "unknown key; remove it or check its spelling",
    "enum": "not a supported value",
}


def _describe(error: Any) -> str:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    kind = error["type"]
    message = _EXPECTATIONS.get(kind, error["msg"].removeprefix("Value error, "))
    if kind == "enum":
        message = f"{error['input']!r} is {message}; expected one of: {error['ctx']['expected']}"
    elif (
        kind not in _EXPECTATIONS
        and "input" in error
        and not isinstance(error["input"], dict | list)
        and repr(error["input"]) not in message
    ):
        message = f"{message} (got {error['input']!r})"
    return f"  - {path or '<top level>'}: {message}"


def load_tenant_file(path: Path | str) -> TenantConfig:
    """Read and validate one tenant file; raise `TenantConfigError` naming file and fields."""
    path = Path(path)
    try:
        raw = load_yaml_file(path)
    except YamlFileError as e:
        raise TenantConfigError(str(e)) from e
    if not isinstance(raw, dict):
        raise TenantConfigError(
            f"{path}: line 1: expected a mapping of tenant settings (key: value lines) at the top level"
        )
    try:
        config = TenantConfig.model_validate(raw)
    except ValidationError as e:
        details = "\n".join(_describe(err) for err in e.errors())
        raise TenantConfigError(f"{path}: invalid tenant configuration\n{details}") from e
    problems = _knowledge_file_problems(path, config)
    if problems:
        raise TenantConfigError(f"{path}: invalid tenant configuration\n" + "\n".join(problems))
    if config.tenant_id != path.stem:
        raise TenantConfigError(
            f"{path}: tenant_id: {config.tenant_id!r} must match the file name; "
            f"rename the file to {config.tenant_id}.yaml or set tenant_id: {path.stem}"
        )
    return config


def _knowledge_file_problems(path: Path, config: TenantConfig) -> list[str]:
    """Knowledge files that are missing, or that resolve (through symlinks) outside the tenant file's folder."""
    root = path.parent.resolve()
    problems: list[str] = []
    for i, source in enumerate(config.knowledge.sources):
        if source.path is None:
            continue
        where = f"  - knowledge.sources[{i}].path: {source.path!r}"
        target = (path.parent / source.path).resolve()
        if not target.is_relative_to(root):
            problems.append(f"{where} resolves outside {path.parent} (a symlink out?); keep knowledge files inside it")
        elif not target.is_file():
            problems.append(
                f"{where} not found next to the tenant file (looked for {path.parent / source.path}); "
                "add the file or fix the path"
            )
    return problems


def load_tenants(directory: Path | str, only: str | None = None) -> list[TenantConfig]:
    """Load every `*.yaml` tenant in a folder (or just `only`), sorted by tenant id. Two tenants may not share a
    Connect instance alias (aliases are global) or a phone number (a number answers one business)."""
    directory = Path(directory)
    if only is not None:
        return [load_tenant_file(directory / f"{only}.yaml")]
    paths = sorted(directory.glob("*.yaml"))
    tenants = [load_tenant_file(p) for p in paths]
    check_distinct(list(zip(paths, tenants, strict=True)))
    return tenants


def check_distinct(files: list[tuple[Path, TenantConfig]]) -> None:
    """`TenantConfigError` naming both files and the field when two tenants share an alias or a number."""
    problems: list[str] = []
    fields: dict[str, Callable[[TenantConfig], str | None]] = {
        "connect.instance_alias": lambda t: t.connect.instance_alias,
        "business.contact.phone": lambda t: t.business.contact.phone,
    }
    for field, value_of in fields.items():
        seen: dict[str, Path] = {}
        for path, tenant in files:
            value = value_of(tenant)
            if value is None:
                continue
            if value in seen:
                problems.append(
                    f"  - {field}: {value!r} is used by both {seen[value]} and {path}; every tenant needs its own "
                    "(change it in one of the files)"
                )
            else:
                seen[value] = path
    if problems:
        raise TenantConfigError("tenant files clash\n" + "\n".join(problems))
