"""The conversation script format (YAML), validated: unknown keys and bad values fail with the file, the line and
the key. A script names a tenant and an agent, a front door, the caller, the replay clock's start, what is true
before the call (`given`), the caller's turns with what each should get back (`expect`), and how the call
should end (`expect_end`). See README.md, "Conversation replay", for the reference with a full example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

FrontDoor = Literal["connect", "twilio", "vonage"]
FRONT_DOORS: tuple[str, ...] = ("connect", "twilio", "vonage")
SCRIPT_SUFFIXES = (".yaml", ".yml")


class ScriptError(ValueError):
    """A script that cannot run; the message names the file, the line and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class TurnExpectation(_Strict):
    reply_contains: list[str] = Field(default_factory=list, description="case-insensitive; all must appear")
    reply_excludes: list[str] = Field(default_factory=list, description="case-insensitive; none may appear")
    tool_called: str | list[str] | None = None
    transfer: bool | None = None
    holding: bool | None = Field(default=None, description="the caller heard the holding line this turn")
    intent: str | None = Field(default=None, description="the intent the bot matched")
    interrupted: bool | None = Field(default=None, description="bridge: the reply was cut off by the caller")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="contact attributes (case-insensitive contains)"
    )

    @property
    def tools(self) -> list[str]:
        if self.tool_called is None:
            return []
        return [self.tool_called] if isinstance(self.tool_called, str) else list(self.tool_called)


class Turn(_Strict):
    """Exactly one of `say`, `dtmf`, `silence`, `hang_up`."""

    say: str | None = None
    dtmf: str | None = Field(default=None, pattern=r"^[0-9*#]+$")
    silence: float | None = Field(default=None, gt=0, le=600)
    hang_up: bool | None = None
    confidence: float | None = Field(default=None, ge=0, le=1, description="the recognizer's confidence in `say`")
    agent_seconds: float | None = Field(default=None, ge=0, le=120, description="how long the agent takes to answer")
    interrupt: bool = Field(default=False, description="bridge: say this while the previous reply is still playing")
    expect: TurnExpectation = Field(default_factory=TurnExpectation)

    @model_validator(mode="after")
    def _one_action(self) -> Turn:
        given = [k for k in ("say", "dtmf", "silence", "hang_up") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a turn needs exactly one of say, dtmf, silence, hang_up (got {given or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("say", "dtmf", "silence", "hang_up") if getattr(self, k) is not None)


class Given(_Strict):
    """What is true before the caller dials, set up through the platform's own ports."""

    agent_status: Literal["active", "paused", "stopped"] = "active"
    active_calls: int = Field(default=0, ge=0, description="calls already on the line (call session store)")
    month_spend_usd: float = Field(default=0, ge=0, description="the tenant's spend so far this month (budget ledger)")
    agent_month_spend_usd: float = Field(
        default=0, ge=0, description="the part of `month_spend_usd` the script's agent spent (its budget share's row)"
    )
    agent_budget_usd: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="the agent's own monthly budget share (its definition's models.monthly_budget_usd, set through "
        "the vendor API); unset: the tenant's agent.monthly_budget_usd",
    )
    speech_down: list[Literal["speech_to_speech", "cascaded"]] = Field(
        default_factory=list, description="Lex bots (speech rungs) that fail when the flow enters them"
    )
    tool_failures: list[str] = Field(default_factory=list, description="agent tools that raise when run")

    @model_validator(mode="after")
    def _agent_spend_within_tenant_spend(self) -> Given:
        if self.agent_month_spend_usd > self.month_spend_usd:
            raise ValueError(
                f"agent_month_spend_usd ({self.agent_month_spend_usd}) is part of the tenant's month_spend_usd "
                f"({self.month_spend_usd}): set month_spend_usd to at least that much"
            )
        return self


class EndExpectation(_Strict):
    route: str | None = None
    outcome: Literal["transferred", "ended", "abandoned"] | None = None
    max_cost_usd: float | None = Field(default=None, ge=0)
    attributes: dict[str, str] = Field(default_factory=dict)
    whisper_contains: list[str] = Field(default_factory=list)
    reply_contains: list[str] = Field(default_factory=list, description="anywhere in what the caller heard")


class Script(_Strict):
    name: str = Field(min_length=1)
    tenant: str = Field(pattern=r"^[a-z0-9-]{3,40}$")
    agent: str = Field(default="front-desk", min_length=1, max_length=64)
    front_door: FrontDoor = "connect"
    caller: str = Field(default="+15551234567", pattern=r"^\+[1-9][0-9]{6,14}$")
    at: AwareDatetime
    given: Given = Field(default_factory=Given)
    turns: list[Turn] = Field(default_factory=list)
    expect_end: EndExpectation = Field(default_factory=EndExpectation)

    @field_validator("turns")
    @classmethod
    def _bounded(cls, turns: list[Turn]) -> list[Turn]:
        if len(turns) > 200:
            raise ValueError("a script has at most 200 turns")
        return turns


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> tuple[int | None, str]:
    """The 1-based line of the value (or key) at `loc`, and the key itself, from the composed YAML."""
    line = node.start_mark.line + 1 if node is not None else None
    key = ""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                return line, str(part)
            key_node, node = match
            line, key = key_node.start_mark.line + 1, str(part)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line, key


def parse_script(text: str, source: str = "<script>") -> Script:
    """Validate a script's text; `source` names it in errors."""
    try:
        node = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ScriptError(f"{source}{where}: not valid YAML: {getattr(e, 'problem', None) or e}") from e
    if not isinstance(data, dict):
        raise ScriptError(f"{source}: a script is a mapping of keys (name, tenant, turns, ...)")
    try:
        return Script.model_validate(data)
    except ValidationError as e:
        problems = []
        for error in e.errors(include_url=False):
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p in {"str", "list[str]"}))
            line, key = _line_of(node, loc)
            path = ".".join(str(p) for p in loc) or "(script)"
            what = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(
                f"{source}:{line or '?'}: {path}: {what}"
                + (f" ({key!r})" if error["type"] == "extra_forbidden" else "")
            )
        raise ScriptError("\n".join(problems)) from None


def load_script(path: Path) -> Script:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScriptError(f"{path}: cannot read it ({e.strerror})") from e
    return parse_script(text, str(path))


def discover(paths: list[Path]) -> list[Path]:
    """The script files named, and those under the folders named (sorted, so runs are repeatable)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SCRIPT_SUFFIXES and p.is_file())
        else:
            found.append(path)
    return found


def dump_script(script: Script) -> str:
    """The script as YAML (what `:save` writes): defaults left out, keys in the documented order."""
    data = script.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("at", script.at.isoformat())
    order = ["name", "tenant", "agent", "front_door", "caller", "at", "given", "turns", "expect_end"]
    ordered = {k: data[k] for k in order if k in data}
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=110)
