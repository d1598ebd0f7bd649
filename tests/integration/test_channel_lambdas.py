"""The channel webhook and worker Lambda handlers end to end over moto (Secrets Manager, SQS FIFO, DynamoDB): signed
deliveries shaped as the platforms document them are acknowledged and queued in order per conversation, answered by
the tenant agent (in process, stores on DynamoDB) and replied to through the platforms' send APIs (the local
stand-ins, which check tokens and appsecret_proof as Meta does and OAuth 1.0a as X does)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oratio.adapters.dynamodb import DynamoDBAgentDirectory
from oratio.config import load_tenant_file
from oratio.config.tenant import Channel
from oratio.domain.agents import Agent, AgentStatus
from oratio.tables import AGENTS, CONVERSATIONS, CUSTOMER_CONTEXT
from oratio_local.channel_events import (
    INSTAGRAM_ACCOUNT_ID,
    PAGE_ID,
    WHATSAPP_PHONE_NUMBER_ID,
    X_ACCOUNT_ID,
    messaging_delivery,
    messaging_message,
    whatsapp_message,
    whatsapp_status,
    x_crc_expected,
    x_dm_delivery,
)
from oratio_local.channels import APP_SECRET, CONSUMER_SECRET, VERIFY_TOKEN, LocalChannels, local_engine
from oratio_local.dynamodb import create_tables
from oratio_local.events import function_url_event, lambda_context
from oratio_local.platforms import MetaAccount, XAccount
from tests.integration.conftest import REGION

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
AGENT_ID = "agt-front-desk"
WA_TOKEN = "EAAJB-local-whatsapp-token"
CUSTOMER = "16505551234"
NOW = datetime(2026, 11, 30, 15, tzinfo=UTC)


@pytest.fixture
def local(aws_env: None) -> Iterator[tuple[LocalChannels, Any, dict[str, str]]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        tables = create_tables(dynamodb, prefix="oratio-test-")
        DynamoDBAgentDirectory(tables[AGENTS.key], client=dynamodb).put_agent(
            Agent(
                vendor_id=TENANT.tenant_id,
                agent_id=AGENT_ID,
                name="Front desk",
                status=AgentStatus.ACTIVE,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        engine, _ = local_engine(TENANT, REPO / "tenants", dynamodb, tables)
        channels = LocalChannels(TENANT, dynamodb, tables, engine, clock=lambda: datetime.now(UTC))
        channels.platforms.meta[WHATSAPP_PHONE_NUMBER_ID] = MetaAccount(
            WA_TOKEN, APP_SECRET, {"display_phone_number": "1555"}
        )
        channels.link(Channel.WHATSAPP, WHATSAPP_PHONE_NUMBER_ID, AGENT_ID, WA_TOKEN)
        yield channels, dynamodb, tables


def _items(dynamodb: Any, table: str, pk_prefix: str) -> list[dict[str, Any]]:
    return [i for i in dynamodb.scan(TableName=table)["Items"] if i["pk"]["S"].startswith(pk_prefix)]


# ------------------------------------------------------------------------------------------- webhook
def test_meta_subscription_check_echoes_the_challenge_for_the_verify_token_we_were_given(local: Any) -> None:
    channels, _, _ = local
    ok = channels.get(Channel.WHATSAPP, f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444")
    assert (ok["statusCode"], ok["body"]) == (200, "1158201444")
    refused = channels.get(Channel.WHATSAPP, "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1")
    assert refused["statusCode"] == 403


def test_x_crc_is_answered_with_the_consumer_secret(local: Any) -> None:
    channels, _, _ = local
    channels.link(Channel.X, X_ACCOUNT_ID, AGENT_ID, "x-access-token")
    answer = channels.get(Channel.X, "crc_token=9b4507b3-9040-4669-9ca3-6b94edb50553")
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "response_token": x_crc_expected(CONSUMER_SECRET, "9b4507b3-9040-4669-9ca3-6b94edb50553")
    }


def test_a_signed_delivery_is_acknowledged_and_queued_once_even_when_replayed(local: Any) -> None:
    channels, _, _ = local
    payload = whatsapp_message(CUSTOMER, text="Do you have queen duvets?", message_id="wamid.replayed")
    answers = [channels.deliver(Channel.WHATSAPP, payload) for _ in range(3)]
    assert [a["statusCode"] for a in answers] == [200, 200, 200]
    assert channels.queued() == 1


def test_unsigned_and_wrongly_signed_deliveries_are_refused_nothing_queued_and_counted(local: Any) -> None:
    channels, _, _ = local
    payload = whatsapp_message(CUSTOMER)
    assert channels.deliver(Channel.WHATSAPP, payload, sign=False)["statusCode"] == 401
    assert channels.deliver(Channel.WHATSAPP, payload, secret="someone-elses-app-secret")["statusCode"] == 403
    assert channels.queued() == 0
    body = json.dumps(payload)
    event = function_url_event("POST", "/whatsapp", body=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
    out = io.StringIO()
    with redirect_stdout(out):
        channels.webhook.lambda_handler(event, lambda_context("channel_webhook"))
    metrics = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    rejected = [m for m in metrics if "ChannelWebhookRejected" in m]
    assert [(m["ChannelWebhookRejected"], m["path"]) for m in rejected] == [([1.0], "/whatsapp")]


def test_a_signed_body_that_is_not_json_is_400(local: Any) -> None:
    channels, _, _ = local
    from oratio_local.channel_events import meta_signed_headers

    event = function_url_event(
        "POST", "/whatsapp", body="not json", headers=meta_signed_headers(b"not json", APP_SECRET)
    )
    with redirect_stdout(io.StringIO()):
        assert channels.webhook.lambda_handler(event, lambda_context("channel_webhook"))["statusCode"] == 400


# -------------------------------------------------------------------------------------------- worker
def test_a_whatsapp_message_is_answered_through_the_whatsapp_send_api_and_recorded(local: Any) -> None:
    channels, dynamodb, tables = local
    channels.deliver(Channel.WHATSAPP, whatsapp_message(CUSTOMER, text="What is your return policy?"))
    drained = channels.drain()
    assert (drained.processed, drained.failed) == (1, 0)
    (sent,) = channels.platforms.sent
    assert sent.path == f"/v21.0/{WHATSAPP_PHONE_NUMBER_ID}/messages"
    assert (sent.body["messaging_product"], sent.body["to"], sent.body["type"]) == ("whatsapp", CUSTOMER, "text")
    assert "30-day returns" in sent.body["text"]["body"]
    sessions = [i for i in _items(dynamodb, tables[CONVERSATIONS.key], TENANT.tenant_id) if i["sk"]["S"] == "SESSION"]
    assert [(s["channel"]["S"], s["agent_id"]["S"], s["caller_number"]["S"]) for s in sessions] == [
        ("whatsapp", AGENT_ID, "+16505551234")
    ]
    profiles = _items(dynamodb, tables[CUSTOMER_CONTEXT.key], f"{TENANT.tenant_id}#phone:+16505551234")
    assert profiles, "the WhatsApp customer is known by their number"


def test_a_redelivered_record_is_not_answered_twice(local: Any) -> None:
    channels, _, _ = local
    channels.deliver(Channel.WHATSAPP, whatsapp_message(CUSTOMER, message_id="wamid.once"))
    channels.drain()
    # Meta delivers it again after SQS's five-minute deduplication window: the worker's ledger still knows it.
    record = channels._sqs.send_message(
        QueueUrl=channels.queue_url,
        MessageBody=json.dumps(
            {
                "tenant_id": TENANT.tenant_id,
                "received_at": NOW.isoformat(),
                "event": _event_of(whatsapp_message(CUSTOMER, message_id="wamid.once")),
            }
        ),
        MessageGroupId="g",
        MessageDeduplicationId="later",
    )
    assert record["MessageId"]
    channels.drain()
    assert len(channels.platforms.sent) == 1


def _event_of(payload: dict[str, Any]) -> dict[str, Any]:
    from oratio.channels.meta import parse_meta

    return parse_meta(Channel.WHATSAPP, payload).events[0].model_dump(mode="json")


def test_a_429_with_a_long_wait_returns_the_record_to_the_queue_and_records_the_deferral(local: Any) -> None:
    channels, dynamodb, tables = local
    channels.platforms.fail_next(429, {"Retry-After": "900"}, {"error": {"message": "Rate limit hit", "code": 130429}})
    channels.deliver(Channel.WHATSAPP, whatsapp_message(CUSTOMER))
    drained = channels.drain()
    assert drained.failed == 1
    events = [
        i for i in _items(dynamodb, tables[CONVERSATIONS.key], TENANT.tenant_id) if i["sk"]["S"].startswith("EVENT#")
    ]
    assert [e["kind"]["S"] for e in events] == ["delivery"] or "delivery" in [e["kind"]["S"] for e in events]


def test_messages_of_a_conversation_are_answered_in_order(local: Any) -> None:
    channels, _, _ = local
    for n in range(3):
        channels.deliver(Channel.WHATSAPP, whatsapp_message(CUSTOMER, text=f"question {n}: do you ship to Canada?"))
    channels.drain()
    assert len(channels.platforms.sent) == 3


def test_echoes_and_statuses_produce_no_reply(local: Any) -> None:
    channels, _, _ = local
    channels.platforms.meta[PAGE_ID] = MetaAccount("EAAJB-page", APP_SECRET, {"name": "Cozy"})
    channels.link(Channel.FACEBOOK, PAGE_ID, AGENT_ID, "EAAJB-page")
    channels.deliver(Channel.FACEBOOK, messaging_delivery(messaging_message("24488", is_echo=True)))
    channels.deliver(Channel.WHATSAPP, whatsapp_status(CUSTOMER, "read"))
    channels.drain()
    assert channels.platforms.sent == []


def test_instagram_replies_go_out_as_the_linked_page_and_x_replies_as_dms(local: Any) -> None:
    channels, _, _ = local
    channels.platforms.meta[PAGE_ID] = MetaAccount("EAAJB-page", APP_SECRET, {"name": "Cozy"})
    channels.link(Channel.INSTAGRAM, INSTAGRAM_ACCOUNT_ID, AGENT_ID, "EAAJB-page", page_id=PAGE_ID)
    channels.platforms.x["x-token"] = XAccount(
        X_ACCOUNT_ID, "cozy", "local-x-consumer-key", CONSUMER_SECRET, "x-token", "x-token-secret"
    )
    channels.link(Channel.X, X_ACCOUNT_ID, AGENT_ID, "x-token")
    item = messaging_message("17841400000000009", account_id=INSTAGRAM_ACCOUNT_ID, text="hi! queen comforter?")
    channels.deliver(Channel.INSTAGRAM, messaging_delivery(item, object_="instagram", account_id=INSTAGRAM_ACCOUNT_ID))
    channels.deliver(Channel.X, x_dm_delivery("4337869213", "Do you ship to Canada?"))
    channels.drain()
    paths = sorted(s.path for s in channels.platforms.sent)
    assert paths == ["/2/dm_conversations/with/4337869213/messages", f"/v21.0/{PAGE_ID}/messages"]


def test_a_malformed_queue_message_is_dropped_not_retried_forever(local: Any) -> None:
    channels, _, _ = local
    channels._sqs.send_message(
        QueueUrl=channels.queue_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="bad"
    )
    assert channels.drain().processed == 1


def _received_batch(channels: LocalChannels) -> list[dict[str, Any]]:
    from oratio_local.channels import _record

    received = channels._sqs.receive_message(
        QueueUrl=channels.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=30
    )["Messages"]
    return [_record(m, channels.queue_url) for m in received]


def _run_worker(channels: LocalChannels, event: Any) -> Any:
    with redirect_stdout(io.StringIO()):
        return channels.worker_handler.lambda_handler(event, lambda_context("channel_worker"))


@pytest.mark.parametrize(
    ("corrupt", "group_known"),
    [
        pytest.param(lambda r: {k: v for k, v in r.items() if k != "receiptHandle"}, True, id="no receipt handle"),
        pytest.param(lambda r: {**r, "body": {"tenant_id": "cozy-comfort"}}, True, id="body an object"),
        pytest.param(lambda r: {**r, "attributes": ["MessageGroupId"]}, False, id="attributes a list"),
        pytest.param(
            lambda r: {**r, "attributes": {**r["attributes"], "MessageGroupId": []}}, False, id="group a list"
        ),
    ],
)
def test_a_record_that_is_not_sqs_fails_alone_and_its_conversation_waits_behind_it(
    local: Any, corrupt: Any, group_known: bool
) -> None:
    channels, _, _ = local
    for n, customer in enumerate((CUSTOMER, CUSTOMER, "16505559876")):
        channels.deliver(Channel.WHATSAPP, whatsapp_message(customer, text=f"question {n}", message_id=f"wamid.{n}"))
    first, same_conversation, other_conversation = _received_batch(channels)

    answer = _run_worker(channels, {"Records": [corrupt(first), same_conversation, other_conversation]})

    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert first["messageId"] in failed  # SQS retries it, then dead-letters it
    assert other_conversation["messageId"] not in failed
    assert [s.body["to"] for s in channels.platforms.sent][-1] == "16505559876"  # the other customer is answered
    if group_known:
        assert same_conversation["messageId"] in failed  # in order: it waits behind the failed one


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(["not", "a", "batch"], id="a list"),
        pytest.param({"Records": []}, id="no records"),
        pytest.param({"Records": ["record"]}, id="a record that is not an object"),
        pytest.param({"Records": [{"body": "{}", "attributes": {"MessageGroupId": "g"}}]}, id="no message id"),
    ],
)
def test_an_event_that_is_no_reportable_batch_fails_as_a_whole_with_the_designed_error(local: Any, event: Any) -> None:
    channels, _, _ = local
    with pytest.raises(channels.worker_handler.InvalidChannelBatchError):
        _run_worker(channels, event)
