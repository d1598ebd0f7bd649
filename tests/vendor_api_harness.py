"""The vendor API Lambda over moto (DynamoDB, SSM, S3) with two deployed vendors, driven through real-shaped
API Gateway events — shared by the integration tests and the schemathesis run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oratio.adapters.dynamodb import DynamoDBCallSessionStore
from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder
from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
from oratio.adapters.memory import FixedClock
from oratio.agent.ports import TurnRecord
from oratio.agent_creator.jobs import InMemoryJobStore
from oratio.creator_launch import InProcessLauncher
from oratio.domain.call_routing import Route, RouteReason
from oratio.domain.calls import CallSession
from oratio.domain.numbers import NumberClaim, NumberKind
from oratio.tables import ALL_TABLES
from oratio.vendors.api import channel_routes
from oratio.vendors.creator import CreatorService
from oratio.vendors.settings import (
    IDEMPOTENCY_TABLE_ENV_VAR,
    MAX_BODY_BYTES_ENV_VAR,
    RATE_LIMIT_ENV_VAR,
)
from oratio_local.dynamodb import create_idempotency_table, create_tables
from oratio_local.events import api_gateway_event, lambda_context
from oratio_local.lambdas import load_handler
from oratio_local.vendor import brief_agent_request

REGION = "us-east-1"
IDEMPOTENCY_TABLE = "oratio-test-idempotency"
VENDOR_A = "cozy-comfort"
VENDOR_B = "sleepwell"
NUMBERS = {VENDOR_A: "+15552333464", VENDOR_B: "+15557654321"}
MAX_AGENTS = {VENDOR_A: 5, VENDOR_B: 5}
START = datetime(2026, 11, 30, 15, 0, 10, tzinfo=UTC)


def connect_instance_arn(vendor: str) -> str:
    return f"arn:aws:connect:{REGION}:111122223333:instance/{vendor}-0000-4000-8000-000000000000"


def chat_flow_arn(vendor: str) -> str:
    return f"{connect_instance_arn(vendor)}/contact-flow/{vendor}-chat-0000-4000-8000-000000000000"


def webhook_url(vendor: str) -> str:
    return f"https://{vendor}-channels.lambda-url.{REGION}.on.aws/"


def knowledge_bucket(vendor: str) -> str:
    return f"oratio-{vendor}-documents-test"


def agent_body(name: str = "Cozy Comfort Bedding Agent", **overrides: Any) -> dict[str, Any]:
    """The brief's `POST /api/v1/agents` example."""
    return brief_agent_request(name=name, **overrides)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class VendorApi:
    handler: ModuleType
    clock: FixedClock
    aws: dict[str, Any] = field(default_factory=dict)
    # AgentCreator: the job store the routes read and the launcher they hand jobs to (nothing runs the pipeline
    # here: its own tests do; a test writes what a stage would have written).
    creator_jobs: InMemoryJobStore = field(default_factory=InMemoryJobStore)
    creator_launcher: InProcessLauncher = field(default_factory=lambda: InProcessLauncher(lambda request: None))

    def call(
        self,
        method: str,
        path: str,
        *,
        vendor: str | None = VENDOR_A,
        body: Any = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> Reply:
        event = api_gateway_event(
            method, path, body=body, raw_body=raw_body, vendor_id=vendor, headers=headers, query=query
        )
        return self.send(event)

    def send(self, event: dict[str, Any]) -> Reply:
        response = self.handler.lambda_handler(event, lambda_context("oratio-vendor-api"))
        headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers.setdefault(key, ",".join(str(v) for v in values))
        text = response.get("body") or ""
        return Reply(response["statusCode"], json.loads(text) if text else None, headers)

    def create(self, vendor: str = VENDOR_A, **overrides: Any) -> dict[str, Any]:
        reply = self.call("POST", "/api/v1/agents", vendor=vendor, body=agent_body(**overrides))
        assert reply.status == 201, reply.body
        return dict(reply.body)

    def provision(self, vendor: str = VENDOR_A, **overrides: Any) -> dict[str, Any]:
        reply = self.call(
            "POST", "/api/v1/agents/provision", vendor=vendor, body={"agent_config": agent_body(**overrides)}
        )
        assert reply.status == 201, reply.body
        return dict(reply.body)


def seed_call(api: VendorApi, vendor: str, agent_id: str, contact_id: str, minutes: int = 0) -> None:
    """A call of `vendor`'s agent `minutes` after START, with two recorded turns (what the voice paths store)."""
    tables, client = api.aws["tables"], api.aws["dynamodb"]
    started = START + timedelta(minutes=minutes)
    session = CallSession(
        tenant_id=vendor,
        contact_id=contact_id,
        agent_id=agent_id,
        channel="voice",
        dialed_number=NUMBERS[vendor],
        caller_number="+15551230000",
        route=Route.AGENT,
        reason=RouteReason.ACCEPTED,
        voice_tier="standard",
        started_at=started,
        counted_against_limit=False,
    )
    DynamoDBCallSessionStore(tables["conversations"], tables["tenant_state"], client=client).open(session, 10)
    recorder = DynamoDBConversationRecorder(tables["conversations"], client=client)
    for sequence, (said, reply) in enumerate([("Hi", "Hello!"), ("Return policy?", "30-day returns.")], start=1):
        turn = TurnRecord(
            tenant_id=vendor,
            session_id=contact_id,
            agent_id=agent_id,
            channel="voice",
            sequence=sequence,
            user_text=said,
            reply_text=reply,
            model_id="nova-micro",
            routing_reason="simple",
            role="greeter",
            cost_usd=0.0001,
            at=started + timedelta(seconds=sequence),
        )
        asyncio.run(recorder.record_turn(turn))


def register_number(api_or_tables: VendorApi | dict[str, str], number: str, vendor: str = VENDOR_A) -> None:
    """Register `number` to `vendor` in the number registry, as the tenant stack (its Connect number, its tenant
    file's bridge numbers) or the operator (scripts/phone_numbers.py) does."""
    tables = api_or_tables.aws["tables"] if isinstance(api_or_tables, VendorApi) else api_or_tables
    registry = DynamoDBNumberRegistry(tables["numbers"], client=boto3.client("dynamodb", region_name=REGION))
    registry.claim(NumberClaim(number=number, tenant_id=vendor, kind=NumberKind.BRIDGE, claimed_by="operator:tests"))


def deploy_vendors(ssm: Any, s3: Any, tables: dict[str, str], vendors: tuple[str, ...] = (VENDOR_A, VENDOR_B)) -> None:
    """What each vendor's TenantStack publishes and claims: its parameters, its knowledge bucket, its number."""
    for vendor in vendors:
        registry = DynamoDBNumberRegistry(tables["numbers"], client=boto3.client("dynamodb", region_name=REGION))
        registry.claim(
            NumberClaim(number=NUMBERS[vendor], tenant_id=vendor, kind=NumberKind.CONNECT, claimed_by="stack:test")
        )
        values = {
            "connect/instance-arn": connect_instance_arn(vendor),
            "connect/chat-flow-arn": chat_flow_arn(vendor),
            "channels/webhook-url": webhook_url(vendor),
            "connect/phone-number": NUMBERS[vendor],
            "knowledge/bucket-name": knowledge_bucket(vendor),
            "limits/max-agents": str(MAX_AGENTS[vendor]),
        }
        for name, value in values.items():
            ssm.put_parameter(Name=f"/oratio/tenants/{vendor}/{name}", Value=value, Type="String")
        s3.create_bucket(Bucket=knowledge_bucket(vendor))


@contextmanager
def deployed_api(env: pytest.MonkeyPatch, *, prefix: str, rate_limit: int) -> Iterator[VendorApi]:
    """Tables, the idempotency table, two deployed vendors and the handler (fresh module, fixed clock), all on
    moto; `env` receives the function's environment."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        names = create_tables(dynamodb, prefix=prefix)
        create_idempotency_table(dynamodb, IDEMPOTENCY_TABLE)
        for spec in ALL_TABLES:
            env.setenv(spec.env_var, names[spec.key])
        env.setenv(IDEMPOTENCY_TABLE_ENV_VAR, IDEMPOTENCY_TABLE)
        env.setenv(MAX_BODY_BYTES_ENV_VAR, str(32 * 1024))
        env.setenv(RATE_LIMIT_ENV_VAR, str(rate_limit))
        ssm = boto3.client("ssm", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        deploy_vendors(ssm, s3, names)
        handler = load_handler("vendor_api")
        clock = FixedClock(START)
        handler.clock = clock
        # The channel routes build their services once per container: a fresh deployment is a fresh container.
        channel_routes.build_services.cache_clear()
        api = VendorApi(handler, clock, {"dynamodb": dynamodb, "ssm": ssm, "s3": s3, "tables": names})
        creator = CreatorService(
            agents=handler.service_factory().agents,
            versions=handler.service_factory().versions,
            jobs=api.creator_jobs,
            launcher=api.creator_launcher,
            audit=handler.operations_service().record,
            clock=clock,
        )
        handler.creator_factory = lambda: creator
        try:
            yield api
        finally:
            channel_routes.build_services.cache_clear()


@pytest.fixture
def vendor_api(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorApi]:
    with deployed_api(monkeypatch, prefix="oratio-test-", rate_limit=1000) as api:
        yield api


# ------------------------------------------------------------------------------- in-process HTTP
# Tokens the emulated Cognito authorizer accepts, and the vendor claim each carries.
TOKENS = {"token-cozy-comfort": VENDOR_A, "token-sleepwell": VENDOR_B}
PUBLIC_GETS = frozenset({"/api/v1/health", "/api/v1/openapi.json"})


def wsgi_app(api: VendorApi) -> Any:
    """A WSGI app in front of the Lambda handler, doing what API Gateway does: the Cognito authorizer (401 with
    the gateway response body for a missing or unknown token, except on the public GETs) and the mapping of
    the HTTP request to a REST proxy event. Lets HTTP tools (schemathesis) exercise the handler in process."""
    from http import HTTPStatus
    from urllib.parse import parse_qs

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/"
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        token = headers.get("Authorization")
        if not (method == "GET" and path in PUBLIC_GETS) and token not in TOKENS:
            status, body, extra = 401, UNAUTHORIZED_BODY, {}
        else:
            event = api_gateway_event(
                method,
                path,
                raw_body=raw.decode("utf-8", errors="replace") if raw else None,
                vendor_id=TOKENS.get(token or ""),
                headers=headers,
                query=query or None,
            )
            reply = api.send(event)
            status, body, extra = reply.status, reply.body, reply.headers
        payload = json.dumps(body).encode()
        response_headers = {**{k: v for k, v in extra.items() if k.lower() != "content-length"}}
        response_headers["Content-Type"] = "application/json"
        response_headers["Content-Length"] = str(len(payload))
        start_response(f"{status} {HTTPStatus(status).phrase}", list(response_headers.items()))
        return [payload]

    return app


# API Gateway's UNAUTHORIZED gateway response, as stacks/constructs/vendor_api.py configures it.
UNAUTHORIZED_BODY = {"error": "unauthenticated", "message": "a valid vendor token is required (Authorization header)"}
