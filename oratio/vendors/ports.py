"""What the vendor API stores and the ports it stores it through. DynamoDB/SSM/S3 adapters live in
`oratio.adapters.dynamodb_vendor` and `oratio.adapters.vendor_aws`; in-memory ones in `oratio.adapters.memory_vendor`.

Every record and every port method is scoped by vendor id: a repository can only be asked for one vendor's
items, because the vendor id is the leading part of every key it builds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.agent.ports import TurnRecord
from oratio.agent_definitions.model import AgentOverrides
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.config.tenant import TENANT_ID_PATTERN, Channel
from oratio.domain.agents import AGENT_ID_PATTERN, Agent, AgentStatus
from oratio.domain.calls import CallSession
from oratio.vendors.models import (
    AgentContext,
    ChannelState,
    ChannelStatus,
    Character,
    CharacterConfig,
    DocumentStatus,
    ProvisioningStep,
    UploadInstructions,
)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AgentRecord(_Record):
    """An agent as the vendor API stores it (the call paths read the `Agent` subset of the same item)."""

    vendor_id: str = Field(pattern=TENANT_ID_PATTERN)
    agent_id: str = Field(pattern=AGENT_ID_PATTERN)
    name: str
    description: str
    business_type: str
    status: AgentStatus
    channels: tuple[ChannelState, ...]
    character_config: CharacterConfig
    context: AgentContext
    definition: AgentOverrides = Field(default_factory=AgentOverrides)
    character: Character
    phone_number: str | None = None
    bridge_number: str | None = Field(default=None, description="voice through the bridge on this number, not Connect")
    version: int = Field(ge=1, description="the record's write counter (optimistic locking)")
    latest_version: int = Field(default=0, ge=0, description="the newest definition version (0: none written)")
    live_version: int | None = Field(default=None, ge=1, description="the definition version conversations use")
    published_at: AwareDatetime | None = None
    published_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    deleted_at: AwareDatetime | None = None
    last_provisioning_id: str | None = None

    def as_agent(self) -> Agent:
        return Agent(
            vendor_id=self.vendor_id,
            agent_id=self.agent_id,
            name=self.name,
            status=self.status,
            phone_number=self.phone_number,
            created_at=self.created_at,
            updated_at=self.updated_at,
            version=self.version,
        )

    def spec(self) -> AgentSpec:
        """The agent as its vendor wrote it, as of the newest version (what a new version starts from)."""
        return AgentSpec(
            name=self.name,
            description=self.description,
            business_type=self.business_type,
            character_config=self.character_config,
            context=self.context,
            definition=self.definition,
        )

    def channel(self, channel: Channel) -> ChannelState | None:
        return next((c for c in self.channels if c.channel_type == channel), None)

    @property
    def provisioning_complete(self) -> bool:
        return bool(self.channels) and all(c.status is not ChannelStatus.NOT_PROVISIONED for c in self.channels)


class ProvisioningJob(_Record):
    vendor_id: str
    provisioning_id: str
    agent_id: str
    status: Literal["in_progress", "completed", "failed"]
    steps: tuple[ProvisioningStep, ...]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class KnowledgeDocument(_Record):
    vendor_id: str
    agent_id: str
    document_id: str
    file_name: str
    content_type: str
    size_bytes: int
    s3_key: str
    status: DocumentStatus
    detail: str | None = None
    ingestion_job_id: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class TenantDeployment(_Record):
    """What the vendor's TenantStack published (SSM under /oratio/tenants/<id>/); None where it published nothing."""

    tenant_id: str
    connect_instance_arn: str | None = None
    phone_number: str | None = None
    knowledge_bucket: str | None = None
    max_agents: int | None = Field(default=None, ge=1)
    recordings_bucket: str | None = None
    chat_flow_arn: str | None = Field(default=None, description="the chat flow web chats and the SMS number run")
    sms_number: str | None = Field(default=None, description="the End User Messaging SMS number imported into Connect")
    channels_webhook_url: str | None = Field(default=None, description="the social channels' signed webhook")
    agent_runtime_arn: str | None = None

    @property
    def deployed(self) -> bool:
        """Whether the tenant's stack published anything: a tenant the platform knows."""
        return any(
            value is not None
            for value in (self.connect_instance_arn, self.phone_number, self.knowledge_bucket, self.max_agents)
        )


