"""`AgentDefinition`: everything that decides how one agent behaves, resolved and complete; and
`AgentOverrides`, the same shape with every field optional, which is what an agent sets on top of its
tenant's defaults.

The tenant file gives the defaults (`oratio.agent_definitions.merge.tenant_defaults`); an agent's overrides
replace them field by field (`merge_fields`), nested groups field by field too, mappings key by key. The
engine, the voice paths and the prompt builder read only `AgentDefinition`.

Groups, in the order a reader meets them in a conversation:

- who it is: `name`, `persona`, `instructions`, `tone`, the `business` it speaks for and the `facts` it may
  quote word for word;
- what it says at the edges: `lines` (greeting, and the lines for a pause or a stop during a conversation);
- how the conversation moves: `workflow` (roles, transitions' threshold, per-role instructions);
- what it may do: `tools` (built-in tools and the vendor's own HTTPS business tools), `models` (which models it
  may route to, its own monthly budget share, per-turn limits);
- how it sounds: `voice` (Nova Sonic voice, Polly tiers);
- what it must not do: `guardrails` (topics it refuses, topics that go straight to a person);
- what it knows: `knowledge` (its own documents, and whether the tenant-wide documents too).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from oratio.config.catalog import load_model_catalog
from oratio.config.tenant import BUILTIN_TOOLS, BusinessHours, BusinessTool, ContactInfo, VoiceTier

LINE_CHARS = 300
LONG_TEXT = 2_000
SHORT_TEXT = 120
FACT_CHARS = 500
MAX_FACTS = 50
MAX_TOPICS = 30
TOPIC_CHARS = 80
FACT_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
ROLE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
LEAD_FIELD_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MAX_LEAD_FIELDS = 20
# The lead fields a post-call analysis fills when an agent's workflow names none of its own (what a sales
# follow-up needs).
DEFAULT_LEAD_FIELDS = ("products_of_interest", "budget", "timeline", "next_step")

Line = Annotated[str, Field(min_length=1, max_length=LINE_CHARS)]
Topic = Annotated[str, Field(min_length=2, max_length=TOPIC_CHARS)]
FactKey = Annotated[str, Field(pattern=FACT_KEY_PATTERN)]
Role = Annotated[str, Field(pattern=ROLE_PATTERN)]
LeadField = Annotated[str, Field(pattern=LEAD_FIELD_PATTERN)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)


def _known_models(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    known = load_model_catalog().model_ids
    unknown = [m for m in value if m not in known]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; the model catalog has: {', '.join(known)}")
    return value


def _known_builtins(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    unknown = [t for t in value if t not in BUILTIN_TOOLS]
    if unknown:
        raise ValueError(f"unknown built-in tool(s) {unknown}; available: {', '.join(BUILTIN_TOOLS)}")
    if len(set(value)) != len(value):
        raise ValueError("built-in tools must not repeat")
    return value


def _unique_tool_names(tools: tuple[BusinessTool, ...] | None, builtin: tuple[str, ...] | None) -> None:
    names = [*(builtin or ()), *(t.name for t in tools or ())]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"tool names must be unique; repeated: {repeated}")


def _unique_lead_fields(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is not None and len(set(value)) != len(value):
        repeated = sorted({f for f in value if value.count(f) > 1})
        raise ValueError(f"lead fields must not repeat; repeated: {repeated}")
    return value


LeadFields = Annotated[
    tuple[LeadField, ...], AfterValidator(_unique_lead_fields), Field(min_length=1, max_length=MAX_LEAD_FIELDS)
]
ModelIds = Annotated[tuple[str, ...], AfterValidator(_known_models)]
BuiltinTools = Annotated[tuple[str, ...], AfterValidator(_known_builtins)]


# ------------------------------------------------------------------------------------- the groups
class AgentLines(_Frozen):
    """What the agent says at the edges of a conversation."""

    greeting: Line
    paused_line: Line = Field(
        description="said when the agent is paused during a conversation, before a person takes over"
    )
    closing_line: Line = Field(
        description="said when the agent is stopped or deleted during a conversation, then it ends"
    )
    handover_line: Line = Field(description="said before a topic the guardrails escalate goes to a person")


class BusinessFacts(_Frozen):
    """The business the agent speaks for."""

    name: str = Field(min_length=1, max_length=SHORT_TEXT)
    business_type: str = Field(min_length=1, max_length=60)
    products: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    hours: BusinessHours
    contact: ContactInfo = Field(default_factory=ContactInfo)
    website: str | None = Field(default=None, max_length=200)


class WorkflowDefinition(_Frozen):
    """Conversation roles in order, when a lead counts as qualified, what the agent does in each role, and what
    the post-call analysis records about the lead (`lead_fields`)."""

    roles: tuple[Role, ...] = Field(min_length=1)
    initial_role: Role
    qualification_threshold: float = Field(ge=0, le=1)
    premium_tier: str = Field(min_length=1)
    role_instructions: dict[Role, Annotated[str, Field(min_length=1, max_length=LONG_TEXT)]] = Field(
        default_factory=dict, description="replaces the built-in instructions of a role"
    )
    lead_fields: LeadFields = Field(
        default=DEFAULT_LEAD_FIELDS,
        description="what the post-call analysis records about a lead (snake_case names, e.g. mattress_size)",
    )

    @model_validator(mode="after")
    def _initial_role_known(self) -> WorkflowDefinition:
        if self.initial_role not in self.roles:
            raise ValueError(f"initial_role {self.initial_role!r} is not one of roles {list(self.roles)}")
        return self


class ToolSettings(_Frozen):
    """The tools the agent may use: built-ins and the vendor's own HTTPS endpoints (https only)."""

    builtin: BuiltinTools = ()
    business_tools: tuple[BusinessTool, ...] = ()
    timeout_seconds: float = Field(gt=0, le=30)
    max_parallel: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _unique(self) -> ToolSettings:
        _unique_tool_names(self.business_tools, self.builtin)
        return self


