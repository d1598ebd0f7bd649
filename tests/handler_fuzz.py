"""Malformed events for every Lambda handler, and a runner that sorts each answer into designed or not.

For each handler (`lambdas/<folder>/handler.py`, loaded as Lambda imports it, over moto with the environment its
CDK construct sets) the runner takes real-shaped valid events and derives malformed ones from them: events that
are not objects, every key path missing or holding a value of every wrong JSON type, huge values, values nested
as deep as the Lambda runtime's JSON parser still delivers, and for bodies carried inside an event (the vendor
API's JSON, the telephony webhook's form and JSON) bodies that are deep, huge, binary or not text -- the webhook's
ones signed with the provider's scheme, so they reach past the signature check.

A *designed* answer is what the handler promises for bad input: the router's unavailable attributes, Lex's Close
and the flow's transfer, an SQS batch failure, a 4xx JSON answer, or the handler's own named error class where
its docstring says it raises one. Anything else -- another exception, a 5xx, an answer Lambda cannot serialise
-- is *undesigned*. Shared by tests/integration/test_handler_fuzz.py and `make fuzz` (tests/fuzz_report.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.response import StreamingBody
from moto import mock_aws
from pydantic_core import from_json

from oratio.agent.contracts import (
    CustomerIdentity,
    InvocationRequest,
    TextChunk,
    ToolRequest,
    TurnComplete,
    UserMessage,
)
from oratio.config import load_tenant_file
from oratio.config.tenant import Channel
from oratio.connect_voice.outcome import TurnJob, TurnOutcome
from oratio.connect_voice.profile import VoiceProfile
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR, RoutingProfile
from oratio.tables import ALL_TABLES
from oratio.voice_bridge.webhooks import twilio_signature, vonage_payload_hash
from oratio_local.dynamodb import create_tables
from oratio_local.events import (
    api_gateway_event,
    connect_contact_event,
    connect_contact_flow_event,
    connect_voice_action_event,
    function_url_event,
    lambda_context,
    lex_code_hook_event,
    s3_object_created_notification,
    scheduled_event,
    sqs_event,
)
from oratio_local.lambdas import load_handler
from oratio_local.vendor import brief_agent_request

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
PREFIX = "oratio-fuzz-"
TENANT_FILE = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
TENANT = TENANT_FILE.tenant_id
NUMBER = "+15552333464"
SMS_NUMBER = "+15552333465"
BUCKET = f"oratio-{TENANT}-knowledge-fuzz"
TWILIO_TOKEN = "twilio-auth-token-fuzz-0123456789"
VONAGE_SECRET = "vonage-signature-secret-fuzz-0123"
HOST = "abcdefghijklmnop.lambda-url.us-east-1.on.aws"
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
# The Lambda runtime parses the event with Python's json module, which stops near 1,000 levels: nesting this deep
# is what a handler can really receive; anything recursive over it still overflows Python's stack.
DELIVERABLE_DEPTH = 800
HUGE_CHARS = 300_000
# A JSON body's text may nest far deeper than an event object: API Gateway and function URLs pass it as a string.
DEEP_BODY_TEXT = "[" * 20_000 + "]" * 20_000


def nested(depth: int, leaf: Any, *, as_list: bool = False) -> Any:
    """`leaf` inside `depth` objects (or lists), built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


DEEP_OBJECT = nested(DELIVERABLE_DEPTH, "x")
DEEP_LIST = nested(DELIVERABLE_DEPTH, "x", as_list=True)
WRONG_VALUES: dict[str, Any] = {
    "null": None,
    "true": True,
    "zero": 0,
    "negative float": -1.5,
    "empty string": "",
    "huge string": "x" * HUGE_CHARS,
    "empty list": [],
    "empty object": {},
    "deep object": DEEP_OBJECT,
    "deep list": DEEP_LIST,
}
NOT_OBJECTS: dict[str, Any] = {
    "null event": None,
    "list event": ["Details", "Records"],
    "string event": "ContactFlowEvent",
    "number event": 42,
    "boolean event": True,
    "deep list event": DEEP_LIST,
    "huge string event": "x" * HUGE_CHARS,
}

Path_ = tuple[str | int, ...]


