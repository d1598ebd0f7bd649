"""The gate: the test writer's replay scripts run against the candidate definition, before anything is written.

`GateRunner` is the pipeline's port. Two implementations: `AgentGate` here (deployed: the candidate in the tenant
agent's engine on the tenant's own Bedrock model and retriever, `oratio.agent_creator.deployed_gate`) and, locally,
`oratio_local.creator_gate.ReplayGate` (the full call replay: contact flow, Lex emulation, Lambda handlers, agent).

In `AgentGate`, each script is parsed with the call-replay format (`oratio.replay.script`) and played, turn by
turn, into the tenant agent's real `TurnEngine` with the candidate pinned as the version it answers with (the same
`agent_version` pin previews and replays of unpublished versions use). What the caller hears, the tools called,
handoffs and the end of the call become the replay timeline (`oratio.replay.transcript.Event`) and are checked by
the replay's own `check_turn` / `check_end`. The engine comes from a factory (the deployed one, or a scripted
model's in tests).

What `AgentGate` does not replay: the contact flow and Lex (routes, intents, holding lines, contact attributes are
the full replay's); a script that expects them fails here with a message saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from oratio.agent.contracts import InvocationRequest
from oratio.agent.ports import TurnEngine
from oratio.agent_creator.outputs import GateResult, ScriptOutcome, TestScripts
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import LiveAgent
from oratio.config.tenant import TenantConfig
from oratio.domain.agents import AgentStatus
from oratio.replay.script import Script, ScriptError, parse_script
from oratio.replay.transcript import Event, ExpectationFailed, check_end, check_turn

FLOW_ONLY = ("intent", "holding", "interrupted", "attributes")
FLOW_ONLY_END = ("route", "attributes", "whisper_contains")


class PinnedCandidateSource:
    """`DefinitionSource` that answers the candidate spec for the agent under test (as an active agent)."""

    def __init__(self, tenant_id: str, agent_id: str, spec: AgentSpec, version: int) -> None:
        self._tenant_id, self._agent_id, self._spec, self._version = tenant_id, agent_id, spec, version

    async def live(self, tenant_id: str, agent_id: str, *, version: int | None = None,
                   max_age_seconds: float | None = None) -> LiveAgent:  # fmt: skip
        if (tenant_id, agent_id) != (self._tenant_id, self._agent_id):
            return LiveAgent(tenant_id=tenant_id, agent_id=agent_id, status=None)
        return LiveAgent(tenant_id=tenant_id, agent_id=agent_id, status=AgentStatus.ACTIVE, version=self._version,
                         spec=self._spec)  # fmt: skip


class GateRunner(Protocol):
    """Runs the test scripts against a candidate spec of `agent_id`; every script's outcome, and what it cost."""

    def run(self, tenant: TenantConfig, agent_id: str, spec: AgentSpec, scripts: TestScripts) -> GateResult: ...


# Builds the tenant agent's engine over a definition source (a fresh one per script: no state carries over).
EngineFactory = Callable[[TenantConfig, PinnedCandidateSource], TurnEngine]


