"""What each AgentCreator stage produces, as typed, persisted models.

Every plan element cites the requirement ids it serves, every test script names the requirement ids it covers,
and the `JobReport` joins them back, so a vendor can read why the agent does what it does. These models are also
the JSON schemas the model port forces each stage's answer into (`stage_schema`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oratio.agent_definitions.model import LONG_TEXT, ROLE_PATTERN, SHORT_TEXT

REQUIREMENT_ID_PATTERN = r"^R-(intent|question|policy|escalation|tool|tone|hours)-[0-9]{2,3}$"
MAX_REQUIREMENTS = 200
REQUIREMENT_TEXT = 1_000
REASON_TEXT = 500


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequirementKind(StrEnum):
    INTENT = "intent"
    QUESTION = "question"
    POLICY = "policy"
    ESCALATION = "escalation"
    TOOL = "tool"
    TONE = "tone"
    HOURS = "hours"


def requirement_id(kind: RequirementKind, number: int) -> str:
    """The stable id of the `number`-th requirement of a kind, e.g. `R-intent-01`."""
    return f"R-{kind.value}-{number:02d}"


class LineSpan(_Out):
    """Lines of the SOP (1-based, inclusive) a requirement was read from."""

    start: int = Field(ge=1)
    end: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LineSpan:
        if self.end < self.start:
            raise ValueError(f"line span ends ({self.end}) before it starts ({self.start})")
        return self


class Requirement(_Out):
    id: str = Field(pattern=REQUIREMENT_ID_PATTERN)
    kind: RequirementKind
    text: str = Field(min_length=1, max_length=REQUIREMENT_TEXT)
    source: LineSpan
    detail: dict[str, str] = Field(
        default_factory=dict, description="structured hints: e.g. topic, answer, trigger, host, day"
    )

    @model_validator(mode="after")
    def _id_matches_kind(self) -> Requirement:
        if not self.id.startswith(f"R-{self.kind.value}-"):
            raise ValueError(f"requirement {self.id} is of kind {self.kind.value}; its id must start R-{self.kind}-")
        return self


class RequirementList(_Out):
    business_name: str = Field(min_length=1, max_length=SHORT_TEXT)
    requirements: tuple[Requirement, ...] = Field(min_length=1, max_length=MAX_REQUIREMENTS)

    @field_validator("requirements")
    @classmethod
    def _unique_ids(cls, value: tuple[Requirement, ...]) -> tuple[Requirement, ...]:
        ids = [r.id for r in value]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"requirement ids must be unique; repeated: {repeated}")
        return value

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.requirements)

    def of_kind(self, kind: RequirementKind) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if r.kind is kind)


# ----------------------------------------------------------------------------------------- the plan
class _Serves(_Out):
    serves: tuple[str, ...] = Field(min_length=1, description="the requirement ids this element serves")


class PlanRole(_Serves):
    name: str = Field(pattern=ROLE_PATTERN)
    instructions: str = Field(min_length=1, max_length=LONG_TEXT)


class PlanTransition(_Serves):
    from_role: str = Field(pattern=ROLE_PATTERN)
    to_role: str = Field(pattern=ROLE_PATTERN)
    condition: Literal["customer_spoke", "support_intent", "purchase_intent", "qualified"]


class PlanTool(_Serves):
    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")
    kind: Literal["builtin", "business_http"]
    description: str = Field(default="", max_length=1_000)
    url: str | None = Field(default=None, max_length=500)
    method: Literal["GET", "POST"] = "POST"
    input_schema: dict[str, Any] | None = None
    writes: bool = False
    timeout_seconds: float | None = Field(default=None, gt=0, le=30)


class PlanFact(_Serves):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    text: str = Field(min_length=1, max_length=500)


class PlanGuardrail(_Serves):
    kind: Literal["refuse", "escalate"]
    topic: str = Field(min_length=2, max_length=80)


class PlanKnowledge(_Serves):
    include_tenant_documents: bool = True
    note: str = Field(default="", max_length=REASON_TEXT)


class PlanLine(_Serves):
    kind: Literal["greeting", "handover_line", "refusal_line"]
    text: str = Field(min_length=1, max_length=300)


class Plan(_Out):
    """How the agent will meet the requirements; every element cites the requirements it serves."""

    persona: str = Field(min_length=1, max_length=LONG_TEXT)
    tone: str = Field(min_length=1, max_length=60)
    instructions: str = Field(default="", max_length=LONG_TEXT)
    initial_role: str = Field(pattern=ROLE_PATTERN)
    roles: tuple[PlanRole, ...] = Field(min_length=1)
    transitions: tuple[PlanTransition, ...] = ()
    tools: tuple[PlanTool, ...] = ()
    facts: tuple[PlanFact, ...] = ()
    guardrails: tuple[PlanGuardrail, ...] = ()
    lines: tuple[PlanLine, ...] = ()
    knowledge: PlanKnowledge | None = None
    serves_general: tuple[str, ...] = Field(
        default=(), description="requirements the persona, tone and instructions serve (e.g. tone)"
    )

    def elements(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every plan element as (a readable name, the requirement ids it serves)."""
        named: list[tuple[str, tuple[str, ...]]] = [("persona/tone/instructions", self.serves_general)]
        named += [(f"role {r.name}", r.serves) for r in self.roles]
        named += [(f"transition {t.from_role}->{t.to_role} ({t.condition})", t.serves) for t in self.transitions]
        named += [(f"tool {t.name}", t.serves) for t in self.tools]
        named += [(f"fact {f.key}", f.serves) for f in self.facts]
        named += [(f"guardrail {g.kind} {g.topic!r}", g.serves) for g in self.guardrails]
        named += [(f"line {line.kind}", line.serves) for line in self.lines]
        if self.knowledge is not None:
            named.append(("knowledge scope", self.knowledge.serves))
        return named

    def cited(self) -> set[str]:
        return {rid for _, serves in self.elements() for rid in serves}


