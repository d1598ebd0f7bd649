"""AWS adapters of the channel ports: credentials in Secrets Manager, the SQS FIFO queue, and two kinds of items in
the tenant_state table — which agent an account answers for, and the ledger of inbound messages.

tenant_state items (every key starts with the tenant id, so `dynamodb:LeadingKeys` pins a tenant's functions):
  sk = "channel#<channel>#<account id>"   `agent_id`, `linked_at`: one agent per platform account
  sk = "inbound#<dedup key>"              `state` (new | answered | done), `lease_until`, `parts`, `parts_sent`;
                                          `expires_at` (TTL): kept long enough to outlast platform retries

boto3 blocks, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.adapters.dynamodb import _deserialize, _DynamoDBAdapter
from oratio.channels.credentials import SECRET_PREFIX, ChannelSecret, secret_name
from oratio.channels.models import QueuedEvent
from oratio.channels.ports import AccountTaken, LedgerEntry, LedgerState, SecretUnavailableError
from oratio.config.tenant import Channel

CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"mode": "standard", "max_attempts": 3})
SECRET_CACHE_SECONDS = 300.0  # a rotated platform secret is picked up within five minutes
SQS_BATCH = 10  # SendMessageBatch takes at most ten entries
MAX_VISIBILITY_SECONDS = 12 * 3600  # ChangeMessageVisibility's ceiling
# Meta retries an unacknowledged delivery for up to a day and a half, X for a few minutes: a week is plenty.
LEDGER_RETENTION = timedelta(days=7)
BINDING_SK_PREFIX = "channel#"
INBOUND_SK_PREFIX = "inbound#"


def binding_sk(channel: Channel, account_id: str) -> str:
    return f"{BINDING_SK_PREFIX}{channel.value}#{account_id}"


class QueueUnavailableError(Exception):
    """SQS refused some messages; the webhook answers 503 so the platform delivers again (deduplicated)."""


# ------------------------------------------------------------------------------------------ secrets
class SecretsManagerChannelSecrets:
    """One secret per tenant and channel (`oratio/<tenant>/channels/<channel>`), cached per container."""

    def __init__(
        self,
        *,
        client: Any | None = None,
        max_age_seconds: float = SECRET_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_instance = client
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, str | None]] = {}

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("secretsmanager", config=CLIENT_CONFIG)
        return self._client_instance

    async def get(self, tenant_id: str, channel: Channel, *, fresh: bool = False) -> ChannelSecret | None:
        value = await self.read_string(secret_name(tenant_id, channel), fresh=fresh)
        return None if value is None else ChannelSecret.from_json(value)

    async def put(self, tenant_id: str, secret: ChannelSecret) -> None:
        name = secret_name(tenant_id, secret.channel)
        await self.write_string(tenant_id, name, secret.to_json(), f"{secret.channel.value} credentials")

    async def read_string(self, name: str, *, fresh: bool = False) -> str | None:
        """The secret's string (None when there is no such secret: not linked yet), cached `max_age_seconds`."""
        cached = self._cache.get(name)
        if cached is not None and not fresh and self._monotonic() - cached[0] < self._max_age:
            return cached[1]
        value = await asyncio.to_thread(self._read, name)
        self._cache[name] = (self._monotonic(), value)
        return value

    async def write_string(self, tenant_id: str, name: str, value: str, what: str) -> None:
        """Put a new version of the secret, creating it (tagged with the tenant) the first time."""
        await asyncio.to_thread(self._upsert, tenant_id, name, value, what)
        self._cache[name] = (self._monotonic(), value)

    def _read(self, name: str) -> str | None:
        try:
            response = self._client.get_secret_value(SecretId=name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise SecretUnavailableError(f"Secrets Manager GetSecretValue on {name}: {_code(e)}") from e
        except BotoCoreError as e:
            raise SecretUnavailableError(f"Secrets Manager GetSecretValue on {name}: {type(e).__name__}") from e
        return str(response["SecretString"])

    def _upsert(self, tenant_id: str, name: str, value: str, what: str) -> None:
        try:
            try:
                self._client.put_secret_value(SecretId=name, SecretString=value)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                self._client.create_secret(
                    Name=name,
                    SecretString=value,
                    Description=f"{what} of Oratio tenant {tenant_id} (written by the vendor API)",
                    Tags=[{"Key": "project", "Value": "oratio"}, {"Key": "tenant", "Value": tenant_id}],
                )
        except ClientError as e:
            raise SecretUnavailableError(f"Secrets Manager write of {name}: {_code(e)}") from e
        except BotoCoreError as e:
            raise SecretUnavailableError(f"Secrets Manager write of {name}: {type(e).__name__}") from e


ELIZA_SECRET_SUFFIX = "elizaos/webhook"  # noqa: S105 - part of a secret's name


def eliza_secret_name(vendor_id: str) -> str:
    """The ElizaOS webhook secret of a vendor: `oratio/<vendor>/elizaos/webhook`."""
    return f"{SECRET_PREFIX}/{vendor_id}/{ELIZA_SECRET_SUFFIX}"


class SecretsManagerVendorSecret:
    """A vendor's ElizaOS webhook secret (a plain string secret), cached briefly like the channel secrets."""

    def __init__(
        self,
        *,
        client: Any | None = None,
        max_age_seconds: float = SECRET_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = SecretsManagerChannelSecrets(client=client, max_age_seconds=max_age_seconds, monotonic=monotonic)

    async def get(self, vendor_id: str) -> str | None:
        return await self._store.read_string(eliza_secret_name(vendor_id))

    async def put(self, vendor_id: str, value: str) -> None:
        await self._store.write_string(vendor_id, eliza_secret_name(vendor_id), value, "ElizaOS webhook secret")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


# -------------------------------------------------------------------------------------------- queue
class SqsFifoQueue:
    """The tenant's FIFO queue: message group = conversation, deduplication id = platform message id."""

    def __init__(self, queue_url: str, *, client: Any | None = None) -> None:
        self._url = queue_url
        self._client_instance = client

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("sqs", config=CLIENT_CONFIG)
        return self._client_instance

    async def enqueue(self, messages: Sequence[QueuedEvent]) -> None:
        await asyncio.to_thread(self._send, list(messages))

    def _send(self, messages: list[QueuedEvent]) -> None:
        for start in range(0, len(messages), SQS_BATCH):
            chunk = messages[start : start + SQS_BATCH]
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": message.model_dump_json(),
                    "MessageGroupId": message.event.order_key,
                    "MessageDeduplicationId": message.event.dedup_key,
                }
                for index, message in enumerate(chunk)
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (ClientError, BotoCoreError) as e:
                raise QueueUnavailableError(f"SQS SendMessageBatch failed ({type(e).__name__})") from e
            failed = response.get("Failed") or []
            if failed:
                codes = sorted({str(f.get("Code")) for f in failed})
                raise QueueUnavailableError(f"SQS refused {len(failed)} message(s): {', '.join(codes)}")

    def defer(self, receipt_handle: str, seconds: float) -> None:
        """Keep a received message invisible for `seconds` (SQS allows up to 12 hours): a FIFO message group
        waits behind it, so the conversation stays in order."""
        self._client.change_message_visibility(
            QueueUrl=self._url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=int(min(MAX_VISIBILITY_SECONDS, max(1.0, seconds))),
        )


# ----------------------------------------------------------------------------------------- bindings
class DynamoDBChannelBindings(_DynamoDBAdapter):
    def __init__(self, tenant_state_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = tenant_state_table

    async def agent_for(self, tenant_id: str, channel: Channel, account_id: str) -> str | None:
        return await asyncio.to_thread(self.agent_for_address, tenant_id, channel.value, account_id)

    def agent_for_address(self, tenant_id: str, channel: str, address: str) -> str | None:
        """The binding read synchronously (the call router's `ChannelAgentLookup`: an SMS number's agent)."""
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": tenant_id}, "sk": {"S": binding_sk(Channel(channel), address)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return str(_deserialize(item)["agent_id"]) if item else None

    async def bind(
        self, tenant_id: str, channel: Channel, account_id: str, agent_id: str, *, take_from: str | None = None
    ) -> None:
        applied, failure = await asyncio.to_thread(
            self._conditional,
            "put_item",
            self._table,
            TableName=self._table,
            Item={
                "pk": {"S": tenant_id},
                "sk": {"S": binding_sk(channel, account_id)},
                "agent_id": {"S": agent_id},
                "channel": {"S": channel.value},
                "account_id": {"S": account_id},
                "linked_at": {"S": datetime.now().astimezone().isoformat()},
            },
            ConditionExpression="attribute_not_exists(sk) OR agent_id IN (:agent, :previous)",
            ExpressionAttributeValues={":agent": {"S": agent_id}, ":previous": {"S": take_from or agent_id}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if not applied:
            owner = _deserialize(failure.get("Item") or {}).get("agent_id")
            raise AccountTaken(str(owner))


# ------------------------------------------------------------------------------------------- ledger
class DynamoDBMessageLedger(_DynamoDBAdapter):
    def __init__(self, tenant_state_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = tenant_state_table

    def _key(self, tenant_id: str, key: str) -> dict[str, Any]:
        return {"pk": {"S": tenant_id}, "sk": {"S": f"{INBOUND_SK_PREFIX}{key}"}}

    async def begin(self, tenant_id: str, key: str, now: datetime, lease_seconds: float) -> LedgerEntry:
        return await asyncio.to_thread(self._begin, tenant_id, key, now, lease_seconds)

    def _begin(self, tenant_id: str, key: str, now: datetime, lease_seconds: float) -> LedgerEntry:
        applied, failure = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key=self._key(tenant_id, key),
            UpdateExpression="SET #state = :new, lease_until = :until, expires_at = :expires",
            ConditionExpression="attribute_not_exists(sk) OR (#state = :new AND lease_until < :now)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":new": {"S": LedgerState.NEW.value},
                ":until": {"S": (now + timedelta(seconds=lease_seconds)).isoformat()},
                ":now": {"S": now.isoformat()},
                ":expires": {"N": str(int((now + LEDGER_RETENTION).timestamp()))},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if applied:
            return LedgerEntry(LedgerState.NEW)
        item = _deserialize(failure.get("Item") or {})
        state = LedgerState(str(item.get("state", LedgerState.DONE.value)))
        if state is LedgerState.NEW:
            return LedgerEntry(LedgerState.BUSY)
        return LedgerEntry(state, tuple(str(p) for p in item.get("parts", [])), int(item.get("parts_sent", 0)))

    async def answered(self, tenant_id: str, key: str, parts: Sequence[str], now: datetime) -> None:
        await self._update(
            tenant_id,
            key,
            "SET #state = :answered, parts = :parts, parts_sent = :zero REMOVE lease_until",
            {
                ":answered": {"S": LedgerState.ANSWERED.value},
                ":parts": {"L": [{"S": p} for p in parts]},
                ":zero": {"N": "0"},
            },
        )

    async def sent(self, tenant_id: str, key: str, parts_sent: int, now: datetime) -> None:
        await self._update(tenant_id, key, "SET parts_sent = :sent", {":sent": {"N": str(parts_sent)}}, names=False)

    async def done(self, tenant_id: str, key: str, now: datetime) -> None:
        await self._update(
            tenant_id,
            key,
            "SET #state = :done, expires_at = if_not_exists(expires_at, :expires) REMOVE lease_until",
            {
                ":done": {"S": LedgerState.DONE.value},
                ":expires": {"N": str(int((now + LEDGER_RETENTION).timestamp()))},
            },
        )

    async def release(self, tenant_id: str, key: str) -> None:
        await asyncio.to_thread(
            self._conditional,
            "delete_item",
            self._table,
            TableName=self._table,
            Key=self._key(tenant_id, key),
            ConditionExpression="#state = :new",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":new": {"S": LedgerState.NEW.value}},
        )

    async def _update(
        self, tenant_id: str, key: str, expression: str, values: dict[str, Any], *, names: bool = True
    ) -> None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(tenant_id, key),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if names:
            request["ExpressionAttributeNames"] = {"#state": "state"}
        await asyncio.to_thread(self._call, "update_item", self._table, **request)


__all__ = [
    "DynamoDBChannelBindings",
    "DynamoDBMessageLedger",
    "QueueUnavailableError",
    "SecretsManagerChannelSecrets",
    "SecretsManagerVendorSecret",
    "SqsFifoQueue",
]
