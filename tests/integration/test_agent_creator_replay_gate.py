"""The local gate is the full call replay: each script is a whole Connect call (contact flow, Lex emulation, the
Lambda handlers, the tenant agent on the local model, over moto) with the candidate written and published as the
agent's definition in that call's own world — so what the candidate says decides, and flow-only expectations
(route, outcome, closed hours) are checked as `make replay` checks them."""

from __future__ import annotations

import yaml

from oratio.agent_creator.outputs import TestScript, TestScripts
from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
from oratio_local.creator_gate import ReplayGate
from tests.unit.agent_creator_support import AGENT_ID, REPO, tenant

OPEN = "2025-01-08T16:00:00Z"  # 11:00 in New York, a Wednesday: the shop is open
CLOSED = "2025-01-08T11:00:00Z"  # 06:00 in New York
ASK = {"say": "What is your returns policy?", "expect": {"reply_contains": ["60"]}}


def _script(name: str, at: str, *turns: dict[str, object], expect_end: dict[str, object]) -> TestScript:
    body = {"name": name, "tenant": "cozy-comfort", "agent": AGENT_ID, "at": at, "turns": list(turns),
            "expect_end": expect_end}  # fmt: skip
    return TestScript(name=name, covers=("R-policy-01",), yaml=yaml.safe_dump(body))


def _spec(returns: str) -> AgentSpec:
    return AgentSpec(name="Cozy", business_type="retail",
                     character_config=CharacterConfig(business_name="Cozy Comfort Bedding",
                                                      knowledge_base={"returns_policy": returns}))  # fmt: skip


SCRIPTS = TestScripts(
    scripts=(
        _script("asks", OPEN, ASK, expect_end={"route": "agent"}),
        _script("closed", CLOSED, ASK, expect_end={"route": "agent"}),
        _script(
            "person",
            OPEN,
            {"say": "Can I talk to a person?", "expect": {"transfer": True}},
            expect_end={"outcome": "transferred"},
        ),
    )
)


def test_each_script_is_a_whole_call_through_the_flow_with_the_candidate_live() -> None:
    gate = ReplayGate(REPO / "tenants")

    result = gate.run(tenant(), AGENT_ID, _spec("60-day returns."), SCRIPTS)
    other = gate.run(tenant(), AGENT_ID, _spec("30-day returns."), TestScripts(scripts=SCRIPTS.scripts[:1]))

    asks, closed, person = result.scripts
    assert asks.passed, asks.failure
    assert "call router: route agent" in asks.transcript  # the contact flow ran, and routed to the agent
    assert "60-day returns" in asks.transcript
    assert not closed.passed  # outside business hours the flow answers, not the agent
    assert "closed" in closed.failure
    assert person.passed, person.failure
    assert "transfer to queue" in person.transcript
    assert not other.passed  # the candidate decides: its 30 days are not the script's 60
    assert "30-day returns" in other.scripts[0].failure
