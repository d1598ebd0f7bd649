"""The ElizaOS webhook Lambda over moto (DynamoDB, SSM, Secrets Manager): the brief's message shape in, signed with
the vendor's secret, the brief's response shape out from the vendor's own agent; unsigned, stale, forged or replayed
requests get what they deserve."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oratio.adapters.dynamodb import DynamoDBAgentDirectory, DynamoDBCallSessionStore
from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder
from oratio.channels.adapters.aws import DynamoDBMessageLedger, SecretsManagerVendorSecret
from oratio.channels.adapters.elizaos_tenants import SsmElizaTenants
from oratio.channels.adapters.memory import EngineAgentInvoker
from oratio.channels.elizaos import ElizaInterop
from oratio.channels.turns import ChannelProfile
from oratio.config import load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.tables import AGENTS, CONVERSATIONS, TENANT_STATE
from oratio_local.channels import local_engine
from oratio_local.dynamodb import create_tables
from oratio_local.events import api_gateway_event, lambda_context
from oratio_local.lambdas import load_handler
from tests.integration.conftest import REGION

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
VENDOR = TENANT.tenant_id
SECRET = "eliza-webhook-secret-" + "x" * 24
AGENT_ID = "voca-agent-ccb-12345"
RUNTIME = "arn:aws:bedrock-agentcore:us-east-1:111122223333:runtime/oratio_cozy_comfort-AbCdEf1234"
ENDPOINT = f"{RUNTIME}/runtime-endpoint/live"
NOW = datetime(2026, 11, 30, 15, tzinfo=UTC)
BRIEF = {
    "platform": "instagram",
    "agent_id": AGENT_ID,
    "message": "Hi! I'm looking for a new comforter set for my queen bed",
    "user_id": "customer_123",
    "timestamp": "2024-01-01T10:30:00Z",
}


class World:
    def __init__(
        self, handler: ModuleType, model: Any, agents: DynamoDBAgentDirectory, factory_calls: list[Any]
    ) -> None:
        self.handler = handler
        self.model = model
        self.agents = agents
        self.factory_calls = factory_calls

    def post(
        self,
        body: Any,
        *,
        secret: str = SECRET,
        vendor: str = VENDOR,
        stamp: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        raw = body if isinstance(body, str) else json.dumps(body)
        ts = str(int(stamp if stamp is not None else time.time()))
        digest = hmac.new(secret.encode(), ts.encode() + b"." + raw.encode(), hashlib.sha256).hexdigest()
        signed = {"X-Oratio-Vendor": vendor, "X-Oratio-Timestamp": ts, "X-Oratio-Signature": f"sha256={digest}"}
        event = api_gateway_event(
            "POST",
            "/api/v1/webhooks/elizaos",
            raw_body=raw,
            vendor_id=None,
            headers=headers if headers is not None else signed,
        )
        response = self.handler.lambda_handler(event, lambda_context("elizaos_webhook"))
        return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def world(aws_env: None) -> Iterator[World]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        tables = create_tables(dynamodb, prefix="oratio-test-")
        agents = DynamoDBAgentDirectory(tables[AGENTS.key], client=dynamodb)
        agents.put_agent(
            Agent(
                vendor_id=VENDOR,
                agent_id=AGENT_ID,
                name="Cozy",
                status=AgentStatus.ACTIVE,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        ssm = boto3.client("ssm", region_name=REGION)
        for name, value in {
            "channels/profile": ChannelProfile.from_tenant(TENANT).model_dump_json(),
            "agent/runtime-arn": RUNTIME,
            "agent/endpoint-arn": ENDPOINT,
        }.items():
            ssm.put_parameter(Name=f"/oratio/tenants/{VENDOR}/{name}", Value=value, Type="String")
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=f"oratio/{VENDOR}/elizaos/webhook", SecretString=SECRET
        )
        engine, model = local_engine(TENANT, REPO / "tenants", dynamodb, tables)
        calls: list[Any] = []

        def factory(runtime_arn: str, qualifier: str) -> EngineAgentInvoker:
            calls.append((runtime_arn, qualifier))
            return EngineAgentInvoker(engine)

        recorder = DynamoDBConversationRecorder(tables[CONVERSATIONS.key], client=dynamodb)
        interop = ElizaInterop(
            tenants=SsmElizaTenants(
                secret=SecretsManagerVendorSecret(),
                recorder=recorder,
                agent_factory=factory,
                clock=lambda: datetime.now(UTC),
            ),
            agents=agents,
            ledger=DynamoDBMessageLedger(tables[TENANT_STATE.key], client=dynamodb),
            sessions=DynamoDBCallSessionStore(tables[CONVERSATIONS.key], tables[TENANT_STATE.key], client=dynamodb),
        )
        handler = load_handler("elizaos_webhook")
        handler.build_interop = lambda: interop  # type: ignore[attr-defined]
        yield World(handler, model, agents, calls)


def test_the_brief_message_gets_the_brief_response_from_the_vendors_agent(world: World) -> None:
    status, body = world.post(BRIEF)
    assert status == 200, body
    assert set(body) == {"message", "agent_id", "channel", "context_updated"}
    assert (body["agent_id"], body["channel"], body["context_updated"]) == (AGENT_ID, "instagram", True)
    assert "queen" in body["message"].lower()  # answered from the catalog the agent searched
    assert world.factory_calls == [(RUNTIME, "live")]  # the tenant's runtime, through its published endpoint


def test_a_replay_of_the_same_signed_request_is_answered_with_the_first_answer_and_the_agent_runs_once(
    world: World,
) -> None:
    stamp = time.time()
    first = world.post(BRIEF, stamp=stamp)
    model_calls = len(world.model.requests)
    second = world.post(BRIEF, stamp=stamp)
    assert first == second
    assert len(world.model.requests) == model_calls


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"headers": {}}, 401),
        ({"secret": "not-the-vendors-secret-000000000000"}, 403),
        ({"stamp": time.time() - 3600}, 403),
        ({"vendor": "sleepwell"}, 403),  # a vendor without a secret
        ({"vendor": "../etc"}, 403),
    ],
    ids=["unsigned", "forged", "stale", "no-secret", "bad-vendor"],
)
def test_unsigned_forged_stale_or_unknown_requests_are_refused_and_the_agent_never_runs(
    world: World, kwargs: dict[str, Any], status: int
) -> None:
    code, body = world.post(BRIEF, **kwargs)
    assert code == status
    assert body["error"] in ("unauthenticated", "forbidden")
    assert world.model.requests == []


def test_a_signed_body_that_is_not_the_brief_message_is_422_naming_the_fields(world: World) -> None:
    code, body = world.post({"platform": "myspace", "agent_id": AGENT_ID})
    assert code == 422
    assert {d["field"] for d in body["details"]} == {"body.platform", "body.message", "body.user_id"}
    assert world.post("not json")[0] == 422


def test_an_unknown_agent_is_404(world: World) -> None:
    assert world.post({**BRIEF, "agent_id": "agt-nope"})[0] == 404


def test_a_paused_agent_answers_its_paused_notice(world: World) -> None:
    agent = world.agents.get_agent(VENDOR, AGENT_ID)
    assert agent is not None
    world.agents.put_agent(agent.model_copy(update={"status": AgentStatus.PAUSED}))
    code, body = world.post(BRIEF)
    assert (code, body["message"], body["context_updated"]) == (
        200,
        ChannelProfile.from_tenant(TENANT).wording.paused_message,
        False,
    )
    assert world.model.requests == []


def test_twitter_is_answered_on_the_x_channel_with_the_brief_platform_name_back(world: World) -> None:
    code, body = world.post({**BRIEF, "platform": "twitter"})
    assert (code, body["channel"]) == (200, "twitter")
    request = world.model.requests[0]
    assert "direct message on X" in " ".join(b.get("text", "") for b in request["system"])
