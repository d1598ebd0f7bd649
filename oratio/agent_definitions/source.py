"""Where conversations get their agent: `DefinitionSource.live(tenant_id, agent_id)`.

`CachedDefinitionSource` is the one a runtime keeps per container. It re-reads an agent's pointer (status and
live version, one small consistent read) at most every `recheck_seconds`, and a version's document only when
the live version changes: versions are immutable, so each is read once per container and kept (a bounded LRU).
A failed read keeps the last good answer, logs it and counts it (`failures`); only an agent never read before
fails the call (`DefinitionUnavailableError`).

So a vendor's publish, pause, stop or delete reaches every conversation in the container within
`recheck_seconds`: the first turn that starts after that sees it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent_definitions.versions import AgentPointer, DefinitionVersion, LiveAgent
from oratio.domain.agents import AgentStatus

logger = logging.getLogger(__name__)

LOAD_FAILURE_METRIC = "AgentDefinitionLoadFailures"


class DefinitionReader(Protocol):
    """The stored agents and versions, as a runtime reads them (DynamoDB deployed, memory in tests)."""

    async def pointer(self, tenant_id: str, agent_id: str) -> AgentPointer | None:
        """The agent's status and live version, read consistently; None when there is no such agent."""
        ...

    async def version(self, tenant_id: str, agent_id: str, version: int) -> DefinitionVersion | None: ...


class DefinitionSource(Protocol):
    """What the engine and the voice paths ask: this agent, now."""

    async def live(
        self, tenant_id: str, agent_id: str, *, version: int | None = None, max_age_seconds: float | None = None
    ) -> LiveAgent:
        """The agent's status and the spec of its live version (or of `version`, pinned: previews and replays).
        `max_age_seconds` bounds how stale the status may be for this call (0: read it now)."""
        ...


class DefinitionUnavailableError(Exception):
    """The agent could not be read and nothing was read of it before."""


class SourceSettings(BaseModel):
    """How stale a container's view of an agent may get, and how much it keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    recheck_seconds: float = Field(default=2.0, ge=0, le=60, description="pointer re-read at most this often")
    max_cached_versions: int = Field(default=256, ge=1)


@dataclass
class _Seen:
    agent: LiveAgent
    checked_at: float


class CachedDefinitionSource:
    """`DefinitionSource` over a `DefinitionReader`, cached per container (see the module doc)."""

    def __init__(
        self,
        reader: DefinitionReader,
        settings: SourceSettings | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self.settings = settings or SourceSettings()
        self._monotonic = monotonic
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._versions: OrderedDict[tuple[str, str, int], DefinitionVersion] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.failures = 0
        self.reads = 0

    async def live(
        self, tenant_id: str, agent_id: str, *, version: int | None = None, max_age_seconds: float | None = None
    ) -> LiveAgent:
        key = (tenant_id, agent_id)
        current = await self._current(
            key, self.settings.recheck_seconds if max_age_seconds is None else max_age_seconds
        )
        if version is None or version == current.version:
            return current
        document = await self._version(tenant_id, agent_id, version)
        if document is None:
            raise DefinitionUnavailableError(f"agent {agent_id!r} has no version {version}")
        return current.model_copy(update={"version": version, "spec": document.spec})

    async def _current(self, key: tuple[str, str], max_age: float) -> LiveAgent:
        seen = self._seen.get(key)
        if seen is not None and self._monotonic() - seen.checked_at < max_age:
            return seen.agent
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one read per agent at a time; the others wait for its answer
            seen = self._seen.get(key)
            if seen is not None and self._monotonic() - seen.checked_at < max_age:
                return seen.agent
            try:
                agent = await self._load(*key, known=seen.agent if seen else None)
            except Exception as e:
                self.failures += 1
                logger.warning(
                    "agent definition load failed",
                    extra={
                        "tenant_id": key[0],
                        "agent_id": key[1],
                        "error": type(e).__name__,
                        "metric": LOAD_FAILURE_METRIC,
                    },
                )
                if seen is None:
                    raise DefinitionUnavailableError(f"agent {key[1]!r} could not be loaded") from e
                # Keep the last good answer; try again after the same interval rather than on every turn.
                self._seen[key] = _Seen(seen.agent, self._monotonic())
                return seen.agent
            self._seen[key] = _Seen(agent, self._monotonic())
            return agent

    async def _load(self, tenant_id: str, agent_id: str, *, known: LiveAgent | None) -> LiveAgent:
        self.reads += 1
        pointer = await self._reader.pointer(tenant_id, agent_id)
        if pointer is None:
            return LiveAgent(tenant_id=tenant_id, agent_id=agent_id, status=None)
        spec = None
        if pointer.live_version is not None:
            if known is not None and known.version == pointer.live_version:
                spec = known.spec
            else:
                document = await self._version(tenant_id, agent_id, pointer.live_version)
                if document is None:
                    raise LookupError(f"live version {pointer.live_version} of {agent_id!r} is missing")
                spec = document.spec
        return LiveAgent(
            tenant_id=tenant_id, agent_id=agent_id, status=pointer.status, version=pointer.live_version, spec=spec
        )

    async def _version(self, tenant_id: str, agent_id: str, version: int) -> DefinitionVersion | None:
        key = (tenant_id, agent_id, version)
        cached = self._versions.get(key)
        if cached is not None:
            self._versions.move_to_end(key)
            return cached
        document = await self._reader.version(tenant_id, agent_id, version)
        if document is not None:
            self._versions[key] = document
            while len(self._versions) > self.settings.max_cached_versions:
                self._versions.popitem(last=False)
        return document


class TenantDefaultSource:
    """`DefinitionSource` for a runtime without stored agents (local runs, tests): every agent id is an active
    agent on the tenant's defaults. Never used deployed, where agents come from the vendor API's tables."""

    async def live(
        self, tenant_id: str, agent_id: str, *, version: int | None = None, max_age_seconds: float | None = None
    ) -> LiveAgent:
        return LiveAgent(tenant_id=tenant_id, agent_id=agent_id, status=AgentStatus.ACTIVE)
