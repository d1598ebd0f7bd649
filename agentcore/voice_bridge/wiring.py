"""Composition of the voice bridge runtime: what one call is wired to when deployed.

The `/ws` route calls `build_call_runner()` on its first call (never at import): it reads
`BridgeRuntimeSettings` from the environment the CDK construct sets (`stacks/constructs/voice_bridge.py`)
and returns a runner that, for each call, waits for the provider's start message (it carries the call id,
the audio rate and the webhook's parameters: agent id, caller, voice tier), then runs a `VoiceCall` wired
to AWS: Nova Sonic over `aws-sdk-bedrock-runtime`, the tenant agent through `AgentCoreAgentClient`, the
cascaded fallback on Transcribe streaming and Polly, and the DynamoDB conversation recorder and usage
ledger; the call's session (opened by the telephony webhook) keeps its live-call slot lease renewed while the
call streams and is closed, with the call's cost, when it ends. The streaming SDK clients are built once per
process, inside the event loop: Nova Sonic's on the first call, Transcribe's when a call first falls back to
the cascaded rung. Tests and the local mode set their own runner with `app.set_call_runner`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentcore.tenant_agent.wiring import ENV_DEFINITION_RECHECK, ENV_TENANT_CONFIG_PART, join_tenant_config
from oratio.agent.prompt import PromptBuilder
from oratio.agent_definitions.merge import resolve
from oratio.agent_definitions.model import AgentDefinition
from oratio.agent_definitions.source import DefinitionSource, DefinitionUnavailableError, SourceSettings
from oratio.agent_definitions.versions import LiveAgent
from oratio.config import TenantConfig
from oratio.config.tenant import Channel
from oratio.domain.call_events import CallCosts
from oratio.domain.call_slots import CallLeaseKeeper, CallLeases, SessionStoreLeases
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE
from oratio.voice_bridge.bridge import CallContext, CallOutcome
from oratio.voice_bridge.config import BridgeSettings, SonicSettings, ToolSpec
from oratio.voice_bridge.frames import Start
from oratio.voice_bridge.processors import AgentCheck
from oratio.voice_bridge.serializers import FrameSerializer, WireFormatError, WireMessage

if TYPE_CHECKING:
    from oratio.voice_bridge.ports import RecognitionStream

logger = logging.getLogger(__name__)

# --- Environment variables: the construct writes them, `BridgeRuntimeSettings` reads them.
ENV_AGENT_RUNTIME_ARN = "ORATIO_AGENT_RUNTIME_ARN"
ENV_AGENT_QUALIFIER = "ORATIO_AGENT_QUALIFIER"
ENV_REGION = "ORATIO_AWS_REGION"
ENV_SONIC_MODEL_ID = "ORATIO_SONIC_MODEL_ID"
ENV_DEFAULT_AGENT_ID = "ORATIO_DEFAULT_AGENT_ID"
ENVIRONMENT = {
    "agent_runtime_arn": ENV_AGENT_RUNTIME_ARN,
    "agent_qualifier": ENV_AGENT_QUALIFIER,
    "agents_table": AGENTS.env_var,
    "agent_definitions_table": AGENT_DEFINITIONS.env_var,
    "definition_recheck_seconds": ENV_DEFINITION_RECHECK,
    "conversations_table": CONVERSATIONS.env_var,
    "usage_table": USAGE.env_var,
    "tenant_state_table": TENANT_STATE.env_var,
    "region": ENV_REGION,
    "sonic_model_id": ENV_SONIC_MODEL_ID,
    "default_agent_id": ENV_DEFAULT_AGENT_ID,
}
# Parameters the telephony webhook passes on the media stream (Twilio <Parameter>s, Vonage `headers`).
PARAM_AGENT_ID = "agent_id"
PARAM_CALLER = "caller"
PARAM_VOICE_TIER = "voice_tier"
# A provider sends its start message right after connecting; a socket that does not is not a call.
START_TIMEOUT_SECONDS = 10.0
MAX_MESSAGES_BEFORE_START = 8

CallRunner = Callable[
    [FrameSerializer, Callable[[WireMessage], Awaitable[None]], AsyncIterator[WireMessage]], Awaitable[Any]
]

logger = logging.getLogger("oratio.voice_bridge")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WiringError(RuntimeError):
    """The runtime's environment cannot make calls; the message names the variables to fix."""


class CallRefusedError(ValueError):
    """A media stream that is not a call this bridge can take (no start message, no agent)."""


