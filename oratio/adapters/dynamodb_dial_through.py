"""`DialThroughs` over DynamoDB: the hand-off of a Twilio call dialled through to the Connect number.

Item layout (access patterns in `oratio.tables`): tenant_state, pk = tenant_id, sk =
"dial-through#<connect number>#<caller number>", with the webhook router's decision, its call session's id
(`provider_call_id`) and `expires_at` (epoch seconds, the table's TTL attribute). DynamoDB deletes expired items
only eventually, so every read and write checks `expires_at` itself. Both sides write with UpdateItem only: the
webhook creates the item, Connect's router marks it `taken_by` its contact, conditioned on it being untaken,
unexpired and still the same call, in one transaction with the sessions (`DynamoDBCallSessionStore.replace`).
A taken item stays until its TTL, naming the contact that took it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from oratio.adapters.dynamodb import _deserialize, _DynamoDBAdapter
from oratio.budget import BudgetState
from oratio.domain.call_routing import Route, RouteReason
from oratio.domain.dial_through import DIALLED_THROUGH, DialThrough, TakeOver

if TYPE_CHECKING:
    from oratio.adapters.dynamodb import DynamoDBCallSessionStore
    from oratio.domain.calls import CallSession

DIAL_THROUGH_SK_PREFIX = "dial-through#"
_REFUSALS = {
    "guard": TakeOver.GONE,
    "session": TakeOver.CONTACT_EXISTS,
    "previous": TakeOver.PROVIDER_CALL_ENDED,
}


def dial_through_key(tenant_id: str, connect_number: str, caller_number: str) -> dict[str, Any]:
    return {"pk": {"S": tenant_id}, "sk": {"S": f"{DIAL_THROUGH_SK_PREFIX}{connect_number}#{caller_number}"}}


def _epoch(instant: datetime) -> str:
    return str(int(instant.timestamp()))


class DynamoDBDialThroughs(_DynamoDBAdapter):
    """Hand-offs in tenant_state; taking one over moves the webhook's session (and slot) to Connect's contact."""

    def __init__(self, tenant_state_table: str, sessions: DynamoDBCallSessionStore, *, client: Any | None = None):
        super().__init__(client)
        self._table = tenant_state_table
        self._sessions = sessions

    def hand_off(self, hand_off: DialThrough, now: datetime) -> bool:
        values: dict[str, Any] = {
            ":call": {"S": hand_off.provider_call_id},
            ":route": {"S": hand_off.route.value},
            ":reason": {"S": hand_off.reason.value},
            ":tier": {"S": hand_off.voice_tier},
            ":budget": {"S": hand_off.budget_state.value},
            ":expires": {"N": _epoch(hand_off.expires_at)},
            ":now": {"N": _epoch(now)},
        }
        assignments = [
            "provider_call_id = :call",
            "#route = :route",
            "reason = :reason",
            "voice_tier = :tier",
            "budget_state = :budget",
            "expires_at = :expires",
        ]
        removals = ["taken_by"]
        if hand_off.agent_id is not None:
            assignments.append("agent_id = :agent")
            values[":agent"] = {"S": hand_off.agent_id}
        else:
            removals.append("agent_id")
        applied, _ = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key=dial_through_key(hand_off.tenant_id, hand_off.connect_number, hand_off.caller_number),
            UpdateExpression="SET " + ", ".join(assignments) + " REMOVE " + ", ".join(removals),
            # A live hand-off of the same caller to the same number is not overwritten: it would be lost.
            ConditionExpression="attribute_not_exists(sk) OR expires_at <= :now OR attribute_exists(taken_by)",
            ExpressionAttributeNames={"#route": "route"},
            ExpressionAttributeValues=values,
        )
        return applied

    def pending(self, tenant_id: str, caller_number: str, connect_number: str, now: datetime) -> DialThrough | None:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key=dial_through_key(tenant_id, connect_number, caller_number),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        data = _deserialize(item)
        expires_at = datetime.fromtimestamp(int(data["expires_at"]), UTC)
        if "taken_by" in data or expires_at <= now:
            return None
        return DialThrough(
            tenant_id=tenant_id,
            caller_number=caller_number,
            connect_number=connect_number,
            provider_call_id=str(data["provider_call_id"]),
            route=Route(data["route"]),
            reason=RouteReason(data["reason"]),
            agent_id=data.get("agent_id"),
            voice_tier=str(data["voice_tier"]),
            budget_state=BudgetState(data.get("budget_state", BudgetState.OK.value)),
            expires_at=expires_at,
        )

    def take_over(self, hand_off: DialThrough, session: CallSession, now: datetime) -> TakeOver:
        take = {
            "TableName": self._table,
            "Key": dial_through_key(hand_off.tenant_id, hand_off.connect_number, hand_off.caller_number),
            "UpdateExpression": "SET taken_by = :contact",
            "ConditionExpression": "attribute_not_exists(taken_by) AND expires_at > :now AND provider_call_id = :call",
            "ExpressionAttributeValues": {
                ":contact": {"S": session.contact_id},
                ":now": {"N": _epoch(now)},
                ":call": {"S": hand_off.provider_call_id},
            },
        }
        refused = self._sessions.replace(hand_off.provider_call_id, session, now, outcome=DIALLED_THROUGH, guard=take)
        if refused == "previous":
            # The webhook's session is over (its slot given back): the hand-off is still used up, by this contact
            # alone, so that only this one is admitted afresh.
            applied, _ = self._conditional("update_item", self._table, **take)
            return TakeOver.PROVIDER_CALL_ENDED if applied else TakeOver.GONE
        return TakeOver.TAKEN if refused is None else _REFUSALS[refused]
