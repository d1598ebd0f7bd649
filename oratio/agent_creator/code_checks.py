"""The code reviewer's static checks on a generated `agent.py`: rules that model output cannot talk past.

In order, each stopping the review when it finds something: the module is bounded in size and parses; it only
imports allowlisted names from the tenant agent's extension points and uses none of the forbidden names, no
dunder attribute or name, and no statement beyond assignments of literal declarations; loaded in a separate,
limited interpreter (`oratio.agent_creator.isolated_load`) it declares an `AgentSpec` that resolves against the
tenant's defaults into a valid `AgentDefinition`; then the definition itself is checked: every tool the plan or
the definition names is in the tool registry (built-ins and the tenant's business tools, same schema) or is a
business HTTP tool to a host on the tenant's allowlist; every role is reachable from the initial role through
the engine's transition table and every planned transition targets a role; instructions stay within a size
bound; and no text the agent would say or follow trips the prompt-injection screen the tools use.

A model review runs only after these pass (`oratio.agent_creator.pipeline`), never instead of them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from oratio.agent.tools.screening import InjectionScreen
from oratio.agent.workflow import DEFAULT_TRANSITIONS
from oratio.agent_creator.isolated_load import IsolatedLoadError, LoadLimits, load_in_isolation
from oratio.agent_creator.outputs import Finding, Plan
from oratio.agent_creator.render import SPEC_NAME
from oratio.agent_definitions.merge import resolve
from oratio.agent_definitions.model import AgentDefinition
from oratio.agent_definitions.spec import AgentSpec, overrides_of
from oratio.config.tenant import BUILTIN_TOOLS, TenantConfig

# The tenant agent's extension points: what a definition module may import, name by name.
ALLOWED_IMPORTS: dict[str, frozenset[str]] = {
    "oratio.agent_definitions.spec": frozenset({"AgentSpec", "CharacterConfig", "AgentContext", "Tone"}),
    "oratio.agent_definitions.model": frozenset(
        {
            "AgentOverrides",
            "AgentLinesOverrides",
            "BusinessOverrides",
            "WorkflowOverrides",
            "ToolOverrides",
            "ModelOverrides",
            "VoiceOverrides",
            "GuardrailOverrides",
            "KnowledgeOverrides",
        }
    ),
    "oratio.config.tenant": frozenset({"BusinessTool", "BusinessHours", "ContactInfo"}),
}
FORBIDDEN_NAMES = frozenset(
    {
        "exec", "eval", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
        "vars", "breakpoint", "input", "help", "memoryview", "type", "object", "super", "classmethod",
        "staticmethod", "property", "dir", "id", "print",
        "os", "sys", "subprocess", "socket", "importlib", "builtins", "shutil", "pathlib", "ctypes", "pickle",
        "marshal", "threading", "multiprocessing", "asyncio", "http", "urllib", "requests", "httpx", "boto3",
    }
)  # fmt: skip
DUNDER_IN_TEXT = re.compile(r"__\w+__")
# Statements a declaration needs; everything else (def, class, loops, try, with, lambda, del, global) is refused.
ALLOWED_STATEMENTS = (ast.Assign, ast.AnnAssign, ast.Expr, ast.ImportFrom)
FORBIDDEN_EXPRESSIONS = (
    ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.Starred, ast.Subscript, ast.JoinedStr, ast.BinOp,
)  # fmt: skip


@dataclass(frozen=True)
class CheckSettings:
    max_source_bytes: int = 64_000
    max_instruction_chars: int = 8_000
    load_limits: LoadLimits = field(default_factory=LoadLimits)


@dataclass(frozen=True)
class CheckContext:
    """What the checks hold the module to: the tenant, the agent, the plan and the tool hosts allowed."""

    tenant: TenantConfig
    agent_id: str
    plan: Plan
    allowed_hosts: frozenset[str]


@dataclass
class CheckOutcome:
    findings: list[Finding]
    spec: AgentSpec | None = None
    definition: AgentDefinition | None = None

    @property
    def passed(self) -> bool:
        return not self.findings and self.definition is not None


def tenant_tool_hosts(tenant: TenantConfig) -> frozenset[str]:
    """The default allowlist: the hosts the tenant's own business tools already call."""
    return frozenset(str(t.url.host).lower() for t in tenant.agent.business_tools if t.url.host)


def _finding(rule: str, message: str, node: ast.AST | None = None) -> Finding:
    return Finding(rule=rule, message=message, line=getattr(node, "lineno", None))


