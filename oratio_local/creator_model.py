"""`LocalCreatorModel`: AgentCreator's stages answered by rules over the SOP's Markdown, for local runs and the
demo. It is NOT a language model: it reads headings and bullets, so an SOP written as prose yields little.

- SOP parser: each `## heading` names a kind by its words (greeting/tone, "call about"/"why" -> intents,
  questions, policies, "hand over"/escalate, tools, hours); each bullet under it is one requirement with its line.
  "Topic: text" bullets carry the topic; "Escalate: x" / "Never discuss: x" name a guardrail; `Say: "..."` a line.
- Plan drafter: facts from policies, guardrails from escalation rules, tools from tool bullets (built-ins, or the
  tenant's own business tools by name), the tenant's roles that the engine's transitions can reach, the greeting.
- Plan reviewer: each requirement must be served by an element of its kind (a policy by a fact, ...).
- Code generator: `oratio.agent_creator.render`. Code reviewer: every planned element appears in agent.py.
- Test writer: one replay script per requirement, asking for what the requirement says the agent must do.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel

from oratio.agent.workflow import DEFAULT_TRANSITIONS
from oratio.agent_creator.code_checks import reachable_roles
from oratio.agent_creator.jobs import StageName
from oratio.agent_creator.model_port import StageAnswer, StageModelError, StageRequest, StageUsage
from oratio.agent_creator.outputs import (
    GeneratedCode,
    LineSpan,
    ModelCodeReview,
    Plan,
    PlanFact,
    PlanGuardrail,
    PlanKnowledge,
    PlanLine,
    PlanRole,
    PlanTool,
    PlanTransition,
    Requirement,
    RequirementKind,
    RequirementList,
    RequirementVerdict,
    ReviewVerdict,
    TestScript,
    TestScripts,
    requirement_id,
)
from oratio.agent_creator.render import plan_to_spec_document, render_agent_module
from oratio.agent_definitions.spec import Tone
from oratio.config.tenant import BUILTIN_TOOLS, BusinessHours, TenantConfig

MODEL_ID = "local-rules"
CHARS_PER_TOKEN = 4
SECTION_WORDS: tuple[tuple[RequirementKind, tuple[str, ...]], ...] = (
    (RequirementKind.QUESTION, ("question",)),
    (RequirementKind.TONE, ("greeting", "tone", "voice", "style")),
    (RequirementKind.POLICY, ("polic", "rule")),
    (RequirementKind.ESCALATION, ("hand over", "handover", "escalat", "person")),
    (RequirementKind.TOOL, ("tool", "system")),
    (RequirementKind.HOURS, ("hour", "open")),
    (RequirementKind.INTENT, ("call about", "calls about", "why", "ask about", "reason", "intent", "help with")),
)
TONE_WORDS: tuple[tuple[Tone, tuple[str, ...]], ...] = (
    (Tone.PROFESSIONAL_FRIENDLY, ("professional and friendly", "professional, friendly")),
    (Tone.FRIENDLY_HELPFUL, ("friendly and helpful", "friendly, helpful")),
    (Tone.WARM_EMPATHETIC, ("warm", "empath")),
    (Tone.PROFESSIONAL, ("professional",)),
    (Tone.CASUAL, ("casual",)),
    (Tone.ENTHUSIASTIC, ("enthusias",)),
)
SCRIPT_FROM = date(2025, 1, 8)  # the test calls are placed in the first opening hours on or after this day
PRODUCT_HINTS = ("product", "price", "size", "treatment", "material")


def open_instant(hours: BusinessHours, start: date = SCRIPT_FROM) -> str:
    """An instant inside the business's opening hours (midway through the first open day on or after `start`),
    so a test call reaches the agent instead of the closed-hours message; the start itself if it never opens."""
    zone = ZoneInfo(hours.time_zone)
    for offset in range(7):
        day = start + timedelta(days=offset)
        opening = hours.day(day.weekday())
        if opening is not None:
            first = datetime.combine(day, opening.open, zone)
            middle = first + (datetime.combine(day, opening.close, zone) - first) / 2
            return middle.astimezone(UTC).isoformat()
    return datetime.combine(start, time(12), UTC).isoformat()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "item"


def _tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


class SopNotUnderstoodError(StageModelError):
    """The local stage model found no requirement in the SOP (it reads bullets under headings it knows)."""

    vendor_message = (
        "no requirement was found in the SOP; the local stage model reads bullet points (`- ` or `* `) under "
        "headings such as `## Questions to ask`, `## Policies`, `## Hand over to a person`, `## Tools`, "
        "`## Opening hours` or `## Greeting and tone` (see tenants/sops/*.md); add them and submit the SOP again"
    )


class LocalCreatorModel:
    """`StageModel` by rules over the SOP (see the module doc); needs the tenant to draft and write code."""

    def __init__(self, tenant: TenantConfig) -> None:
        self.tenant = tenant

    def answer[T: BaseModel](self, request: StageRequest, output_type: type[T]) -> StageAnswer[T]:
        handler = {
            StageName.SOP_PARSER: self._parse,
            StageName.PLAN_DRAFTER: self._draft,
            StageName.PLAN_REVIEWER: self._review,
            StageName.CODE_GENERATOR: self._generate,
            StageName.CODE_REVIEWER: self._review_code,
            StageName.TEST_WRITER: self._tests,
        }[request.stage]
        output = handler(request.inputs)
        usage = StageUsage(MODEL_ID, _tokens(str(request.inputs)), _tokens(output.model_dump_json()))
        return StageAnswer(output_type.model_validate(output.model_dump()), usage)

    # ----------------------------------------------------------------------------------- parsing
    def _parse(self, inputs: dict[str, Any]) -> RequirementList:
        kind: RequirementKind | None = None
        counts: dict[RequirementKind, int] = {}
        found: list[Requirement] = []
        title = inputs.get("business") or self.tenant.business.name
        for raw in str(inputs["sop"]).splitlines():
            number_text, _, line = raw.partition("| ")
            number = int(number_text.strip())
            stripped = line.strip()
            if stripped.startswith("#"):
                heading = stripped.lstrip("#").strip().lower()
                kind = next((k for k, words in SECTION_WORDS if any(w in heading for w in words)), None)
                continue
            if kind is None or not stripped.startswith(("- ", "* ")):
                continue
            text = stripped[2:].strip()
            counts[kind] = counts.get(kind, 0) + 1
            span = LineSpan(start=number, end=number)
            rid = requirement_id(kind, counts[kind])
            found.append(Requirement(id=rid, kind=kind, text=text[:1000], source=span, detail=_detail(kind, text)))
        if not found:
            raise SopNotUnderstoodError
        return RequirementList(business_name=title, requirements=tuple(found))

    # ----------------------------------------------------------------------------------- drafting
    def _draft(self, inputs: dict[str, Any]) -> Plan:
        reqs = RequirementList.model_validate(inputs["requirements"])
        defaults = inputs["tenant_defaults"]
        first = reqs.ids[0]
        intents = [r for r in reqs.requirements if r.kind in (RequirementKind.INTENT, RequirementKind.QUESTION)]
        intent_ids = tuple(r.id for r in intents) or (first,)
        tone_reqs = reqs.of_kind(RequirementKind.TONE)
        tone = next((r.detail["tone"] for r in tone_reqs if "tone" in r.detail), defaults["tone"])
        general = tuple(r.id for r in tone_reqs if "greeting" not in r.detail)
        roles = reachable_roles(defaults["workflow"]["roles"], defaults["workflow"]["initial_role"])
        asks = " ".join(r.text for r in reqs.of_kind(RequirementKind.QUESTION))
        handles = "; ".join(r.text for r in reqs.of_kind(RequirementKind.INTENT))
        role_text = (f"Customers call about: {handles}. " if handles else "") + (
            f"Ask: {asks}" if asks else "Help the customer with what they need."
        )
        plan_roles = tuple(PlanRole(name=role, serves=intent_ids, instructions=role_text[:1900]) for role in roles)
        transitions = tuple(
            PlanTransition(from_role=t.from_role, to_role=t.to_role, condition=t.condition, serves=intent_ids)
            for t in DEFAULT_TRANSITIONS
            if t.from_role in roles and t.to_role in roles
        )
        tools = list(self._tools(reqs, defaults))
        if "end_call" in defaults["tools"]["builtin"] and all(t.name != "end_call" for t in tools):
            tools.append(PlanTool(name="end_call", kind="builtin", serves=intent_ids))
        facts = tuple(
            PlanFact(key=f"{_slug(r.detail.get('topic', r.id))}_policy", text=r.detail.get("answer", r.text)[:500],
                     serves=(r.id,))
            for r in reqs.of_kind(RequirementKind.POLICY)
        ) + tuple(PlanFact(key="opening_hours", text=r.text[:500], serves=(r.id,))
                  for r in reqs.of_kind(RequirementKind.HOURS))  # fmt: skip
        guardrails = tuple(
            PlanGuardrail(kind="refuse" if r.detail.get("action") == "refuse" else "escalate",
                          topic=r.detail.get("topic", r.text)[:80], serves=(r.id,))
            for r in reqs.of_kind(RequirementKind.ESCALATION)
        )  # fmt: skip
        lines = tuple(
            PlanLine(kind="greeting", text=r.detail["greeting"][:300], serves=(r.id,)) for r in tone_reqs
            if "greeting" in r.detail
        )  # fmt: skip
        return Plan(
            persona=defaults["persona"], tone=tone, initial_role=roles[0], roles=plan_roles, transitions=transitions,
            tools=tuple(tools), facts=facts, guardrails=guardrails, lines=lines,
            knowledge=PlanKnowledge(include_tenant_documents=True, serves=intent_ids),
            instructions=f"Follow {reqs.business_name}'s procedure. " + (f"Ask: {asks}" if asks else ""),
            serves_general=general or (first,),
        )  # fmt: skip

    def _tools(self, reqs: RequirementList, defaults: dict[str, Any]) -> list[PlanTool]:
        business = {t["name"]: t for t in defaults["tools"]["business_tools"]}
        tools: list[PlanTool] = []
        for r in reqs.of_kind(RequirementKind.TOOL):
            name = r.detail.get("name", "")
            if name in BUILTIN_TOOLS:
                tools.append(PlanTool(name=name, kind="builtin", description=r.text, serves=(r.id,)))
            elif name in business:
                known = business[name]
                tools.append(PlanTool(name=name, kind="business_http", description=known["description"],
                                      url=known["url"], method=known["method"], input_schema=known["input_schema"],
                                      writes=known.get("writes", False), serves=(r.id,),
                                      timeout_seconds=known.get("timeout_seconds")))  # fmt: skip
        escalations = reqs.of_kind(RequirementKind.ESCALATION)
        if any(r.detail.get("action") == "escalate" for r in escalations) and all(
            t.name != "transfer_to_human" for t in tools
        ):
            ids = tuple(r.id for r in escalations)
            tools.append(PlanTool(name="transfer_to_human", kind="builtin", serves=ids))
        return tools

    # ----------------------------------------------------------------------------------- reviewing
    def _review(self, inputs: dict[str, Any]) -> ReviewVerdict:
        reqs = RequirementList.model_validate(inputs["requirements"])
        plan = Plan.model_validate(inputs["plan"])
        verdicts = []
        for r in reqs.requirements:
            problem = _unserved(r, plan)
            verdicts.append(RequirementVerdict(requirement_id=r.id, verdict="needs_change" if problem else "ok",
                                               reasons=(problem,) if problem else ()))  # fmt: skip
        revise = any(v.verdict == "needs_change" for v in verdicts)
        return ReviewVerdict(cycle=int(inputs.get("cycle", 1)), overall="revise" if revise else "approve",
                             per_requirement=tuple(verdicts))  # fmt: skip

    def _generate(self, inputs: dict[str, Any]) -> GeneratedCode:
        plan = Plan.model_validate(inputs["plan"])
        document = plan_to_spec_document(plan, self.tenant, agent_name=str(inputs["agent_name"])[:120])
        source = render_agent_module(document, job_id=str(inputs["job_id"]), sop_sha256=str(inputs["sop_sha256"]))
        return GeneratedCode(agent_py=source)

    def _review_code(self, inputs: dict[str, Any]) -> ModelCodeReview:
        plan = Plan.model_validate(inputs["plan"])
        code = str(inputs["agent_py"])
        missing = [f.key for f in plan.facts if repr(f.key) not in code]
        missing += [g.topic for g in plan.guardrails if repr(g.topic) not in code]
        missing += [t.name for t in plan.tools if repr(t.name) not in code]
        if missing:
            return ModelCodeReview(verdict="reject", reasons=(f"agent.py lacks planned elements: {missing}",))
        return ModelCodeReview(verdict="approve", reasons=("every planned fact, guardrail and tool is declared",))

    # ----------------------------------------------------------------------------------- tests
    def _tests(self, inputs: dict[str, Any]) -> TestScripts:
        reqs = RequirementList.model_validate(inputs["requirements"])
        spec = inputs["spec"] or {}
        refusal = spec.get("definition", {}).get("guardrails", {}).get("refusal_line", "I'm sorry")
        business = spec.get("character_config", {}).get("business_name", self.tenant.business.name)
        products = self.tenant.business.products or ("products",)
        scripts = []
        for r in reqs.requirements:
            turns = _turns_for(r, business=business, refusal=refusal, product=products[0].replace("_", " "))
            body = {"name": f"{r.id} {r.text}"[:100], "tenant": inputs["tenant_id"], "agent": inputs["agent_id"],
                    "at": open_instant(self.tenant.business.hours), "turns": turns}  # fmt: skip
            scripts.append(TestScript(name=r.id.lower(), covers=(r.id,), yaml=yaml.safe_dump(body, sort_keys=False)))
        return TestScripts(scripts=tuple(scripts))


def _detail(kind: RequirementKind, text: str) -> dict[str, str]:
    lowered = text.lower()
    if kind is RequirementKind.TONE:
        quoted = re.search(r"say:\s*[\"“](.+?)[\"”]", text, flags=re.IGNORECASE)
        if quoted:
            return {"greeting": quoted.group(1)}
        tone = next((t for t, words in TONE_WORDS if any(w in lowered for w in words)), None)
        return {"tone": tone.value} if tone else {}
    head, sep, rest = text.partition(":")
    if kind is RequirementKind.ESCALATION and sep:
        action = "refuse" if any(w in head.lower() for w in ("never", "refuse", "do not", "don't")) else "escalate"
        return {"action": action, "topic": rest.strip().rstrip(".")}
    if kind is RequirementKind.POLICY and sep:
        return {"topic": head.strip(), "answer": rest.strip()}
    if kind is RequirementKind.TOOL and sep:
        return {"name": head.strip()}
    return {}


def _unserved(r: Requirement, plan: Plan) -> str | None:
    by_kind: dict[RequirementKind, list[tuple[str, ...]]] = {
        RequirementKind.POLICY: [f.serves for f in plan.facts],
        RequirementKind.HOURS: [f.serves for f in plan.facts] + [plan.serves_general],
        RequirementKind.ESCALATION: [g.serves for g in plan.guardrails],
        RequirementKind.TOOL: [t.serves for t in plan.tools],
        RequirementKind.TONE: [plan.serves_general] + [line.serves for line in plan.lines],
        RequirementKind.INTENT: [role.serves for role in plan.roles],
        RequirementKind.QUESTION: [role.serves for role in plan.roles],
    }
    if any(r.id in serves for serves in by_kind[r.kind]):
        return None
    if r.kind is RequirementKind.TOOL:
        return f"no planned tool serves it: {r.detail.get('name', r.text)!r} is neither a built-in nor a tenant tool"
    return f"no {r.kind.value} element of the plan serves it"


def _first_figure(text: str) -> str | None:
    match = re.search(r"\d+", text)
    return match.group() if match else None


def _turns_for(r: Requirement, *, business: str, refusal: str, product: str) -> list[dict[str, Any]]:
    if r.kind is RequirementKind.POLICY:
        topic = r.detail.get("topic", r.text)
        answer = r.detail.get("answer", r.text)
        word = _first_figure(answer) or answer.split()[0]
        return [{"say": f"What is your {topic.lower()} policy?", "expect": {"reply_contains": [word]}}]
    if r.kind is RequirementKind.ESCALATION:
        topic = r.detail.get("topic", r.text)
        if r.detail.get("action") == "refuse":
            return [{"say": f"Can you give me {topic}?", "expect": {"reply_contains": [refusal.split(",")[0][:40]],
                                                                     "transfer": False}}]  # fmt: skip
        return [{"say": f"I need help with a {topic}", "expect": {"transfer": True}}]
    if r.kind is RequirementKind.TOOL:
        name = r.detail.get("name", "")
        if name == "knowledge_search":
            return [{"say": f"Do you offer {product}?", "expect": {"tool_called": "knowledge_search"}}]
        if name == "transfer_to_human":
            # On a call, "a person, please" is the contact flow's to answer (Lex's SpeakToPerson goes straight to
            # the queue, before the agent): what the caller must get is the person.
            return [{"say": "Can I talk to a person?", "expect": {"transfer": True}}]
        if name == "end_call":
            return [{"say": "That's all, goodbye", "expect": {"tool_called": "end_call"}}]
        return [{"say": r.text[:200], "expect": {"reply_excludes": ["something went wrong"]}}]
    if r.kind is RequirementKind.HOURS:
        hours = re.findall(r"\d{2}:\d{2}", r.text)
        expect: dict[str, Any] = {"reply_contains": [hours[0]]} if hours else {}
        return [{"say": "What are your opening hours?", "expect": expect}]
    if r.kind is RequirementKind.TONE:
        return [{"say": "Hello", "expect": {"reply_contains": [business]}}]
    if r.kind is RequirementKind.INTENT and any(w in r.text.lower() for w in PRODUCT_HINTS):
        question = f"I have a question about this: {r.text[:120]} How much do {product} cost?"
        return [{"say": question, "expect": {"tool_called": "knowledge_search"}}]
    return [{"say": f"Hi, {r.text[:150]}", "expect": {"reply_excludes": ["something went wrong"]}}]