# ------------------------------------------------------------------------------------------- ports
class AgentRepository(Protocol):
    def get(self, vendor_id: str, agent_id: str) -> AgentRecord | None:
        """The agent (deleted ones included), read consistently."""
        ...

    def list_all(self, vendor_id: str) -> list[AgentRecord]:
        """Every agent of the vendor, deleted ones included, in agent id order (creation order)."""
        ...

    def create(self, record: AgentRecord, *, max_agents: int, first_version: DefinitionVersion) -> None:
        """Store a new agent with its first definition version and take one of the vendor's agent slots, all
        together; `QuotaExceeded` when full."""
        ...

    def update(
        self,
        record: AgentRecord,
        *,
        expected_version: int,
        claim_number: str | None = None,
        release_number: str | None = None,
        release_slot: bool = False,
        new_version: DefinitionVersion | None = None,
    ) -> None:
        """Replace the agent if it is still at `expected_version`, all or nothing with: claiming a phone number
        for it (`NumberTaken` if another agent holds it), releasing one, giving back its agent slot, storing a
        new definition version (never over an existing number). `VersionConflict` when the stored record moved on.
        """
        ...


class DefinitionVersions(Protocol):
    """An agent's definition versions (written only through `AgentRepository`, with the agent)."""

    def get(self, vendor_id: str, agent_id: str, version: int) -> DefinitionVersion | None: ...

    def list(self, vendor_id: str, agent_id: str) -> list[DefinitionVersion]:
        """Every version, newest first."""
        ...


class ProvisioningJobRepository(Protocol):
    def put(self, job: ProvisioningJob) -> None: ...

    def get(self, vendor_id: str, provisioning_id: str) -> ProvisioningJob | None: ...


class DocumentRepository(Protocol):
    def create(self, document: KnowledgeDocument) -> None:
        """Store a new document; never replaces one (the ingestion owns its status from then on)."""
        ...

    def get(self, vendor_id: str, agent_id: str, document_id: str) -> KnowledgeDocument | None: ...

    def list_for_agent(self, vendor_id: str, agent_id: str) -> list[KnowledgeDocument]: ...


class ConversationReader(Protocol):
    def list_for_agent(
        self, vendor_id: str, agent_id: str, limit: int, next_token: str | None
    ) -> tuple[list[CallSession], str | None]:
        """The agent's conversations, newest first, a page at a time."""
        ...

    def get(self, vendor_id: str, conversation_id: str) -> CallSession | None: ...

    def turns(self, vendor_id: str, conversation_id: str) -> list[TurnRecord]: ...


class TenantDirectory(Protocol):
    def deployment(self, tenant_id: str) -> TenantDeployment:
        """What the tenant's stack published (fields None, `deployed` False, when it is not deployed); the id is
        a well-formed tenant id."""
        ...


class UploadSigner(Protocol):
    def presign_upload(
        self, bucket: str, key: str, content_type: str, max_bytes: int, expires_seconds: int
    ) -> UploadInstructions: ...


class DocumentMetadataWriter(Protocol):
    def write(self, bucket: str, key: str, metadata: dict[str, Any]) -> None:
        """Store a document's knowledge-base metadata at `key` (its `<document key>.metadata.json` sidecar)."""
        ...


class RateLimiter(Protocol):
    def hit(self, vendor_id: str, at: datetime, limit_per_minute: int) -> None:
        """Count one request; `RateLimited` (with the seconds to wait) when the vendor is over its limit."""
        ...


class NumberTaken(Exception):
    """The phone number already answers another of the vendor's agents."""

    def __init__(self, number: str, owner_agent_id: str | None) -> None:
        super().__init__(f"{number} already answers agent {owner_agent_id!r}")
        self.number = number
        self.owner_agent_id = owner_agent_id