class BridgeRuntimeSettings(BaseModel):
    """What the bridge runtime reads from its environment on first use (see `ENVIRONMENT`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_config_json: str = Field(min_length=2)
    agent_runtime_arn: str = Field(pattern=r"^arn:aws[a-z-]*:bedrock-agentcore:[a-z0-9-]+:\d{12}:runtime/.+")
    agent_qualifier: str = Field(default="DEFAULT", min_length=1)
    agents_table: str = Field(min_length=1)
    agent_definitions_table: str = Field(min_length=1)
    definition_recheck_seconds: float = Field(default=SourceSettings().recheck_seconds, ge=0, le=60)
    conversations_table: str = Field(min_length=1)
    usage_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    region: str = Field(min_length=1)
    sonic_model_id: str = SonicSettings().model_id
    default_agent_id: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> BridgeRuntimeSettings:
        environ = os.environ if environ is None else environ
        values: dict[str, str] = {name: environ[var] for name, var in ENVIRONMENT.items() if environ.get(var)}
        if f"{ENV_TENANT_CONFIG_PART}0" in environ:
            values["tenant_config_json"] = join_tenant_config(environ)
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            problems = "; ".join(
                f"{_variable(err['loc'])}: {err['msg']}" for err in e.errors(include_url=False, include_input=False)
            )
            raise WiringError(f"voice bridge settings are invalid: {problems}") from e

    def tenant(self) -> TenantConfig:
        try:
            return TenantConfig.model_validate_json(self.tenant_config_json)
        except ValidationError as e:
            raise WiringError(f"{ENV_TENANT_CONFIG_PART}0.. do not hold a valid tenant config: {e}") from e


def _variable(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else ""
    if name == "tenant_config_json":
        return f"{ENV_TENANT_CONFIG_PART}0.."
    return ENVIRONMENT.get(name, "settings")


def sonic_tools(definition: AgentDefinition) -> tuple[ToolSpec, ...]:
    """The tools Nova Sonic may call: the agent's enabled built-ins and business tools, with the agent's own
    descriptions and schemas (the tenant agent runs them; the bridge only relays the request)."""
    from oratio.agent.tools.builtin import EndCallTool, KnowledgeSearchTool, TransferToHumanTool

    specs: list[ToolSpec] = []
    for name in definition.tools.builtin:
        if name == "knowledge_search":
            spec = KnowledgeSearchTool(_RelayOnly()).spec
        elif name == "transfer_to_human":
            spec = TransferToHumanTool().spec
        else:
            spec = EndCallTool().spec
        specs.append(ToolSpec(name=spec.name, description=spec.description, input_schema=spec.input_schema))
    specs += [
        ToolSpec(name=tool.name, description=tool.description, input_schema=tool.input_schema)
        for tool in definition.tools.business_tools
    ]
    return tuple(specs)


def agent_definition(tenant: TenantConfig, live: LiveAgent) -> AgentDefinition:
    """The definition a call runs with; one that does not resolve against the tenant file runs on its defaults."""
    try:
        return resolve(tenant, live.agent_id, live.overrides(), live.version)
    except ValueError:  # pydantic's ValidationError is one
        logger.exception("voice_bridge.definition_unresolved", extra={"agent_id": live.agent_id})
        return resolve(tenant, live.agent_id, None)


def call_settings(
    tenant: TenantConfig, definition: AgentDefinition, sample_rate: int, **overrides: Any
) -> BridgeSettings:
    """One call's bridge settings, from the agent's definition."""
    return BridgeSettings(
        tenant_id=tenant.tenant_id,
        agent_id=definition.agent_id,
        system_prompt=PromptBuilder(definition).static_system_text(Channel.VOICE),
        tools=sonic_tools(definition),
        sample_rate=sample_rate,
        apology_text=tenant.unavailable_message,
        trouble_text=tenant.voice.connect.trouble_message,
        paused_line=definition.lines.paused_line,
        closing_line=definition.lines.closing_line,
        **overrides,
    )


class _RelayOnly:
    """Stands where a retriever would: the bridge reads the knowledge tool's spec and never runs it."""

    async def retrieve(self, query: str, top_k: int, scope: Any = None) -> list[Any]:
        raise RuntimeError("the voice bridge does not run tools; the tenant agent does")