@dataclass
class AgentGate:
    """Runs test scripts against a candidate spec through the tenant agent's engine."""

    engine_factory: EngineFactory
    candidate_version: int = 1_000_000  # a number no stored version has; the pin only names the candidate
    # Whether the engine's model calls are charged to the tenant (the deployed gate's are): only then is what the
    # candidate's turns cost the gate's cost (a local stand-in model's estimates are nobody's spend).
    charges_tenant: bool = False

    def run(self, tenant: TenantConfig, agent_id: str, spec: AgentSpec, scripts: TestScripts) -> GateResult:
        outcomes, cost = [], 0.0
        for test in scripts.scripts:
            outcome, spent = self._one(tenant, agent_id, spec, test.name, test.covers, test.yaml)
            outcomes.append(outcome)
            cost += spent
        return GateResult(scripts=tuple(outcomes), cost_usd=round(cost, 6) if self.charges_tenant else 0.0)

    def _one(self, tenant: TenantConfig, agent_id: str, spec: AgentSpec, name: str, covers: tuple[str, ...],
             text: str) -> tuple[ScriptOutcome, float]:  # fmt: skip
        timeline: list[Event] = []
        try:
            script = parse_script(text, f"{name}.yaml")
            _refuse_flow_only(script)
            source = PinnedCandidateSource(tenant.tenant_id, agent_id, spec, self.candidate_version)
            engine = self.engine_factory(tenant, source)
            outcome = asyncio.run(self._play(engine, tenant, agent_id, script, timeline))
            check_end(script.expect_end, timeline, route="agent", outcome=outcome, cost_usd=_cost(timeline),
                      attributes={})  # fmt: skip
        except ExpectationFailed as e:
            failed = ScriptOutcome(
                name=name, covers=covers, passed=False, failure=e.explain(), transcript=_text(timeline)
            )
            return failed, _cost(timeline)
        except ScriptError as e:
            failed = ScriptOutcome(name=name, covers=covers, passed=False, failure=str(e), transcript=_text(timeline))
            return failed, _cost(timeline)
        return ScriptOutcome(name=name, covers=covers, passed=True, transcript=_text(timeline)), _cost(timeline)

    async def _play(self, engine: TurnEngine, tenant: TenantConfig, agent_id: str, script: Script,
                    timeline: list[Event]) -> str:  # fmt: skip
        session = f"gate-{script.name}"[:200].replace(" ", "-")
        for number, turn in enumerate(script.turns, start=1):
            if turn.hang_up:
                return "abandoned"
            if turn.say is None:
                raise ScriptError(f"turn {number}: the gate plays spoken turns only (say / hang_up), not {turn.kind}")
            timeline.append(Event(float(number), "caller", turn.say, "caller"))
            start = len(timeline)
            request = InvocationRequest.model_validate(
                {"tenant_id": tenant.tenant_id, "agent_id": agent_id, "agent_version": self.candidate_version,
                 "channel": "voice", "session_id": session, "input": {"kind": "message", "text": turn.say}}
            )  # fmt: skip
            ended = None
            async for event in engine.handle(request, session):
                ended = _record(event, float(number), timeline) or ended
            check_turn(f"turn {number} (say: {turn.say})", turn.expect, timeline[start:], timeline, {}, "")
            if ended is not None:
                if number < len(script.turns):
                    raise ExpectationFailed(f"turn {number + 1}", "the call to reach this turn",
                                            f"the call was {ended} before it", timeline)  # fmt: skip
                return ended
        return "ended"


def _record(event: Any, at: float, timeline: list[Event]) -> str | None:
    kind = getattr(event, "type", "")
    if kind in ("text", "ack"):
        timeline.append(Event(at, "assistant", event.text, "say"))
    elif kind == "tool":
        timeline.append(Event(at, "agent", f"tool {event.name}: {event.status}", "tool", {"tool": event.name}))
    elif kind == "handoff":
        timeline.append(Event(at, "flow", f"transfer ({event.reason})", "transfer"))
        return "transferred"
    elif kind == "end_call":
        timeline.append(Event(at, "flow", f"end call ({event.reason})", "hang_up"))
        return "ended"
    elif kind == "done":
        timeline.append(Event(at, "agent", f"model {event.model_id} (${event.cost_usd:.5f})", "cost",
                              {"cost_usd": event.cost_usd}))  # fmt: skip
    elif kind == "error":
        timeline.append(Event(at, "assistant", event.message, "say"))
    return None


def _refuse_flow_only(script: Script) -> None:
    for number, turn in enumerate(script.turns, start=1):
        used = [k for k in FLOW_ONLY if getattr(turn.expect, k) not in (None, {}, [])]
        if used:
            raise ScriptError(f"turn {number}: {used} are checked by the full replay (contact flow), not the gate")
    used = [k for k in FLOW_ONLY_END if getattr(script.expect_end, k) not in (None, {}, [])]
    if used:
        raise ScriptError(f"expect_end: {used} are checked by the full replay (contact flow), not the gate")


def _cost(timeline: list[Event]) -> float:
    return sum(float(e.detail.get("cost_usd", 0.0)) for e in timeline if e.kind == "cost")


def _text(timeline: list[Event]) -> str:
    return "\n".join(e.line() for e in timeline)


def script_time(at: datetime) -> str:
    return at.isoformat()
