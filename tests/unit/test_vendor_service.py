"""VendorService over the in-memory adapters: provisioning outcomes from what the tenant really deployed,
channel edits, deletes giving back numbers and slots, quotas."""

from __future__ import annotations

from typing import Any

import pytest

from oratio.adapters.memory import FixedClock, InMemoryNumberRegistry
from oratio.adapters.vendor_aws import (
    CACHE_SECONDS,
    MAX_CACHED_TENANTS,
    UNKNOWN_TENANT_CACHE_SECONDS,
    SsmTenantDirectory,
)
from oratio.config.tenant import Channel
from oratio.domain.agents import AgentStatus
from oratio.vendors.errors import (
    NotFound,
    NumberInUse,
    NumberNotRegistered,
    QuotaExceeded,
    RateLimited,
    UnknownTenant,
    VersionConflict,
)
from oratio.vendors.lifecycle import AgentAction
from oratio.vendors.models import AgentCreate, AgentUpdate, ChannelStatus
from oratio.vendors.ports import TenantDeployment
from oratio.vendors.service import VendorService, VendorSettings
from oratio_local.vendor import memory_vendor_service

AUTHOR = "owner@cozycomfort.com"
VENDOR = "cozy-comfort"
NUMBER = "+15552333464"
INSTANCE = "arn:aws:connect:us-east-1:111122223333:instance/abcd"
DEPLOYED = TenantDeployment(
    tenant_id=VENDOR,
    connect_instance_arn=INSTANCE,
    phone_number=NUMBER,
    knowledge_bucket="kb",
    max_agents=3,
    chat_flow_arn=f"{INSTANCE}/contact-flow/chat-0000",
)


def service(deployment: TenantDeployment | None = DEPLOYED, **settings: int) -> VendorService:
    return memory_vendor_service(
        {VENDOR: deployment} if deployment else {},
        settings=VendorSettings(**settings),
        clock=FixedClock.at_utc(2026, 11, 30, 12),
    )


def body(*channels: str, name: str = "Agent") -> AgentCreate:
    return AgentCreate.model_validate(
        {
            "name": name,
            "business_type": "retail",
            "channels": list(channels),
            "character_config": {"business_name": "Cozy Comfort Bedding"},
        }
    )


@pytest.mark.parametrize(
    ("deployment", "channel", "status", "job"),
    [
        (DEPLOYED, "voice", ChannelStatus.ACTIVE, "completed"),
        (DEPLOYED, "chat", ChannelStatus.ACTIVE, "completed"),
        (DEPLOYED, "sms", ChannelStatus.PENDING_CREDENTIALS, "completed"),
        (DEPLOYED, "whatsapp", ChannelStatus.PENDING_CREDENTIALS, "completed"),
        (None, "voice", ChannelStatus.FAILED, "failed"),
        (None, "chat", ChannelStatus.FAILED, "failed"),
        (None, "instagram", ChannelStatus.PENDING_CREDENTIALS, "completed"),
        (DEPLOYED.model_copy(update={"phone_number": None}), "voice", ChannelStatus.FAILED, "failed"),
        # A stack from before the chat flow: nothing would answer a chat, so it is not reported active.
        (DEPLOYED.model_copy(update={"chat_flow_arn": None}), "chat", ChannelStatus.FAILED, "failed"),
    ],
)
def test_channel_outcome_follows_what_the_tenant_deployed(
    deployment: TenantDeployment | None, channel: str, status: ChannelStatus, job: str
) -> None:
    result = service(deployment).provision_new(VENDOR, body(channel), AUTHOR)
    assert result.agent_config.channels[0].status is status
    assert result.status == job
    expected = AgentStatus.DRAFT if job == "failed" else AgentStatus.ACTIVE
    assert result.agent_config.status is expected


def test_no_channel_ever_reports_an_id_that_was_not_deployed() -> None:
    result = service(None).provision_new(VENDOR, body("voice", "chat", "sms", "x"), AUTHOR)
    for channel in result.agent_config.channels:
        assert channel.phone_number is None
        assert channel.aws_connect_instance_id is None


