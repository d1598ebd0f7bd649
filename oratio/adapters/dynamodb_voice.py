"""The turn mailbox of the Connect voice path in the conversations table (`TurnMailbox`).

Item layout (access patterns in `oratio.tables`): pk = "<tenant_id>#<contact_id>" (the call's partition, beside
its SESSION, TURN and EVENT items), sk = "VOICE#<turn_id>"; `outcome` holds the `TurnOutcome` as JSON, with
`status` and `finished_at` beside it for people reading the table. An outcome is written once (a retried
worker finds its own item and leaves it) and expires a day later: it only bridges a holding reply.
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

MAILBOX_SK_PREFIX = "VOICE#"
MAILBOX_RETENTION = timedelta(days=1)


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

    async def put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> None:
        await asyncio.to_thread(self._put, tenant_id, contact_id, outcome)

    def _put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> None:
        item = {
            "pk": f"{tenant_id}#{contact_id}",
            "sk": f"{MAILBOX_SK_PREFIX}{outcome.turn_id}",
            "tenant_id": tenant_id,
            "contact_id": contact_id,
            "status": outcome.status,
            "finished_at": outcome.finished_at.isoformat(),
            "outcome": outcome.model_dump_json(),
            "expires_at": int((self._clock() + MAILBOX_RETENTION).timestamp()),
        }
        # A failed condition means the same turn's outcome is already there: delivered twice, stored once.
        self._conditional(
            "put_item",
            self._table,
            TableName=self._table,
            Item=_serialize(item),
            ConditionExpression="attribute_not_exists(sk)",
        )

    async def get(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None:
        response = await self._acall(
            "get_item",
            self._table,
            TableName=self._table,
            Key=mailbox_key(tenant_id, contact_id, turn_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        stored = _deserialize(item)
        try:
            return TurnOutcome.model_validate_json(str(stored["outcome"]))
        except (KeyError, ValidationError) as e:
            raise CorruptItemError(f"turn outcome {stored.get('pk')}/{stored.get('sk')} is invalid") from e
