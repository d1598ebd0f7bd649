"""In-memory adapters for the agent's ports (session memory, customer context, recorder, budget, workflow state).

For the local mode and tests: one process, nothing persisted, same semantics as the AWS adapters
(`agentcore_memory`, `dynamodb_agent`), which share the small rules defined here so the two cannot drift:
the anonymous actor, how many conversation summaries a customer keeps, how identities link to a customer,
and how spend is bucketed by month.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from oratio.agent.ports import (
    AgentEventRecord,
    ConversationSummary,
    ConversationTurn,
    CustomerContext,
    TurnRecord,
    WorkflowState,
)
from oratio.customers.profiles import merged_profile

ANONYMOUS_ACTOR = "anonymous"
RECENT_CONVERSATIONS_KEPT = 10
USAGE_TOTAL = "total"
USAGE_AGENT = "agent"  # "<YYYY-MM>#agent#<agent_id>": an agent's month
USAGE_DAY_PREFIX = "DAY#"  # "DAY#<YYYY-MM-DD>#total|category#<category>|agent#<agent_id>": one day
RESERVED_CATEGORIES = frozenset({USAGE_TOTAL, USAGE_AGENT})


class RecordConflictError(Exception):
    """A write would replace something already recorded differently (a turn number reused, a stale state)."""


def actor_or_anonymous(actor_id: str | None) -> str:
    """The memory actor of a turn: the customer key when known, else the shared anonymous actor."""
    return actor_id.strip() if actor_id and actor_id.strip() else ANONYMOUS_ACTOR


def keep_recent(summaries: Iterable[ConversationSummary], keep: int) -> tuple[ConversationSummary, ...]:
    """The newest `keep` summaries, newest first, one per session (a session summarised again replaces itself)."""
    latest: dict[str, ConversationSummary] = {}
    for summary in summaries:
        held = latest.get(summary.session_id)
        if held is None or summary.at > held.at:
            latest[summary.session_id] = summary
    return tuple(sorted(latest.values(), key=lambda s: s.at, reverse=True)[:keep])


def usage_period(at: datetime) -> str:
    """The budget month ("YYYY-MM", UTC) an instant belongs to."""
    if at.tzinfo is None:
        raise ValueError("usage times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m")


def usage_day(at: datetime) -> str:
    """The day ("YYYY-MM-DD", UTC) an instant belongs to."""
    if at.tzinfo is None:
        raise ValueError("usage times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def check_usage(category: str, item: str, usd: float, agent_id: str | None = None) -> None:
    """Reject spend that would corrupt the ledger: negative or non-finite amounts, '#' inside key parts."""
    if not math.isfinite(usd) or usd < 0:
        raise ValueError(f"usage must be a finite, non-negative amount of USD (got {usd!r})")
    parts = [("category", category), ("item", item)] + ([("agent_id", agent_id)] if agent_id is not None else [])
    for part, value in parts:
        if not value or "#" in value:
            raise ValueError(f"usage {part} must be non-empty and must not contain '#' (got {value!r})")
    if category in RESERVED_CATEGORIES:
        raise ValueError(f"usage category {category!r} is reserved (month total / agent rows)")


def usage_row_keys(at: datetime, category: str, item: str, agent_id: str | None) -> list[str]:
    """The usage rows one spend is added to: the month's total first (what budgets read), its category/item,
    the day's total and category, and the agent's month and day when the spend has an agent."""
    period, day = usage_period(at), usage_day(at)
    keys = [
        f"{period}#{USAGE_TOTAL}",
        f"{period}#{category}#{item}",
        f"{USAGE_DAY_PREFIX}{day}#{USAGE_TOTAL}",
        f"{USAGE_DAY_PREFIX}{day}#category#{category}",
    ]
    if agent_id is not None:
        keys += [f"{period}#{USAGE_AGENT}#{agent_id}", f"{USAGE_DAY_PREFIX}{day}#{USAGE_AGENT}#{agent_id}"]
    return keys


def cost_line(category: str, item: str) -> str:
    """A conversation's breakdown line: "<category>#<item>"."""
    return f"{category}#{item}"


