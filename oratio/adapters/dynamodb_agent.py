"""DynamoDB adapters for the agent's ports: customer context, conversation recorder, budget ledger, workflow state.

Item layouts (key design and access patterns in `oratio.tables`); every key starts with the tenant id:

customer_context  pk = "<tenant_id>#<identity>"
                  sk = "PROFILE"                       name, linked identities, lead data, score
                  sk = "CONV#<iso>#<session_id>"       one recent conversation summary (newest N kept)
                  sk = "LINK"                          `customer_key`: the profile this identity belongs to
conversations     pk = "<tenant_id>#<session_id>"
                  sk = "TURN#<seq:06d>"                every `TurnRecord` field
                  sk = "EVENT#<iso>#<kind>"            an `AgentEventRecord` (a "#<n>" suffix if the time repeats)
                  sk = "SEQUENCE"                      `turn_sequence`: the session's atomic turn counter
                  sk = "WORKFLOW"                      the session's `WorkflowState`
                  sk = "COST"                          "cost#<category>#<item>" and `total_usd` (ADD)
usage             pk = tenant_id, sk = "<YYYY-MM>#total", "<YYYY-MM>#<category>#<item>", "<YYYY-MM>#agent#<id>",
                  "DAY#<YYYY-MM-DD>#total|category#<category>|agent#<id>"; `usd` (ADD)

Numbers are stored as DynamoDB numbers (floats go through `Decimal(repr(x))`, so no binary noise is added);
times as ISO 8601 strings; `expires_at` (epoch seconds) is the TTL where the table has one. The ports are
async and boto3 blocks, so every call runs in a worker thread (`asyncio.to_thread`). Failures surface as
`DataAccessError` subclasses from `oratio.adapters.dynamodb`.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from oratio.adapters.dynamodb import (
    CorruptItemError,
    DataAccessError,
    _deserialize,
    _DynamoDBAdapter,
    _serialize,
    _translate,
)
from oratio.adapters.memory_agent import (
    RECENT_CONVERSATIONS_KEPT,
    USAGE_AGENT,
    USAGE_TOTAL,
    RecordConflictError,
    check_usage,
    cost_line,
    keep_recent,
    usage_period,
    usage_row_keys,
)
from oratio.agent.ports import (
    AgentEventRecord,
    ConversationSummary,
    CustomerContext,
    TurnRecord,
    WorkflowState,
)
from oratio.agent.resilience import RetryPolicy, backoff_delay
from oratio.customers.profiles import merged_profile
from oratio.domain.call_routing import DEFAULT_RETENTION_DAYS

PROFILE_SK = "PROFILE"
LINK_SK = "LINK"
CONVERSATION_SK_PREFIX = "CONV#"
TURN_SK_PREFIX = "TURN#"
EVENT_SK_PREFIX = "EVENT#"
SEQUENCE_SK = "SEQUENCE"
WORKFLOW_SK = "WORKFLOW"
COST_SK = "COST"  # a conversation's cost breakdown
COST_LINE_PREFIX = "cost#"  # COST item attributes: "cost#<category>#<item>" → USD
# A transaction holds at most 100 actions; a customer save is far below that in practice.
MAX_TRANSACTION_ITEMS = 100
# Two events of one kind in the same microsecond are rare; a few suffixes are plenty.
MAX_EVENT_KEY_SUFFIX = 5

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ItemConflictError(DataAccessError, RecordConflictError):
    """A write would replace a stored item holding something else (a reused turn number, a stale state)."""


def to_dynamo(value: Any) -> Any:
    """Plain Python values with floats as Decimals, as boto3's serializer needs (NaN and infinity refused)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """The inverse of `to_dynamo`: Decimals become ints when whole, floats otherwise."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [from_dynamo(v) for v in value]
    return value