def test_provisioning_job_has_one_finished_step_per_channel() -> None:
    svc = service()
    result = svc.provision_new(VENDOR, body("voice", "instagram"), AUTHOR)
    job = svc.get_provisioning(VENDOR, result.provisioning_id)
    assert [(s.channel_type, s.status) for s in job.steps] == [
        (Channel.VOICE, ChannelStatus.ACTIVE),
        (Channel.INSTAGRAM, ChannelStatus.PENDING_CREDENTIALS),
    ]
    assert all(s.finished_at is not None for s in job.steps)
    with pytest.raises(NotFound):
        svc.get_provisioning("sleepwell", result.provisioning_id)


def test_dropping_voice_gives_the_number_to_the_next_agent() -> None:
    svc = service()
    first = svc.provision_new(VENDOR, body("voice", "chat", name="First"), AUTHOR).agent_config
    taken = svc.provision_new(VENDOR, body("voice", name="Second"), AUTHOR)
    assert taken.status == "failed"
    svc.update_agent(VENDOR, first.id, AgentUpdate(version=first.version, channels=[Channel.CHAT]), AUTHOR)
    second = svc.act(VENDOR, taken.agent_id, AgentAction.START)
    assert second.phone_number == NUMBER


def test_quota_counts_live_agents_only() -> None:
    svc = service()
    ids = [svc.create_agent(VENDOR, body("chat", name=f"A{n}"), AUTHOR).id for n in range(3)]
    with pytest.raises(QuotaExceeded) as refused:
        svc.create_agent(VENDOR, body("chat"), AUTHOR)
    assert refused.value.limit == 3
    svc.delete_agent(VENDOR, ids[0])
    assert svc.create_agent(VENDOR, body("chat"), AUTHOR).status is AgentStatus.DRAFT


def test_default_quota_applies_when_the_tenant_publishes_none() -> None:
    svc = service(DEPLOYED.model_copy(update={"max_agents": None}), default_max_agents=1)
    svc.create_agent(VENDOR, body("chat"), AUTHOR)
    with pytest.raises(QuotaExceeded):
        svc.create_agent(VENDOR, body("chat"), AUTHOR)


def test_stale_version_is_refused_before_anything_changes() -> None:
    svc = service()
    agent = svc.create_agent(VENDOR, body("chat"), AUTHOR)
    svc.update_agent(VENDOR, agent.id, AgentUpdate(version=1, name="New"), AUTHOR)
    with pytest.raises(VersionConflict) as conflict:
        svc.update_agent(VENDOR, agent.id, AgentUpdate(version=1, name="Lost"), AUTHOR)
    assert conflict.value.current == 2
    assert svc.get_agent(VENDOR, agent.id).name == "New"


def test_rate_limit_is_per_vendor_and_per_minute() -> None:
    svc = memory_vendor_service(
        {VENDOR: DEPLOYED, "sleepwell": DEPLOYED.model_copy(update={"tenant_id": "sleepwell"})},
        settings=VendorSettings(rate_limit_per_minute=2),
    )
    svc.admit(VENDOR)
    svc.admit(VENDOR)
    with pytest.raises(RateLimited) as refused:
        svc.admit(VENDOR)
    assert refused.value.retry_after_seconds == 60
    svc.admit("sleepwell")


@pytest.mark.parametrize("vendor", ["null", "cozy-comfot", "Cozy Comfort", "../cozy-comfort", "x" * 300])
def test_a_vendor_id_naming_no_deployed_tenant_is_refused_before_it_is_counted(vendor: str) -> None:
    svc = service(rate_limit_per_minute=1)
    with pytest.raises(UnknownTenant, match="names no tenant deployed on this platform"):
        svc.admit(vendor)
    svc.admit(VENDOR)  # the unknown id took nothing from anyone's rate


def test_deleted_agent_expiry_follows_the_retention_setting() -> None:
    svc = service(deleted_retention_days=7)
    agent = svc.create_agent(VENDOR, body("chat"), AUTHOR)
    svc.delete_agent(VENDOR, agent.id)
    record = svc.agents.get(VENDOR, agent.id)
    assert record is not None
    assert record.deleted_at is not None
    expiry = svc.deleted_expiry(record)
    assert expiry is not None
    assert (expiry - record.deleted_at).days == 7


