"""The turn mailbox of the Connect voice path in the conversations table (`TurnMailbox`).

Item layout (access patterns in `oratio.tables`): pk = "<tenant_id>#<contact_id>" (the call's partition, beside
its SESSION, TURN and EVENT items), sk = "VOICE#<turn_id>"; `outcome` holds the `TurnOutcome` as JSON, with
`status` and `finished_at` beside it for people reading the table. The item is written once, by whichever comes
first: the worker's outcome, or the last pickup's give-up marker (`status` = "given_up", no `outcome`). A
retried worker finds its own item and leaves it; a worker that finds the marker knows its reply was missed.
Items expire a day later: they only bridge a holding reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from oratio.adapters.dynamodb import CorruptItemError, _deserialize, _serialize
from oratio.adapters.dynamodb_agent import _AsyncDynamoDBAdapter
from oratio.connect_voice.outcome import TurnOutcome
from oratio.connect_voice.ports import Delivery

MAILBOX_SK_PREFIX = "VOICE#"
MAILBOX_RETENTION = timedelta(days=1)
GIVEN_UP = "given_up"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def mailbox_key(tenant_id: str, contact_id: str, turn_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{tenant_id}#{contact_id}"}, "sk": {"S": f"{MAILBOX_SK_PREFIX}{turn_id}"}}


class DynamoDBTurnMailbox(_AsyncDynamoDBAdapter):
    """`TurnMailbox` over the conversations table."""

    def __init__(
        self, conversations_table: str, *, client: Any | None = None, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        super().__init__(client)
        self._table = conversations_table
        self._clock = clock

    async def put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> Delivery:
        return await asyncio.to_thread(self._put, tenant_id, contact_id, outcome)

    def _put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> Delivery:
        item = self._item(tenant_id, contact_id, outcome.turn_id) | {
            "status": outcome.status,
            "finished_at": outcome.finished_at.isoformat(),
            "outcome": outcome.model_dump_json(),
        }
        stored, existing = self._put_once(item)
        if stored:
            return Delivery.STORED
        # The same turn's outcome is already there (delivered twice, stored once), or the pickups gave up on it.
        return Delivery.DUPLICATE if existing is not None and "outcome" in existing else Delivery.MISSED

    async def get(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None:
        response = await self._acall(
            "get_item",
            self._table,
            TableName=self._table,
            Key=mailbox_key(tenant_id, contact_id, turn_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return self._outcome(_deserialize(item)) if item else None

    async def give_up(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None:
        return await asyncio.to_thread(self._give_up, tenant_id, contact_id, turn_id)

    def _give_up(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None:
        marker = self._item(tenant_id, contact_id, turn_id) | {
            "status": GIVEN_UP,
            "given_up_at": self._clock().isoformat(),
        }
        stored, existing = self._put_once(marker)
        return None if stored or existing is None else self._outcome(existing)

    def _item(self, tenant_id: str, contact_id: str, turn_id: str) -> dict[str, Any]:
        return {
            "pk": f"{tenant_id}#{contact_id}",
            "sk": f"{MAILBOX_SK_PREFIX}{turn_id}",
            "tenant_id": tenant_id,
            "contact_id": contact_id,
            "expires_at": int((self._clock() + MAILBOX_RETENTION).timestamp()),
        }

    def _put_once(self, item: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Put the turn's item unless one is there: (True, None) if stored, else (False, the item there)."""
        stored, response = self._conditional(
            "put_item",
            self._table,
            TableName=self._table,
            Item=_serialize(item),
            ConditionExpression="attribute_not_exists(sk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        existing = response.get("Item")
        return stored, (_deserialize(existing) if existing else None)

    @staticmethod
    def _outcome(stored: dict[str, Any]) -> TurnOutcome | None:
        if "outcome" not in stored:
            return None  # the give-up marker: nothing to say
        try:
            return TurnOutcome.model_validate_json(str(stored["outcome"]))
        except ValidationError as e:
            raise CorruptItemError(f"turn outcome {stored.get('pk')}/{stored.get('sk')} is invalid") from e