def _expires_at(start: datetime, retention_days: int) -> int:
    return int((start + timedelta(days=retention_days)).timestamp())


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _AsyncDynamoDBAdapter(_DynamoDBAdapter):
    """The shared plumbing, with each blocking call moved off the event loop."""

    async def _acall(self, operation: str, table: str, **kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self._call, operation, table, **kwargs)

    def _put_new(self, table: str, item: Mapping[str, Any]) -> bool:
        """Put an item whose key must be unused. True if stored now or already stored identically."""
        wire = _serialize(item)
        try:
            self._client.put_item(
                TableName=table,
                Item=wire,
                ConditionExpression="attribute_not_exists(sk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as e:
            if _error_code(e) != "ConditionalCheckFailedException":
                raise _translate(e, "put_item", table) from e
            # A retried put that had in fact succeeded finds its own item: that is success, not a clash.
            stored = e.response.get("Item")
            return stored is not None and _deserialize(stored) == _deserialize(wire)
        except BotoCoreError as e:
            raise _translate(e, "put_item", table) from e
        return True


# ------------------------------------------------------------------------------------ customer context


def _profile_pk(tenant_id: str, identity: str) -> str:
    return f"{tenant_id}#{identity}"


def _summary_sk(summary: ConversationSummary) -> str:
    return f"{CONVERSATION_SK_PREFIX}{summary.at.isoformat()}#{summary.session_id}"


class DynamoDBCustomerContextStore(_AsyncDynamoDBAdapter):
    """Customers known across channels: a profile per customer, a link item per other identity of theirs.

    A caller who messaged on WhatsApp yesterday and calls today is found by the phone identity: its LINK
    item names the WhatsApp profile. A link always points at the profile that listed the identity last, and
    a link wins over a profile stored under the identity itself (that profile predates the linking).
    """

    def __init__(
        self,
        customer_context_table: str,
        *,
        keep_conversations: int = RECENT_CONVERSATIONS_KEPT,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        client: Any | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        super().__init__(client)
        self._table = customer_context_table
        self._keep = keep_conversations
        self._retention_days = retention_days
        self._clock = clock

    async def get(self, tenant_id: str, customer_key: str) -> CustomerContext | None:
        return await asyncio.to_thread(self._get, tenant_id, customer_key)

    async def save(self, context: CustomerContext) -> None:
        await asyncio.to_thread(self._save, context)

    async def customer_key(self, tenant_id: str, identity: str) -> str:
        """The profile key `identity` resolves to: its LINK item's target, else itself."""
        return await asyncio.to_thread(self._resolve, tenant_id, identity)

    async def link(self, tenant_id: str, identity: str, customer_key: str) -> CustomerContext:
        """Link `identity` to the customer known by `customer_key`: the merged profile and the identity's LINK are
        written in one transaction (through `save`), then what was stored under the identity itself is removed."""
        return await asyncio.to_thread(self._link, tenant_id, identity, customer_key)

    def _resolve(self, tenant_id: str, identity: str) -> str:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": _profile_pk(tenant_id, identity)}, "sk": {"S": LINK_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return str(_deserialize(item).get("customer_key") or identity) if item else identity

    def _link(self, tenant_id: str, identity: str, customer_key: str) -> CustomerContext:
        canonical = self._resolve(tenant_id, customer_key)
        target = self._context_from(tenant_id, self._items(tenant_id, canonical)) or CustomerContext(
            tenant_id=tenant_id, customer_key=canonical
        )
        if identity == canonical:
            return target
        own = self._items(tenant_id, identity)
        merged = merged_profile(target, self._context_from(tenant_id, own), identity)
        self._save(merged)
        # The LINK now wins over anything under the identity's own key; removing it keeps one copy of the facts.
        stale = [i for i in own if i["sk"] != LINK_SK]
        for start in range(0, len(stale), MAX_TRANSACTION_ITEMS):
            self._call(
                "transact_write_items",
                self._table,
                TransactItems=[
                    {"Delete": {"TableName": self._table, "Key": _serialize({"pk": i["pk"], "sk": i["sk"]})}}
                    for i in stale[start : start + MAX_TRANSACTION_ITEMS]
                ],
            )
        return merged

    def _items(self, tenant_id: str, identity: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _profile_pk(tenant_id, identity)}},
            "ConsistentRead": True,
        }
        while True:
            response = self._call("query", self._table, **request)
            items.extend(_deserialize(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _get(self, tenant_id: str, customer_key: str) -> CustomerContext | None:
        items = self._items(tenant_id, customer_key)
        link = next((i for i in items if i["sk"] == LINK_SK), None)
        if link is not None and link.get("customer_key") not in (None, customer_key):
            linked = self._context_from(tenant_id, self._items(tenant_id, str(link["customer_key"])))
            if linked is not None:
                return linked
        return self._context_from(tenant_id, items)

    def _context_from(self, tenant_id: str, items: list[dict[str, Any]]) -> CustomerContext | None:
        profile = next((i for i in items if i["sk"] == PROFILE_SK), None)
        if profile is None:
            return None
        try:
            summaries = [
                ConversationSummary.model_validate(
                    {k: i[k] for k in ("channel", "session_id", "at", "summary") if k in i}
                )
                for i in items
                if str(i["sk"]).startswith(CONVERSATION_SK_PREFIX)
            ]
            return CustomerContext.model_validate(
                {
                    "tenant_id": tenant_id,
                    "customer_key": profile["customer_key"],
                    "display_name": profile.get("display_name"),
                    "linked_identities": tuple(profile.get("linked_identities", ())),
                    "recent_conversations": keep_recent(summaries, self._keep),
                    "lead": from_dynamo(profile.get("lead", {})),
                    "qualification_score": from_dynamo(profile.get("qualification_score", 0)),
                    "updated_at": profile.get("updated_at"),
                }
            )
        except (KeyError, ValidationError) as e:
            raise CorruptItemError(f"customer context item {profile.get('pk')} is invalid") from e

    def _save(self, context: CustomerContext) -> None:
        tenant, key = context.tenant_id, context.customer_key
        pk = _profile_pk(tenant, key)
        updated_at = context.updated_at or self._clock()
        expires = _expires_at(updated_at, self._retention_days)
        kept = keep_recent(context.recent_conversations, self._keep)
        kept_sks = {_summary_sk(s) for s in kept}
        stored_sks = {str(i["sk"]) for i in self._items(tenant, key) if str(i["sk"]).startswith(CONVERSATION_SK_PREFIX)}
        identities = sorted({i for i in context.linked_identities if i != key})
        profile = {
            "pk": pk,
            "sk": PROFILE_SK,
            "tenant_id": tenant,
            "customer_key": key,
            "display_name": context.display_name,
            "linked_identities": identities,
            "lead": to_dynamo(context.lead),
            "qualification_score": to_dynamo(context.qualification_score),
            "updated_at": updated_at.isoformat(),
            "expires_at": expires,
        }
        actions: list[dict[str, Any]] = [{"Put": {"TableName": self._table, "Item": _serialize(profile)}}]
        for summary in kept:
            item = {
                "pk": pk,
                "sk": _summary_sk(summary),
                "channel": summary.channel,
                "session_id": summary.session_id,
                "at": summary.at.isoformat(),
                "summary": summary.summary,
                "expires_at": expires,
            }
            actions.append({"Put": {"TableName": self._table, "Item": _serialize(item)}})
        for sk in sorted(stored_sks - kept_sks):
            actions.append({"Delete": {"TableName": self._table, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}})
        for identity in identities:
            link = {
                "pk": _profile_pk(tenant, identity),
                "sk": LINK_SK,
                "tenant_id": tenant,
                "identity": identity,
                "customer_key": key,
                "updated_at": updated_at.isoformat(),
                "expires_at": expires,
            }
            actions.append({"Put": {"TableName": self._table, "Item": _serialize(link)}})
        # Links go in the same transaction as the profile, so a linked identity never points at nothing;
        # only a customer with a hundred-odd identities spills into a second transaction.
        for start in range(0, len(actions), MAX_TRANSACTION_ITEMS):
            self._call(
                "transact_write_items", self._table, TransactItems=actions[start : start + MAX_TRANSACTION_ITEMS]
            )


# ------------------------------------------------------------------------------------ conversations


def _session_pk(tenant_id: str, session_id: str) -> str:
    return f"{tenant_id}#{session_id}"


def turn_sk(sequence: int) -> str:
    """The sort key of a turn: zero-padded so turns sort in order."""
    return f"{TURN_SK_PREFIX}{sequence:06d}"


def turn_to_item(turn: TurnRecord, retention_days: int) -> dict[str, Any]:
    """The conversations-table item of a turn (plain Python values, numbers as Decimals)."""
    fields = to_dynamo(turn.model_dump(mode="python", exclude={"at"}))
    return {
        "pk": _session_pk(turn.tenant_id, turn.session_id),
        "sk": turn_sk(turn.sequence),
        **fields,
        "at": turn.at.isoformat(),
        "expires_at": _expires_at(turn.at, retention_days),
    }


def turn_from_item(item: Mapping[str, Any]) -> TurnRecord:
    """Read a turn from a deserialized TURN item."""
    # None values are left out of items, so an absent optional field reads back as None.
    fields = {name: from_dynamo(item[name]) if name in item else None for name in TurnRecord.model_fields}
    fields = {name: value for name, value in fields.items() if value is not None or _nullable(TurnRecord, name)}
    try:
        return TurnRecord.model_validate(fields)
    except ValidationError as e:
        raise CorruptItemError(f"turn item {item.get('pk')}/{item.get('sk')} is invalid") from e


def _nullable(model: type[BaseModel], name: str) -> bool:
    """Whether a required field of `model` accepts None (so its absence in an item means None)."""
    field = model.model_fields[name]
    return field.is_required() and type(None) in get_args(field.annotation)


def record_from_item[R: BaseModel](model: type[R], item: Mapping[str, Any], kind: str) -> R:
    """Read a `model` from a deserialized item, ignoring attributes the model does not have; a bad item is a
    `CorruptItemError` naming its key."""
    fields = {name: from_dynamo(item[name]) for name in model.model_fields if name in item}
    try:
        return model.model_validate(fields)
    except ValidationError as e:
        raise CorruptItemError(f"{kind} item {item.get('pk')}/{item.get('sk')} is invalid") from e


def event_from_item(item: Mapping[str, Any]) -> AgentEventRecord:
    """Read an agent event from a deserialized EVENT item."""
    return record_from_item(AgentEventRecord, item, "event")


class DynamoDBConversationRecorder(_AsyncDynamoDBAdapter):
    """Turns, agent events and the turn counter of each session in the conversations table.

    Turn numbers come from an atomic ADD on the session's SEQUENCE item (not the SESSION item: chat sessions
    have none, and a counter-only SESSION item would break the call router's reads). A turn is written only
    to an unused number, so two turns can never share one.
    """

    def __init__(
        self,
        conversations_table: str,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        client: Any | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        super().__init__(client)
        self._table = conversations_table
        self._retention_days = retention_days
        self._clock = clock

    async def next_sequence(self, tenant_id: str, session_id: str) -> int:
        response = await self._acall(
            "update_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": _session_pk(tenant_id, session_id)}, "sk": {"S": SEQUENCE_SK}},
            UpdateExpression=(
                "ADD #seq :one SET #expires = if_not_exists(#expires, :expires), "
                "tenant_id = :tenant, session_id = :session"
            ),
            ExpressionAttributeNames={"#seq": "turn_sequence", "#expires": "expires_at"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":expires": {"N": str(_expires_at(self._clock(), self._retention_days))},
                ":tenant": {"S": tenant_id},
                ":session": {"S": session_id},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["turn_sequence"]["N"])

    async def record_turn(self, turn: TurnRecord) -> None:
        item = turn_to_item(turn, self._retention_days)
        if not await asyncio.to_thread(self._put_new, self._table, item):
            raise ItemConflictError(
                f"DynamoDB put_item on {self._table}: turn {turn.sequence} of the session is already recorded"
            )

    async def record_event(self, event: AgentEventRecord) -> None:
        await asyncio.to_thread(self._record_event, event)

    def _record_event(self, event: AgentEventRecord) -> None:
        base_sk = f"{EVENT_SK_PREFIX}{event.at.isoformat()}#{event.kind}"
        item = {
            "pk": _session_pk(event.tenant_id, event.session_id),
            "tenant_id": event.tenant_id,
            "session_id": event.session_id,
            "kind": event.kind,
            "at": event.at.isoformat(),
            "detail": to_dynamo(event.detail),
            "expires_at": _expires_at(event.at, self._retention_days),
        }
        for n in range(1, MAX_EVENT_KEY_SUFFIX + 1):
            sk = base_sk if n == 1 else f"{base_sk}#{n}"
            if self._put_new(self._table, {**item, "sk": sk}):
                return
        raise ItemConflictError(f"DynamoDB put_item on {self._table}: too many {event.kind} events at one instant")

    async def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]:
        """The session's turns in sequence order (the transcript)."""
        items = await asyncio.to_thread(self._query_prefix, tenant_id, session_id, TURN_SK_PREFIX)
        return [turn_from_item(i) for i in items]

    async def events(self, tenant_id: str, session_id: str) -> list[AgentEventRecord]:
        """The session's agent events in time order."""
        items = await asyncio.to_thread(self._query_prefix, tenant_id, session_id, EVENT_SK_PREFIX)
        return [event_from_item(i) for i in items]

    def _query_prefix(self, tenant_id: str, session_id: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": _session_pk(tenant_id, session_id)},
                ":prefix": {"S": prefix},
            },
        }
        while True:
            response = self._call("query", self._table, **request)
            items.extend(_deserialize(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


# ------------------------------------------------------------------------------------ budget ledger


CHARGE_MARKER_TAKEN = "ConditionalCheckFailed"  # the cancellation reason of the marker's put: counted before
# A charge's marker outlives any retry of it by far (retries happen within minutes), then expires (usage TTL).
CHARGE_MARKER_DAYS = 7
CHARGE_MARKER_PREFIX = "CHARGE#"
# Charges refused because another charge held the month's total (or the table was throttled) are tried again:
# up to 8 tries, pausing up to 0.05, 0.1, 0.2 ... s (full jitter, at most 1 s).
CHARGE_RETRY = RetryPolicy(attempts=8, base_seconds=0.05, cap_seconds=1.0)
CHARGE_RETRYABLE = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
CHARGE_RETRYABLE_REASONS = frozenset(
    {"None", None, "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


class DynamoDBBudgetLedger(_AsyncDynamoDBAdapter):
    """Spend in the usage table: atomic ADDs into every row a spend belongs to (`usage_row_keys`: the month's
    total, its category/item, the day's total and category, the agent's month and day), and, with a
    conversations table and a session, into that conversation's COST item (one number per
    "<category>#<item>" line plus `total_usd`).

    One charge is one `TransactWriteItems`: a marker item `CHARGE#<charge id>` put only if absent, and the ADDs
    into every row (and the COST item). So a charge counts all at once or not at all, and exactly once: a retry of
    the same request (botocore's own, after a timeout that had in fact committed) carries the same
    ClientRequestToken, and a retry by the caller after that window finds the marker and adds nothing. Every
    charge of a tenant touches the month's total, so concurrent charges can cancel each other
    (`TransactionConflict`): those, and throttling, are tried again with jittered backoff (`CHARGE_RETRY`); a
    charge still refused then raises, having added nothing.
    """

    def __init__(
        self,
        usage_table: str,
        *,
        conversations_table: str | None = None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        client: Any | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        super().__init__(client)
        self._table = usage_table
        self._conversations = conversations_table
        self._retention_days = retention_days
        self._clock = clock

    async def month_to_date_usd(self, tenant_id: str, at: datetime) -> float:
        return await self._total(tenant_id, f"{usage_period(at)}#{USAGE_TOTAL}")

    async def agent_month_to_date_usd(self, tenant_id: str, agent_id: str, at: datetime) -> float:
        return await self._total(tenant_id, f"{usage_period(at)}#{USAGE_AGENT}#{agent_id}")

    async def _total(self, tenant_id: str, sort_key: str) -> float:
        response = await self._acall(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": tenant_id}, "sk": {"S": sort_key}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return float(_deserialize(item).get("usd", 0)) if item else 0.0

    async def add(
        self,
        tenant_id: str,
        at: datetime,
        category: str,
        item: str,
        usd: float,
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        charge_id: str | None = None,
    ) -> None:
        check_usage(category, item, usd, agent_id)
        charge_id = charge_id or str(uuid.uuid4())  # without one from the caller, this call's own retries
        amount = {"N": str(Decimal(repr(usd)))}
        now = {"S": self._clock().isoformat()}
        writes = [self._charge_marker(tenant_id, charge_id, now, at)]
        writes += [
            self._row_update(tenant_id, key, amount, now, category, item, agent_id)
            for key in usage_row_keys(at, category, item, agent_id)
        ]
        if session_id is not None and self._conversations is not None:
            writes.append(self._cost_line_update(tenant_id, session_id, category, item, amount, at))
        await asyncio.to_thread(self._transact_once, writes, tenant_id, charge_id)

    def _transact_once(self, writes: list[dict[str, Any]], tenant_id: str, charge_id: str) -> None:
        # The token makes a resent request (same token, within DynamoDB's 10 minutes) a no-op that succeeds.
        token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"oratio-charge:{tenant_id}:{charge_id}"))
        for attempt in range(CHARGE_RETRY.attempts):
            try:
                self._client.transact_write_items(TransactItems=writes, ClientRequestToken=token)
                return
            except ClientError as e:
                reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
                if _error_code(e) == "TransactionCanceledException" and reasons and reasons[0] == CHARGE_MARKER_TAKEN:
                    return  # the marker is there: this charge was counted before
                retryable = _error_code(e) in CHARGE_RETRYABLE or (
                    _error_code(e) == "TransactionCanceledException"
                    and all(r in CHARGE_RETRYABLE_REASONS for r in reasons)
                )
                if not retryable or attempt + 1 == CHARGE_RETRY.attempts:
                    raise _translate(e, "transact_write_items", self._table) from e
            except BotoCoreError as e:
                raise _translate(e, "transact_write_items", self._table) from e
            time.sleep(backoff_delay(CHARGE_RETRY, attempt, random.random))

    def _charge_marker(self, tenant_id: str, charge_id: str, now: dict[str, str], at: datetime) -> dict[str, Any]:
        """The put that makes the charge count once: absent → put (and the ADDs run); present → nothing runs."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": tenant_id},
                    "sk": {"S": f"{CHARGE_MARKER_PREFIX}{charge_id}"},
                    "charged_at": now,
                    "expires_at": {"N": str(_expires_at(at, CHARGE_MARKER_DAYS))},
                },
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def _row_update(
        self,
        tenant_id: str,
        key: str,
        amount: dict[str, str],
        now: dict[str, str],
        category: str,
        item: str,
        agent_id: str | None,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {":usd": amount, ":now": now, ":category": {"S": category}, ":item": {"S": item}}
        assignments = "updated_at = :now, category = :category, #item = :item"
        if agent_id is not None:
            values[":agent"] = {"S": agent_id}
            assignments += ", agent_id = :agent"
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": tenant_id}, "sk": {"S": key}},
                "UpdateExpression": f"ADD usd :usd SET {assignments}",
                "ExpressionAttributeNames": {"#item": "item"},
                "ExpressionAttributeValues": values,
            }
        }

    def _cost_line_update(
        self, tenant_id: str, session_id: str, category: str, item: str, amount: dict[str, str], at: datetime
    ) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": str(self._conversations),
                "Key": {"pk": {"S": _session_pk(tenant_id, session_id)}, "sk": {"S": COST_SK}},
                "UpdateExpression": "ADD #line :usd, total_usd :usd SET #expires = if_not_exists(#expires, :expires)",
                "ExpressionAttributeNames": {
                    "#line": COST_LINE_PREFIX + cost_line(category, item),
                    "#expires": "expires_at",
                },
                "ExpressionAttributeValues": {
                    ":usd": amount,
                    ":expires": {"N": str(_expires_at(at, self._retention_days))},
                },
            }
        }


def cost_lines_from_item(item: Mapping[str, Any]) -> dict[str, float]:
    """A deserialized COST item's breakdown: "<category>#<item>" → USD."""
    return {
        key.removeprefix(COST_LINE_PREFIX): float(value)
        for key, value in item.items()
        if key.startswith(COST_LINE_PREFIX)
    }


# ------------------------------------------------------------------------------------ workflow state


class DynamoDBWorkflowStateStore(_AsyncDynamoDBAdapter):
    """Each session's `WorkflowState` as the WORKFLOW item of its conversation."""

    def __init__(
        self,
        conversations_table: str,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        client: Any | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        super().__init__(client)
        self._table = conversations_table
        self._retention_days = retention_days
        self._clock = clock

    async def get(self, tenant_id: str, session_id: str) -> WorkflowState | None:
        response = await self._acall(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": _session_pk(tenant_id, session_id)}, "sk": {"S": WORKFLOW_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        stored = _deserialize(item)
        fields = {name: from_dynamo(stored[name]) for name in WorkflowState.model_fields if name in stored}
        try:
            return WorkflowState.model_validate(fields)
        except ValidationError as e:
            raise CorruptItemError(f"workflow item {stored.get('pk')} is invalid") from e

    async def save(self, tenant_id: str, session_id: str, state: WorkflowState) -> None:
        """Store the state unless a later one (more turns) is already stored: a stale writer must not win."""
        await asyncio.to_thread(self._save, tenant_id, session_id, state)

    def _save(self, tenant_id: str, session_id: str, state: WorkflowState) -> None:
        now = self._clock()
        item = {
            "pk": _session_pk(tenant_id, session_id),
            "sk": WORKFLOW_SK,
            "tenant_id": tenant_id,
            "session_id": session_id,
            **to_dynamo(state.model_dump(mode="python")),
            "updated_at": now.isoformat(),
            "expires_at": _expires_at(now, self._retention_days),
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_serialize(item),
                ConditionExpression="attribute_not_exists(sk) OR turns <= :turns",
                ExpressionAttributeValues={":turns": {"N": str(state.turns)}},
            )
        except ClientError as e:
            if _error_code(e) == "ConditionalCheckFailedException":
                raise ItemConflictError(
                    f"DynamoDB put_item on {self._table}: a newer workflow state is already stored"
                ) from e
            raise _translate(e, "put_item", self._table) from e
        except BotoCoreError as e:
            raise _translate(e, "put_item", self._table) from e
