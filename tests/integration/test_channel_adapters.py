"""The AWS adapters of channels and customers, against moto (DynamoDB, SQS, Secrets Manager) and botocore's Stubber
(End User Messaging SMS and SES v2, which moto does not model fully; error answers SQS and Secrets Manager give)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from pydantic import SecretStr

from oratio.adapters.dynamodb_agent import DynamoDBCustomerContextStore
from oratio.agent.ports import ConversationSummary, CustomerContext
from oratio.channels.adapters.aws import (
    MAX_VISIBILITY_SECONDS,
    DynamoDBChannelBindings,
    DynamoDBMessageLedger,
    QueueUnavailableError,
    SecretsManagerChannelSecrets,
    SecretsManagerVendorSecret,
    SqsFifoQueue,
)
from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.models import EventKind, InboundEvent, QueuedEvent
from oratio.channels.ports import AccountTaken, LedgerState, SecretUnavailableError
from oratio.config.tenant import Channel
from oratio.customers.adapters.dynamodb import DynamoDBClaimStore
from oratio.customers.adapters.senders import EmailCodeSender, SmsCodeSender
from oratio.customers.ports import CodeDeliveryError, PendingClaim
from oratio.tables import CUSTOMER_CONTEXT, TENANT_STATE
from tests.integration.conftest import REGION, table_name

TENANT = "cozy-comfort"
NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
PHONE = "phone:+16505550142"
INSTAGRAM = "instagram:17841400008460056"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture
def secretsmanager(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def sqs(aws_env: None) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("sqs", region_name=REGION)
        url = client.create_queue(
            QueueName="oratio-test-channels.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
        )["QueueUrl"]
        yield client, url


def whatsapp_secret(token: str = "EAAJB-token") -> ChannelSecret:  # noqa: S107 - a fake token
    return ChannelSecret(
        channel=Channel.WHATSAPP,
        app_secret=SecretStr("app-secret"),
        verify_token=SecretStr("verify-me"),
        accounts={"106540352242922": AccountCredentials(agent_id="front-desk", access_token=SecretStr(token))},
    )


# ------------------------------------------------------------------------------------------ secrets
def test_a_channel_secret_is_created_once_tagged_with_its_tenant_then_versioned(secretsmanager: Any) -> None:
    secrets = SecretsManagerChannelSecrets(client=secretsmanager)
    assert run(secrets.get(TENANT, Channel.WHATSAPP)) is None  # not linked yet
    run(secrets.put(TENANT, whatsapp_secret()))
    run(secrets.put(TENANT, whatsapp_secret("EAAJB-rotated")))

    described = secretsmanager.describe_secret(SecretId="oratio/cozy-comfort/channels/whatsapp")
    assert {"Key": "tenant", "Value": TENANT} in described["Tags"]
    stored = json.loads(secretsmanager.get_secret_value(SecretId=described["Name"])["SecretString"])
    assert stored["accounts"]["106540352242922"]["access_token"] == "EAAJB-rotated"
    fresh = SecretsManagerChannelSecrets(client=secretsmanager)
    read = run(fresh.get(TENANT, Channel.WHATSAPP))
    assert read is not None
    assert read.signing_key() == "app-secret"
    assert "app-secret" not in repr(read)  # SecretStr: never in a log line


def test_a_cached_secret_is_reread_when_asked_fresh_or_when_it_is_old(secretsmanager: Any) -> None:
    clock = [0.0]
    writer = SecretsManagerChannelSecrets(client=secretsmanager)
    reader = SecretsManagerChannelSecrets(client=secretsmanager, max_age_seconds=300, monotonic=lambda: clock[0])
    run(writer.put(TENANT, whatsapp_secret("first")))
    assert run(reader.get(TENANT, Channel.WHATSAPP)) is not None
    run(writer.put(TENANT, whatsapp_secret("second")))

    def token(secret: ChannelSecret | None) -> str:
        assert secret is not None
        return secret.accounts["106540352242922"].access_token.get_secret_value()

    assert token(run(reader.get(TENANT, Channel.WHATSAPP))) == "first"  # cached
    assert token(run(reader.get(TENANT, Channel.WHATSAPP, fresh=True))) == "second"
    run(writer.put(TENANT, whatsapp_secret("third")))
    clock[0] = 301.0
    assert token(run(reader.get(TENANT, Channel.WHATSAPP))) == "third"


def test_secrets_manager_refusing_is_unavailable_not_missing() -> None:
    client = boto3.client("secretsmanager", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", service_error_code="AccessDeniedException", http_status_code=400)
        with pytest.raises(SecretUnavailableError, match="AccessDeniedException"):
            run(SecretsManagerChannelSecrets(client=client).get(TENANT, Channel.X))


def test_a_vendors_elizaos_secret_is_a_plain_string_under_its_own_name(secretsmanager: Any) -> None:
    secret = SecretsManagerVendorSecret(client=secretsmanager)
    assert run(secret.get(TENANT)) is None
    run(secret.put(TENANT, "shared-hmac-key"))
    assert secretsmanager.get_secret_value(SecretId="oratio/cozy-comfort/elizaos/webhook")["SecretString"] == (
        "shared-hmac-key"
    )
    assert run(SecretsManagerVendorSecret(client=secretsmanager).get(TENANT)) == "shared-hmac-key"


# -------------------------------------------------------------------------------------------- queue
def queued(sender: str, message_id: str) -> QueuedEvent:
    event = InboundEvent(
        channel=Channel.WHATSAPP,
        account_id="106540352242922",
        sender_id=sender,
        message_id=message_id,
        kind=EventKind.TEXT,
        sent_at=NOW,
        text="hello",
    )
    return QueuedEvent(tenant_id=TENANT, event=event, received_at=NOW)


def test_events_are_sent_in_batches_of_ten_grouped_by_conversation_and_deduplicated_by_message(
    sqs: tuple[Any, str],
) -> None:
    client, url = sqs
    events = [queued(f"1650555{i % 3:04d}", f"wamid.{i}") for i in range(12)]
    queue = SqsFifoQueue(url, client=client)
    run(queue.enqueue(events))
    run(queue.enqueue(events[:2]))  # a platform's retry within five minutes: SQS drops the duplicates

    received: list[dict[str, Any]] = []
    while batch := client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId", "MessageDeduplicationId"]
    ).get("Messages"):
        received.extend(batch)
        for message in batch:
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert len(received) == 12
    groups = {m["Attributes"]["MessageGroupId"] for m in received}
    assert groups == {e.event.order_key for e in events}
    assert len(groups) == 3
    bodies = [QueuedEvent.model_validate_json(m["Body"]) for m in received]
    assert {b.event.message_id for b in bodies} == {f"wamid.{i}" for i in range(12)}


def test_a_partly_refused_batch_is_unavailable_so_the_webhook_asks_for_a_redelivery() -> None:
    client = boto3.client("sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    url = "https://sqs.us-east-1.amazonaws.com/111122223333/oratio-cozy-comfort-channels.fifo"
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [],
                "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError"}],
            },
        )
        with pytest.raises(QueueUnavailableError, match="InternalError"):
            run(SqsFifoQueue(url, client=client).enqueue([queued("16505550142", "wamid.1")]))


def test_deferring_keeps_a_record_invisible_within_what_sqs_allows() -> None:
    client = boto3.client("sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    url = "https://sqs.us-east-1.amazonaws.com/111122223333/q.fifo"
    with Stubber(client) as stub:
        for seconds in (1, 90, MAX_VISIBILITY_SECONDS):
            stub.add_response(
                "change_message_visibility",
                {},
                {"QueueUrl": url, "ReceiptHandle": "rh", "VisibilityTimeout": seconds},
            )
        queue = SqsFifoQueue(url, client=client)
        queue.defer("rh", 0.2)
        queue.defer("rh", 90.4)
        queue.defer("rh", 2 * 86400)  # an X reset a day away: capped at twelve hours
        stub.assert_no_pending_responses()


# ------------------------------------------------------------------------------- bindings and ledger
def test_an_account_answers_one_agent_until_it_is_moved_on_purpose(dynamodb: Any) -> None:
    bindings = DynamoDBChannelBindings(table_name(TENANT_STATE), client=dynamodb)
    run(bindings.bind(TENANT, Channel.WHATSAPP, "106540352242922", "front-desk"))
    run(bindings.bind(TENANT, Channel.WHATSAPP, "106540352242922", "front-desk"))  # linking again: harmless
    with pytest.raises(AccountTaken) as taken:
        run(bindings.bind(TENANT, Channel.WHATSAPP, "106540352242922", "night-desk"))
    assert taken.value.owner_agent_id == "front-desk"
    run(bindings.bind(TENANT, Channel.WHATSAPP, "106540352242922", "night-desk", take_from="front-desk"))
    assert run(bindings.agent_for(TENANT, Channel.WHATSAPP, "106540352242922")) == "night-desk"
    assert bindings.agent_for_address(TENANT, "sms", "+16505550100") is None
    assert run(bindings.agent_for("other-tenant", Channel.WHATSAPP, "106540352242922")) is None


def test_the_ledger_answers_a_message_once_and_resumes_a_partly_sent_reply(dynamodb: Any) -> None:
    ledger = DynamoDBMessageLedger(table_name(TENANT_STATE), client=dynamodb)
    key = "dedup-1"
    assert run(ledger.begin(TENANT, key, NOW, 60)).state is LedgerState.NEW
    assert run(ledger.begin(TENANT, key, NOW + timedelta(seconds=5), 60)).state is LedgerState.BUSY
    # the first worker died: once its lease is over, another takes the message
    assert run(ledger.begin(TENANT, key, NOW + timedelta(seconds=61), 60)).state is LedgerState.NEW

    run(ledger.answered(TENANT, key, ["part one", "part two"], NOW))
    run(ledger.sent(TENANT, key, 1, NOW))
    resumed = run(ledger.begin(TENANT, key, NOW + timedelta(minutes=5), 60))
    assert (resumed.state, resumed.parts, resumed.parts_sent) == (LedgerState.ANSWERED, ("part one", "part two"), 1)

    run(ledger.done(TENANT, key, NOW))
    assert run(ledger.begin(TENANT, key, NOW + timedelta(hours=1), 60)).state is LedgerState.DONE
    item = dynamodb.get_item(
        TableName=table_name(TENANT_STATE), Key={"pk": {"S": TENANT}, "sk": {"S": f"inbound#{key}"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) > int((NOW + timedelta(days=6)).timestamp())  # outlasts platform retries
    assert "lease_until" not in item


def test_releasing_gives_back_only_a_message_nobody_answered(dynamodb: Any) -> None:
    ledger = DynamoDBMessageLedger(table_name(TENANT_STATE), client=dynamodb)
    run(ledger.begin(TENANT, "fresh", NOW, 60))
    run(ledger.release(TENANT, "fresh"))
    assert run(ledger.begin(TENANT, "fresh", NOW, 60)).state is LedgerState.NEW  # at once, no lease to wait out

    run(ledger.answered(TENANT, "fresh", ["reply"], NOW))
    run(ledger.release(TENANT, "fresh"))  # too late: the reply exists and must not be produced again
    assert run(ledger.begin(TENANT, "fresh", NOW + timedelta(hours=1), 60)).state is LedgerState.ANSWERED


# ------------------------------------------------------------------------------------------ customers
def claim(attempts: int = 0) -> PendingClaim:
    return PendingClaim(
        identity=INSTAGRAM,
        claimed_kind="phone",
        claimed_key=PHONE,
        address="+16505550142",
        salt="00ff",
        digest="ab" * 32,
        attempts=attempts,
        expires_at=NOW + timedelta(minutes=10),
    )


def test_a_pending_claim_round_trips_counts_attempts_and_expires_by_ttl(dynamodb: Any) -> None:
    claims = DynamoDBClaimStore(table_name(CUSTOMER_CONTEXT), client=dynamodb)
    assert run(claims.get(TENANT, INSTAGRAM)) is None
    run(claims.put(TENANT, claim()))
    assert run(claims.get(TENANT, INSTAGRAM)) == claim()
    run(claims.count_attempt(TENANT, claim()))
    run(claims.count_attempt(TENANT, claim()))  # a stale copy (attempts 0 again): not counted twice
    assert run(claims.get(TENANT, INSTAGRAM)) == claim(attempts=1)
    item = dynamodb.get_item(
        TableName=table_name(CUSTOMER_CONTEXT), Key={"pk": {"S": f"{TENANT}#{INSTAGRAM}"}, "sk": {"S": "CLAIM"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == int(claim().expires_at.timestamp())
    assert "code" not in item
    run(claims.delete(TENANT, INSTAGRAM))
    assert run(claims.get(TENANT, INSTAGRAM)) is None


def test_linking_an_instagram_identity_to_a_phone_merges_what_both_knew(dynamodb: Any) -> None:
    store = DynamoDBCustomerContextStore(table_name(CUSTOMER_CONTEXT), client=dynamodb)
    call = ConversationSummary(channel="voice", session_id="call-1", at=NOW, summary="asked about a sofa")
    dm = ConversationSummary(channel="instagram", session_id="ig-1", at=NOW + timedelta(hours=1), summary="hi")
    run(store.save(CustomerContext(tenant_id=TENANT, customer_key=PHONE, recent_conversations=(call,))))
    dm_profile = CustomerContext(
        tenant_id=TENANT, customer_key=INSTAGRAM, display_name="Jane", recent_conversations=(dm,)
    )
    run(store.save(dm_profile))

    assert run(store.customer_key(TENANT, INSTAGRAM)) == INSTAGRAM
    merged = run(store.link(TENANT, INSTAGRAM, PHONE))
    assert merged.customer_key == PHONE
    assert INSTAGRAM in merged.linked_identities
    assert merged.display_name == "Jane"
    assert {c.session_id for c in merged.recent_conversations} == {"call-1", "ig-1"}
    assert run(store.customer_key(TENANT, INSTAGRAM)) == PHONE
    # the instagram identity's own profile is gone: one copy of the facts, under the phone
    own = dynamodb.query(
        TableName=table_name(CUSTOMER_CONTEXT),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{TENANT}#{INSTAGRAM}"}},
    )["Items"]
    assert [i["sk"]["S"] for i in own] == ["LINK"]
    assert run(store.link(TENANT, INSTAGRAM, PHONE)).customer_key == PHONE  # linking again is harmless


# -------------------------------------------------------------------------------------- code senders
def test_an_sms_code_goes_out_as_a_transactional_message_from_the_tenants_number() -> None:
    client = boto3.client("pinpoint-sms-voice-v2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    origin = "arn:aws:sms-voice:us-east-1:111122223333:phone-number/phone-0123456789abcdef"
    with Stubber(client) as stub:
        stub.add_response(
            "send_text_message",
            {"MessageId": "m-1"},
            {
                "DestinationPhoneNumber": "+16505550142",
                "OriginationIdentity": origin,
                "MessageBody": "Your code is 123456",
                "MessageType": "TRANSACTIONAL",
            },
        )
        stub.add_client_error("send_text_message", service_error_code="ThrottlingException", http_status_code=400)
        sender = SmsCodeSender(origin, client=client)
        run(sender.send_code("+16505550142", "Your code is 123456", at=NOW))
        with pytest.raises(CodeDeliveryError, match="ThrottlingException"):
            run(sender.send_code("+16505550142", "Your code is 123456", at=NOW))


def test_an_email_code_goes_out_as_plain_text_from_the_tenants_verified_address() -> None:
    client = boto3.client("sesv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response(
            "send_email",
            {"MessageId": "e-1"},
            {
                "FromEmailAddress": "hello@cozy-comfort.example",
                "Destination": {"ToAddresses": ["jane@example.com"]},
                "Content": {
                    "Simple": {
                        "Subject": {"Data": "Your verification code", "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": "Your code is 123456", "Charset": "UTF-8"}},
                    }
                },
            },
        )
        stub.add_client_error("send_email", service_error_code="MessageRejected", http_status_code=400)
        sender = EmailCodeSender("hello@cozy-comfort.example", client=client)
        run(sender.send_code("jane@example.com", "Your code is 123456", at=NOW))
        with pytest.raises(CodeDeliveryError, match="MessageRejected"):
            run(sender.send_code("jane@example.com", "Your code is 123456", at=NOW))
