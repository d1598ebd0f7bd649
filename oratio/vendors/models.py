"""The vendor API's wire models: request bodies (strict: unknown fields are rejected) and responses.

Shapes follow the product brief (`POST /api/v1/agents` with `character_config` and `context`; provisioning
answers `provisioning_id`, `status`, `agent_id` and `agent_config` with one entry per channel). The vendor id
is never part of a body: it comes from the caller's token.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from oratio.agent_definitions.diff import FieldChange
from oratio.agent_definitions.model import AgentOverrides

# Re-exported: the brief's agent shapes are part of the vendor API's vocabulary.
from oratio.agent_definitions.spec import AgentContext as AgentContext
from oratio.agent_definitions.spec import AgentSpec as AgentSpec
from oratio.agent_definitions.spec import CharacterConfig as CharacterConfig
from oratio.agent_definitions.spec import Tone as Tone
from oratio.agent_definitions.versions import NOTE_CHARS, ONE_LINE, VersionSource
from oratio.config.tenant import E164_PATTERN, Channel
from oratio.domain.agents import AGENT_ID_PATTERN, AgentStatus

SHORT_TEXT = 120
LONG_TEXT = 2_000
# Bedrock knowledge bases ingest files up to 50 MB.
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
FILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,199}$"


class _Body(BaseModel):
    """A request body: unknown fields are errors, surrounding whitespace is trimmed."""

    # Built on first use, not at import (a cold start validates one route's models, not all of them).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


def _channel_alias(value: Any) -> Any:
    # The brief (and many vendors) still call X "twitter".
    return "x" if isinstance(value, str) and value.strip().lower() == "twitter" else value


ChannelName = Annotated[Channel, BeforeValidator(_channel_alias)]
ShortText = Annotated[str, Field(min_length=1, max_length=SHORT_TEXT)]


def _unique_channels(value: list[Channel]) -> list[Channel]:
    if len(set(value)) != len(value):
        raise ValueError("channels must not repeat")
    return value


class AgentCreate(_Body):
    """`POST /api/v1/agents`: a new agent in `draft`."""

    name: ShortText
    description: str = Field(default="", max_length=LONG_TEXT)
    business_type: Annotated[str, Field(min_length=1, max_length=60)]
    channels: list[ChannelName] = Field(min_length=1, max_length=len(Channel))
    character_config: CharacterConfig
    context: AgentContext = Field(default_factory=AgentContext)
    definition: AgentOverrides = Field(
        default_factory=AgentOverrides,
        description="every other setting of the agent (lines, workflow, tools, models and budget share, voice, "
        "guardrails, knowledge scope); a field left out keeps the tenant's default",
    )
    bridge_number: str | None = Field(
        default=None,
        pattern=E164_PATTERN,
        description="a Twilio or Vonage number (E.164) whose calls reach the agent through the voice bridge; "
        "leave out to answer on the tenant's Amazon Connect number",
    )

    _channels = field_validator("channels")(_unique_channels)


class ProvisionRequest(_Body):
    """`POST /api/v1/agents/provision`: create an agent and provision its channels in one call."""

    agent_config: AgentCreate


ChangeNote = Annotated[str, Field(min_length=1, max_length=NOTE_CHARS, pattern=ONE_LINE)]


class AgentUpdate(_Body):
    """`PUT /api/v1/agents/{agent_id}`: change some fields of an agent read at `version`.

    Fields left out keep their value. A change to what the agent is (name, description, business_type,
    character_config, context, definition) writes a new definition version with `change_note`; on a draft agent
    it goes live at once, on any other agent it waits for `POST .../versions/{n}/publish`. A `status` is applied
    as the lifecycle action leading to it. Changing `channels` of a live agent leaves new channels
    `not_provisioned` until `POST /agents/provision` or a restart binds them.

    `null` clears a field where that means something (`description` to empty, `context` and `definition` back to
    the tenant's defaults, `bridge_number` back to the Connect number); the other fields cannot be null.
    """

    version: int = Field(ge=1, description="the version you read; a stale one answers 409")
    name: ShortText | SkipJsonSchema[None] = None
    description: Annotated[str, Field(max_length=LONG_TEXT)] | None = Field(default=None, description="null clears it")
    business_type: Annotated[str, Field(min_length=1, max_length=60)] | SkipJsonSchema[None] = None
    channels: Annotated[list[ChannelName], Field(min_length=1, max_length=len(Channel))] | SkipJsonSchema[None] = None
    character_config: CharacterConfig | SkipJsonSchema[None] = None
    context: AgentContext | None = Field(default=None, description="null clears it")
    definition: AgentOverrides | None = Field(
        default=None, description="replaces the agent's settings as a whole; null goes back to the tenant's defaults"
    )
    bridge_number: str | None = Field(
        default=None, pattern=E164_PATTERN, description="set a voice-bridge number; null goes back to Connect"
    )
    status: Literal["active", "paused", "stopped"] | SkipJsonSchema[None] = None
    change_note: ChangeNote | None = Field(
        default=None, description="one line saying why, kept with the new definition version"
    )

    @field_validator("name", "business_type", "channels", "character_config", "status")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for values the body sends (defaults are not validated): an explicit null is refused.
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[Channel] | None) -> list[Channel] | None:
        return None if value is None else _unique_channels(value)

    def changes_definition(self) -> bool:
        return bool(self.model_fields_set & DEFINITION_FIELDS)


# The fields of a body that are part of the agent's definition (a change writes a new version).
DEFINITION_FIELDS = frozenset({"name", "description", "business_type", "character_config", "context", "definition"})


class KnowledgeUploadRequest(_Body):
    """`POST /api/v1/agents/{agent_id}/knowledge`: announce a document; the answer says where to upload it."""

    file_name: Annotated[str, Field(pattern=FILE_NAME_PATTERN)]
    content_type: Literal[
        "text/plain",
        "text/markdown",
        "text/html",
        "text/csv",
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]
    size_bytes: int = Field(ge=1, le=MAX_DOCUMENT_BYTES)

    @field_validator("file_name")
    @classmethod
    def _not_a_sidecar(cls, value: str) -> str:
        if value.lower().endswith(".metadata.json"):
            raise ValueError("names ending in .metadata.json are the knowledge base's metadata files; rename the file")
        return value


# ------------------------------------------------------------------------------------------ views
class ChannelStatus(StrEnum):
    NOT_PROVISIONED = "not_provisioned"
    ACTIVE = "active"
    PENDING_CREDENTIALS = "pending_credentials"
    FAILED = "failed"


class ChannelState(_View):
    """One channel of an agent, as it really is: ids only where something was really bound."""

    channel_type: Channel
    status: ChannelStatus
    detail: str | None = None
    phone_number: str | None = Field(default=None, pattern=E164_PATTERN)
    aws_connect_instance_id: str | None = Field(default=None, description="the tenant's Connect instance ARN")
    elizaos_plugin: str | None = None
    account_id: str | None = Field(
        default=None, description="the linked platform account: WhatsApp phone number id, Page id, Instagram or X id"
    )
    webhook_url: str | None = Field(default=None, description="where to point the platform's webhook")


class Character(_View):
    """The agent's character, derived from its business profile (and stored with it)."""

    persona: str
    instructions: str
    tone: Tone
    adjectives: list[str]
    topics: list[str]
    style: list[str]
    greeting: str


class AgentView(_View):
    id: str = Field(pattern=AGENT_ID_PATTERN)
    name: str
    description: str
    business_type: str
    status: AgentStatus
    version: int
    channels: list[ChannelState]
    character_config: CharacterConfig
    context: AgentContext
    definition: AgentOverrides = Field(description="the agent's other settings (see the configuration reference)")
    character: Character
    phone_number: str | None = None
    bridge_number: str | None = None
    live_version: int | None = Field(description="the definition version conversations use; null: none yet")
    latest_version: int = Field(description="the newest definition version (what this view shows)")
    allowed_actions: list[str]
    provisioning_complete: bool
    created_at: datetime
    updated_at: datetime


class AgentPage(_View):
    items: list[AgentView]
    skip: int
    limit: int
    total: int = Field(description="agents matching the filter")
    next_skip: int | None = Field(description="skip value of the next page; null on the last page")


class VersionSummaryView(_View):
    """One definition version, without its definition."""

    version: int
    author: str = Field(description="the caller's identity when it was written")
    note: str
    source: VersionSource
    created_at: datetime
    live: bool = Field(description="conversations use this version now")


class VersionPage(_View):
    items: list[VersionSummaryView] = Field(description="newest first")
    live_version: int | None
    latest_version: int


class VersionView(VersionSummaryView):
    """One definition version with the whole definition it holds."""

    spec: AgentSpec


class VersionDiffView(_View):
    """What changed from one version to another, field by field (paths into the version's `spec`)."""

    from_version: int
    to_version: int
    changes: list[FieldChange]


class ProvisioningStep(_View):
    channel_type: Channel
    status: ChannelStatus
    detail: str | None = None
    started_at: datetime
    finished_at: datetime | None = None


class ProvisioningJobView(_View):
    provisioning_id: str
    status: Literal["in_progress", "completed", "failed"]
    agent_id: str
    steps: list[ProvisioningStep]
    created_at: datetime
    updated_at: datetime


class ProvisioningResult(_View):
    """The answer to `POST /agents/provision` (the brief's shape)."""

    provisioning_id: str
    status: Literal["in_progress", "completed", "failed"]
    agent_id: str
    agent_config: AgentView


class DocumentStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    UPLOADED = "uploaded"
    INGESTING = "ingesting"
    INDEXED = "indexed"
    FAILED = "failed"


class KnowledgeDocumentView(_View):
    document_id: str
    file_name: str
    content_type: str
    size_bytes: int
    status: DocumentStatus
    detail: str | None = None
    ingestion_job_id: str | None = None
    created_at: datetime
    updated_at: datetime


class UploadInstructions(_View):
    """A presigned S3 POST: send `fields` plus the file (as `file`, last) to `url` before `expires_at`."""

    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]
    expires_at: datetime


