"""The vendor API's use cases: create, read, list, update, lifecycle actions, provisioning, knowledge uploads,
conversations and character export — plain Python over the ports in `oratio.vendors.ports`.

Every method takes the caller's vendor id first and only ever reads or writes that vendor's keys, so another
vendor's agent is indistinguishable from a missing one (`NotFound`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent_definitions.diff import diff_models
from oratio.agent_definitions.model import AgentOverrides
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import DefinitionVersion, VersionSource
from oratio.config.tenant import TENANT_ID_PATTERN, Channel
from oratio.domain.agents import AgentStatus
from oratio.domain.calls import CallSession
from oratio.domain.knowledge_scope import metadata_document, sidecar_key
from oratio.domain.numbers import NumberRegistry
from oratio.ports import Clock, SystemClock
from oratio.vendors.character import CHANNEL_PLUGINS, ELIZAOS_UNSERVED, derive_character, eliza_character
from oratio.vendors.errors import (
    IllegalPublish,
    NotFound,
    NumberInUse,
    NumberNotRegistered,
    NumberOwnedByAnotherTenant,
    TenantNotDeployed,
    UnknownTenant,
    VersionConflict,
)
from oratio.vendors.lifecycle import AgentAction, InternalAction, action_for_status, allowed_actions, next_status
from oratio.vendors.models import (
    AgentContext,
    AgentCreate,
    AgentPage,
    AgentUpdate,
    AgentView,
    ChannelState,
    ChannelStatus,
    ConversationDetail,
    ConversationPage,
    ConversationSummaryView,
    DocumentStatus,
    ElizaCharacter,
    KnowledgeDocumentList,
    KnowledgeDocumentView,
    KnowledgeUploadRequest,
    KnowledgeUploadView,
    ProvisioningJobView,
    ProvisioningResult,
    ProvisioningStep,
    TurnView,
    VersionDiffView,
    VersionPage,
    VersionSummaryView,
    VersionView,
)
from oratio.vendors.ports import (
    AgentRecord,
    AgentRepository,
    ConversationReader,
    DefinitionVersions,
    DocumentMetadataWriter,
    DocumentRepository,
    KnowledgeDocument,
    NumberTaken,
    ProvisioningJob,
    ProvisioningJobRepository,
    RateLimiter,
    TenantDeployment,
    TenantDirectory,
    UploadSigner,
)

UPLOAD_PREFIX = "uploads"
CONNECT_CHANNELS = frozenset({Channel.VOICE, Channel.CHAT})


class VendorSettings(BaseModel):
    """Limits and periods of the vendor API; defaults in one place, overridden from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    default_max_agents: int = Field(default=50, ge=1, description="when the tenant stack publishes no limit")
    rate_limit_per_minute: int = Field(default=100, ge=1)
    deleted_retention_days: int = Field(default=30, ge=1, description="deleted agents are kept this long")
    upload_expires_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    max_page_size: int = Field(default=100, ge=1)


def new_id(prefix: str, at: datetime) -> str:
    """A sortable id: milliseconds since the epoch in hex, then random hex (creation order = key order)."""
    return f"{prefix}-{int(at.timestamp() * 1000):012x}{secrets.token_hex(5)}"