class ModelAllowance(_Frozen):
    """Which models the agent may route to and what it may spend: its own monthly share of the tenant's budget
    (the tenant's own ceiling still applies), the most one turn may cost, thinking and turn time limits."""

    allowed_models: ModelIds = Field(min_length=1)
    monthly_budget_usd: float = Field(gt=0, le=1_000_000)
    max_turn_cost_usd: float = Field(gt=0, le=10)
    thinking_budget_tokens: int = Field(ge=1_024, le=64_000)
    turn_deadline_seconds: float = Field(gt=0, le=120)


class VoiceDefinition(_Frozen):
    """How the agent sounds: the Nova Sonic voice and the Polly voice tiers."""

    voice_id: str = Field(min_length=1, max_length=40)
    default_tier: str = Field(min_length=1)
    tiers: dict[str, VoiceTier] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_tier_exists(self) -> VoiceDefinition:
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers {sorted(self.tiers)}")
        return self


class Guardrails(_Frozen):
    """What the agent must not do: topics it refuses (with the line it refuses with) and topics that go to a
    person at once. Topics are words or short phrases matched on word boundaries, case-insensitively."""

    refuse_topics: tuple[Topic, ...] = Field(default=(), max_length=MAX_TOPICS)
    refusal_line: Line
    escalate_topics: tuple[Topic, ...] = Field(default=(), max_length=MAX_TOPICS)


class KnowledgeScope(_Frozen):
    """What the agent's knowledge search covers: always its own documents; the tenant-wide ones when set."""

    include_tenant_documents: bool = True


# -------------------------------------------------------------------------------------- the whole
class AgentDefinition(_Frozen):
    """One agent, resolved: the tenant's defaults with the agent's overrides applied (see the module doc)."""

    tenant_id: str
    agent_id: str
    version: int | None = Field(default=None, description="the definition version; None: the tenant's defaults")
    name: str = Field(min_length=1, max_length=SHORT_TEXT)
    persona: str = Field(min_length=1, max_length=LONG_TEXT, description="who the agent is, as 'You are <persona>.'")
    instructions: str = Field(default="", max_length=LONG_TEXT)
    tone: str = Field(min_length=1, max_length=60)
    business: BusinessFacts
    facts: dict[FactKey, Annotated[str, Field(min_length=1, max_length=FACT_CHARS)]] = Field(
        default_factory=dict, max_length=MAX_FACTS
    )
    lines: AgentLines
    workflow: WorkflowDefinition
    tools: ToolSettings
    models: ModelAllowance
    voice: VoiceDefinition
    guardrails: Guardrails
    knowledge: KnowledgeScope = Field(default_factory=KnowledgeScope)

    @model_validator(mode="after")
    def _premium_tier_exists(self) -> AgentDefinition:
        if self.workflow.premium_tier not in self.voice.tiers:
            raise ValueError(
                f"workflow.premium_tier {self.workflow.premium_tier!r} is not one of voice.tiers "
                f"{sorted(self.voice.tiers)}"
            )
        return self


# --------------------------------------------------------------------------------------- overrides
class Overrides(_Frozen):
    """Base of the override groups: every field optional; `merge_fields` merges these field by field."""


