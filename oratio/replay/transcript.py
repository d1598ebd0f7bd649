"""What a replayed call came to, as people read it: a timeline of who said what (with holding lines, transfers,
tool calls and cost per turn), and the checks of a script's expectations against it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oratio.replay.script import EndExpectation, TurnExpectation


@dataclass(frozen=True)
class Event:
    """One line of the timeline. `who`: caller, assistant, flow, agent (the AI's work), human (the person who
    takes a transfer), system. `at`: seconds since the call started, on the replay clock."""

    at: float
    who: str
    text: str
    kind: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.at:7.1f}s  {self.who:<9} {self.text}"


class ExpectationFailed(AssertionError):
    def __init__(self, where: str, expected: str, happened: str, timeline: Sequence[Event]) -> None:
        self.where, self.expected, self.happened = where, expected, happened
        self.timeline = list(timeline)
        super().__init__(f"{where}: expected {expected}; {happened}")

    def explain(self) -> str:
        lines = [
            f"{self.where}",
            f"  expected: {self.expected}",
            f"  happened: {self.happened}",
            "  transcript so far:",
        ]
        return "\n".join(lines + [f"    {e.line()}" for e in self.timeline])


def heard(events: Sequence[Event]) -> str:
    return " ".join(e.text for e in events if e.who == "assistant")


def check_turn(where: str, expect: TurnExpectation, segment: Sequence[Event], timeline: Sequence[Event],
               attributes: Mapping[str, str], holding_line: str) -> None:  # fmt: skip
    """Raise `ExpectationFailed` on the first expectation of a turn that `segment` (what followed it) breaks."""
    said = heard(segment)

    def fail(expected: str, happened: str) -> None:
        raise ExpectationFailed(where, expected, happened, timeline)

    for phrase in expect.reply_contains:
        if phrase.lower() not in said.lower():
            fail(f"the reply to contain {phrase!r}", f"the caller heard {said!r}")
    for phrase in expect.reply_excludes:
        if phrase.lower() in said.lower():
            fail(f"the reply not to contain {phrase!r}", f"the caller heard {said!r}")
    tools = [str(e.detail.get("tool")) for e in segment if e.kind == "tool"]
    for tool in expect.tools:
        if tool not in tools:
            fail(f"the agent to call {tool}", f"tools called: {tools or 'none'}")
    if expect.transfer is not None:
        transferred = any(e.kind == "transfer" for e in segment)
        if transferred != expect.transfer:
            fail(f"transfer={expect.transfer}", f"transferred={transferred}")
    if expect.holding is not None:
        held = holding_line.lower() in said.lower()
        if held != expect.holding:
            fail(f"holding line={expect.holding} ({holding_line!r})", f"the caller heard {said!r}")
    if expect.intent is not None:
        intents = [str(e.detail.get("intent")) for e in segment if e.kind == "nlu"]
        if expect.intent not in intents:
            fail(f"the bot to match intent {expect.intent}", f"intents matched: {intents or 'none'}")
    if expect.interrupted is not None:
        # Cut off means the caller stopped hearing it: an interruption after which no audio of the reply leaked.
        leaked = [e.text for e in segment if e.kind == "leak"]
        cut = any(e.kind == "interruption" for e in segment) and not leaked
        if cut != expect.interrupted:
            fail(f"interrupted={expect.interrupted}", f"interrupted={cut}" + (f" ({leaked[0]})" if leaked else ""))
    check_attributes(where, expect.attributes, attributes, timeline)


def check_attributes(where: str, expected: Mapping[str, str], attributes: Mapping[str, str],
                     timeline: Sequence[Event]) -> None:  # fmt: skip
    for key, value in expected.items():
        actual = str(attributes.get(key, ""))
        if value.lower() not in actual.lower():
            raise ExpectationFailed(where, f"attribute {key} to contain {value!r}", f"{key} = {actual!r}", timeline)


def check_end(expect: EndExpectation, timeline: Sequence[Event], *, route: str, outcome: str, cost_usd: float,
              attributes: Mapping[str, str]) -> None:  # fmt: skip
    where = "expect_end"
    if expect.route is not None and route != expect.route:
        raise ExpectationFailed(where, f"route {expect.route!r}", f"the call router answered route {route!r}", timeline)
    if expect.outcome is not None and outcome != expect.outcome:
        raise ExpectationFailed(where, f"outcome {expect.outcome!r}", f"the call was {outcome}", timeline)
    if expect.max_cost_usd is not None and cost_usd > expect.max_cost_usd:
        raise ExpectationFailed(where, f"cost at most ${expect.max_cost_usd}", f"it cost ${cost_usd:.5f}", timeline)
    whisper = " ".join(e.text for e in timeline if e.who == "human" and e.kind == "whisper")
    for phrase in expect.whisper_contains:
        if phrase.lower() not in whisper.lower():
            raise ExpectationFailed(where, f"the whisper to contain {phrase!r}", f"it said {whisper!r}", timeline)
    said = heard(timeline)
    for phrase in expect.reply_contains:
        if phrase.lower() not in said.lower():
            raise ExpectationFailed(where, f"the caller to hear {phrase!r}", f"the caller heard {said!r}", timeline)
    check_attributes(where, expect.attributes, attributes, timeline)
