"""A messaging conversation that falls quiet is analysed: the real channel worker answers (and marks the
conversation's deadline), the real idle-sweep Lambda publishes `Conversation Idle` on the default EventBridge bus
(moto, a rule with the analysis rule's pattern feeding a queue we read), and the real post-call analysis Lambda
analyses it once per quiet spell — over moto's DynamoDB."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oratio.adapters.dynamodb import DynamoDBAgentDirectory
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger, DynamoDBConversationRecorder
from oratio.adapters.dynamodb_call_costs import DynamoDBOnceClaims
from oratio.adapters.dynamodb_operations import DynamoDBAnalysisStore
from oratio.analysis import ANALYSIS_PROFILE_ENV_VAR, AnalysisProfile, PostCallAnalyst
from oratio.channels.adapters.idle_aws import DynamoDBIdleIndex
from oratio.channels.idle import IDLE_EVENT_DETAIL_TYPE, IDLE_EVENT_SOURCE, QuietConversation
from oratio.channels.settings import TENANT_ID_ENV_VAR
from oratio.config import TenantConfig, load_tenant_file
from oratio.config.catalog import load_model_catalog
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import Channel
from oratio.domain.agents import Agent, AgentStatus
from oratio.metering import Meter
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE
from oratio_local.analysis_model import RuleBasedAnalysisModel
from oratio_local.channel_events import WHATSAPP_PHONE_NUMBER_ID, whatsapp_message
from oratio_local.channels import APP_SECRET, LocalChannels, local_engine
from oratio_local.dynamodb import create_tables
from oratio_local.events import lambda_context
from oratio_local.lambdas import load_handler
from oratio_local.platforms import MetaAccount
from tests.integration.conftest import REGION

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
AGENT_ID = "agt-front-desk"
WA_TOKEN = "EAAJB-local-whatsapp-token"
CUSTOMER = "16505551234"
T0 = datetime(2026, 11, 30, 15, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Setting:
    channels: LocalChannels
    sweep: ModuleType
    analysis: ModuleType
    clock: Clock
    events_queue: str
    dynamodb: Any
    tables: dict[str, str]
    tenant: TenantConfig

    def message(self, text: str, at: datetime, *, customer: str = CUSTOMER) -> None:
        self.clock.at = at
        self.channels.deliver(Channel.WHATSAPP, whatsapp_message(customer, text=text, timestamp=int(at.timestamp())))
        drained = self.channels.drain()
        assert (drained.processed, drained.failed) == (1, 0)

    def run_sweep(self, at: datetime, *, remaining_ms: int = 8_000) -> int:
        self.clock.at = at
        self.sweep.clock = self.clock  # type: ignore[attr-defined]
        context = lambda_context("conversation_idle", remaining_ms=remaining_ms)
        with redirect_stdout(io.StringIO()):
            result = self.sweep.lambda_handler(_scheduled(at), context)
        return int(result["published"])

    def published(self) -> list[dict[str, Any]]:
        """The events the analysis rule's pattern matched since the last call, as EventBridge delivers them."""
        sqs = boto3.client("sqs", region_name=REGION)
        events = []
        while messages := sqs.receive_message(QueueUrl=self.events_queue, MaxNumberOfMessages=10).get("Messages"):
            for m in messages:
                # moto's delivery template leaves out `account` (EventBridge delivers the whole event).
                events.append({"account": "123456789012", **json.loads(m["Body"])})
                sqs.delete_message(QueueUrl=self.events_queue, ReceiptHandle=m["ReceiptHandle"])
        return events

    def analyse(self, event: dict[str, Any]) -> str:
        with redirect_stdout(io.StringIO()):
            answer = self.analysis.lambda_handler(event, lambda_context("post_call_analysis"))
        return str(answer["action"])


def _scheduled(at: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "sweep-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "111122223333",
        "time": at.isoformat().replace("+00:00", "Z"),
        "region": REGION,
        "resources": [],
        "detail": {},
    }


def _tenant(idle_minutes: int) -> TenantConfig:
    data = TENANT.model_dump(mode="json", exclude_unset=True)
    data.setdefault("operations", {})["messaging_idle_minutes"] = idle_minutes
    return TenantConfig.model_validate(data)