def test_an_agent_left_in_provisioning_by_a_failed_run_can_be_started_again() -> None:
    svc = service()
    draft = svc.create_agent(VENDOR, body("voice"), AUTHOR)
    record = svc.agents.get(VENDOR, draft.id)
    assert record is not None
    stuck = record.model_copy(update={"status": AgentStatus.PROVISIONING, "version": 2})
    svc.agents.update(stuck, expected_version=1)
    started = svc.act(VENDOR, draft.id, AgentAction.START)
    assert started.status is AgentStatus.ACTIVE
    assert started.phone_number == NUMBER


def test_adding_voice_while_another_agent_holds_the_number_is_refused_whole() -> None:
    svc = service()
    svc.provision_new(VENDOR, body("voice", name="Holder"), AUTHOR)
    other = svc.provision_new(VENDOR, body("chat", name="Other"), AUTHOR).agent_config
    with pytest.raises(NumberInUse):
        svc.update_agent(
            VENDOR, other.id, AgentUpdate(version=other.version, channels=[Channel.CHAT, Channel.VOICE]), AUTHOR
        )
    assert [c.channel_type for c in svc.get_agent(VENDOR, other.id).channels] == [Channel.CHAT]


class _CountingSsm:
    """An SSM client that answers GetParameters from a dict and counts the calls."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.parameters = parameters
        self.calls = 0

    def get_parameters(self, Names: list[str]) -> dict[str, Any]:
        self.calls += 1
        return {"Parameters": [{"Name": n, "Value": self.parameters[n]} for n in Names if n in self.parameters]}


def test_the_tenant_directory_caches_known_tenants_a_minute_and_unknown_ones_seconds() -> None:
    now = [0.0]
    ssm = _CountingSsm({"/oratio/tenants/cozy-comfort/limits/max-agents": "5"})
    directory = SsmTenantDirectory(client=ssm, monotonic=lambda: now[0])
    assert directory.deployment("cozy-comfort").deployed
    assert not directory.deployment("null").deployed
    now[0] = UNKNOWN_TENANT_CACHE_SECONDS - 1
    directory.deployment("cozy-comfort"), directory.deployment("null")
    assert ssm.calls == 2
    now[0] = UNKNOWN_TENANT_CACHE_SECONDS + 1
    directory.deployment("cozy-comfort"), directory.deployment("null")
    assert ssm.calls == 3  # only the unknown one was asked again
    now[0] = CACHE_SECONDS + 1
    directory.deployment("cozy-comfort")
    assert ssm.calls == 4


def test_the_tenant_directory_cache_is_bounded_whatever_ids_tokens_carry() -> None:
    ssm = _CountingSsm({})
    directory = SsmTenantDirectory(client=ssm, monotonic=lambda: 0.0)
    for i in range(MAX_CACHED_TENANTS + 50):
        directory.deployment(f"tenant-{i}")
    assert len(directory._cache) == MAX_CACHED_TENANTS
    directory.deployment("tenant-0")  # the oldest was dropped, so it is read again
    assert ssm.calls == MAX_CACHED_TENANTS + 51


def test_an_agent_may_take_only_a_number_its_tenant_owns_in_the_registry() -> None:
    numbers = InMemoryNumberRegistry({NUMBER: VENDOR, "+15559870000": "sleepwell"})
    svc = memory_vendor_service({VENDOR: DEPLOYED}, numbers=numbers)
    with pytest.raises(NumberInUse, match="another account on this platform") as elsewhere:
        svc.create_agent(VENDOR, body("voice").model_copy(update={"bridge_number": "+15559870000"}), AUTHOR)
    assert "sleepwell" not in elsewhere.value.message
    with pytest.raises(NumberNotRegistered):
        svc.create_agent(VENDOR, body("voice").model_copy(update={"bridge_number": "+15559870001"}), AUTHOR)
    assert svc.list_agents(VENDOR, skip=0, limit=10, status=None).total == 0