async def await_start(
    serializer: FrameSerializer, messages: AsyncIterator[WireMessage]
) -> tuple[Start, AsyncIterator[WireMessage]]:
    """Read the stream up to the provider's start message (with a fresh serializer of the same kind) and
    return it with the stream as it was: every message read is replayed first, so the call sees them all."""
    peek = type(serializer)()
    seen: list[WireMessage] = []
    start: Start | None = None
    try:
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            while start is None and len(seen) < MAX_MESSAGES_BEFORE_START:
                message = await anext(messages, None)
                if message is None:
                    break
                seen.append(message)
                frame = peek.deserialize(message)
                if isinstance(frame, Start):
                    start = frame
    except TimeoutError as e:
        raise CallRefusedError(f"no start message within {START_TIMEOUT_SECONDS:g} s") from e
    except WireFormatError as e:
        raise CallRefusedError(f"the stream did not start like a call: {e}") from e
    if start is None:
        raise CallRefusedError(f"no start message in the first {len(seen)} messages")

    async def replayed() -> AsyncIterator[WireMessage]:
        for message in seen:
            yield message
        async for message in messages:
            yield message

    return start, replayed()


class TranscribeOnFirstUse:
    """The cascaded rung's recognizer (`SpeechRecognizer`): Amazon Transcribe streaming, its client got from
    `client` when the rung first starts listening rather than when the call starts."""

    def __init__(self, client: Callable[[], Awaitable[Any]], *, language_code: str) -> None:
        self._client = client
        self.language_code = language_code

    async def start(self, sample_rate: int) -> RecognitionStream:
        from oratio.adapters.transcribe_streaming import TranscribeStreamingRecognizer

        recognizer = TranscribeStreamingRecognizer(await self._client(), language_code=self.language_code)
        return await recognizer.start(sample_rate)