# ------------------------------------------------------------------------------------ the source
def source_findings(source: str, settings: CheckSettings) -> list[Finding]:
    """Size, parse, imports, names, attributes and statement shapes: everything decidable from the text."""
    size = len(source.encode("utf-8"))
    if size > settings.max_source_bytes:
        return [_finding("size", f"agent.py is {size:,} bytes; at most {settings.max_source_bytes:,} are allowed")]
    try:
        tree = ast.parse(source, filename="agent.py")
    except SyntaxError as e:
        return [Finding(rule="parse", message=f"agent.py does not parse: {e.msg}", line=e.lineno or None)]
    findings = list(_statement_findings(tree))
    for node in ast.walk(tree):
        findings.extend(_node_findings(node))
    if not any(_assigns(stmt, SPEC_NAME) for stmt in tree.body):
        findings.append(_finding("declares_spec", f"agent.py must assign the agent's AgentSpec to {SPEC_NAME}"))
    return findings


def _assigns(stmt: ast.stmt, name: str) -> bool:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def _statement_findings(tree: ast.Module) -> Iterator[Finding]:
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            yield _finding("imports", "plain `import` is not allowed; use `from <extension point> import <name>`", stmt)
        elif not isinstance(stmt, ALLOWED_STATEMENTS):
            kind = type(stmt).__name__
            yield _finding("statements", f"a {kind} statement is not allowed: agent.py only declares data", stmt)
        elif isinstance(stmt, ast.Expr) and not (
            isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
        ):
            yield _finding("statements", "a bare expression is not allowed (only the module docstring)", stmt)


def _node_findings(node: ast.AST) -> Iterator[Finding]:
    if isinstance(node, ast.ImportFrom):
        allowed = ALLOWED_IMPORTS.get(node.module or "")
        if node.level or allowed is None:
            yield _finding("imports", f"import from {node.module!r} is not allowed; allowed: {sorted(ALLOWED_IMPORTS)}",
                           node)  # fmt: skip
        else:
            for alias in node.names:
                if alias.name not in allowed or alias.asname is not None:
                    yield _finding("imports", f"{node.module}.{alias.name} is not an allowed name (or is renamed)",
                                   node)  # fmt: skip
    elif isinstance(node, ast.Name):
        if node.id in FORBIDDEN_NAMES:
            yield _finding("forbidden_name", f"the name {node.id!r} is not allowed in agent.py", node)
        elif node.id.startswith("__") and node.id.endswith("__"):
            yield _finding("dunder", f"dunder name {node.id!r} is not allowed", node)
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            yield _finding("dunder", f"attribute {node.attr!r} (private or dunder) is not allowed", node)
        if node.attr in FORBIDDEN_NAMES:
            yield _finding("forbidden_name", f"the attribute {node.attr!r} is not allowed in agent.py", node)
    elif isinstance(node, FORBIDDEN_EXPRESSIONS):
        yield _finding("expressions", f"a {type(node).__name__} expression is not allowed in a declaration", node)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _names_dunder(node.value):
        yield _finding("dunder", "a string that names a dunder is not allowed", node)


def _names_dunder(text: str) -> bool:
    # Strings such as "__class__" feed attribute tricks through pydantic or format specs: none are needed.
    return DUNDER_IN_TEXT.search(text) is not None


# -------------------------------------------------------------------------------- the definition
def definition_findings(spec: AgentSpec, definition: AgentDefinition, context: CheckContext,
                        settings: CheckSettings) -> list[Finding]:  # fmt: skip
    findings: list[Finding] = []
    findings += _tool_findings(definition, context)
    findings += _role_findings(definition, context.plan)
    chars = len(definition.persona) + len(definition.instructions)
    chars += sum(len(text) for text in definition.workflow.role_instructions.values())
    if chars > settings.max_instruction_chars:
        findings.append(_finding("instructions_size", f"persona and instructions are {chars:,} characters; at most "
                                 f"{settings.max_instruction_chars:,} are allowed"))  # fmt: skip
    hit = InjectionScreen().screen(list(_spoken_texts(definition)))
    if hit is not None:
        findings.append(_finding("injection", f"text in the definition looks like an attempt to override the "
                                 f"platform's guardrails (marker {hit.marker}); remove it"))  # fmt: skip
    return findings