class InMemorySessionMemory:
    """Turns per (actor, session), read back newest `limit` in chronological order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turns: dict[tuple[str, str], list[ConversationTurn]] = defaultdict(list)

    async def recent_turns(self, session_id: str, actor_id: str, limit: int) -> list[ConversationTurn]:
        if limit <= 0:
            return []
        with self._lock:
            turns = list(self._turns.get((actor_or_anonymous(actor_id), session_id), ()))
        # Stable sort: turns with the same time keep the order they were appended in, as in AgentCore.
        return sorted(turns, key=lambda t: t.at)[-limit:]

    async def append(self, session_id: str, actor_id: str, turns: list[ConversationTurn]) -> None:
        with self._lock:
            self._turns[(actor_or_anonymous(actor_id), session_id)].extend(turns)


class InMemoryCustomerContextStore:
    """Customer profiles per tenant, with linked identities resolving to the profile that listed them."""

    def __init__(self, keep_conversations: int = RECENT_CONVERSATIONS_KEPT) -> None:
        self._lock = threading.Lock()
        self._keep = keep_conversations
        self._profiles: dict[tuple[str, str], CustomerContext] = {}
        self._links: dict[tuple[str, str], str] = {}

    async def get(self, tenant_id: str, customer_key: str) -> CustomerContext | None:
        """The customer known by this identity: through a link when there is one, else its own profile."""
        with self._lock:
            canonical = self._links.get((tenant_id, customer_key))
            if canonical is not None and (tenant_id, canonical) in self._profiles:
                return self._profiles[(tenant_id, canonical)]
            return self._profiles.get((tenant_id, customer_key))

    async def save(self, context: CustomerContext) -> None:
        """Store the profile under its key, keep its newest summaries and link every listed identity to it."""
        with self._lock:
            self._store(context)

    def _store(self, context: CustomerContext) -> None:
        stored = context.model_copy(
            update={"recent_conversations": keep_recent(context.recent_conversations, self._keep)}
        )
        self._profiles[(context.tenant_id, context.customer_key)] = stored
        for identity in context.linked_identities:
            if identity != context.customer_key:
                self._links[(context.tenant_id, identity)] = context.customer_key

    async def customer_key(self, tenant_id: str, identity: str) -> str:
        """The profile key `identity` resolves to: its link's target, else itself."""
        with self._lock:
            return self._links.get((tenant_id, identity), identity)

    async def link(self, tenant_id: str, identity: str, customer_key: str) -> CustomerContext:
        """Link `identity` to the customer known by `customer_key`, moving what was known under it there."""
        with self._lock:
            canonical = self._links.get((tenant_id, customer_key), customer_key)
            target = self._profiles.get((tenant_id, canonical)) or CustomerContext(
                tenant_id=tenant_id, customer_key=canonical
            )
            if identity == canonical:
                return target
            source = self._profiles.pop((tenant_id, identity), None)
            merged = merged_profile(target, source, identity)
            self._store(merged)
            return self._profiles[(tenant_id, canonical)]