def key_paths(value: Any, prefix: Path_ = (), max_depth: int = 5) -> Iterator[Path_]:
    """Every path to a key of an object (and to the first item of a list) in `value`, outermost first."""
    if len(prefix) >= max_depth:
        return
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from key_paths(child, (*prefix, key), max_depth)
    elif isinstance(value, list) and value:
        yield (*prefix, 0)
        yield from key_paths(value[0], (*prefix, 0), max_depth)


def _copy_along(value: Any, path: Path_) -> tuple[Any, Any]:
    """A copy of `value` whose containers along `path` are new (the rest is shared: never deep-copied, since the
    deep mutants cannot be); returns the copy and the container holding the path's last step."""
    root = value.copy()
    container = root
    for step in path[:-1]:
        child = container[step].copy()
        container[step] = child
        container = child
    return root, container


def replaced(event: Any, path: Path_, new: Any) -> Any:
    root, container = _copy_along(event, path)
    container[path[-1]] = new
    return root


def removed(event: Any, path: Path_) -> Any:
    root, container = _copy_along(event, path)
    if isinstance(container, dict):
        del container[path[-1]]
    else:
        container.pop(path[-1])
    return root


def label_of(path: Path_) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def malformed_events(valid: dict[str, dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """Events derived from the named valid ones: not objects, then each key path missing or wrong-typed."""
    yield from NOT_OBJECTS.items()
    for name, event in valid.items():
        yield f"{name}: deeply nested event", {**event, "nested": DEEP_OBJECT}
        for path in key_paths(event):
            yield f"{name}: {label_of(path)} missing", removed(event, path)
            for kind, value in WRONG_VALUES.items():
                yield f"{name}: {label_of(path)} = {kind}", replaced(event, path, value)


# ------------------------------------------------------------------------------------------ answers
def _json_serialisable(answer: Any) -> str | None:
    try:
        json.dumps(answer)
    except (TypeError, ValueError, RecursionError) as e:
        return f"the answer cannot be serialised by Lambda ({type(e).__name__})"
    return None


def flat_strings(answer: Any) -> str | None:
    """Amazon Connect's Invoke Lambda block: a flat map of strings."""
    if not isinstance(answer, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in answer.items()):
        return "not a flat map of strings"
    return None


def router_answer(answer: Any) -> str | None:
    return flat_strings(answer) or (None if answer.get("route") else "no route")


def voice_answer(answer: Any) -> str | None:
    if isinstance(answer, dict) and "sessionState" in answer:
        action = answer["sessionState"].get("dialogAction", {}).get("type")
        return None if action in {"Close", "ElicitIntent"} else f"Lex dialog action {action!r}"
    return flat_strings(answer) or (None if answer.get("next_step") else "no next_step for the flow")


def http_answer(answer: Any) -> str | None:
    if not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
        return "not an HTTP answer"
    if answer["statusCode"] >= 500:
        return f"HTTP {answer['statusCode']}"
    return None


def json_http_answer(answer: Any) -> str | None:
    problem = http_answer(answer)
    if problem is None and answer["statusCode"] >= 400:
        body = json.loads(answer["body"])
        problem = None if isinstance(body, dict) and body.get("error") else "a 4xx without a JSON error body"
    return problem


def turn_answered(answer: Any) -> str | None:
    """The worker's outcome: the stand-in agent always answers, so a failed turn means the job's input broke it."""
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        return f"the turn failed on its input ({answer.get('error') if isinstance(answer, dict) else answer!r})"
    return None


def any_dict(answer: Any) -> str | None:
    return None if isinstance(answer, dict) else f"answered {type(answer).__name__}"


# ------------------------------------------------------------------------------------------ targets
@dataclass(frozen=True)
class FuzzTarget:
    """One handler: how to deploy it locally, what valid events look like, what it promises for bad ones."""

    folder: str
    configure: Callable[[pytest.MonkeyPatch, dict[str, str]], None]
    valid_events: Callable[[], dict[str, dict[str, Any]]]
    check_answer: Callable[[Any], str | None]
    designed_errors: frozenset[str] = frozenset()
    prepare: Callable[[ModuleType, pytest.MonkeyPatch], None] = lambda handler, env: None
    extra_events: Callable[[], Iterator[tuple[str, Any]]] = lambda: iter(())


def _tables_env(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    for spec in ALL_TABLES:
        env.setenv(spec.env_var, tables[spec.key])


def _configure_router(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _tables_env(env, tables)
    env.setenv(ROUTING_PROFILE_ENV_VAR, RoutingProfile.from_tenant(TENANT_FILE).to_env())


def _configure_voice_turn(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _tables_env(env, tables)
    env.setenv("ORATIO_VOICE_PROFILE", VoiceProfile.from_tenant(TENANT_FILE).to_env())
    env.setenv("ORATIO_VOICE_WORKER_FUNCTION", "oratio-fuzz-voice-agent-turn")


class _AnsweringWorker:
    """Stands in for the Lambda invoke of the turn worker (moto cannot run Lambda without Docker)."""

    def __init__(self, _name: str) -> None:
        pass

    async def run(self, job: TurnJob, *, wait_seconds: float) -> TurnOutcome:
        return TurnOutcome(turn_id=job.turn_id, status="ok", reply_text="Yes, we do.", finished_at=datetime.now(UTC))


def _prepare_voice_turn(handler: ModuleType, env: pytest.MonkeyPatch) -> None:
    env.setattr(handler, "LambdaTurnWorker", _AnsweringWorker)


def _configure_worker(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _tables_env(env, tables)
    env.setenv("ORATIO_TENANT_ID", TENANT)
    env.setenv("ORATIO_AGENT_RUNTIME_ARN", f"arn:aws:bedrock-agentcore:{REGION}:111122223333:runtime/oratio_fuzz")
    env.setenv("ORATIO_AGENT_QUALIFIER", "live")
    env.setenv("ORATIO_AGENT_BREAKER", TENANT_FILE.voice.connect.breaker.model_dump_json())


class _AgentRuntime:
    """Stands in for the bedrock-agentcore client's InvokeAgentRuntime (moto lacks it): a short SSE reply. The
    typed client around it is the real one, so each job's request is serialised as deployed."""

    def invoke_agent_runtime(self, **params: Any) -> dict[str, Any]:
        events = [
            TextChunk(text="Yes, we do."),
            TurnComplete(
                session_id=params["runtimeSessionId"],
                model_id="nova-micro",
                routing_reason="simple question",
                role="greeter",
                qualification_score=0.1,
                input_tokens=10,
                output_tokens=5,
                cost_usd=0.0001,
            ),
        ]
        body = "".join(f"data: {e.model_dump_json()}\n\n" for e in events).encode()
        return {"response": StreamingBody(io.BytesIO(body), len(body)), "statusCode": 200}


def _prepare_worker(handler: ModuleType, env: pytest.MonkeyPatch) -> None:
    import agentcore.tenant_agent.client as client_module

    real = client_module.AgentCoreAgentClient
    env.setattr(client_module, "AgentCoreAgentClient", lambda arn, qualifier: real(arn, qualifier, _AgentRuntime()))


def _configure_ingestion(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _tables_env(env, tables)
    env.setenv("ORATIO_TENANT_ID", TENANT)
    env.setenv("ORATIO_KNOWLEDGE_BASE_ID", "KB12345678")
    env.setenv("ORATIO_KNOWLEDGE_DATA_SOURCE_ID", "DS12345678")
    env.setenv("ORATIO_KNOWLEDGE_BUCKET", BUCKET)


def _configure_call_events(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    from oratio_local.events import CONNECT_INSTANCE_ARN

    _tables_env(env, tables)
    env.setenv("ORATIO_TENANT_ID", TENANT)
    env.setenv("ORATIO_CONNECT_INSTANCE_ARN", CONNECT_INSTANCE_ARN)
    # The claimed number's country and type (telephony rates), as the construct sets them from the tenant file.
    env.setenv("ORATIO_PHONE_NUMBER_COUNTRY", TENANT_FILE.connect.phone_number.country)
    env.setenv("ORATIO_PHONE_NUMBER_TYPE", str(TENANT_FILE.connect.phone_number.type))


def _configure_vendor_api(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    from oratio.vendors.settings import IDEMPOTENCY_TABLE_ENV_VAR
    from oratio_local.dynamodb import create_idempotency_table

    _tables_env(env, tables)
    create_idempotency_table(boto3.client("dynamodb", region_name=REGION), f"{PREFIX}idempotency")
    env.setenv(IDEMPOTENCY_TABLE_ENV_VAR, f"{PREFIX}idempotency")
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name=f"/oratio/tenants/{TENANT}/limits/max-agents", Value="50", Type="String")
    ssm.put_parameter(Name=f"/oratio/tenants/{TENANT}/connect/phone-number", Value=NUMBER, Type="String")
    instance = f"arn:aws:connect:{REGION}:111122223333:instance/fuzz-0000-4000-8000-000000000000"
    for name, value in {
        "connect/instance-arn": instance,
        "connect/chat-flow-arn": f"{instance}/contact-flow/fuzz-chat-0000-4000-8000-000000000000",
        "connect/sms-number": SMS_NUMBER,
        "channels/webhook-url": "https://abcdefghijklmnop.lambda-url.us-east-1.on.aws/",
    }.items():
        ssm.put_parameter(Name=f"/oratio/tenants/{TENANT}/{name}", Value=value, Type="String")


def _configure_webhook(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _configure_router(env, tables)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    values = {
        "ORATIO_VOICE_BRIDGE_RUNTIME_ARN": f"arn:aws:bedrock-agentcore:{REGION}:111122223333:runtime/oratio_voice_fuzz",
        "ORATIO_VOICE_BRIDGE_QUALIFIER": "live",
        "ORATIO_CONNECT_PHONE_NUMBER": "+15550001111",
        "ORATIO_TWILIO_AUTH_TOKEN_SECRET": secrets.create_secret(Name="fuzz/twilio", SecretString=TWILIO_TOKEN)["ARN"],
        "ORATIO_VONAGE_SIGNATURE_SECRET": secrets.create_secret(Name="fuzz/vonage", SecretString=VONAGE_SECRET)["ARN"],
        "ORATIO_SAY_VOICE": "Polly.Joanna-Neural",
        "ORATIO_VOICE_LANGUAGE": "en-US",
    }
    for name, value in values.items():
        env.setenv(name, value)


def _job(agent_input: UserMessage | ToolRequest) -> dict[str, Any]:
    job = TurnJob(
        turn_id="e" * 32,
        contact_id="5fb2c1a4-7d0e-4e1b-9a43-0123456789ab",
        request=InvocationRequest(
            tenant_id=TENANT,
            agent_id="front-desk",
            channel=Channel.VOICE,
            customer=CustomerIdentity(kind="phone", value="+15551234567"),
            session_id="5fb2c1a4-7d0e-4e1b-9a43-0123456789ab",
            input=agent_input,
        ),
        submitted_at=NOW,
    )
    return job.model_dump(mode="json")


FUZZ_AGENT = "agt_fuzz_0001"  # the agent `_prepare_vendor_api` creates, with two definition versions
FUZZ_AGENT_PATH = f"/api/v1/agents/{FUZZ_AGENT}"
FUZZ_DEFINITION = {
    "facts": {"returns": "30 days"},
    "tools": {
        "business_tools": [
            {
                "name": "order_status",
                "description": "Look up an order",
                "url": "https://api.cozycomfort.com/v1/orders/status",
                "input_schema": {"type": "object", "properties": {"order_number": {"type": "string"}}},
            }
        ]
    },
}


class _ChatStarter:
    """Stands in for Amazon Connect's StartChatContact (moto lacks it): a participant token for every chat."""

    def start(self, *, instance_arn: str, flow_arn: str, attributes: dict[str, str], **_: Any) -> Any:
        from oratio.channels.web_chat import WebChatSession

        contact = uuid.uuid4().hex
        return WebChatSession(
            agent_id=attributes["agent_id"], contact_id=contact, participant_id="p-1", participant_token="t-1"
        )


def _prepare_vendor_api(handler: ModuleType, env: pytest.MonkeyPatch) -> None:
    """An agent of a known id with a second definition version, so the versions routes reach past the lookup; web
    chats start through a stand-in of Connect's StartChatContact."""
    import dataclasses

    from oratio.vendors.api import channel_routes

    channel_routes.build_services.cache_clear()
    services = dataclasses.replace(channel_routes.build_services(), chats=_ChatStarter())
    env.setattr(channel_routes, "services", lambda: services)
    service = handler.build_service()
    with pytest.MonkeyPatch.context() as ids:
        ids.setattr(service, "_new_id", lambda prefix, at: FUZZ_AGENT)
        created = handler.lambda_handler(_vendor_events()["create"], lambda_context("oratio-fuzz-prepare"))
    assert created["statusCode"] == 201, created["body"]
    update = api_gateway_event(
        "PUT", FUZZ_AGENT_PATH, body={"version": 1, "definition": FUZZ_DEFINITION}, vendor_id=TENANT
    )
    updated = handler.lambda_handler(update, lambda_context("oratio-fuzz-prepare"))
    assert updated["statusCode"] == 200, updated["body"]


def _vendor_events() -> dict[str, dict[str, Any]]:
    versions = f"{FUZZ_AGENT_PATH}/versions"
    return {
        "create": api_gateway_event("POST", "/api/v1/agents", body=brief_agent_request(), vendor_id=TENANT),
        "list": api_gateway_event("GET", "/api/v1/agents", query={"limit": "5"}, vendor_id=TENANT),
        "update": api_gateway_event(
            "PUT", FUZZ_AGENT_PATH, body={"version": 2, "definition": FUZZ_DEFINITION}, vendor_id=TENANT
        ),
        "versions": api_gateway_event("GET", versions, vendor_id=TENANT),
        "version": api_gateway_event("GET", f"{versions}/2", vendor_id=TENANT),
        "diff": api_gateway_event("GET", f"{versions}/2/diff", query={"against": "1"}, vendor_id=TENANT),
        "publish": api_gateway_event("POST", f"{versions}/2/publish", vendor_id=TENANT),
        "rollback": api_gateway_event("POST", f"{versions}/1/rollback", vendor_id=TENANT),
        **{name: api_gateway_event(method, path, body=body, vendor_id=TENANT) for name, (method, path, body) in
           CHANNEL_ROUTES.items()},
    }  # fmt: skip


# The vendor API's channel routes, with bodies that reach past validation into the channel services.
CHANNEL_ROUTES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "sms link": ("PUT", f"{FUZZ_AGENT_PATH}/channels/sms", {"phone_number": SMS_NUMBER}),
    "web chat": ("POST", f"{FUZZ_AGENT_PATH}/chat", {"display_name": "Sam", "customer_email": "sam@example.com"}),
    "customer": ("GET", "/api/v1/customers/phone/+15551234567", None),
    "identity link": (
        "POST",
        "/api/v1/customers/phone/+15551234567/identities",
        {"kind": "email", "value": "sam@example.com"},
    ),
    "elizaos secret": ("PUT", "/api/v1/webhooks/elizaos/secret", {"secret": "s" * 40}),
}


def _json_bodies(event: dict[str, Any], body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The event with its JSON body deep, huge, not JSON, not an object, and each field wrong-typed."""
    texts = {
        "deeply nested JSON text": DEEP_BODY_TEXT,
        "deeply nested JSON object text": '{"a":' * 10_000 + "1" + "}" * 10_000,
        "JSON with a huge string": json.dumps({"name": "x" * HUGE_CHARS}),
        "not JSON": "{name: agent",
        "JSON array": "[1, 2, 3]",
        "JSON null": "null",
        "lone surrogate escape": '{"name": "\\ud800"}',
    }
    for kind, text in texts.items():
        yield f"body: {kind}", {**event, "body": text}
    for path in key_paths(body, max_depth=3):
        for kind, value in WRONG_VALUES.items():
            if kind in {"deep object", "deep list"}:
                continue  # as text, covered above; json.dumps of them would itself exhaust the stack
            yield f"body: {label_of(path)} = {kind}", {**event, "body": json.dumps(replaced(body, path, value))}


def _vendor_extra() -> Iterator[tuple[str, Any]]:
    create = api_gateway_event("POST", "/api/v1/agents", body=brief_agent_request(), vendor_id=TENANT)
    yield from _json_bodies(create, brief_agent_request())
    update_body = {"version": 2, "definition": FUZZ_DEFINITION}
    yield from _json_bodies(api_gateway_event("PUT", FUZZ_AGENT_PATH, body=update_body, vendor_id=TENANT), update_body)
    for method, path, body in CHANNEL_ROUTES.values():
        if body is not None:
            yield from _json_bodies(api_gateway_event(method, path, body=body, vendor_id=TENANT), body)
    binary = {**create, "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    yield "body: binary, base64-encoded", binary


def _twilio(params: dict[str, str], *, body: str | None = None) -> dict[str, Any]:
    url = f"https://{HOST}/twilio/voice"
    return function_url_event(
        "POST",
        "/twilio/voice",
        host=HOST,
        body=urlencode(params) if body is None else body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params.items()),
        },
    )


def vonage_token(body: bytes | None = None) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    # A fresh jti each time (the webhook refuses a token it has seen), the payload hashed as Vonage signs it.
    claims: dict[str, Any] = {"iat": int(time.time()), "jti": uuid.uuid4().hex, "api_key": "abc123"}
    if body:
        try:
            payload = from_json(body)
        except ValueError:
            payload = None  # not JSON (too deep): any hash; the body is refused before the token is checked
        signed = vonage_payload_hash(payload) if isinstance(payload, dict) else hashlib.sha256(body).hexdigest()
        claims["payload_hash"] = signed
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    signature = hmac.new(VONAGE_SECRET.encode(), head.encode(), hashlib.sha256).digest()
    return f"Bearer {head}.{b64(signature)}"


TWILIO_CALL = {"CallSid": "CA" + "0" * 32, "To": NUMBER, "From": "+15557654321", "Direction": "inbound"}
VONAGE_CALL = {"to": NUMBER.lstrip("+"), "from": "15557654321", "uuid": "63f61863-4a51-4f6b-86e1", "status": "started"}


def _vonage(path: str, params: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(params)
    return function_url_event(
        "POST",
        path,
        host=HOST,
        body=body,
        headers={"Content-Type": "application/json", "Authorization": vonage_token(body.encode())},
    )


def _webhook_events() -> dict[str, dict[str, Any]]:
    return {"twilio": _twilio(TWILIO_CALL), "vonage answer": _vonage("/vonage/answer", VONAGE_CALL)}


def _webhook_extra() -> Iterator[tuple[str, Any]]:
    """Signed requests whose fields are wrong: they reach past the signature check into the call's parsing."""
    wrong_strings = {
        "empty": "",
        "huge": "9" * HUGE_CHARS,
        "300 characters": "C" * 300,
        "not a number": "anonymous",
        "unicode": "\u260e\ufe0f",
    }
    for name in TWILIO_CALL:
        yield f"twilio signed: {name} missing", _twilio({k: v for k, v in TWILIO_CALL.items() if k != name})
        for kind, value in wrong_strings.items():
            yield f"twilio signed: {name} {kind}", _twilio({**TWILIO_CALL, name: value})
    binary = {**_twilio(TWILIO_CALL), "body": base64.b64encode(b"\xff\xfe\x00binary").decode()}
    yield "twilio: binary body", {**binary, "isBase64Encoded": True}
    yield "twilio: bad base64 body", {**binary, "body": "%%%not base64", "isBase64Encoded": True}
    yield "twilio: too many form fields", _twilio(TWILIO_CALL, body="&".join(f"f{i}=1" for i in range(500)))
    for path in ("/vonage/answer", "/vonage/event"):
        for name in VONAGE_CALL:
            for kind, value in {**WRONG_VALUES, **wrong_strings}.items():
                if kind in {"deep object", "deep list"}:
                    continue  # json.dumps of them would itself exhaust the stack; deep text is below
                yield f"vonage {path} signed: {name} {kind}", _vonage(path, {**VONAGE_CALL, name: value})
        deep = function_url_event("POST", path, host=HOST, body=DEEP_BODY_TEXT)
        deep["headers"]["authorization"] = vonage_token(DEEP_BODY_TEXT.encode())
        yield f"vonage {path} signed: deeply nested JSON body", deep
    deep_claims = base64.urlsafe_b64encode(("[" * 5_000).encode()).decode().rstrip("=")
    token_event = _vonage("/vonage/answer", VONAGE_CALL)
    token_event["headers"]["authorization"] = f"Bearer {deep_claims}.{deep_claims}.sig"
    yield "vonage: token with deeply nested claims", token_event


def _ingestion_events() -> dict[str, dict[str, Any]]:
    notification = s3_object_created_notification(BUCKET, "uploads/agt-1/doc-1/returns.pdf")
    return {"sqs": sqs_event(notification), "schedule": scheduled_event()}


def _ingestion_extra() -> Iterator[tuple[str, Any]]:
    notification = s3_object_created_notification(BUCKET, "uploads/agt-1/doc-1/returns.pdf")
    bodies = {"deep JSON": DEEP_BODY_TEXT, "not JSON": "{", "JSON array": "[]", "huge": "x" * HUGE_CHARS}
    for kind, text in bodies.items():
        yield f"sqs message body: {kind}", sqs_event(text, notification)
    for path in key_paths(notification, max_depth=4):
        for kind, value in WRONG_VALUES.items():
            if kind not in {"deep object", "deep list"}:
                yield f"sqs message body: {label_of(path)} = {kind}", sqs_event(replaced(notification, path, value))


TARGETS: dict[str, FuzzTarget] = {
    "call_router": FuzzTarget(
        "call_router",
        _configure_router,
        lambda: {"contact": connect_contact_flow_event(dialed=NUMBER)},
        router_answer,
    ),
    "voice_turn": FuzzTarget(
        "voice_turn",
        _configure_voice_turn,
        lambda: {
            "lex": lex_code_hook_event(),
            "prepare": connect_voice_action_event("prepare", attributes={"agent_id": "front-desk"}),
        },
        voice_answer,
        prepare=_prepare_voice_turn,
    ),
    "voice_agent_turn": FuzzTarget(
        "voice_agent_turn",
        _configure_worker,
        lambda: {
            "message job": _job(UserMessage(text="Do you have queen duvets?")),
            "tool job": _job(ToolRequest(tool_use_id="t1", name="order_status", arguments={"order": {"n": "1"}})),
        },
        turn_answered,
        designed_errors=frozenset({"InvalidTurnJobError"}),
        prepare=_prepare_worker,
    ),
    "knowledge_ingestion": FuzzTarget(
        "knowledge_ingestion",
        _configure_ingestion,
        _ingestion_events,
        any_dict,
        # an event that is no SQS batch (no message ids to report back), and Powertools' "every message failed"
        designed_errors=frozenset({"InvalidIngestionEventError", "BatchProcessingError"}),
        extra_events=_ingestion_extra,
    ),
    "call_events": FuzzTarget(
        "call_events",
        _configure_call_events,
        lambda: {"disconnected": connect_contact_event(disconnected_at=NOW + timedelta(minutes=3))},
        any_dict,
        designed_errors=frozenset({"InvalidContactEventError"}),
    ),
    "vendor_api": FuzzTarget(
        "vendor_api",
        _configure_vendor_api,
        _vendor_events,
        json_http_answer,
        extra_events=_vendor_extra,
        prepare=_prepare_vendor_api,
    ),
    "voice_webhook": FuzzTarget(
        "voice_webhook",
        _configure_webhook,
        _webhook_events,
        http_answer,
        extra_events=_webhook_extra,
    ),
}


# ------------------------------------------------------------------------------------------- runner
@dataclass
class FuzzReport:
    handler: str
    inputs: int = 0
    designed_errors: int = 0
    undesigned: list[tuple[str, str]] = field(default_factory=list)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Thousands of rejected events would log and print metrics thousands of times: keep them out of the way."""
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def deployed(target: FuzzTarget) -> Iterator[ModuleType]:
    """The handler loaded as in a fresh container, its environment set and its tables created, all on moto."""
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "OratioFuzz",
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        tables = create_tables(boto3.client("dynamodb", region_name=REGION), prefix=PREFIX)
        target.configure(env, tables)
        handler = load_handler(target.folder)
        target.prepare(handler, env)
        yield handler


def fuzz(target: FuzzTarget) -> FuzzReport:
    """Send every malformed event to the handler and sort each outcome."""
    report = FuzzReport(target.folder)
    context = lambda_context(f"oratio-fuzz-{target.folder}")
    events = [*malformed_events(target.valid_events()), *target.extra_events()]
    with deployed(target) as handler, _quiet():
        for label, event in events:
            report.inputs += 1
            try:
                answer = handler.lambda_handler(event, context)
            except Exception as e:
                if type(e).__name__ in target.designed_errors:
                    report.designed_errors += 1
                else:
                    report.undesigned.append((label, f"{type(e).__name__}: {str(e)[:120]}"))
                continue
            problem = _json_serialisable(answer) or target.check_answer(answer)
            if problem is not None:
                report.undesigned.append((label, problem))
    return report


# The messaging-channel and operations handlers' targets live beside this module (it would pass 600 lines); they
# use its mutations and checks, so they join TARGETS once those are defined.
from tests.fuzz_channels import CHANNEL_TARGETS  # noqa: E402

TARGETS.update(CHANNEL_TARGETS)