class RequirementVerdict(_Out):
    requirement_id: str = Field(pattern=REQUIREMENT_ID_PATTERN)
    verdict: Literal["ok", "needs_change"]
    reasons: tuple[str, ...] = Field(default=(), max_length=10)


class ReviewVerdict(_Out):
    """The plan reviewer's answer for one cycle: per requirement, and overall."""

    cycle: int = Field(ge=1)
    overall: Literal["approve", "revise"]
    per_requirement: tuple[RequirementVerdict, ...]
    summary: str = Field(default="", max_length=LONG_TEXT)

    @model_validator(mode="after")
    def _consistent(self) -> ReviewVerdict:
        if self.overall == "approve" and any(v.verdict == "needs_change" for v in self.per_requirement):
            raise ValueError("a review that approves cannot mark any requirement needs_change")
        return self

    def changes_asked(self) -> list[RequirementVerdict]:
        return [v for v in self.per_requirement if v.verdict == "needs_change"]


class PlanReviewRequest(_Out):
    """What the drafter gets back after a `revise` verdict (the verdict itself, to answer)."""

    previous: Plan
    verdict: ReviewVerdict


# ------------------------------------------------------------------------------------- the code
MAX_AGENT_PY_BYTES = 64_000


class GeneratedCode(_Out):
    """The code generator's output: the text of `agent.py`."""

    agent_py: str = Field(min_length=1, max_length=MAX_AGENT_PY_BYTES * 2)
    notes: str = Field(default="", max_length=REASON_TEXT)


class Finding(_Out):
    """One static finding: which rule, where, and what to change."""

    rule: str = Field(min_length=1, max_length=60)
    message: str = Field(min_length=1, max_length=REASON_TEXT * 2)
    line: int | None = Field(default=None, ge=1)


class ModelCodeReview(_Out):
    """The model's review of the code, after the static checks passed."""

    verdict: Literal["approve", "reject"]
    reasons: tuple[str, ...] = Field(default=(), max_length=20)


class CodeReview(_Out):
    static_findings: tuple[Finding, ...] = ()
    model_review: ModelCodeReview | None = Field(default=None, description="None when static checks rejected")
    spec: dict[str, Any] | None = Field(default=None, description="the AgentSpec agent.py declares, as loaded")

    @property
    def approved(self) -> bool:
        return not self.static_findings and self.model_review is not None and self.model_review.verdict == "approve"


# ------------------------------------------------------------------------------------ the tests
SCRIPT_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"


class TestScript(_Out):
    """One replay script (the call-replay format, `oratio.replay.script.Script`) and the requirements it covers."""

    __test__ = False  # not a pytest class

    name: str = Field(pattern=SCRIPT_NAME_PATTERN, description="the file name, without .yaml")
    covers: tuple[str, ...] = Field(min_length=1)
    yaml: str = Field(min_length=1, max_length=20_000)

    @field_validator("covers")
    @classmethod
    def _ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.match(REQUIREMENT_ID_PATTERN, v)]
        if bad:
            raise ValueError(f"not requirement ids: {bad}")
        return value


class TestScripts(_Out):
    __test__ = False

    scripts: tuple[TestScript, ...] = Field(min_length=1)

    def covering(self, requirement: str) -> list[str]:
        return [s.name for s in self.scripts if requirement in s.covers]


class ScriptOutcome(_Out):
    name: str
    covers: tuple[str, ...]
    passed: bool
    failure: str = ""
    transcript: str = ""


class GateResult(_Out):
    scripts: tuple[ScriptOutcome, ...]
    cost_usd: float = Field(
        default=0.0, ge=0, description="what the candidate's model calls cost the tenant while it was tested"
    )

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scripts)

    def failures(self) -> list[ScriptOutcome]:
        return [s for s in self.scripts if not s.passed]


# ------------------------------------------------------------------------------------- the report
class RequirementTrace(_Out):
    requirement_id: str
    kind: RequirementKind
    text: str
    plan_elements: tuple[str, ...]
    definition_fields: tuple[str, ...]
    test_scripts: tuple[str, ...]
    gate: Literal["passed", "failed", "untested"]


class JobReport(_Out):
    """Requirement id -> what covers it, what is left uncovered, what the gate found."""

    traces: tuple[RequirementTrace, ...]
    uncovered: tuple[str, ...] = Field(description="requirements no plan element, field or test covers")
    gate_failures: tuple[ScriptOutcome, ...] = ()
    review_cycles: int = Field(ge=0)
    approved_plan: bool
