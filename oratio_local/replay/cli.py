"""The replay's command line: `replay` runs scripts (files or folders), `talk` lets a person be the caller."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from oratio.replay import report
from oratio.replay.script import FRONT_DOORS, Script, Turn, TurnExpectation, dump_script
from oratio.replay.transcript import Event
from oratio_local.replay.lex import CallerInput
from oratio_local.replay.runner import CallBase, ReplaySession, ScriptResult, call_types, run_paths, run_script

DEFAULT_TALK_START = "2025-01-06T11:00:00"  # a Monday morning, in the tenant's time zone


def replay(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m oratio replay", description="Run conversation scripts.")
    parser.add_argument("paths", nargs="+", type=Path, help="script files or folders of them (calls/<tenant>/)")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here (for CI)")
    parser.add_argument("--html", type=Path, help="write the one-page HTML report here")
    parser.add_argument("--front-door", choices=FRONT_DOORS, help="run every script on this front door")
    parser.add_argument("--quiet", action="store_true", help="print failures only, not every timeline")
    args = parser.parse_args(argv)
    with ReplaySession() as session:
        results = run_paths(session, args.paths, front_door=args.front_door)
    print(report.console(results, timelines=not args.quiet))
    if args.junit:
        args.junit.write_text(report.junit(results), encoding="utf-8")
    if args.html:
        args.html.write_text(report.html_report(results), encoding="utf-8")
    return 0 if results and all(r.passed for r in results) else 1


class InteractiveCaller:
    """The caller's side typed at a prompt: a line is said; `:dtmf 12`, `:silence 4`, `:save FILE`, `:quit`."""

    def __init__(self, call: CallBase, read: IO[str], write: IO[str], script: Script) -> None:
        self._call, self._in, self._out, self._script = call, read, write, script
        self.turns: list[tuple[Turn, int]] = []
        self.unplayed: list[int] = []

    def check_pending(self) -> None:
        return None

    @property
    def upcoming(self) -> Turn | None:
        return None  # a person's next line is not known before they type it

    def next_input(self) -> CallerInput:
        while True:
            self._out.write("you> ")
            self._out.flush()
            line = self._in.readline()
            if not line:
                return CallerInput("hang_up")
            text = line.strip()
            if not text:
                continue
            command, _, argument = text.partition(" ")
            if command == ":quit":
                return CallerInput("hang_up")
            if command == ":save":
                self.save(Path(argument.strip() or "talk.yaml"))
                continue
            if command == ":dtmf" and re.fullmatch(r"[0-9*#]+", argument.strip()):
                self._turn(Turn(dtmf=argument.strip()))
                return CallerInput("dtmf", argument.strip())
            if command == ":silence":
                seconds = float(argument or 5)
                self._turn(Turn(silence=seconds))
                return CallerInput("silence", seconds=seconds)
            if command.startswith(":"):
                self._out.write("commands: :dtmf DIGITS, :silence SECONDS, :save FILE, :quit\n")
                continue
            self._turn(Turn(say=text))
            self._call.add("caller", text, "caller")
            return CallerInput("say", text)

    def _turn(self, turn: Turn) -> None:
        self.turns.append((turn, len(self._call.timeline)))

    def observed(self) -> list[Turn]:
        """The turns so far, each expecting what it got (the reply's first sentence, the tools, a transfer)."""
        timeline = self._call.timeline
        turns = []
        for index, (turn, start) in enumerate(self.turns):
            end = self.turns[index + 1][1] if index + 1 < len(self.turns) else len(timeline)
            segment = timeline[start:end]
            reply = " ".join(e.text for e in segment if e.who == "assistant")
            first = re.split(r"(?<=[.!?])\s", reply.strip())[0][:80] if reply else ""
            tools = [str(e.detail["tool"]) for e in segment if e.kind == "tool"]
            expect = TurnExpectation(
                reply_contains=[first] if first else [],
                tool_called=tools or None,
                transfer=True if any(e.kind == "transfer" for e in segment) else None,
            )
            turns.append(turn.model_copy(update={"expect": expect}))
        return turns

    def after_call(self) -> None:
        """The call is over: `:save FILE` still writes it (a handover ends the call before the next prompt)."""
        self._out.write("the call is over; :save FILE keeps it as a script, Enter quits\n")
        while True:
            self._out.write("you> ")
            self._out.flush()
            command, _, argument = self._in.readline().strip().partition(" ")
            if command != ":save":
                return
            self.save(Path(argument.strip() or "talk.yaml"))

    def save(self, path: Path) -> None:
        script = self._script.model_copy(update={"turns": self.observed()})
        path.write_text(dump_script(script), encoding="utf-8")
        self._out.write(f"saved {len(script.turns)} turns to {path}\n")


def talk(argv: list[str], read: IO[str] | None = None, write: IO[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oratio talk", description="Be the caller.")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--agent", default="front-desk")
    parser.add_argument("--front-door", choices=FRONT_DOORS, default="connect", help="the number the caller dials")
    parser.add_argument("--at", help=f"the call's start (default {DEFAULT_TALK_START} in the tenant's time zone)")
    parser.add_argument("--caller", default="+15551234567")
    args = parser.parse_args(argv)
    read, write = read or sys.stdin, write or sys.stdout
    with ReplaySession() as session:
        tenant = session.tenant(args.tenant)
        from zoneinfo import ZoneInfo

        start = datetime.fromisoformat(args.at or DEFAULT_TALK_START)
        if start.tzinfo is None:
            start = start.replace(tzinfo=ZoneInfo(tenant.business.hours.time_zone))
        script = Script(name=f"talk with {args.agent}", tenant=tenant.tenant_id, agent=args.agent,
                        front_door=args.front_door, caller=args.caller, at=start)  # fmt: skip

        def show(event: Event) -> None:
            if event.who != "caller":
                write.write(f"  {event.line()}\n")
                write.flush()

        write.write(f"Calling {tenant.business.name} ({tenant.tenant_id}). Type what the caller says; "
                    ":dtmf DIGITS, :silence SECONDS, :save FILE, :quit.\n")  # fmt: skip
        result = ScriptResult("talk", script.name)
        call = call_types()[args.front_door](session, tenant, script, result, show)
        caller = InteractiveCaller(call, read, write, script)
        call.caller = caller  # type: ignore[assignment]
        try:
            call.run()
        except Exception as e:
            write.write(f"the call broke off: {type(e).__name__}: {e}\n")
            return 1
        write.write(f"call over: {result.outcome}, route {result.route}, cost ${result.cost_usd:.5f}\n")
        caller.after_call()
    return 0


def run_one(session: ReplaySession, script: Script, **kwargs: Any) -> ScriptResult:
    return run_script(session, script, **kwargs)