def _setting(monkeypatch: pytest.MonkeyPatch, tenant: TenantConfig) -> Setting:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    tables = create_tables(dynamodb, prefix="oratio-test-")
    DynamoDBAgentDirectory(tables[AGENTS.key], client=dynamodb).put_agent(
        Agent(
            vendor_id=tenant.tenant_id,
            agent_id=AGENT_ID,
            name="Front desk",
            status=AgentStatus.ACTIVE,
            created_at=T0,
            updated_at=T0,
        )
    )
    clock = Clock(T0)
    engine, _ = local_engine(tenant, REPO / "tenants", dynamodb, tables)
    channels = LocalChannels(tenant, dynamodb, tables, engine, clock=clock)
    channels.platforms.meta[WHATSAPP_PHONE_NUMBER_ID] = MetaAccount(
        WA_TOKEN, APP_SECRET, {"display_phone_number": "1555"}
    )
    channels.link(Channel.WHATSAPP, WHATSAPP_PHONE_NUMBER_ID, AGENT_ID, WA_TOKEN)

    # What the analysis rule listens to (stacks/constructs/call_events.py), delivered to a queue we can read.
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="idle-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    pattern = {
        "source": [IDLE_EVENT_SOURCE],
        "detail-type": [IDLE_EVENT_DETAIL_TYPE],
        "detail": {"tenantId": [tenant.tenant_id]},
    }
    events.put_rule(Name="idle-conversations", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="idle-conversations", Targets=[{"Id": "analysis", "Arn": queue_arn}])

    monkeypatch.setenv(TENANT_ID_ENV_VAR, tenant.tenant_id)
    monkeypatch.setenv(CONVERSATIONS.env_var, tables[CONVERSATIONS.key])
    monkeypatch.setenv(TENANT_STATE.env_var, tables[TENANT_STATE.key])
    monkeypatch.setenv(USAGE.env_var, tables[USAGE.key])
    monkeypatch.setenv(AGENTS.env_var, tables[AGENTS.key])
    monkeypatch.setenv(AGENT_DEFINITIONS.env_var, tables[AGENT_DEFINITIONS.key])
    monkeypatch.setenv("ORATIO_CONNECT_INSTANCE_ARN", "arn:aws:connect:us-east-1:111122223333:instance/x")
    profile = AnalysisProfile.from_tenant(tenant)
    monkeypatch.setenv(ANALYSIS_PROFILE_ENV_VAR, profile.model_dump_json(exclude_defaults=True))
    analysis = load_handler("post_call_analysis")
    catalog = load_model_catalog()
    conversations = tables[CONVERSATIONS.key]
    analyst = PostCallAnalyst(
        profile=profile,
        catalog=catalog,
        model=RuleBasedAnalysisModel(),
        transcripts=DynamoDBConversationRecorder(conversations, client=dynamodb),
        store=DynamoDBAnalysisStore(conversations, client=dynamodb),
        once=DynamoDBOnceClaims(conversations, client=dynamodb),
        ledger=DynamoDBBudgetLedger(tables[USAGE.key], conversations_table=conversations, client=dynamodb),
        meter=Meter(load_price_catalog(), catalog),
        clock=clock,
    )
    analysis.build_analyst = lambda: analyst  # type: ignore[attr-defined]
    return Setting(channels, load_handler("conversation_idle"), analysis, clock, queue, dynamodb, tables, tenant)


@pytest.fixture
def setting(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setting]:
    with mock_aws():
        yield _setting(monkeypatch, TENANT)


def _analysis_item(s: Setting, session_id: str) -> dict[str, Any] | None:
    return DynamoDBAnalysisStore(s.tables[CONVERSATIONS.key], client=s.dynamodb).analysis(
        s.tenant.tenant_id, session_id
    )


def test_a_conversation_quiet_for_the_idle_timeout_is_published_once_and_analysed(setting: Setting) -> None:
    s = setting
    s.message("What is your return policy?", T0)
    idle = timedelta(minutes=TENANT.operations.messaging_idle_minutes)
    assert s.run_sweep(T0 + idle - timedelta(minutes=1)) == 0, "not quiet long enough yet"
    assert s.published() == []

    assert s.run_sweep(T0 + idle + timedelta(minutes=1)) == 1
    (event,) = s.published()
    assert (event["source"], event["detail-type"]) == (IDLE_EVENT_SOURCE, IDLE_EVENT_DETAIL_TYPE)
    detail = event["detail"]
    assert (detail["tenantId"], detail["agentId"]) == (TENANT.tenant_id, AGENT_ID)
    assert detail["idleAt"] == int((T0 + idle).timestamp())
    assert s.run_sweep(T0 + idle + timedelta(minutes=2)) == 0, "published once: it left the index"

    assert s.analyse(event) == "analysed"
    stored = _analysis_item(s, detail["sessionId"])
    assert stored is not None
    assert stored["status"] == "analysed"
    assert s.analyse(event) == "already_analysed", "a redelivered idle event does not analyse twice"