class AgentLinesOverrides(Overrides):
    greeting: Line | None = None
    paused_line: Line | None = None
    closing_line: Line | None = None
    handover_line: Line | None = None


class BusinessOverrides(Overrides):
    name: str | None = Field(default=None, min_length=1, max_length=SHORT_TEXT)
    business_type: str | None = Field(default=None, min_length=1, max_length=60)
    products: tuple[Annotated[str, Field(min_length=1, max_length=SHORT_TEXT)], ...] | None = Field(
        default=None, max_length=MAX_FACTS
    )
    specialties: tuple[Annotated[str, Field(min_length=1, max_length=SHORT_TEXT)], ...] | None = Field(
        default=None, max_length=MAX_FACTS
    )
    hours: BusinessHours | None = None
    contact: ContactInfo | None = None
    website: str | None = Field(default=None, min_length=1, max_length=200)


class WorkflowOverrides(Overrides):
    roles: tuple[Role, ...] | None = Field(default=None, min_length=1)
    initial_role: Role | None = None
    qualification_threshold: float | None = Field(default=None, ge=0, le=1)
    premium_tier: str | None = Field(default=None, min_length=1)
    role_instructions: dict[Role, Annotated[str, Field(min_length=1, max_length=LONG_TEXT)] | None] | None = None
    lead_fields: LeadFields | None = None

    @model_validator(mode="after")
    def _roles_name_their_start(self) -> WorkflowOverrides:
        # The roles replace the tenant's whole list, so the role a conversation starts in must come with them.
        if self.roles is not None and (self.initial_role is None or self.initial_role not in self.roles):
            raise ValueError("when roles are set, initial_role must be set too and be one of them")
        return self


class ToolOverrides(Overrides):
    builtin: BuiltinTools | None = None
    business_tools: tuple[BusinessTool, ...] | None = Field(default=None, max_length=20)
    timeout_seconds: float | None = Field(default=None, gt=0, le=30)
    max_parallel: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _unique(self) -> ToolOverrides:
        _unique_tool_names(self.business_tools, self.builtin)
        return self


class ModelOverrides(Overrides):
    allowed_models: Annotated[tuple[str, ...], AfterValidator(_known_models), Field(min_length=1)] | None = None
    monthly_budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    max_turn_cost_usd: float | None = Field(default=None, gt=0, le=10)
    thinking_budget_tokens: int | None = Field(default=None, ge=1_024, le=64_000)
    turn_deadline_seconds: float | None = Field(default=None, gt=0, le=120)


class VoiceOverrides(Overrides):
    voice_id: str | None = Field(default=None, min_length=1, max_length=40)
    default_tier: str | None = Field(default=None, min_length=1)
    tiers: dict[str, VoiceTier | None] | None = None


class GuardrailOverrides(Overrides):
    refuse_topics: tuple[Topic, ...] | None = Field(default=None, max_length=MAX_TOPICS)
    refusal_line: Line | None = None
    escalate_topics: tuple[Topic, ...] | None = Field(default=None, max_length=MAX_TOPICS)


class KnowledgeOverrides(Overrides):
    include_tenant_documents: bool | None = None


class AgentOverrides(Overrides):
    """What one agent sets on top of its tenant's defaults; a field left out (or null) keeps the default.

    Nested groups merge field by field; `facts`, `workflow.role_instructions` and `voice.tiers` merge key by key,
    and a key set to null there removes the tenant's entry. Lists (products, roles, tools, models, topics)
    replace the tenant's whole list.
    """

    name: str | None = Field(default=None, min_length=1, max_length=SHORT_TEXT)
    persona: str | None = Field(default=None, min_length=1, max_length=LONG_TEXT)
    instructions: str | None = Field(default=None, max_length=LONG_TEXT)
    tone: str | None = Field(default=None, min_length=1, max_length=60)
    business: BusinessOverrides | None = None
    facts: dict[FactKey, Annotated[str, Field(min_length=1, max_length=FACT_CHARS)] | None] | None = Field(
        default=None, max_length=MAX_FACTS
    )
    lines: AgentLinesOverrides | None = None
    workflow: WorkflowOverrides | None = None
    tools: ToolOverrides | None = None
    models: ModelOverrides | None = None
    voice: VoiceOverrides | None = None
    guardrails: GuardrailOverrides | None = None
    knowledge: KnowledgeOverrides | None = None

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_unset=True)


def sparse(model: BaseModel) -> dict[str, Any]:
    """A model as JSON with only the fields that were set: what is stored and diffed (a null inside a mapping,
    which removes the tenant's entry, is kept)."""
    return model.model_dump(mode="json", exclude_unset=True)
