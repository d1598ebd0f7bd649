"""DynamoDB adapters for the agent directory and the call session store (tables described in `oratio.tables`).

Item layouts (the key design and access patterns are in `oratio.tables`):

agents         pk = vendor_id, sk = agent_id; `phone_number` (only when set) feeds GSI `by_phone_number`,
               `vendor_status` = "<vendor_id>#<status>" feeds GSI `by_status`; times are ISO 8601 strings.
conversations  pk = "<tenant_id>#<contact_id>", sk = "SESSION"; `agent_key` = "<tenant_id>#<agent_id>" and
               `started_at` feed GSI `by_agent`; `expires_at` (epoch seconds) is the TTL.
tenant_state   pk = tenant_id, sk = "calls#active"; `active` counts the open, counted sessions.

Every failure surfaces as a `DataAccessError` subclass raised from the botocore error.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError

from oratio.domain.agents import Agent, AgentStatus, preferred_agent
from oratio.domain.call_routing import DEFAULT_RETENTION_DAYS, ROUTING_PROFILE_ENV_VAR, RoutingProfile
from oratio.domain.call_slots import SlotReclaimer
from oratio.domain.calls import (
    CallRouter,
    CallSession,
    CallStatus,
    CloseOutcome,
    CloseResult,
    LeaseRenewal,
    OpenOutcome,
    OpenResult,
)
from oratio.ports import Clock
from oratio.retry import RetryPolicy, backoff_delay
from oratio.tables import (
    AGENT_DEFINITIONS,
    AGENTS,
    CONVERSATIONS,
    LEASE_INDEX,
    NUMBERS,
    TENANT_STATE,
    USAGE,
    table_settings,
)

SESSION_SK = "SESSION"
CONDITION_FAILED = "ConditionalCheckFailedException"
ACTIVE_CALLS_SK = "calls#active"
PHONE_NUMBER_INDEX = "by_phone_number"

# Amazon Connect gives a synchronous Lambda at most 8 s, so one slow DynamoDB call must fail fast
# enough to leave time for a retry and for the caller to hear the unavailable message.
CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "max_attempts": 3},
)
# A number belongs to one agent of its tenant; a few rows allow for a stale one during a reassignment.
MAX_NUMBER_CANDIDATES = 5

_UNAVAILABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DataAccessError(Exception):
    """A DynamoDB call failed; the message names the operation and the table, never the request data."""


class DataUnavailableError(DataAccessError):
    """DynamoDB could not be reached in time or throttled us; retrying later may succeed."""


class TableNotFoundError(DataAccessError):
    """The configured table does not exist (wrong name in the environment or not deployed)."""


class AccessDeniedError(DataAccessError):
    """The function's role may not perform this operation on this table."""


class TransactionConflictError(DataAccessError):
    """Concurrent transactions on the same item kept conflicting after our retries."""


class CorruptItemError(DataAccessError):
    """A stored item does not match the model it should hold."""


def _translate(error: ClientError | BotoCoreError, operation: str, table: str) -> DataAccessError:
    where = f"DynamoDB {operation} on {table}"
    if isinstance(error, BotoCoreError):
        return DataUnavailableError(f"{where}: {type(error).__name__}")
    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    if code == "ResourceNotFoundException":
        return TableNotFoundError(f"{where}: table not found")
    if code in {"AccessDeniedException", "UnrecognizedClientException"}:
        return AccessDeniedError(f"{where}: access denied ({code})")
    if code in _UNAVAILABLE_CODES:
        return DataUnavailableError(f"{where}: {code}")
    return DataAccessError(f"{where}: {code}")


def _serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def dynamodb_client() -> Any:
    """A DynamoDB client with Oratio's timeouts and retry mode, for the current region and credentials."""
    return boto3.client("dynamodb", config=CLIENT_CONFIG)