def test_a_run_takes_more_batches_while_the_function_has_time_and_leaves_the_rest_to_the_next_run(
    setting: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setting
    monkeypatch.setattr(s.sweep, "BATCH_SIZE", 1)
    for n in range(3):
        s.message("What is your return policy?", T0, customer=f"1650555000{n}")
    after_idle = T0 + timedelta(minutes=TENANT.operations.messaging_idle_minutes + 1)
    reserve = s.sweep.TIME_RESERVE_MS  # type: ignore[attr-defined]
    assert s.run_sweep(after_idle, remaining_ms=reserve - 1) == 1, "no time for a second batch: one, the rest wait"
    assert s.run_sweep(after_idle, remaining_ms=reserve * 10) == 2, "time left: batches until one comes back short"
    assert len(s.published()) == 3


def test_a_later_message_moves_the_end_on(setting: Setting) -> None:
    s = setting
    idle = timedelta(minutes=TENANT.operations.messaging_idle_minutes)
    s.message("What is your return policy?", T0)
    s.message("And for duvets?", T0 + idle / 2)
    assert s.run_sweep(T0 + idle + timedelta(minutes=1)) == 0, "the second message kept it open"
    assert s.run_sweep(T0 + idle / 2 + idle + timedelta(minutes=1)) == 1
    (event,) = s.published()
    assert event["detail"]["idleAt"] == int((T0 + idle / 2 + idle).timestamp())


def test_a_message_after_the_end_reopens_the_conversation_and_it_is_analysed_again(setting: Setting) -> None:
    s = setting
    idle = timedelta(minutes=TENANT.operations.messaging_idle_minutes)
    s.message("What is your return policy?", T0)
    s.run_sweep(T0 + idle + timedelta(minutes=1))
    (first,) = s.published()
    assert s.analyse(first) == "analysed"

    back = T0 + idle + timedelta(minutes=5)
    s.message("Actually, can I order the Cloud duvet?", back)
    assert s.run_sweep(back + idle + timedelta(minutes=1)) == 1
    (second,) = s.published()
    assert second["detail"]["sessionId"] == first["detail"]["sessionId"]
    assert second["detail"]["idleAt"] > first["detail"]["idleAt"]
    assert s.analyse(second) == "analysed", "the re-opened conversation ended again: analysed again"


def test_a_sweep_that_died_after_holding_is_repaired_by_a_later_run_with_the_same_deadline(setting: Setting) -> None:
    s = setting
    idle = timedelta(minutes=TENANT.operations.messaging_idle_minutes)
    s.message("What is your return policy?", T0)
    late = T0 + idle + timedelta(minutes=1)
    index = DynamoDBIdleIndex(s.tables[CONVERSATIONS.key], client=s.dynamodb)
    (due,) = asyncio.run(index.quiet(TENANT.tenant_id, late, 10))
    held = asyncio.run(index.hold(TENANT.tenant_id, due, int(late.timestamp()) + 300))  # ... and the run died
    assert held is not None
    assert s.run_sweep(late + timedelta(minutes=1)) == 0, "held: not due again at once"
    assert s.run_sweep(late + timedelta(minutes=6)) == 1
    (event,) = s.published()
    assert event["detail"]["idleAt"] == due.idle_at, "the same end, so the analysis's claim dedups a repeat"


def test_a_message_between_reading_the_index_and_holding_keeps_the_conversation_open(setting: Setting) -> None:
    s = setting
    idle = timedelta(minutes=TENANT.operations.messaging_idle_minutes)
    s.message("What is your return policy?", T0)
    index = DynamoDBIdleIndex(s.tables[CONVERSATIONS.key], client=s.dynamodb)
    late = T0 + idle + timedelta(minutes=1)
    (due,) = asyncio.run(index.quiet(TENANT.tenant_id, late, 10))
    asyncio.run(index.mark_active(TENANT.tenant_id, due.session_id, int((late + idle).timestamp())))
    stale = QuietConversation(due.session_id, due.agent_id, due.idle_at, due.index_at)
    assert asyncio.run(index.hold(TENANT.tenant_id, stale, int(late.timestamp()) + 300)) is None


@pytest.mark.parametrize("minutes", [5, 90])
def test_the_tenants_idle_timeout_decides_when_the_conversation_ends(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, minutes: int
) -> None:
    with mock_aws():
        s = _setting(monkeypatch, _tenant(minutes))
        s.message("What is your return policy?", T0)
        assert s.run_sweep(T0 + timedelta(minutes=minutes - 1)) == 0
        assert s.run_sweep(T0 + timedelta(minutes=minutes, seconds=30)) == 1
        (event,) = s.published()
        assert event["detail"]["idleAt"] == int((T0 + timedelta(minutes=minutes)).timestamp())