class InMemoryConversationRecorder:
    """Turns and agent events per (tenant, session); sequence numbers are unique per session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sequences: dict[tuple[str, str], int] = defaultdict(int)
        self._turns: dict[tuple[str, str], dict[int, TurnRecord]] = defaultdict(dict)
        self._events: dict[tuple[str, str], list[AgentEventRecord]] = defaultdict(list)

    async def next_sequence(self, tenant_id: str, session_id: str) -> int:
        """The next turn number of the session, starting at 1; never handed out twice."""
        with self._lock:
            self._sequences[(tenant_id, session_id)] += 1
            return self._sequences[(tenant_id, session_id)]

    async def record_turn(self, turn: TurnRecord) -> None:
        """Store a turn; storing the same turn again is a no-op, a different turn at a used number fails."""
        with self._lock:
            turns = self._turns[(turn.tenant_id, turn.session_id)]
            held = turns.get(turn.sequence)
            if held is not None and held != turn:
                raise RecordConflictError(f"turn {turn.sequence} of session {turn.session_id} is already recorded")
            turns[turn.sequence] = turn

    async def record_event(self, event: AgentEventRecord) -> None:
        with self._lock:
            self._events[(event.tenant_id, event.session_id)].append(event)

    def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]:
        """The session's turns in sequence order (the transcript)."""
        with self._lock:
            turns = self._turns.get((tenant_id, session_id), {})
            return [turns[seq] for seq in sorted(turns)]

    def events(self, tenant_id: str, session_id: str, kind: str | None = None) -> list[AgentEventRecord]:
        """The session's events in time order, optionally of one kind."""
        with self._lock:
            events = list(self._events.get((tenant_id, session_id), ()))
        return sorted((e for e in events if kind is None or e.kind == kind), key=lambda e: e.at)


class InMemoryBudgetLedger:
    """USD per tenant in the same rows as the usage table (`usage_row_keys`), and each conversation's
    breakdown by "<category>#<item>" line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], float] = defaultdict(float)
        self._sessions: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._charges: set[tuple[str, str]] = set()

    async def month_to_date_usd(self, tenant_id: str, at: datetime) -> float:
        with self._lock:
            return self._rows.get((tenant_id, f"{usage_period(at)}#{USAGE_TOTAL}"), 0.0)

    async def agent_month_to_date_usd(self, tenant_id: str, agent_id: str, at: datetime) -> float:
        with self._lock:
            return self._rows.get((tenant_id, f"{usage_period(at)}#{USAGE_AGENT}#{agent_id}"), 0.0)

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
        with self._lock:
            if charge_id is not None:
                if (tenant_id, charge_id) in self._charges:
                    return  # a retried charge counts once
                self._charges.add((tenant_id, charge_id))
            for key in usage_row_keys(at, category, item, agent_id):
                self._rows[(tenant_id, key)] += usd
            if session_id is not None:
                self._sessions[(tenant_id, session_id)][cost_line(category, item)] += usd

    def rows(self, tenant_id: str) -> dict[str, float]:
        """Every usage row of a tenant by its sort key (as the usage table holds them)."""
        with self._lock:
            return {key: usd for (tenant, key), usd in self._rows.items() if tenant == tenant_id}

    def breakdown(self, tenant_id: str, at: datetime) -> dict[tuple[str, str], float]:
        """The month's spend by (category, item), without the total and the agent rows."""
        prefix = f"{usage_period(at)}#"
        found: dict[tuple[str, str], float] = {}
        for key, usd in self.rows(tenant_id).items():
            if key.startswith(prefix):
                category, _, item = key.removeprefix(prefix).partition("#")
                if category not in RESERVED_CATEGORIES:
                    found[(category, item)] = usd
        return found

    async def conversation_costs(self, tenant_id: str, session_id: str) -> dict[str, float]:
        """A conversation's spend by "<category>#<item>" line."""
        with self._lock:
            return dict(self._sessions.get((tenant_id, session_id), {}))


class InMemoryWorkflowStateStore:
    """The workflow state of each (tenant, session)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], WorkflowState] = {}

    async def get(self, tenant_id: str, session_id: str) -> WorkflowState | None:
        with self._lock:
            return self._states.get((tenant_id, session_id))

    async def save(self, tenant_id: str, session_id: str, state: WorkflowState) -> None:
        """Store the state unless a later one (more turns) is already stored: a stale writer must not win."""
        with self._lock:
            held = self._states.get((tenant_id, session_id))
            if held is not None and held.turns > state.turns:
                raise RecordConflictError(f"workflow state of session {session_id} is newer than the one saved")
            self._states[(tenant_id, session_id)] = state