class _DynamoDBAdapter:
    """Shared plumbing: a client made on first use and error translation."""

    def __init__(self, client: Any | None) -> None:
        self._client_instance = client

    @property
    def _client(self) -> Any:
        # Built on first use, not at import or construction, so a cold start pays for it only when needed
        # and tests can start their AWS mock first.
        if self._client_instance is None:
            self._client_instance = dynamodb_client()
        return self._client_instance

    def _call(self, operation: str, table: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = getattr(self._client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as e:
            raise _translate(e, operation, table) from e
        return cast(dict[str, Any], response)

    def _conditional(self, operation: str, table: str, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
        """Run a conditional write: (True, response) when it was applied, (False, the error response) when its
        condition failed; any other failure raises a `DataAccessError`."""
        try:
            response = getattr(self._client, operation)(**kwargs)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                return False, dict(e.response)
            raise _translate(e, operation, table) from e
        except BotoCoreError as e:
            raise _translate(e, operation, table) from e
        return True, dict(response)


# ---------------------------------------------------------------------------------------------- agents


def agent_status_key(vendor_id: str, status: AgentStatus) -> str:
    """The `vendor_status` value of GSI `by_status` for a vendor's agents in a status."""
    return f"{vendor_id}#{status.value}"


def agent_to_item(agent: Agent) -> dict[str, Any]:
    """The agents-table item for an agent (plain Python values)."""
    return {
        "pk": agent.vendor_id,
        "sk": agent.agent_id,
        "vendor_id": agent.vendor_id,
        "agent_id": agent.agent_id,
        "name": agent.name,
        "status": agent.status.value,
        "vendor_status": agent_status_key(agent.vendor_id, agent.status),
        # Left out when None: a GSI key attribute may be absent but never null.
        "phone_number": agent.phone_number,
        "created_at": agent.created_at.isoformat(),
        "updated_at": agent.updated_at.isoformat(),
        "version": agent.version,
        "live_version": agent.live_version,
    }


def agent_from_item(item: Mapping[str, Any]) -> Agent:
    """Read an agent from a deserialized item, ignoring attributes other paths add (settings, character)."""
    fields = {name: item[name] for name in Agent.model_fields if name in item}
    for number in ("version", "live_version"):
        if number in fields:
            fields[number] = int(fields[number])
    try:
        return Agent.model_validate(fields)
    except ValidationError as e:
        raise CorruptItemError(f"agent item {item.get('pk')}/{item.get('sk')} is invalid") from e


class DynamoDBAgentDirectory(_DynamoDBAdapter):
    """Resolves dialed numbers to agents: GSI lookup for the key, then a consistent read of the agent."""

    def __init__(self, agents_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = agents_table

    def find_by_number(self, tenant_id: str, e164: str) -> Agent | None:
        """The tenant's agent answering this number, as it is now (the GSI may lag; the consistent read does
        not). Index entries of other tenants are filtered out before any item is read: another tenant's agent
        claiming the same number can neither shadow this tenant's nor be read with this tenant's grants."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PHONE_NUMBER_INDEX,
            "KeyConditionExpression": "#phone = :phone",
            "FilterExpression": "pk = :tenant",
            "ExpressionAttributeNames": {"#phone": "phone_number"},
            "ExpressionAttributeValues": {":phone": {"S": e164}, ":tenant": {"S": tenant_id}},
        }
        keys: list[dict[str, Any]] = []
        while len(keys) < MAX_NUMBER_CANDIDATES:
            response = self._call("query", self._table, **request)
            keys.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}
        candidates: list[Agent] = []
        for key in keys[:MAX_NUMBER_CANDIDATES]:
            agent = self._get(key["pk"], key["sk"])
            # The index is eventually consistent: the number may have moved since; trust the table.
            if agent is not None and agent.phone_number == e164 and agent.vendor_id == tenant_id:
                candidates.append(agent)
        return preferred_agent(candidates)

    def get_agent(self, vendor_id: str, agent_id: str) -> Agent | None:
        """One agent by key, read consistently."""
        return self._get({"S": vendor_id}, {"S": agent_id})

    def put_agent(self, agent: Agent) -> None:
        """Create or replace an agent (seeding for the demo and tests; the vendor API owns real writes)."""
        self._call("put_item", self._table, TableName=self._table, Item=_serialize(agent_to_item(agent)))

    def _get(self, pk: Mapping[str, Any], sk: Mapping[str, Any]) -> Agent | None:
        response = self._call(
            "get_item", self._table, TableName=self._table, Key={"pk": pk, "sk": sk}, ConsistentRead=True
        )
        item = response.get("Item")
        return agent_from_item(_deserialize(item)) if item else None


# --------------------------------------------------------------------------------------- call sessions
def session_key(tenant_id: str, contact_id: str) -> dict[str, Any]:
    """The conversations-table key of a call session, in DynamoDB's wire format."""
    return {"pk": {"S": f"{tenant_id}#{contact_id}"}, "sk": {"S": SESSION_SK}}


def _epoch(instant: datetime | None) -> int | None:
    # Whole seconds, rounded up: a lease never ends earlier in the table than in the domain.
    return None if instant is None else int(-(-instant.timestamp() // 1))


def session_to_item(session: CallSession, retention_days: int) -> dict[str, Any]:
    """The conversations-table SESSION item for a call session (plain Python values)."""
    expires = session.started_at + timedelta(days=retention_days)
    is_open = session.status is CallStatus.OPEN
    return {
        "pk": f"{session.tenant_id}#{session.contact_id}",
        "sk": SESSION_SK,
        "tenant_id": session.tenant_id,
        "contact_id": session.contact_id,
        "agent_id": session.agent_id,
        # Only sessions with an agent appear in the agent's conversation list (GSI by_agent).
        "agent_key": f"{session.tenant_id}#{session.agent_id}" if session.agent_id else None,
        "channel": session.channel,
        "dialed_number": session.dialed_number,
        "caller_number": session.caller_number,
        "route": session.route.value,
        "reason": session.reason.value,
        "voice_tier": session.voice_tier,
        "started_at": session.started_at.isoformat(),
        "counted_against_limit": session.counted_against_limit,
        "status": session.status.value,
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "duration_seconds": session.duration_seconds,
        "outcome": session.outcome,
        "total_cost_usd": Decimal(repr(session.total_cost_usd)) if session.total_cost_usd is not None else None,
        # Only open sessions with a lease appear in the tenant's lease index (GSI by_lease); closing removes it.
        "lease_tenant": session.tenant_id if is_open and session.lease_expires_at else None,
        "lease_expires_at": _epoch(session.lease_expires_at),
        "lease_bound_at": _epoch(session.lease_bound_at),
        "last_seen_at": session.last_seen_at.isoformat() if session.last_seen_at else None,
        "expires_at": int(expires.timestamp()),
    }


_EPOCH_FIELDS = ("lease_expires_at", "lease_bound_at")


def session_from_item(item: Mapping[str, Any]) -> CallSession:
    """Read a call session from a deserialized SESSION item; other attributes (e.g. agent_key) are ignored."""
    fields = {name: item[name] for name in CallSession.model_fields if name in item}
    for name in _EPOCH_FIELDS:
        if name in fields:
            fields[name] = datetime.fromtimestamp(int(fields[name]), UTC)
    try:
        return CallSession.model_validate(fields)
    except ValidationError as e:
        raise CorruptItemError(f"session item {item.get('pk')} is invalid") from e


def _cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


@dataclass(frozen=True, slots=True)
class ConflictRetry:
    """How the session store retries a transaction that conflicts on the tenant's live-call counter.

    Every call of a tenant takes and gives back its slot on one counter item, and DynamoDB cancels a
    transaction that overlaps another on the same item. Sized for a burst of 50 calls arriving together:
    with one winner per round the last caller loses 49 rounds, so up to `max_attempts` tries, each after a
    full-jitter pause (uniform in 0 .. min(cap, base * 2^attempt)) that spreads the burst out, within
    `budget_seconds` of the first try — the router has 5 s (Connect waits at most 8), and the rest is left to
    record the contact and answer. `tests/unit/test_conflict_retry_sizing.py` replays such a burst.
    """

    max_attempts: int = 60
    base_seconds: float = 0.01
    cap_seconds: float = 0.08
    budget_seconds: float = 3.0

    def pause(self, attempt: int, rng: random.Random) -> float:
        """The pause before retry number `attempt` (0 for the first retry)."""
        policy = RetryPolicy(attempts=self.max_attempts, base_seconds=self.base_seconds, cap_seconds=self.cap_seconds)
        return backoff_delay(policy, attempt, rng.random)


class _Cancelled(Exception):
    """A transaction cancelled for a reason other than a conflict: the codes say which item refused it."""

    def __init__(self, codes: list[str], error: ClientError) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes
        self.error = error


class DynamoDBCallSessionStore(_DynamoDBAdapter):
    """Sessions in conversations and live-call counters in tenant_state, changed in transactions."""

    def __init__(
        self,
        conversations_table: str,
        tenant_state_table: str,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        client: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        conflict_retry: ConflictRetry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(client)
        self._conversations = conversations_table
        self._tenant_state = tenant_state_table
        self._retention_days = retention_days
        self._sleep = sleep
        self._monotonic = monotonic
        self._retry = conflict_retry or ConflictRetry()
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not secrets
        self.conflicts = 0  # transactions cancelled by a conflict and retried (for benchmarks and logs)

    def get(self, tenant_id: str, contact_id: str) -> CallSession | None:
        """The session of a contact, read consistently, or None."""
        response = self._call(
            "get_item",
            self._conversations,
            TableName=self._conversations,
            Key=session_key(tenant_id, contact_id),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return session_from_item(_deserialize(item)) if item else None

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """Run a transaction, retrying conflicts within the `ConflictRetry` budget; raises `_Cancelled` when an
        item's condition refused it, `TransactionConflictError` when the conflicts outlast the budget."""
        started = self._monotonic()
        for attempt in range(self._retry.max_attempts):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise _translate(e, "transact_write_items", self._conversations) from e
                codes = _cancellation_codes(e)
                if "TransactionConflict" not in codes or "ConditionalCheckFailed" in codes:
                    raise _Cancelled(codes, e) from e
                self.conflicts += 1
                pause = self._retry.pause(attempt, self._rng)
                last = attempt + 1 >= self._retry.max_attempts
                if last or self._monotonic() - started + pause > self._retry.budget_seconds:
                    raise TransactionConflictError(
                        f"DynamoDB transact_write_items on {self._tenant_state}: kept conflicting "
                        f"({attempt + 1} attempts in {self._monotonic() - started:.2f} s)"
                    ) from e
                self._sleep(pause)
            except BotoCoreError as e:
                raise _translate(e, "transact_write_items", self._conversations) from e

    def open(self, session: CallSession, max_concurrent_calls: int) -> OpenResult:
        """Put the session if new and, when it counts, take a slot below the limit, in one transaction."""
        put = {
            "TableName": self._conversations,
            "Item": _serialize(session_to_item(session, self._retention_days)),
            "ConditionExpression": "attribute_not_exists(pk)",
            # The stored session comes back with the failure, saving a read on a retried invocation.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if not session.counted_against_limit:
            return self._put_uncounted(session, put)
        take_slot = {
            "TableName": self._tenant_state,
            "Key": {"pk": {"S": session.tenant_id}, "sk": {"S": ACTIVE_CALLS_SK}},
            "UpdateExpression": "SET #active = if_not_exists(#active, :zero) + :one, #updated = :now",
            "ConditionExpression": "attribute_not_exists(#active) OR #active < :max",
            "ExpressionAttributeNames": {"#active": "active", "#updated": "updated_at"},
            "ExpressionAttributeValues": {
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":max": {"N": str(max_concurrent_calls)},
                ":now": {"S": session.started_at.isoformat()},
            },
        }
        try:
            self._transact([{"Put": put}, {"Update": take_slot}])
        except _Cancelled as cancelled:
            codes = cancelled.codes
            if codes and codes[0] == "ConditionalCheckFailed":
                return self._already_exists(session, cancelled.error)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return OpenResult(OpenOutcome.OVER_CAPACITY, session)
            raise DataAccessError(
                f"DynamoDB transact_write_items on {self._conversations}: cancelled ({', '.join(codes)})"
            ) from cancelled.error
        return OpenResult(OpenOutcome.CREATED, session)

    def close(
        self,
        tenant_id: str,
        contact_id: str,
        ended_at: datetime,
        *,
        outcome: str | None = None,
        total_cost_usd: float | None = None,
        lease_expired_by: datetime | None = None,
    ) -> CloseResult:
        """Close an open session and release its slot in one transaction, once.

        The session update is conditioned on `status = open` (and, with `lease_expired_by`, on its lease having
        run out by then), so of two deliveries of the same end (or two paths ending the call) only the first
        flips the session and gives back the slot; the other finds it closed and changes nothing. The counter
        never goes below zero.
        """
        session = self.get(tenant_id, contact_id)
        if session is None:
            return CloseResult(CloseOutcome.UNKNOWN)
        if session.status is CallStatus.CLOSED:
            return CloseResult(CloseOutcome.ALREADY_CLOSED, session)
        if lease_expired_by is not None and not _lease_ran_out(session, lease_expired_by):
            return CloseResult(CloseOutcome.STILL_ALIVE, session)
        closed = session.closed(ended_at, outcome, total_cost_usd)
        close_session = self._close_session_update(closed, ended_at, lease_expired_by)
        release_slot = {
            "TableName": self._tenant_state,
            "Key": {"pk": {"S": tenant_id}, "sk": {"S": ACTIVE_CALLS_SK}},
            "UpdateExpression": "SET #active = #active - :one, #updated = :now",
            "ConditionExpression": "#active > :zero",
            "ExpressionAttributeNames": {"#active": "active", "#updated": "updated_at"},
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":zero": {"N": "0"},
                ":now": {"S": ended_at.isoformat()},
            },
        }
        items: list[dict[str, Any]] = [{"Update": close_session}]
        if session.counted_against_limit:
            items.append({"Update": release_slot})
        try:
            self._transact(items)
        except _Cancelled as cancelled:
            codes = cancelled.codes
            if codes and codes[0] == "ConditionalCheckFailed":
                return self._stored_after_failed_close(tenant_id, contact_id, cancelled.error)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                # The counter is already at zero (drift); the session must still be closed.
                return self._close_without_slot(closed, close_session)
            raise DataAccessError(
                f"DynamoDB transact_write_items on {self._conversations}: cancelled ({', '.join(codes)})"
            ) from cancelled.error
        return CloseResult(CloseOutcome.CLOSED, closed)

    def replace(
        self, previous_contact_id: str, session: CallSession, ended_at: datetime, *, outcome: str, guard: dict[str, Any]
    ) -> str | None:
        """Close the open session `previous_contact_id` and open `session` in its place, with `guard` (one more
        conditional write) in the same transaction; the tenant's counter is not touched, so the slot the previous
        session held is the new one's. None when done, else what refused it: "guard", "session" (`session` already
        exists) or "previous" (the previous session is gone or already closed)."""
        previous = self.get(session.tenant_id, previous_contact_id)
        if previous is None:
            return "previous"
        # A closed previous session still goes to the transaction: the guard's refusal, if any, comes first.
        if previous.counted_against_limit != session.counted_against_limit:
            raise ValueError("a session can take another's place only if both hold a slot or neither does")
        put = {
            "TableName": self._conversations,
            "Item": _serialize(session_to_item(session, self._retention_days)),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        close = self._close_session_update(previous.closed(ended_at, outcome), ended_at, None)
        try:
            self._transact([{"Update": guard}, {"Put": put}, {"Update": close}])
        except _Cancelled as cancelled:
            for name, code in zip(("guard", "session", "previous"), cancelled.codes, strict=False):
                if code == "ConditionalCheckFailed":
                    return name
            raise DataAccessError(
                f"DynamoDB transact_write_items on {self._conversations}: cancelled ({', '.join(cancelled.codes)})"
            ) from cancelled.error
        return None

    def _close_session_update(
        self, closed: CallSession, ended_at: datetime, lease_expired_by: datetime | None
    ) -> dict[str, Any]:
        """The conditional update that flips a SESSION item from open to `closed`'s end state (and out of the
        lease index)."""
        assignments = ["#status = :closed", "ended_at = :ended", "duration_seconds = :duration"]
        values: dict[str, Any] = {
            ":closed": {"S": CallStatus.CLOSED.value},
            ":open": {"S": CallStatus.OPEN.value},
            ":ended": {"S": ended_at.isoformat()},
            ":duration": {"N": str(closed.duration_seconds or 0)},
        }
        if closed.outcome is not None:
            assignments.append("#outcome = :outcome")
            values[":outcome"] = {"S": closed.outcome}
        if closed.total_cost_usd is not None:
            assignments.append("total_cost_usd = :cost")
            values[":cost"] = {"N": repr(closed.total_cost_usd)}
        names = {"#status": "status"} | ({"#outcome": "outcome"} if closed.outcome is not None else {})
        condition = "#status = :open"
        if lease_expired_by is not None:
            # A renewal between the read and this write means the call is alive: it keeps its slot.
            condition += " AND lease_expires_at < :expired_by"
            values[":expired_by"] = {"N": str(int(lease_expired_by.timestamp()))}
        return {
            "TableName": self._conversations,
            "Key": session_key(closed.tenant_id, closed.contact_id),
            "UpdateExpression": "SET " + ", ".join(assignments) + " REMOVE lease_tenant",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            # The stored session comes back with the failure, saving a read on a redelivered end.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _stored_after_failed_close(self, tenant_id: str, contact_id: str, error: ClientError) -> CloseResult:
        # Closed meanwhile by another delivery or path, renewed meanwhile, or deleted: change nothing.
        reasons = error.response.get("CancellationReasons") or []
        item = reasons[0].get("Item") if reasons else None
        return self._not_closed(session_from_item(_deserialize(item)) if item else self.get(tenant_id, contact_id))

    @staticmethod
    def _not_closed(stored: CallSession | None) -> CloseResult:
        if stored is None:
            return CloseResult(CloseOutcome.UNKNOWN)
        if stored.status is CallStatus.CLOSED:
            return CloseResult(CloseOutcome.ALREADY_CLOSED, stored)
        return CloseResult(CloseOutcome.STILL_ALIVE, stored)

    def _close_without_slot(self, closed: CallSession, close_session: dict[str, Any]) -> CloseResult:
        try:
            self._client.update_item(**close_session)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                item = e.response.get("Item")
                stored = session_from_item(_deserialize(item)) if item else None
                return self._not_closed(stored or self.get(closed.tenant_id, closed.contact_id))
            raise _translate(e, "update_item", self._conversations) from e
        except BotoCoreError as e:
            raise _translate(e, "update_item", self._conversations) from e
        return CloseResult(CloseOutcome.CLOSED, closed)

    def renew_lease(self, tenant_id: str, contact_id: str, seen_at: datetime, until: datetime | None) -> LeaseRenewal:
        """Extend an open session's lease to `until`, or to its bound when `until` is None or past it.

        One conditional update in the common case; when `until` is past the bound, the failed condition returns
        the item and a second update sets the lease to the bound. Only the SESSION item is written (never the
        tenant's busy counter), so renewals do not conflict with admissions.
        """
        names = {"#status": "status"}
        if until is not None:
            applied, response = self._conditional(
                "update_item",
                self._conversations,
                TableName=self._conversations,
                Key=session_key(tenant_id, contact_id),
                UpdateExpression="SET lease_expires_at = :until, last_seen_at = :seen",
                ConditionExpression="#status = :open AND lease_bound_at >= :until",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":until": {"N": str(_epoch(until))},
                    ":seen": {"S": seen_at.isoformat()},
                    ":open": {"S": CallStatus.OPEN.value},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            if applied:
                return LeaseRenewal.RENEWED
            item = response.get("Item")
            stored = session_from_item(_deserialize(item)) if item else None
            if stored is None or stored.lease_bound_at is None:
                return LeaseRenewal.UNKNOWN
            if stored.status is CallStatus.CLOSED:
                return LeaseRenewal.CLOSED
        applied, response = self._conditional(
            "update_item",
            self._conversations,
            TableName=self._conversations,
            Key=session_key(tenant_id, contact_id),
            UpdateExpression="SET lease_expires_at = lease_bound_at, last_seen_at = :seen",
            ConditionExpression="#status = :open AND attribute_exists(lease_bound_at)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":seen": {"S": seen_at.isoformat()}, ":open": {"S": CallStatus.OPEN.value}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if applied:
            return LeaseRenewal.AT_BOUND
        item = response.get("Item")
        if item and _deserialize(item).get("status") == CallStatus.CLOSED.value:
            return LeaseRenewal.CLOSED
        return LeaseRenewal.UNKNOWN

    def expired(self, tenant_id: str, now: datetime, limit: int) -> list[str]:
        """Open sessions of the tenant whose lease ran out before `now`, oldest lease first (GSI by_lease)."""
        response = self._call(
            "query",
            self._conversations,
            TableName=self._conversations,
            IndexName=LEASE_INDEX,
            KeyConditionExpression="lease_tenant = :tenant AND lease_expires_at < :now",
            ExpressionAttributeValues={":tenant": {"S": tenant_id}, ":now": {"N": str(int(now.timestamp()))}},
            Limit=limit,
        )
        prefix = f"{tenant_id}#"
        return [
            item["pk"]["S"].removeprefix(prefix)
            for item in response.get("Items", [])
            if item["pk"]["S"].startswith(prefix)
        ]

    def active_calls(self, tenant_id: str) -> int:
        """The tenant's live-call counter, read consistently (0 before the first call)."""
        response = self._call(
            "get_item",
            self._tenant_state,
            TableName=self._tenant_state,
            Key={"pk": {"S": tenant_id}, "sk": {"S": ACTIVE_CALLS_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return int(_deserialize(item).get("active", 0)) if item else 0

    def _put_uncounted(self, session: CallSession, put: dict[str, Any]) -> OpenResult:
        try:
            self._client.put_item(**put)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                return self._already_exists(session, e)
            raise _translate(e, "put_item", self._conversations) from e
        except BotoCoreError as e:
            raise _translate(e, "put_item", self._conversations) from e
        return OpenResult(OpenOutcome.CREATED, session)

    def _already_exists(self, session: CallSession, error: ClientError) -> OpenResult:
        item = error.response.get("Item")
        reasons = error.response.get("CancellationReasons") or []
        if item is None and reasons:
            item = reasons[0].get("Item")
        stored = session_from_item(_deserialize(item)) if item else self.get(session.tenant_id, session.contact_id)
        if stored is None:
            # The condition failed yet nothing is there: deleted in between. Report it rather than guess.
            raise DataAccessError(f"DynamoDB session {session.tenant_id}#{session.contact_id} vanished")
        return OpenResult(OpenOutcome.ALREADY_EXISTS, stored)


def _lease_ran_out(session: CallSession, now: datetime) -> bool:
    return session.lease_expires_at is not None and session.lease_expires_at < now


# ------------------------------------------------------------------------------------------ month to date
class DynamoDBMonthToDate(_DynamoDBAdapter):
    """`MonthToDate`: the usage table's "<YYYY-MM>#total" row (what the budget ledger adds every spend to)."""

    def __init__(self, usage_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = usage_table

    def month_to_date_usd(self, tenant_id: str, at: datetime) -> float:
        period = at.astimezone(UTC).strftime("%Y-%m")
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": tenant_id}, "sk": {"S": f"{period}#total"}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return float(_deserialize(item).get("usd", 0)) if item else 0.0


# ------------------------------------------------------------------------------------- call router wiring
class RouterSettings(BaseModel):
    """What the call router needs from a Lambda's environment (set by the CDK stacks): its tables and the
    tenant's routing profile. Read on first invocation, not at import."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    agents_table: str = Field(min_length=1)
    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    numbers_table: str = Field(min_length=1)
    usage_table: str | None = Field(default=None, min_length=1, description="None: no budget check")
    agent_definitions_table: str | None = Field(
        default=None, min_length=1, description="None: no check of the agent's own budget share at dialling"
    )
    routing_profile: Json[RoutingProfile]

    @staticmethod
    def environ_values(env: Mapping[str, str]) -> dict[str, str | None]:
        """The settings' raw values from `env` (a subclass adds its own to these)."""
        return {
            **table_settings(env, AGENTS, CONVERSATIONS, TENANT_STATE, NUMBERS, USAGE, AGENT_DEFINITIONS),
            "routing_profile": env.get(ROUTING_PROFILE_ENV_VAR),
        }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RouterSettings:
        """Validate settings from the process environment (or the mapping given)."""
        return cls.model_validate(cls.environ_values(os.environ if environ is None else environ))


def dynamodb_call_router(
    settings: RouterSettings, clock: Clock, *, client: Any, takes_dial_throughs: bool = True
) -> tuple[CallRouter, DynamoDBCallSessionStore]:
    """The call router over DynamoDB, and its session store (which callers may also need to close calls). When
    the tenant looks full, the router first frees slots whose lease ran out (summing their calls' costs). With
    `takes_dial_throughs` (Connect's router; not the telephony webhook's, which hands them off) it takes over
    the calls the webhook dialled through to the Connect number."""
    from oratio.adapters.dynamodb_call_costs import DynamoDBCallCosts

    profile = settings.routing_profile
    sessions = DynamoDBCallSessionStore(
        settings.conversations_table, settings.tenant_state_table, retention_days=profile.retention_days, client=client
    )
    from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry  # it builds on this module
    from oratio.channels.adapters.aws import DynamoDBChannelBindings  # it builds on this module's adapter

    agents = DynamoDBAgentDirectory(settings.agents_table, client=client)
    reclaimer = SlotReclaimer(
        profile.tenant_id, sessions, DynamoDBCallCosts(settings.conversations_table, client=client)
    )
    spend = DynamoDBMonthToDate(settings.usage_table, client=client) if settings.usage_table else None
    from oratio.adapters.dynamodb_agent_shares import DynamoDBAgentShares  # it builds on this module

    shares = (
        DynamoDBAgentShares(settings.usage_table, settings.agent_definitions_table, client=client)
        if settings.usage_table and settings.agent_definitions_table
        else None
    )
    numbers = DynamoDBNumberRegistry(settings.numbers_table, client=client)
    # An SMS number's agent is the channel binding the vendor API wrote in tenant_state.
    channel_agents = DynamoDBChannelBindings(settings.tenant_state_table, client=client)
    from oratio.adapters.dynamodb_dial_through import DynamoDBDialThroughs  # it builds on this module

    dial_throughs = DynamoDBDialThroughs(settings.tenant_state_table, sessions, client=client)
    router = CallRouter(
        profile=profile,
        agents=agents,
        sessions=sessions,
        clock=clock,
        numbers=numbers,
        reclaimer=reclaimer,
        spend=spend,
        channel_agents=channel_agents,
        shares=shares,
        dial_throughs=dial_throughs if takes_dial_throughs else None,
    )
    return router, sessions