class KnowledgeUploadView(_View):
    document: KnowledgeDocumentView
    upload: UploadInstructions


class KnowledgeDocumentList(_View):
    items: list[KnowledgeDocumentView]


class ConversationSummaryView(_View):
    conversation_id: str
    channel: str
    status: str
    started_at: datetime
    ended_at: datetime | None = None
    duration_seconds: int | None = None
    outcome: str | None = None
    caller_number: str | None = None
    voice_tier: str | None = None


class ConversationPage(_View):
    items: list[ConversationSummaryView]
    limit: int
    next_token: str | None = Field(description="pass as `next_token` for the next (older) page")


class TurnView(_View):
    sequence: int
    at: datetime
    user_text: str | None
    agent_text: str
    model_id: str | None
    role: str
    latency_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    tools: list[str]
    outcome: str


class ConversationDetail(_View):
    conversation: ConversationSummaryView
    turns: list[TurnView]
    total_cost_usd: float


class ElizaStyle(_View):
    all: list[str]
    chat: list[str]
    post: list[str]


class ElizaCharacter(_View):
    """An ElizaOS character file (name, bio, system instructions, plugins for the agent's channels, context)."""

    name: str
    username: str
    system: str
    bio: list[str]
    topics: list[str]
    adjectives: list[str]
    knowledge: list[str]
    style: ElizaStyle
    plugins: list[str]
    settings: dict[str, Any]


class Health(_View):
    status: Literal["ok"]
    version: str


class FieldProblem(_View):
    field: str = Field(description="path of the failing field, e.g. body.channels[1]")
    message: str
    type: str


class ErrorBody(_View):
    """Every 4xx answer: a stable `error` code, a message for people, and the details that apply."""

    error: str
    message: str
    details: list[FieldProblem] | None = None
    current_status: str | None = None
    allowed_actions: list[str] | None = None
    limit: int | None = None
    retry_after_seconds: int | None = None
    current_version: int | None = None
