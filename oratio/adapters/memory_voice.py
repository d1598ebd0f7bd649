"""In-memory adapters of the voice paths (breaker store, turn mailbox, transcript view, the telephony
webhook's replay cache), for the local mode and tests: one process, nothing persisted, the same
compare-and-set and write-once rules as the DynamoDB adapters."""

from __future__ import annotations

import threading

from oratio.adapters.memory_agent import InMemoryConversationRecorder
from oratio.agent.ports import TurnRecord
from oratio.connect_voice.outcome import TurnOutcome
from oratio.domain.circuit_breaker import BreakerRecord


class InMemoryBreakerStore:
    """`BreakerStore` in a dict, with the version check the DynamoDB conditional write makes."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], BreakerRecord] = {}
        self._lock = threading.Lock()
        self.writes = 0

    async def load_all(self, tenant_id: str) -> dict[str, BreakerRecord]:
        with self._lock:
            return {dep: r for (tid, dep), r in self._records.items() if tid == tenant_id}

    async def load(self, tenant_id: str, dependency: str) -> BreakerRecord | None:
        with self._lock:
            return self._records.get((tenant_id, dependency))

    async def save(self, tenant_id: str, record: BreakerRecord, expected_version: int) -> bool:
        with self._lock:
            stored = self._records.get((tenant_id, record.dependency))
            if (stored.version if stored else 0) != expected_version:
                return False
            self._records[(tenant_id, record.dependency)] = record
            self.writes += 1
            return True


class InMemoryTurnMailbox:
    """`TurnMailbox` in a dict; the first outcome of a turn stays."""

    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, str, str], TurnOutcome] = {}

    async def put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> None:
        self._outcomes.setdefault((tenant_id, contact_id, outcome.turn_id), outcome)

    async def get(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None:
        return self._outcomes.get((tenant_id, contact_id, turn_id))


class RecorderTranscripts:
    """`TranscriptSource` over the in-memory conversation recorder (whose `turns` is synchronous)."""

    def __init__(self, recorder: InMemoryConversationRecorder) -> None:
        self._recorder = recorder

    async def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]:
        return self._recorder.turns(tenant_id, session_id)


class InMemoryTokenReplayCache:
    """`TokenReplayCache` in a dict: a token id is refused again until its `valid_until` has passed."""

    def __init__(self) -> None:
        self._valid_until: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def first_use(self, tenant_id: str, token_id: str, *, now: int, valid_until: int) -> bool:
        with self._lock:
            remembered = self._valid_until.get((tenant_id, token_id))
            if remembered is not None and remembered >= now:
                return False
            self._valid_until[(tenant_id, token_id)] = valid_until
            return True