class BridgeRuntime:
    """The deployed bridge's shared parts (clients, tenant, tools) and the per-call runner."""

    def __init__(self, settings: BridgeRuntimeSettings) -> None:
        from agentcore.tenant_agent.client import AgentCoreAgentClient
        from oratio.adapters import polly
        from oratio.adapters.dynamodb import DynamoDBCallSessionStore
        from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger, DynamoDBConversationRecorder
        from oratio.adapters.dynamodb_call_costs import DynamoDBCallCosts
        from oratio.agent_definitions.dynamodb import DynamoDBDefinitionReader
        from oratio.agent_definitions.source import CachedDefinitionSource
        from oratio.privacy import Redactor
        from oratio.transcripts import RedactingRecorder

        self.settings = settings
        self.tenant = settings.tenant()
        self.definitions: DefinitionSource = CachedDefinitionSource(
            DynamoDBDefinitionReader(settings.agents_table, settings.agent_definitions_table),
            SourceSettings(recheck_seconds=settings.definition_recheck_seconds),
        )
        self.agent = AgentCoreAgentClient(settings.agent_runtime_arn, settings.agent_qualifier)
        # Caller speech is stored redacted (PII and the tenant's identifiers), as on the Connect path.
        self.recorder = RedactingRecorder(
            DynamoDBConversationRecorder(settings.conversations_table), Redactor(self.tenant.privacy.identifiers)
        )
        self.ledger = DynamoDBBudgetLedger(settings.usage_table, conversations_table=settings.conversations_table)
        # The call's session (opened by the telephony webhook's router): its slot lease is renewed while the call
        # streams and the session is closed when it ends, whether or not the provider's end event arrives.
        self.leases: CallLeases = SessionStoreLeases(
            DynamoDBCallSessionStore(settings.conversations_table, settings.tenant_state_table)
        )
        self.costs: CallCosts = DynamoDBCallCosts(settings.conversations_table)
        # One Polly client for every call (boto3 clients are thread-safe; building one per call would block the
        # event loop on botocore's loaders); each call's synthesizer picks its tier's voice.
        self.polly_client = polly.polly_client(settings.region)
        self._clients: dict[str, Any] = {}
        self._clients_lock = asyncio.Lock()

    def sonic_settings(self, voice_id: str | None = None) -> SonicSettings:
        return SonicSettings(
            model_id=self.settings.sonic_model_id,
            region=self.settings.region,
            voice_id=voice_id or self.tenant.voice.voice_id,
        )

    async def agent_for(self, start: Start) -> AgentDefinition:
        """The definition of the agent the stream names (its live version)."""
        agent_id = start.parameters.get(PARAM_AGENT_ID) or self.settings.default_agent_id
        if not agent_id:
            raise CallRefusedError(
                f"the stream names no {PARAM_AGENT_ID!r} parameter and {ENV_DEFAULT_AGENT_ID} is not set"
            )
        try:
            live = await self.definitions.live(self.tenant.tenant_id, agent_id)
        except DefinitionUnavailableError:
            # The gate asks again at the first turn; meanwhile the caller is not left in silence.
            logger.exception("voice_bridge.definition_unavailable", extra={"agent_id": agent_id})
            return resolve(self.tenant, agent_id, None)
        return agent_definition(self.tenant, live)

    def check(self, agent_id: str) -> AgentCheck:
        """A fresh read of the agent's status, for the lifecycle gate (one small read per caller turn)."""
        return lambda: self.definitions.live(self.tenant.tenant_id, agent_id, max_age_seconds=0)

    async def _speech_clients(self) -> tuple[Any, Any]:
        """Nova Sonic's client, built once in the running loop (it is async) on the first call, and Transcribe
        streaming's if a call has needed it yet (else None: see `_transcribe_client`)."""
        async with self._clients_lock:
            if "sonic" not in self._clients:
                from oratio.adapters import nova_sonic

                self._clients["sonic"] = await nova_sonic.build_client(self.sonic_settings())
        return self._clients["sonic"], self._clients.get("transcribe")

    async def _transcribe_client(self) -> Any:
        """Transcribe streaming's client, built once when a call first falls back to the cascaded rung (most
        never do): its SDK's import and the client cost the first call about a twentieth of a second of CPU
        before Sonic could speak."""
        async with self._clients_lock:
            if self._clients.get("transcribe") is None:
                from oratio.adapters import transcribe_streaming

                self._clients["transcribe"] = await transcribe_streaming.build_client(self.settings.region)
        return self._clients["transcribe"]

    async def run_call(
        self,
        serializer: FrameSerializer,
        send: Callable[[WireMessage], Awaitable[None]],
        messages: AsyncIterator[WireMessage],
    ) -> CallOutcome:
        from oratio.adapters.nova_sonic import NovaSonicSessionFactory
        from oratio.adapters.polly import PollySynthesizer
        from oratio.voice_bridge.bridge import VoiceCall
        from oratio.voice_bridge.cascaded import CascadedSessionFactory
        from oratio.voice_bridge.metrics import BridgeMetrics
        from oratio.voice_bridge.ports import SpeechSessionFactory

        start, messages = await await_start(serializer, messages)
        definition = await self.agent_for(start)
        voice = definition.voice
        tier = voice.tiers.get(start.parameters.get(PARAM_VOICE_TIER, ""), voice.tiers[voice.default_tier])
        settings = call_settings(
            self.tenant,
            definition,
            start.sample_rate,
            sonic=self.sonic_settings(definition.voice.voice_id),
            cascaded_voice_engine=tier.engine,
        )
        sonic_client, _ = await self._speech_clients()
        language = self.tenant.voice.language
        synthesizer = PollySynthesizer(tier, language_code=language, client=self.polly_client)
        recognizer = TranscribeOnFirstUse(self._transcribe_client, language_code=language)

        def ladder(context: CallContext) -> list[SpeechSessionFactory]:
            return [
                NovaSonicSessionFactory(sonic_client, settings.sonic, settings.sample_rate),
                CascadedSessionFactory(
                    settings,
                    recognizer,
                    self.agent,
                    synthesizer,
                    call_id=lambda: context.call_id,
                    customer=context.customer,
                ),
            ]

        call = VoiceCall(
            settings,
            serializer,
            send,
            ladder=ladder,
            agent=self.agent,
            synthesizer=synthesizer,
            recorder=self.recorder,
            ledger=self.ledger,
            agent_check=self.check(definition.agent_id),
            # EMF lines on stdout: AgentCore Runtime ships them to its log group, CloudWatch extracts the metrics.
            metrics=BridgeMetrics(self.tenant.tenant_id, definition.agent_id),
        )
        keeper = CallLeaseKeeper(
            self.leases,
            self.tenant.limits.call_slots,
            tenant_id=self.tenant.tenant_id,
            contact_id=start.call_id,
            clock=_utc_now,
        )
        keeping = asyncio.create_task(keeper.keep(), name="call-slot-lease")
        outcome: CallOutcome | None = None
        try:
            outcome = await call.run(messages)
            return outcome
        finally:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
            await keeper.end(
                f"bridge_{outcome.reason}" if outcome else "bridge_failed",
                await self._total_cost(start.call_id, outcome),
            )

    async def _total_cost(self, call_id: str, outcome: CallOutcome | None) -> float | None:
        """What the call cost: its speech (Nova Sonic tokens) and the turns recorded with it (the agent's)."""
        speech = outcome.cost_usd if outcome else 0.0
        try:
            turns = await asyncio.to_thread(self.costs.total_usd, self.tenant.tenant_id, call_id)
        except Exception:
            logger.exception("the call's turn costs could not be summed", extra={"call_id": call_id})
            return round(speech, 8) if speech else None
        return round(speech + turns, 8)


def build_call_runner(settings: BridgeRuntimeSettings | None = None) -> CallRunner:
    """The deployed call runner, from `settings` or the process environment."""
    return BridgeRuntime(settings or BridgeRuntimeSettings.from_environ()).run_call
