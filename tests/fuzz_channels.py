"""Fuzz targets of the messaging-channel and operations handlers: the social channel webhook and worker, the ElizaOS
webhook, the post-call analysis and the call slot reconciler (the runner and the mutations are tests/handler_fuzz.py's).

Valid events are what each AWS service delivers as its CDK construct wires it: function URL requests signed as Meta
(`X-Hub-Signature-256`: hex HMAC-SHA256 of the raw body with the app secret) and X (`x-twitter-webhooks-signature`:
base64 HMAC-SHA256 with the consumer secret) sign them; an SQS FIFO batch of what the webhook queues; an API Gateway
REST proxy request signed with the vendor's ElizaOS secret; EventBridge's Connect contact event, the channels' idle
conversation event and the schedule's event. The platforms' send APIs are the local stand-ins (`FakePlatforms`) and
the agent runtime a stand-in of InvokeAgentRuntime, so nothing reaches the network.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.models import EventKind, InboundEvent, QueuedEvent
from oratio.channels.settings import PROFILE_ENV_VAR, QUEUE_URL_ENV_VAR, TENANT_ID_ENV_VAR
from oratio.channels.turns import ChannelProfile
from oratio.config.tenant import Channel
from oratio.domain.agents import Agent, AgentStatus
from oratio.tables import AGENTS, TENANT_STATE
from oratio_local.channel_events import (
    INSTAGRAM_ACCOUNT_ID,
    PAGE_ID,
    WHATSAPP_PHONE_NUMBER_ID,
    X_ACCOUNT_ID,
    body_of,
    messaging_delivery,
    messaging_message,
    meta_signed_headers,
    whatsapp_message,
    x_dm_delivery,
    x_signed_headers,
)
from oratio_local.events import (
    CONNECT_INSTANCE_ARN,
    api_gateway_event,
    connect_contact_event,
    function_url_event,
    scheduled_event,
    sqs_event,
)
from oratio_local.platforms import FakePlatforms, MetaAccount, XAccount
from tests.handler_fuzz import (
    DEEP_BODY_TEXT,
    HUGE_CHARS,
    NOW,
    REGION,
    TENANT,
    TENANT_FILE,
    WRONG_VALUES,
    FuzzTarget,
    _AgentRuntime,
    _tables_env,
    any_dict,
    http_answer,
    json_http_answer,
    key_paths,
    label_of,
    replaced,
)

HOST = "qrstuvwxyzabcdef.lambda-url.us-east-1.on.aws"
APP_SECRET = "fuzz-meta-app-secret-0123456789"
VERIFY_TOKEN = "fuzz-verify-token-42"
CONSUMER_SECRET = "fuzz-x-consumer-secret-0123456789"
META_TOKEN = "EAAJB-fuzz-page-token"
X_TOKEN = "3001969357-fuzz-access-token"
CUSTOMER = "16505551234"
AGENT_ID = "agt-fuzz-front-desk"
RUNTIME_ARN = f"arn:aws:bedrock-agentcore:{REGION}:111122223333:runtime/oratio_fuzz"
META_ACCOUNTS = {
    Channel.WHATSAPP: WHATSAPP_PHONE_NUMBER_ID,
    Channel.FACEBOOK: PAGE_ID,
    Channel.INSTAGRAM: INSTAGRAM_ACCOUNT_ID,
}
WRONG_STRINGS = {"empty": "", "huge": "9" * HUGE_CHARS, "unicode": "\u260e\ufe0f", "lone surrogate": "\ud800"}


def _flat_wrong_values() -> dict[str, Any]:
    # Deep values cannot pass json.dumps (it recurses); deeply nested text is sent on its own.
    return {k: v for k, v in WRONG_VALUES.items() if k not in {"deep object", "deep list"}}


def _body_mutants(payload: dict[str, Any], max_depth: int = 6) -> Iterator[tuple[str, dict[str, Any]]]:
    """The payload with each key path holding each wrong JSON value (deep values left out: see above)."""
    for path in key_paths(payload, max_depth=max_depth):
        for kind, value in _flat_wrong_values().items():
            yield f"{label_of(path)} = {kind}", replaced(payload, path, value)


def _link_channels(tables: dict[str, str]) -> None:
    """What `PUT /api/v1/agents/{id}/channels/{channel}` leaves behind for each social channel: the secret (app
    secret, verify token, consumer secret, the account's token) and the binding of the account to the agent."""
    from oratio.channels.adapters.aws import DynamoDBChannelBindings, SecretsManagerChannelSecrets

    secrets = SecretsManagerChannelSecrets(max_age_seconds=0)
    bindings = DynamoDBChannelBindings(tables[TENANT_STATE.key], client=boto3.client("dynamodb", region_name=REGION))
    for channel, account in (*META_ACCOUNTS.items(), (Channel.X, X_ACCOUNT_ID)):
        is_x = channel is Channel.X
        secret = ChannelSecret(
            channel=channel,
            app_secret=None if is_x else SecretStr(APP_SECRET),
            verify_token=None if is_x else SecretStr(VERIFY_TOKEN),
            consumer_key="fuzz-x-consumer-key" if is_x else None,
            consumer_secret=SecretStr(CONSUMER_SECRET) if is_x else None,
            accounts={
                account: AccountCredentials(
                    agent_id=AGENT_ID,
                    access_token=SecretStr(X_TOKEN if is_x else META_TOKEN),
                    access_token_secret=SecretStr(f"{X_TOKEN}-secret") if is_x else None,
                )
            },
        )
        asyncio.run(secrets.put(TENANT, secret))
        asyncio.run(bindings.bind(TENANT, channel, account, AGENT_ID))


def _put_agent(tables: dict[str, str]) -> None:
    from oratio.adapters.dynamodb import DynamoDBAgentDirectory

    directory = DynamoDBAgentDirectory(tables[AGENTS.key], client=boto3.client("dynamodb", region_name=REGION))
    directory.put_agent(
        Agent(
            vendor_id=TENANT,
            agent_id=AGENT_ID,
            name="Front desk",
            status=AgentStatus.ACTIVE,
            created_at=NOW,
            updated_at=NOW,
        )
    )


def _inbound_queue(env: pytest.MonkeyPatch) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    url: str = sqs.create_queue(
        QueueName=f"{TENANT}-inbound.fifo",
        Attributes={
            "FifoQueue": "true",
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
        },
    )["QueueUrl"]
    env.setenv(TENANT_ID_ENV_VAR, TENANT)
    env.setenv(QUEUE_URL_ENV_VAR, url)
    return url


# ------------------------------------------------------------------------------------- channel webhook
def _configure_channel_webhook(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _tables_env(env, tables)
    _inbound_queue(env)
    _link_channels(tables)


META_PATHS = {Channel.WHATSAPP: "/whatsapp", Channel.FACEBOOK: "/facebook", Channel.INSTAGRAM: "/instagram"}


def _delivery(channel: Channel, payload: Any) -> dict[str, Any]:
    """A POST as the platform sends it: the raw body signed with the platform's scheme (a body that is not UTF-8
    text reaches the function base64-encoded, as function URLs pass binary bodies)."""
    body = payload if isinstance(payload, bytes) else body_of(payload)
    if channel is Channel.X:
        headers, path = x_signed_headers(body, CONSUMER_SECRET), "/x"
    else:
        headers, path = meta_signed_headers(body, APP_SECRET), META_PATHS[channel]
    try:
        return function_url_event("POST", path, host=HOST, body=body.decode(), headers=headers)
    except UnicodeDecodeError:
        event = function_url_event("POST", path, host=HOST, body=base64.b64encode(body).decode(), headers=headers)
        return {**event, "isBase64Encoded": True}


def _social_payloads() -> dict[Channel, dict[str, Any]]:
    return {
        Channel.WHATSAPP: whatsapp_message(CUSTOMER, text="Do you have queen duvets?"),
        Channel.FACEBOOK: messaging_delivery(messaging_message("24680135792468013")),
        Channel.INSTAGRAM: messaging_delivery(
            messaging_message("17841400000000001", account_id=INSTAGRAM_ACCOUNT_ID),
            object_="instagram",
            account_id=INSTAGRAM_ACCOUNT_ID,
        ),
        Channel.X: x_dm_delivery("4337869213"),
    }


def _channel_webhook_events() -> dict[str, dict[str, Any]]:
    events = {f"{channel.value} delivery": _delivery(channel, p) for channel, p in _social_payloads().items()}
    challenge = f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    events["meta subscription"] = function_url_event("GET", "/whatsapp", host=HOST, query=challenge)
    events["x crc"] = function_url_event("GET", "/x", host=HOST, query="crc_token=9b4507b3-9040-4669-9ca3")
    return events


def _channel_webhook_extra() -> Iterator[tuple[str, Any]]:
    """Signed deliveries whose fields are wrong: they reach past the signature check into the platform parsers."""
    for channel, payload in _social_payloads().items():
        for label, mutant in _body_mutants(payload):
            yield f"{channel.value} signed: {label}", _delivery(channel, mutant)
        for kind, text in {
            "deeply nested JSON": DEEP_BODY_TEXT.encode(),
            "not JSON": b"{object: page",
            "JSON array": b"[]",
            "not UTF-8": b"\xff\xfe\x00{}",
            "lone surrogate escape": b'{"object": "\\ud800"}',
        }.items():
            yield f"{channel.value} signed: {kind}", _delivery(channel, text)
    binary = _delivery(Channel.WHATSAPP, body_of(whatsapp_message(CUSTOMER)))
    yield "whatsapp: bad base64 body", {**binary, "body": "%%%not base64", "isBase64Encoded": True}
    for kind, query in {
        "no challenge": f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}",
        "wrong verify token": "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1",
        "huge challenge": f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge={'9' * HUGE_CHARS}",
    }.items():
        yield f"meta subscription: {kind}", function_url_event("GET", "/instagram", host=HOST, query=query)
    for kind, query in {
        "no token": "",
        "empty token": "crc_token=",
        "huge token": "crc_token=" + "x" * HUGE_CHARS,
    }.items():
        yield f"x crc: {kind}", function_url_event("GET", "/x", host=HOST, query=query)
    yield "unknown path", function_url_event("POST", "/telegram", host=HOST, body="{}")


# -------------------------------------------------------------------------------------- channel worker
def _configure_channel_worker(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _tables_env(env, tables)
    _inbound_queue(env)
    env.setenv(PROFILE_ENV_VAR, ChannelProfile.from_tenant(TENANT_FILE).model_dump_json())
    env.setenv("ORATIO_AGENT_RUNTIME_ARN", RUNTIME_ARN)
    env.setenv("ORATIO_AGENT_QUALIFIER", "live")
    _link_channels(tables)
    _put_agent(tables)


def _prepare_channel_worker(handler: ModuleType, env: pytest.MonkeyPatch) -> None:
    """The agent runtime and the platforms' send APIs as stand-ins (the typed agent client and the platform clients
    around them are the real ones)."""
    import httpx

    real_client, real_http = handler.AgentCoreAgentClient, httpx.AsyncClient
    platforms = FakePlatforms()
    for channel, account in META_ACCOUNTS.items():
        platforms.meta[account] = MetaAccount(META_TOKEN, APP_SECRET, {"id": account, "channel": channel.value})
    platforms.x[X_TOKEN] = XAccount(
        X_ACCOUNT_ID, "cozycomfort", "fuzz-x-consumer-key", CONSUMER_SECRET, X_TOKEN, f"{X_TOKEN}-secret"
    )
    env.setattr(handler, "AgentCoreAgentClient", lambda arn, qualifier: real_client(arn, qualifier, _AgentRuntime()))
    env.setattr(httpx, "AsyncClient", lambda **kw: real_http(transport=platforms.transport(), **kw))


def _queued(channel: Channel, account: str, kind: EventKind = EventKind.TEXT, **fields: Any) -> QueuedEvent:
    event = InboundEvent(
        channel=channel,
        account_id=account,
        sender_id=CUSTOMER,
        message_id=f"m_{uuid.uuid4().hex}",
        kind=kind,
        sent_at=NOW,
        text="Do you have queen duvets?" if kind is EventKind.TEXT else None,
        **fields,
    )
    return QueuedEvent(tenant_id=TENANT, event=event, received_at=NOW)


def _fifo_batch(*queued: QueuedEvent | str) -> dict[str, Any]:
    """An SQS FIFO event source mapping's batch: each record carries its message group (the conversation)."""
    batch = sqs_event(
        *(q if isinstance(q, str) else q.model_dump_json() for q in queued),
        queue_arn=f"arn:aws:sqs:{REGION}:111122223333:{TENANT}-inbound.fifo",
    )
    for record, item in zip(batch["Records"], queued, strict=True):
        group = item.event.order_key if isinstance(item, QueuedEvent) else hashlib.sha256(item.encode()).hexdigest()
        record["attributes"].update(
            {"MessageGroupId": group, "MessageDeduplicationId": record["messageId"], "SequenceNumber": "1" * 20}
        )
    return batch


def _channel_worker_events() -> dict[str, dict[str, Any]]:
    return {
        "whatsapp text": _fifo_batch(_queued(Channel.WHATSAPP, WHATSAPP_PHONE_NUMBER_ID)),
        "x text": _fifo_batch(_queued(Channel.X, X_ACCOUNT_ID)),
        "instagram reaction": _fifo_batch(
            _queued(Channel.INSTAGRAM, INSTAGRAM_ACCOUNT_ID, EventKind.REACTION, reaction="\u2764", reacted_to="m_1")
        ),
        "messenger text, two conversations": _fifo_batch(
            _queued(Channel.FACEBOOK, PAGE_ID), _queued(Channel.FACEBOOK, "1067280970047461")
        ),
    }


def _channel_worker_extra() -> Iterator[tuple[str, Any]]:
    """Well-formed records whose bodies are not what the webhook queues, and batches mixing good and bad records."""
    queued = json.loads(_queued(Channel.WHATSAPP, WHATSAPP_PHONE_NUMBER_ID).model_dump_json())
    for label, mutant in _body_mutants(queued):
        yield f"record body: {label}", _fifo_batch(json.dumps(mutant))
    for kind, text in {
        "deep JSON": DEEP_BODY_TEXT,
        "not JSON": "{",
        "JSON array": "[]",
        "huge": "x" * HUGE_CHARS,
    }.items():
        yield f"record body: {kind}", _fifo_batch(text)
    other_tenant = {**queued, "tenant_id": "bright-smile-dental"}
    yield "record body: another tenant's event", _fifo_batch(json.dumps(other_tenant))
    good = _fifo_batch(_queued(Channel.WHATSAPP, WHATSAPP_PHONE_NUMBER_ID), _queued(Channel.X, X_ACCOUNT_ID))
    for kind, record in {
        "no receipt handle": {k: v for k, v in good["Records"][0].items() if k != "receiptHandle"},
        "attributes a list": {**good["Records"][0], "attributes": ["MessageGroupId"]},
        "no message group": {**good["Records"][0], "attributes": {}},
        "body an object": {**good["Records"][0], "body": {"tenant_id": TENANT}},
        "not an object": "record",
        "no message id": {k: v for k, v in good["Records"][0].items() if k != "messageId"},
    }.items():
        yield f"batch: first record {kind}", {"Records": [record, good["Records"][1]]}


def batch_answer(answer: Any) -> str | None:
    """A partial batch response SQS can act on: failures named by non-empty message ids, nothing else."""
    if not isinstance(answer, dict) or set(answer) != {"batchItemFailures"}:
        return "not a partial batch response"
    failures = answer["batchItemFailures"]
    if not isinstance(failures, list) or not all(
        isinstance(f, dict) and isinstance(f.get("itemIdentifier"), str) and f["itemIdentifier"] for f in failures
    ):
        return "a failure without a message id (SQS would retry the whole batch)"
    return None


# ------------------------------------------------------------------------------------- ElizaOS webhook
ELIZA_SECRET = "fuzz-eliza-webhook-secret-" + "x" * 24
ELIZA_MESSAGE = {
    "platform": "instagram",
    "agent_id": AGENT_ID,
    "message": "Hi! I'm looking for a new comforter set for my queen bed",
    "user_id": "customer_123",
    "timestamp": "2026-11-25T15:00:00Z",
}


def _configure_elizaos(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _tables_env(env, tables)
    _put_agent(tables)
    ssm = boto3.client("ssm", region_name=REGION)
    for name, value in {
        "channels/profile": ChannelProfile.from_tenant(TENANT_FILE).model_dump_json(),
        "agent/runtime-arn": RUNTIME_ARN,
        "agent/endpoint-arn": f"{RUNTIME_ARN}/runtime-endpoint/live",
    }.items():
        ssm.put_parameter(Name=f"/oratio/tenants/{TENANT}/{name}", Value=value, Type="String")
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=f"oratio/{TENANT}/elizaos/webhook", SecretString=ELIZA_SECRET
    )


def _prepare_elizaos(handler: ModuleType, env: pytest.MonkeyPatch) -> None:
    real = handler.AgentCoreAgentClient
    env.setattr(handler, "AgentCoreAgentClient", lambda arn, qualifier: real(arn, qualifier, _AgentRuntime()))


def _eliza(raw: str | bytes, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A POST as a vendor's ElizaOS plugin sends it: `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` keyed
    with the vendor's webhook secret, the vendor and the timestamp in their own headers."""
    body = raw if isinstance(raw, bytes) else raw.encode("utf-8", errors="surrogatepass")
    stamp = str(int(time.time()))
    digest = hmac.new(ELIZA_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    signed = {
        "Content-Type": "application/json",
        "X-Oratio-Vendor": TENANT,
        "X-Oratio-Timestamp": stamp,
        "X-Oratio-Signature": f"sha256={digest}",
    }
    return api_gateway_event(
        "POST",
        "/api/v1/webhooks/elizaos",
        raw_body=body.decode("utf-8", errors="surrogatepass"),
        vendor_id=None,
        headers={**signed, **(headers or {})},
    )


def _elizaos_events() -> dict[str, dict[str, Any]]:
    return {"message": _eliza(json.dumps(ELIZA_MESSAGE))}


def _elizaos_extra() -> Iterator[tuple[str, Any]]:
    for label, mutant in _body_mutants(ELIZA_MESSAGE):
        yield f"signed: {label}", _eliza(json.dumps(mutant))
    for kind, text in {
        "deeply nested JSON": DEEP_BODY_TEXT,
        "not JSON": "{platform: x",
        "JSON array": "[]",
        "lone surrogate escape": '{"message": "\\ud800"}',
    }.items():
        yield f"signed: {kind}", _eliza(text)
    for kind, value in WRONG_STRINGS.items():
        yield f"vendor header {kind}", _eliza(json.dumps(ELIZA_MESSAGE), headers={"X-Oratio-Vendor": value})
        yield f"timestamp header {kind}", _eliza(json.dumps(ELIZA_MESSAGE), headers={"X-Oratio-Timestamp": value})
    for kind, stamp in {"not finite": "inf", "not a number": "nan", "huge": "1e400", "negative": "-1"}.items():
        yield f"timestamp header {kind}", _eliza(json.dumps(ELIZA_MESSAGE), headers={"X-Oratio-Timestamp": stamp})
    event = _eliza(json.dumps(ELIZA_MESSAGE))
    yield "bad base64 body", {**event, "body": "%%%", "isBase64Encoded": True}
    yield "another route", {**event, "path": "/api/v1/agents"}


# ----------------------------------------------------------------------------------- post-call analysis
def _configure_analysis(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    from oratio.analysis import ANALYSIS_PROFILE_ENV_VAR, AnalysisProfile

    _tables_env(env, tables)
    env.setenv("ORATIO_CONNECT_INSTANCE_ARN", CONNECT_INSTANCE_ARN)
    env.setenv(
        ANALYSIS_PROFILE_ENV_VAR, AnalysisProfile.from_tenant(TENANT_FILE).model_dump_json(exclude_defaults=True)
    )


def _idle_event() -> dict[str, Any]:
    """What the messaging channels publish when a conversation went idle (source oratio.messaging)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Conversation Idle",
        "source": "oratio.messaging",
        "account": "111122223333",
        "time": "2026-11-25T15:30:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"tenantId": TENANT, "sessionId": "whatsapp-1a2b3c", "agentId": AGENT_ID, "idleAt": 1796052600},
    }


def _analysis_events() -> dict[str, dict[str, Any]]:
    return {
        "disconnected": connect_contact_event(disconnected_at=NOW + timedelta(minutes=3)),
        "conversation idle": _idle_event(),
    }


# -------------------------------------------------------------------------------------- call reconciler
def _configure_reconciler(env: pytest.MonkeyPatch, tables: dict[str, str]) -> None:
    _tables_env(env, tables)
    env.setenv("ORATIO_TENANT_ID", TENANT)


CHANNEL_TARGETS: dict[str, FuzzTarget] = {
    "channel_webhook": FuzzTarget(
        "channel_webhook",
        _configure_channel_webhook,
        _channel_webhook_events,
        http_answer,
        extra_events=_channel_webhook_extra,
    ),
    "channel_worker": FuzzTarget(
        "channel_worker",
        _configure_channel_worker,
        _channel_worker_events,
        batch_answer,
        # an event that is no SQS batch, or a record with no message id to report it by
        designed_errors=frozenset({"InvalidChannelBatchError"}),
        prepare=_prepare_channel_worker,
        extra_events=_channel_worker_extra,
    ),
    "elizaos_webhook": FuzzTarget(
        "elizaos_webhook",
        _configure_elizaos,
        _elizaos_events,
        json_http_answer,
        prepare=_prepare_elizaos,
        extra_events=_elizaos_extra,
    ),
    "post_call_analysis": FuzzTarget("post_call_analysis", _configure_analysis, _analysis_events, any_dict),
    "call_reconciler": FuzzTarget(
        "call_reconciler",
        _configure_reconciler,
        lambda: {"schedule": scheduled_event(at=NOW)},
        any_dict,
        designed_errors=frozenset({"InvalidScheduleEventError"}),
    ),
    "conversation_idle": FuzzTarget(
        "conversation_idle",
        _configure_reconciler,  # the same environment: the tenant and its tables
        lambda: {"schedule": scheduled_event(at=NOW)},
        any_dict,
        designed_errors=frozenset({"InvalidScheduleEventError"}),
    ),
}
