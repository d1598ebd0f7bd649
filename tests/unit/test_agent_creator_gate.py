"""The gate plays scripts into the tenant agent with the candidate pinned: what the candidate says decides."""

from __future__ import annotations

import yaml

from oratio.agent_creator.outputs import TestScript, TestScripts
from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
from oratio_local.creator_gate import local_gate
from tests.unit.agent_creator_support import AGENT_ID, tenant


def _scripts(*turns: dict[str, object], expect_end: dict[str, object] | None = None) -> TestScripts:
    body: dict[str, object] = {"name": "t", "tenant": "cozy-comfort", "agent": AGENT_ID, "at": "2025-01-08T11:00:00Z",
                               "turns": list(turns)}  # fmt: skip
    if expect_end:
        body["expect_end"] = expect_end
    return TestScripts(scripts=(TestScript(name="t", covers=("R-policy-01",), yaml=yaml.safe_dump(body)),))


def _spec(returns: str) -> AgentSpec:
    return AgentSpec(name="Cozy", business_type="retail",
                     character_config=CharacterConfig(business_name="Cozy Comfort Bedding",
                                                      knowledge_base={"returns_policy": returns}))  # fmt: skip


ASK = {"say": "What is your returns policy?", "expect": {"reply_contains": ["60"]}}


def test_the_candidates_own_definition_answers_the_script() -> None:
    gate = local_gate()
    assert gate.run(tenant(), AGENT_ID, _spec("60-day returns."), _scripts(ASK)).passed
    failed = gate.run(tenant(), AGENT_ID, _spec("30-day returns."), _scripts(ASK))
    assert not failed.passed
    assert "30-day returns" in failed.scripts[0].failure


def test_a_script_expecting_what_only_the_contact_flow_decides_fails_with_the_reason() -> None:
    result = local_gate().run(
        tenant(), AGENT_ID, _spec("60-day returns."), _scripts(ASK, expect_end={"route": "agent"})
    )
    assert not result.passed
    assert "full replay" in result.scripts[0].failure


def test_a_handoff_ends_the_call_as_transferred() -> None:
    person = {"say": "Can I talk to a person?", "expect": {"transfer": True}}
    result = local_gate().run(tenant(), AGENT_ID, _spec("60-day returns."),
                              _scripts(person, expect_end={"outcome": "transferred"}))  # fmt: skip
    assert result.passed, result.scripts[0].failure