def _spoken_texts(definition: AgentDefinition) -> Iterator[str]:
    yield from (definition.name, definition.persona, definition.instructions, definition.tone)
    yield from definition.facts.values()
    yield from definition.workflow.role_instructions.values()
    lines = definition.lines
    yield from (lines.greeting, lines.paused_line, lines.closing_line, lines.handover_line)
    yield definition.guardrails.refusal_line
    yield from definition.guardrails.refuse_topics
    yield from definition.guardrails.escalate_topics
    for tool in definition.tools.business_tools:
        yield tool.description


def _tool_findings(definition: AgentDefinition, context: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    registry = {t.name: t for t in context.tenant.agent.business_tools}
    declared = {t.name: t for t in definition.tools.business_tools}
    for tool in definition.tools.business_tools:
        known = registry.get(tool.name)
        if known is not None and known.input_schema != tool.input_schema:
            findings.append(_finding("tool_schema", f"business tool {tool.name!r} has a different input schema "
                                     "from the tenant's tool registry"))  # fmt: skip
        host = (urlsplit(str(tool.url)).hostname or "").lower()
        if host not in context.allowed_hosts:
            findings.append(_finding("tool_host", f"business tool {tool.name!r} calls {host!r}, which is not on the "
                                     f"tenant's allowlist {sorted(context.allowed_hosts)}"))  # fmt: skip
    present = set(definition.tools.builtin) | set(declared)
    for planned in context.plan.tools:
        if planned.kind == "builtin" and planned.name not in BUILTIN_TOOLS:
            findings.append(_finding("tool_registry", f"the plan's tool {planned.name!r} is not a built-in tool"))
        elif planned.name not in present:
            findings.append(_finding("tool_registry", f"the plan's tool {planned.name!r} is missing from agent.py"))
    return findings


def reachable_roles(roles: Sequence[str], initial: str) -> list[str]:
    """The roles the engine's transition table can reach from `initial` among `roles`, in their order."""
    reached, frontier = {initial}, [initial]
    while frontier:
        role = frontier.pop()
        for rule in DEFAULT_TRANSITIONS:
            if rule.from_role == role and rule.to_role in roles and rule.to_role not in reached:
                reached.add(rule.to_role)
                frontier.append(rule.to_role)
    return [r for r in roles if r in reached]


def _role_findings(definition: AgentDefinition, plan: Plan) -> list[Finding]:
    findings: list[Finding] = []
    roles = set(definition.workflow.roles)
    reached = set(reachable_roles(definition.workflow.roles, definition.workflow.initial_role))
    for role in definition.workflow.roles:
        if role not in reached:
            findings.append(_finding("roles_reachable", f"role {role!r} cannot be reached from "
                                     f"{definition.workflow.initial_role!r} by the engine's transitions"))  # fmt: skip
    table = {(r.from_role, r.condition, r.to_role) for r in DEFAULT_TRANSITIONS}
    for t in plan.transitions:
        if t.to_role not in roles or t.from_role not in roles:
            findings.append(_finding("transitions", f"transition {t.from_role}->{t.to_role} names a role the "
                                     "definition does not have"))  # fmt: skip
        elif (t.from_role, t.condition, t.to_role) not in table:
            findings.append(_finding("transitions", f"transition {t.from_role}->{t.to_role} on {t.condition} is not "
                                     "one the engine's workflow can make"))  # fmt: skip
    for role in definition.workflow.role_instructions:
        if role not in roles:
            findings.append(_finding("transitions", f"instructions for role {role!r}, which is not a role"))
    return findings


# ------------------------------------------------------------------------------------- everything
def check_module(source: str, context: CheckContext, settings: CheckSettings | None = None) -> CheckOutcome:
    """All static checks; findings stop at the first layer that has any (a module that fails to parse is not
    loaded, one with forbidden names is never executed)."""
    settings = settings or CheckSettings()
    findings = source_findings(source, settings)
    if findings:
        return CheckOutcome(findings)
    try:
        document: dict[str, Any] = load_in_isolation(source, ALLOWED_IMPORTS, settings.load_limits, SPEC_NAME)
    except IsolatedLoadError as e:
        return CheckOutcome([_finding("isolated_load", str(e))])
    try:
        spec = AgentSpec.model_validate(document)
        definition = resolve(context.tenant, context.agent_id, overrides_of(spec))
    except (ValidationError, ValueError) as e:
        return CheckOutcome([_finding("definition", f"the declared agent is not a valid definition: {str(e)[:600]}")])
    findings = definition_findings(spec, definition, context, settings)
    return CheckOutcome(findings, spec, definition)