def agent_view(record: AgentRecord) -> AgentView:
    return AgentView(
        id=record.agent_id,
        name=record.name,
        description=record.description,
        business_type=record.business_type,
        status=record.status,
        version=record.version,
        channels=list(record.channels),
        character_config=record.character_config,
        context=record.context,
        definition=record.definition,
        character=record.character,
        phone_number=record.phone_number,
        bridge_number=record.bridge_number,
        live_version=record.live_version,
        latest_version=record.latest_version,
        allowed_actions=allowed_actions(record.status),
        provisioning_complete=record.provisioning_complete,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _document_view(document: KnowledgeDocument) -> KnowledgeDocumentView:
    return KnowledgeDocumentView(
        document_id=document.document_id,
        file_name=document.file_name,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        status=document.status,
        detail=document.detail,
        ingestion_job_id=document.ingestion_job_id,
        created_at=document.created_at,
        updated_at=document.updated_at,
    )


def _summary(version: DefinitionVersion, live_version: int | None) -> VersionSummaryView:
    return VersionSummaryView(
        version=version.version,
        author=version.author,
        note=version.note,
        source=version.source,
        created_at=version.created_at,
        live=version.version == live_version,
    )


# Agents in these statuses take no conversations yet: every new version goes live at once (nothing to protect).
AUTO_PUBLISH_STATUSES = frozenset({AgentStatus.DRAFT, AgentStatus.PROVISIONING})


def newest_version_fields(spec: AgentSpec, number: int) -> dict[str, object]:
    """The agent record's fields that follow its newest version (`AgentRecord.spec()` reads them back, and
    GET /agents/{id} shows them): written with every new version, whoever writes it (a vendor edit, AgentCreator)."""
    return {
        "name": spec.name,
        "description": spec.description,
        "business_type": spec.business_type,
        "character_config": spec.character_config,
        "context": spec.context,
        "definition": spec.definition,
        "character": derive_character(spec.name, spec.business_type, spec.character_config, spec.context),
        "latest_version": number,
    }


CREATED_NOTE = "created"


def change_note(fields: set[str]) -> str:
    """The note of a version whose author wrote none: which fields changed."""
    return "changed " + ", ".join(sorted(fields))


def upload_key(agent_id: str, document_id: str, file_name: str) -> str:
    """Where a document lands in the tenant's knowledge bucket (the ingestion Lambda parses it back)."""
    return f"{UPLOAD_PREFIX}/{agent_id}/{document_id}/{file_name}"


class VendorService:
    """The vendor API's use cases over its ports."""

    def __init__(
        self,
        *,
        agents: AgentRepository,
        versions: DefinitionVersions,
        jobs: ProvisioningJobRepository,
        documents: DocumentRepository,
        conversations: ConversationReader,
        tenants: TenantDirectory,
        uploads: UploadSigner,
        metadata: DocumentMetadataWriter,
        rate_limiter: RateLimiter,
        numbers: NumberRegistry,
        settings: VendorSettings | None = None,
        clock: Clock | None = None,
        id_factory: Callable[[str, datetime], str] = new_id,
    ) -> None:
        self.agents = agents
        self.versions = versions
        self.jobs = jobs
        self.documents = documents
        self.conversations = conversations
        self.tenants = tenants
        self.uploads = uploads
        self.metadata = metadata
        self.rate_limiter = rate_limiter
        self.numbers = numbers
        self.settings = settings or VendorSettings()
        self.clock = clock or SystemClock()
        self._new_id = id_factory

    # ------------------------------------------------------------------------------ request gate
    def admit(self, vendor_id: str) -> None:
        """Admit a request of the vendor a token names: `UnknownTenant` when no tenant of that id is deployed
        (checked before anything is stored under the id), then count it against the vendor's per-minute rate
        (`RateLimited` when over it)."""
        if not re.fullmatch(TENANT_ID_PATTERN, vendor_id) or not self.tenants.deployment(vendor_id).deployed:
            raise UnknownTenant(vendor_id)
        self.rate_limiter.hit(vendor_id, self.clock.now(), self.settings.rate_limit_per_minute)

    # ----------------------------------------------------------------------------------- agents
    def create_agent(self, vendor_id: str, body: AgentCreate, author: str) -> AgentView:
        return agent_view(self._create(vendor_id, body, author))

    def _create(self, vendor_id: str, body: AgentCreate, author: str) -> AgentRecord:
        if body.bridge_number is not None:
            self._check_number(vendor_id, body.bridge_number)
        now = self.clock.now()
        agent_id = self._new_id("agt", now)
        spec = AgentSpec(
            name=body.name,
            description=body.description,
            business_type=body.business_type,
            character_config=body.character_config,
            context=body.context,
            definition=body.definition,
        )
        record = AgentRecord(
            vendor_id=vendor_id,
            agent_id=agent_id,
            name=body.name,
            description=body.description,
            business_type=body.business_type,
            status=AgentStatus.DRAFT,
            channels=tuple(ChannelState(channel_type=c, status=ChannelStatus.NOT_PROVISIONED) for c in body.channels),
            character_config=body.character_config,
            context=body.context,
            definition=body.definition,
            bridge_number=body.bridge_number,
            character=derive_character(body.name, body.business_type, body.character_config, body.context),
            version=1,
            latest_version=1,
            live_version=1,  # a draft's versions go live at once
            published_at=now,
            published_by=author,
            created_at=now,
            updated_at=now,
        )
        first = self._version(record, spec, 1, author, CREATED_NOTE, now)
        self.agents.create(record, max_agents=self._max_agents(vendor_id), first_version=first)
        return record

    def _check_number(self, vendor_id: str, number: str) -> None:
        """Refuse a number the vendor's tenant does not own in the platform's number registry: 409
        `number_in_use` (naming no one) when another tenant owns it, `number_not_registered` when nobody does."""
        if self.numbers.owns(vendor_id, number):
            return
        if self.numbers.is_registered(number):
            raise NumberOwnedByAnotherTenant(number)
        raise NumberNotRegistered(number)

    def _number_refusal(self, vendor_id: str, number: str) -> str | None:
        """Why an agent of the vendor may not answer `number` now (a provisioning step's detail), or None."""
        try:
            self._check_number(vendor_id, number)
        except (NumberInUse, NumberNotRegistered) as e:
            return e.message
        return None

    @staticmethod
    def _version(
        record: AgentRecord, spec: AgentSpec, number: int, author: str, note: str, at: datetime
    ) -> DefinitionVersion:
        return DefinitionVersion(
            vendor_id=record.vendor_id,
            agent_id=record.agent_id,
            version=number,
            spec=spec,
            author=author,
            note=note,
            source=VersionSource.API,
            created_at=at,
        )

    def _max_agents(self, vendor_id: str) -> int:
        return self.tenants.deployment(vendor_id).max_agents or self.settings.default_max_agents

    def get_agent(self, vendor_id: str, agent_id: str) -> AgentView:
        return agent_view(self._live(vendor_id, agent_id))

    def _live(self, vendor_id: str, agent_id: str) -> AgentRecord:
        record = self.agents.get(vendor_id, agent_id)
        if record is None or record.status is AgentStatus.DELETED:
            raise NotFound("agent", agent_id)
        return record

    def list_agents(self, vendor_id: str, *, skip: int, limit: int, status: AgentStatus | None) -> AgentPage:
        limit = min(limit, self.settings.max_page_size)
        records = [
            r
            for r in self.agents.list_all(vendor_id)
            if (r.status is status if status is not None else r.status is not AgentStatus.DELETED)
        ]
        page = records[skip : skip + limit]
        return AgentPage(
            items=[agent_view(r) for r in page],
            skip=skip,
            limit=limit,
            total=len(records),
            next_skip=skip + limit if skip + limit < len(records) else None,
        )

    def update_agent(self, vendor_id: str, agent_id: str, body: AgentUpdate, author: str) -> AgentView:
        current = self._live(vendor_id, agent_id)
        if body.version != current.version:
            raise VersionConflict(body.version, current.version)
        now = self.clock.now()
        sent = body.model_fields_set
        spec = current.spec()
        new_spec = spec.model_copy(
            update={
                "name": body.name if body.name is not None else spec.name,
                "description": (body.description or "") if "description" in sent else spec.description,
                "business_type": body.business_type if body.business_type is not None else spec.business_type,
                "character_config": body.character_config or spec.character_config,
                "context": (body.context or AgentContext()) if "context" in sent else spec.context,
                "definition": (body.definition or AgentOverrides()) if "definition" in sent else spec.definition,
            }
        )
        status = current.status
        if body.status is not None:
            action = action_for_status(current.status, AgentStatus(body.status))
            if action is not None:
                status = next_status(current.status, action)
        bridge_number = body.bridge_number if "bridge_number" in sent else current.bridge_number
        if bridge_number is not None and bridge_number != current.bridge_number:
            self._check_number(vendor_id, bridge_number)
        wanted = body.channels if body.channels is not None else [c.channel_type for c in current.channels]
        channels = current.channels
        claim: str | None = None
        release: str | None = None
        if body.channels is not None or bridge_number != current.bridge_number:
            channels, claim, release = self._rebind_channels(current, wanted, status, bridge_number)
        changes: dict[str, object] = {}
        new_version: DefinitionVersion | None = None
        if new_spec != spec:
            number = current.latest_version + 1
            changed = {name for name in AgentSpec.model_fields if getattr(new_spec, name) != getattr(spec, name)}
            new_version = self._version(
                current, new_spec, number, author, body.change_note or change_note(changed), now
            )
            changes = newest_version_fields(new_spec, number)
            if current.status in AUTO_PUBLISH_STATUSES:
                changes |= {"live_version": number, "published_at": now, "published_by": author}
        updated = current.model_copy(
            update={
                **changes,
                "status": status,
                "channels": channels,
                "bridge_number": bridge_number,
                "phone_number": claim or (None if release else current.phone_number),
                "version": current.version + 1,
                "updated_at": now,
            }
        )
        try:
            self.agents.update(
                updated,
                expected_version=current.version,
                claim_number=claim,
                release_number=release,
                new_version=new_version,
            )
        except NumberTaken as e:
            raise NumberInUse(e.number, e.owner_agent_id) from e
        return agent_view(updated)

    # ---------------------------------------------------------------------------------- versions
    def list_versions(self, vendor_id: str, agent_id: str) -> VersionPage:
        record = self._live(vendor_id, agent_id)
        versions = self.versions.list(vendor_id, agent_id)
        return VersionPage(
            items=[_summary(v, record.live_version) for v in versions],
            live_version=record.live_version,
            latest_version=record.latest_version,
        )

    def get_version(self, vendor_id: str, agent_id: str, version: int) -> VersionView:
        record = self._live(vendor_id, agent_id)
        found = self._stored_version(vendor_id, agent_id, version)
        return VersionView(**_summary(found, record.live_version).model_dump(), spec=found.spec)

    def diff_versions(self, vendor_id: str, agent_id: str, version: int, against: int | None) -> VersionDiffView:
        """What changed from `against` (default: the live version, else the one before) to `version`."""
        record = self._live(vendor_id, agent_id)
        target = self._stored_version(vendor_id, agent_id, version)
        base_number = against if against is not None else (record.live_version or max(1, version - 1))
        base = self._stored_version(vendor_id, agent_id, base_number)
        return VersionDiffView(
            from_version=base.version, to_version=target.version, changes=diff_models(base.spec, target.spec)
        )

    def publish(self, vendor_id: str, agent_id: str, version: int, author: str, *, rollback: bool = False) -> AgentView:
        """Make `version` the live one. A rollback must name a version older than the live one."""
        current = self._live(vendor_id, agent_id)
        self._stored_version(vendor_id, agent_id, version)
        if rollback and (current.live_version is None or version >= current.live_version):
            raise IllegalPublish(
                f"a rollback publishes an earlier version than the live one ({current.live_version}); "
                f"use POST .../versions/{version}/publish to publish version {version}"
            )
        now = self.clock.now()
        updated = current.model_copy(
            update={
                "live_version": version,
                "published_at": now,
                "published_by": author,
                "version": current.version + 1,
                "updated_at": now,
            }
        )
        self.agents.update(updated, expected_version=current.version)
        return agent_view(updated)

    def _stored_version(self, vendor_id: str, agent_id: str, version: int) -> DefinitionVersion:
        found = self.versions.get(vendor_id, agent_id, version)
        if found is None:
            raise NotFound("definition version", str(version))
        return found

    def _rebind_channels(
        self, current: AgentRecord, wanted: list[Channel], status: AgentStatus, bridge_number: str | None
    ) -> tuple[tuple[ChannelState, ...], str | None, str | None]:
        """Channels after an edit: kept ones keep their state; new ones (and voice, when its number changes)
        are bound now when the agent is live, else left for provisioning; a number no longer used is given
        back. Returns the states, the number to claim and the number to release."""
        live = status in (AgentStatus.ACTIVE, AgentStatus.PAUSED, AgentStatus.STOPPED)
        rebind = [c for c in wanted if current.channel(c) is None]
        if Channel.VOICE in wanted and current.channel(Channel.VOICE) and bridge_number != current.bridge_number:
            rebind.append(Channel.VOICE)
        bound: dict[Channel, ChannelState] = {}
        claim = None
        if live and rebind:
            deployment = self.tenants.deployment(current.vendor_id)
            for channel in rebind:
                bound[channel] = self._bind(channel, deployment, bridge_number)
            voice = bound.get(Channel.VOICE)
            claim = voice.phone_number if voice is not None and voice.status is ChannelStatus.ACTIVE else None
        elif Channel.VOICE in rebind:
            bound[Channel.VOICE] = ChannelState(channel_type=Channel.VOICE, status=ChannelStatus.NOT_PROVISIONED)
        states = tuple(
            bound.get(c) or current.channel(c) or ChannelState(channel_type=c, status=ChannelStatus.NOT_PROVISIONED)
            for c in wanted
        )
        voice_now = next((s for s in states if s.channel_type is Channel.VOICE), None)
        keeps_number = voice_now is not None and voice_now.phone_number == current.phone_number
        release = current.phone_number if current.phone_number and not keeps_number else None
        return states, claim, release

    def delete_agent(self, vendor_id: str, agent_id: str) -> AgentView:
        current = self._live(vendor_id, agent_id)
        now = self.clock.now()
        deleted = current.model_copy(
            update={
                "status": next_status(current.status, AgentAction.DELETE),
                "phone_number": None,
                "version": current.version + 1,
                "updated_at": now,
                "deleted_at": now,
            }
        )
        self.agents.update(
            deleted, expected_version=current.version, release_number=current.phone_number, release_slot=True
        )
        return agent_view(deleted)

    def deleted_expiry(self, record: AgentRecord) -> datetime | None:
        """When a deleted agent's item may be purged (the agents table's TTL)."""
        if record.deleted_at is None:
            return None
        return record.deleted_at + timedelta(days=self.settings.deleted_retention_days)

    def act(self, vendor_id: str, agent_id: str, action: AgentAction) -> AgentView:
        """start / stop / pause / resume. Starting a draft provisions it (the answer shows the outcome)."""
        current = self._live(vendor_id, agent_id)
        target = next_status(current.status, action)
        if target is AgentStatus.PROVISIONING:
            return self._provision(current).agent_config
        updated = current.model_copy(
            update={"status": target, "version": current.version + 1, "updated_at": self.clock.now()}
        )
        self.agents.update(updated, expected_version=current.version)
        return agent_view(updated)

    # ------------------------------------------------------------------------------ provisioning
    def provision_new(self, vendor_id: str, body: AgentCreate, author: str) -> ProvisioningResult:
        """Create a draft agent and provision every channel it asks for."""
        return self._provision(self._create(vendor_id, body, author))

    def _provision(self, draft: AgentRecord) -> ProvisioningResult:
        now = self.clock.now()
        job_id = self._new_id("prov", now)
        provisioning = draft.model_copy(
            update={
                # A retry (`start` on an agent left in provisioning by a failed run) provisions it again.
                "status": AgentStatus.PROVISIONING
                if draft.status is AgentStatus.PROVISIONING
                else next_status(draft.status, InternalAction.PROVISION),
                "version": draft.version + 1,
                "updated_at": now,
                "last_provisioning_id": job_id,
            }
        )
        self.agents.update(provisioning, expected_version=draft.version)
        steps = [
            ProvisioningStep(channel_type=c.channel_type, status=ChannelStatus.NOT_PROVISIONED, started_at=now)
            for c in draft.channels
        ]
        job = ProvisioningJob(
            vendor_id=draft.vendor_id,
            provisioning_id=job_id,
            agent_id=draft.agent_id,
            status="in_progress",
            steps=tuple(steps),
            created_at=now,
            updated_at=now,
        )
        self.jobs.put(job)

        deployment = self.tenants.deployment(draft.vendor_id)
        states = [self._bind(c.channel_type, deployment, draft.bridge_number) for c in draft.channels]
        voice = next((s for s in states if s.channel_type is Channel.VOICE), None)
        claim = voice.phone_number if voice is not None and voice.status is ChannelStatus.ACTIVE else None
        failed = any(s.status is ChannelStatus.FAILED for s in states)
        final = self._finish(provisioning, states, claim, failed)
        done = self.clock.now()
        job = job.model_copy(
            update={
                "status": "failed" if final.status is AgentStatus.DRAFT else "completed",
                "steps": tuple(
                    ProvisioningStep(
                        channel_type=state.channel_type,
                        status=state.status,
                        detail=state.detail,
                        started_at=now,
                        finished_at=done,
                    )
                    for state in final.channels
                ),
                "updated_at": done,
            }
        )
        self.jobs.put(job)
        return ProvisioningResult(
            provisioning_id=job.provisioning_id,
            status=job.status,
            agent_id=final.agent_id,
            agent_config=agent_view(final),
        )

    def _finish(
        self, provisioning: AgentRecord, states: list[ChannelState], claim: str | None, failed: bool
    ) -> AgentRecord:
        """Store the channels and leave `provisioning`: active when every channel is bound or awaits
        credentials, back to draft (with the failing step's reason) otherwise."""
        action = InternalAction.FAIL if failed else InternalAction.COMPLETE
        final = provisioning.model_copy(
            update={
                "status": next_status(provisioning.status, action),
                "channels": tuple(states),
                "phone_number": None if failed else claim,
                "version": provisioning.version + 1,
                "updated_at": self.clock.now(),
            }
        )
        if failed:
            self.agents.update(final, expected_version=provisioning.version)
            return final
        try:
            self.agents.update(final, expected_version=provisioning.version, claim_number=claim)
        except NumberTaken as e:
            taken = [
                state.model_copy(
                    update={
                        "status": ChannelStatus.FAILED,
                        "phone_number": None,
                        "detail": f"the tenant's number {e.number} already answers agent {e.owner_agent_id!r}; "
                        "remove voice from that agent (PUT its channels) or delete it, then start this one",
                    }
                )
                if state.channel_type is Channel.VOICE
                else state
                for state in states
            ]
            return self._finish(provisioning, taken, None, failed=True)
        return final

    def _bind(self, channel: Channel, deployment: TenantDeployment, bridge_number: str | None = None) -> ChannelState:
        """What binding one channel gives, from what the tenant's stack really deployed (no invented ids); voice
        binds only a number the tenant owns in the platform's number registry."""
        if channel is Channel.VOICE:
            number = bridge_number or deployment.phone_number
            refusal = self._number_refusal(deployment.tenant_id, number) if number is not None else None
            if refusal is not None:
                return ChannelState(channel_type=channel, status=ChannelStatus.FAILED, detail=refusal)
        if channel is Channel.VOICE and bridge_number is not None:
            return ChannelState(
                channel_type=channel,
                status=ChannelStatus.ACTIVE,
                phone_number=bridge_number,
                detail="answered through the voice bridge: point this Twilio/Vonage number at the tenant's "
                "voice webhook (output VoiceWebhookUrl)",
            )
        if channel in CONNECT_CHANNELS:
            missing = deployment.connect_instance_arn is None or (
                deployment.phone_number is None if channel is Channel.VOICE else deployment.chat_flow_arn is None
            )
            if missing:
                what = "phone number" if channel is Channel.VOICE else "chat flow"
                return ChannelState(
                    channel_type=channel,
                    status=ChannelStatus.FAILED,
                    detail=f"no Amazon Connect {what} is published for tenant {deployment.tenant_id!r}; deploy its "
                    f"tenant stack (cdk deploy -c tenant={deployment.tenant_id}) and provision again",
                )
            return ChannelState(
                channel_type=channel,
                status=ChannelStatus.ACTIVE,
                phone_number=deployment.phone_number if channel is Channel.VOICE else None,
                aws_connect_instance_id=deployment.connect_instance_arn,
            )
        # Nothing answers these until an account is linked (PUT /api/v1/agents/{agent_id}/channels/{channel}).
        if channel is Channel.SMS:
            where = (
                f"link the tenant's SMS number {deployment.sms_number}"
                if deployment.sms_number
                else "name an AWS End User Messaging SMS number in the tenant file (connect.sms), deploy, then link it"
            )
            return ChannelState(
                channel_type=channel,
                status=ChannelStatus.PENDING_CREDENTIALS,
                detail=f"{where} with PUT /api/v1/agents/{{agent_id}}/channels/sms",
                aws_connect_instance_id=deployment.connect_instance_arn,
            )
        unserved = ELIZAOS_UNSERVED.get(channel)
        return ChannelState(
            channel_type=channel,
            status=ChannelStatus.PENDING_CREDENTIALS,
            detail=f"activates once the {channel.value} account is linked with PUT "
            f"/api/v1/agents/{{agent_id}}/channels/{channel.value}"
            + (f" ({unserved}; Oratio's own webhook serves it)" if unserved else ""),
            elizaos_plugin=CHANNEL_PLUGINS.get(channel),
        )

    def get_provisioning(self, vendor_id: str, provisioning_id: str) -> ProvisioningJobView:
        job = self.jobs.get(vendor_id, provisioning_id)
        if job is None:
            raise NotFound("provisioning job", provisioning_id)
        return ProvisioningJobView(
            provisioning_id=job.provisioning_id,
            status=job.status,
            agent_id=job.agent_id,
            steps=list(job.steps),
            created_at=job.created_at,
            updated_at=job.updated_at,
        )

    # ---------------------------------------------------------------------------------- knowledge
    def start_upload(self, vendor_id: str, agent_id: str, body: KnowledgeUploadRequest) -> KnowledgeUploadView:
        self._live(vendor_id, agent_id)
        bucket = self.tenants.deployment(vendor_id).knowledge_bucket
        if bucket is None:
            raise TenantNotDeployed(
                f"no knowledge bucket is published for tenant {vendor_id!r}; deploy its OratioTenant stack "
                f"(cdk deploy -c tenant={vendor_id}) first"
            )
        now = self.clock.now()
        document_id = self._new_id("doc", now)
        key = upload_key(agent_id, document_id, body.file_name)
        document = KnowledgeDocument(
            vendor_id=vendor_id,
            agent_id=agent_id,
            document_id=document_id,
            file_name=body.file_name,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
            s3_key=key,
            status=DocumentStatus.AWAITING_UPLOAD,
            created_at=now,
            updated_at=now,
        )
        # The record exists before the URL does: an upload can never arrive for an unknown document. So does the
        # document's metadata: it is this agent's (the knowledge base filters retrieval on it).
        self.documents.create(document)
        self.metadata.write(bucket, sidecar_key(key), metadata_document(agent_id))
        upload = self.uploads.presign_upload(
            bucket, key, body.content_type, body.size_bytes, self.settings.upload_expires_seconds
        )
        return KnowledgeUploadView(document=_document_view(document), upload=upload)

    def list_documents(self, vendor_id: str, agent_id: str) -> KnowledgeDocumentList:
        self._live(vendor_id, agent_id)
        return KnowledgeDocumentList(
            items=[_document_view(d) for d in self.documents.list_for_agent(vendor_id, agent_id)]
        )

    # ------------------------------------------------------------------------------ conversations
    def list_conversations(
        self, vendor_id: str, agent_id: str, *, limit: int, next_token: str | None
    ) -> ConversationPage:
        self._live(vendor_id, agent_id)
        limit = min(limit, self.settings.max_page_size)
        sessions, token = self.conversations.list_for_agent(vendor_id, agent_id, limit, next_token)
        return ConversationPage(items=[_conversation_view(s) for s in sessions], limit=limit, next_token=token)

    def get_conversation(self, vendor_id: str, agent_id: str, conversation_id: str) -> ConversationDetail:
        self._live(vendor_id, agent_id)
        session = self.conversations.get(vendor_id, conversation_id)
        if session is None or session.agent_id != agent_id:
            raise NotFound("conversation", conversation_id)
        turns = self.conversations.turns(vendor_id, conversation_id)
        return ConversationDetail(
            conversation=_conversation_view(session),
            turns=[
                TurnView(
                    sequence=t.sequence,
                    at=t.at,
                    user_text=t.user_text,
                    agent_text=t.reply_text,
                    model_id=t.model_id,
                    role=t.role,
                    latency_ms=t.latency_ms,
                    input_tokens=t.input_tokens,
                    output_tokens=t.output_tokens,
                    cost_usd=t.cost_usd,
                    tools=list(t.tools),
                    outcome=t.outcome,
                )
                for t in turns
            ],
            total_cost_usd=round(sum(t.cost_usd for t in turns), 6),
        )

    # ---------------------------------------------------------------------------------- character
    def export_character(self, vendor_id: str, agent_id: str, fmt: Literal["elizaos"]) -> ElizaCharacter:
        record = self._live(vendor_id, agent_id)
        return eliza_character(
            name=record.name,
            description=record.description,
            business_type=record.business_type,
            channels=[c.channel_type for c in record.channels],
            config=record.character_config,
            context=record.context,
            character=record.character,
        )


def _conversation_view(session: CallSession) -> ConversationSummaryView:
    return ConversationSummaryView(
        conversation_id=session.contact_id,
        channel=session.channel,
        status=session.status.value,
        started_at=session.started_at,
        ended_at=session.ended_at,
        duration_seconds=session.duration_seconds,
        outcome=session.outcome,
        caller_number=session.caller_number,
        voice_tier=session.voice_tier,
    )
