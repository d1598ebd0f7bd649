"""AWS adapters of the idle-conversation ports: the open-conversation index on the conversations table's SESSION
items (GSI `by_idle`), and the `Conversation Idle` events on the account's default EventBridge bus.

SESSION item attributes (only open messaging conversations carry them, so the index stays sparse):
  idle_shard   "<tenant_id>#idle#<n>"   the index partition (`idle_shard`)
  idle_at      epoch seconds            where it sits in the index: its deadline, or the hold of a sweep
  idle_of      epoch seconds            while a sweep holds it: the deadline it went quiet at

boto3 blocks, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from oratio.adapters.dynamodb import _deserialize, _DynamoDBAdapter, session_key
from oratio.channels.adapters.aws import CLIENT_CONFIG
from oratio.channels.idle import (
    IDLE_EVENT_DETAIL_TYPE,
    IDLE_EVENT_SOURCE,
    IdleConversation,
    QuietConversation,
    idle_shard,
    idle_shards,
)
from oratio.tables import IDLE_INDEX

logger = logging.getLogger(__name__)

PUT_EVENTS_BATCH = 10  # PutEvents takes at most ten entries


class EventPublishError(Exception):
    """EventBridge refused some events (the sweep fails; a later run publishes them again)."""


class DynamoDBIdleIndex(_DynamoDBAdapter):
    def __init__(self, conversations_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = conversations_table

    async def mark_active(self, tenant_id: str, session_id: str, idle_at: int) -> None:
        await asyncio.to_thread(self._mark_active, tenant_id, session_id, idle_at)

    def _mark_active(self, tenant_id: str, session_id: str, idle_at: int) -> None:
        applied, _ = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key=session_key(tenant_id, session_id),
            UpdateExpression="SET idle_shard = :shard, idle_at = :at REMOVE idle_of",
            ConditionExpression="attribute_exists(pk)",  # never a SESSION item without its session
            ExpressionAttributeValues={":shard": {"S": idle_shard(tenant_id, session_id)}, ":at": {"N": str(idle_at)}},
        )
        if not applied:
            logger.warning("no session record to mark active", extra={"session_id": session_id})

    async def quiet(self, tenant_id: str, now: datetime, limit: int) -> list[QuietConversation]:
        return await asyncio.to_thread(self._quiet, tenant_id, now, limit)

    def _quiet(self, tenant_id: str, now: datetime, limit: int) -> list[QuietConversation]:
        found: list[QuietConversation] = []
        prefix = f"{tenant_id}#"
        for shard in idle_shards(tenant_id):
            if len(found) >= limit:
                break
            response = self._call(
                "query",
                self._table,
                TableName=self._table,
                IndexName=IDLE_INDEX,
                KeyConditionExpression="idle_shard = :shard AND idle_at <= :now",
                ExpressionAttributeValues={":shard": {"S": shard}, ":now": {"N": str(int(now.timestamp()))}},
                ProjectionExpression="pk, agent_id, idle_at, idle_of",
                Limit=limit - len(found),
            )
            for raw in response.get("Items", []):
                item = _deserialize(raw)
                at = int(item["idle_at"])
                found.append(
                    QuietConversation(
                        session_id=str(item["pk"]).removeprefix(prefix),
                        agent_id=str(item["agent_id"]) if item.get("agent_id") else None,
                        idle_at=int(item.get("idle_of", at)),
                        index_at=at,
                    )
                )
        return found

    async def hold(self, tenant_id: str, conversation: QuietConversation, until: int) -> QuietConversation | None:
        return await asyncio.to_thread(self._hold, tenant_id, conversation, until)

    def _hold(self, tenant_id: str, conversation: QuietConversation, until: int) -> QuietConversation | None:
        applied, _ = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key=session_key(tenant_id, conversation.session_id),
            UpdateExpression="SET idle_at = :until, idle_of = :of",
            ConditionExpression="idle_at = :seen",
            ExpressionAttributeValues={
                ":until": {"N": str(until)},
                ":of": {"N": str(conversation.idle_at)},
                ":seen": {"N": str(conversation.index_at)},
            },
        )
        if not applied:
            return None
        return QuietConversation(conversation.session_id, conversation.agent_id, conversation.idle_at, until)

    async def settle(self, tenant_id: str, conversation: QuietConversation) -> None:
        await asyncio.to_thread(self._settle, tenant_id, conversation)

    def _settle(self, tenant_id: str, conversation: QuietConversation) -> None:
        self._conditional(  # a later message moved it on: it stays open, nothing to do
            "update_item",
            self._table,
            TableName=self._table,
            Key=session_key(tenant_id, conversation.session_id),
            UpdateExpression="REMOVE idle_shard, idle_at, idle_of",
            ConditionExpression="idle_at = :held",
            ExpressionAttributeValues={":held": {"N": str(conversation.index_at)}},
        )


class EventBridgeConversationEvents:
    """`Conversation Idle` events on the account's default bus (where the post-call analysis rule listens)."""

    def __init__(self, client: Any | None = None) -> None:
        self._client_instance = client

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("events", config=CLIENT_CONFIG)
        return self._client_instance

    async def publish_idle(self, conversations: Sequence[IdleConversation]) -> None:
        await asyncio.to_thread(self._publish, conversations)

    def _publish(self, conversations: Sequence[IdleConversation]) -> None:
        for start in range(0, len(conversations), PUT_EVENTS_BATCH):
            entries = [
                {
                    "Source": IDLE_EVENT_SOURCE,
                    "DetailType": IDLE_EVENT_DETAIL_TYPE,
                    "Detail": json.dumps(c.model_dump(mode="json", by_alias=True)),
                }
                for c in conversations[start : start + PUT_EVENTS_BATCH]
            ]
            try:
                response = self._client.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as e:
                raise EventPublishError(f"EventBridge PutEvents failed: {type(e).__name__}") from e
            failed = int(response.get("FailedEntryCount", 0))
            if failed:
                codes = sorted({str(r.get("ErrorCode")) for r in response.get("Entries", []) if r.get("ErrorCode")})
                raise EventPublishError(f"EventBridge refused {failed} of {len(entries)} events: {', '.join(codes)}")
