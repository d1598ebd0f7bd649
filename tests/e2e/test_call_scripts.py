"""Every conversation script under calls/<tenant>/ runs through the replay (the tenant's synthesized flow, the
real handlers, the Lex emulation, the agent) and passes; a tenant without a folder is fine. Plus what a script
author meets when something is wrong, determinism, and `talk` driven from stdin."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from oratio.replay.script import parse_script
from oratio_local.replay import cli
from oratio_local.replay.runner import ReplaySession, run_paths, run_script

REPO = Path(__file__).resolve().parents[2]
CALLS = REPO / "calls"
SCRIPTS = sorted(p for folder in sorted(CALLS.glob("*/")) for p in folder.glob("*.yaml"))


@pytest.fixture(scope="module")
def session() -> Iterator[ReplaySession]:
    with ReplaySession() as replay:
        replay.prepare(sorted({p.parent.name for p in SCRIPTS} | {"cozy-comfort"}))
        yield replay


def test_every_tenant_folder_has_a_tenant_file() -> None:
    for folder in CALLS.glob("*/"):
        assert (REPO / "tenants" / f"{folder.name}.yaml").is_file(), f"{folder} names no tenant"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_call_script_passes(session: ReplaySession, path: Path) -> None:
    (result,) = run_paths(session, [path])
    assert result.passed, result.failure


def _script(text: str) -> str:
    return "name: probe\ntenant: cozy-comfort\nat: '2025-01-06T10:00:00-05:00'\n" + text


def test_the_same_script_gives_the_same_transcript_byte_for_byte(session: ReplaySession) -> None:
    path = CALLS / "cozy-comfort" / "slow-turn-holding-then-pickup.yaml"
    first, second = run_paths(session, [path]), run_paths(session, [path])
    assert first[0].transcript() == second[0].transcript()
    assert "One moment, please." in first[0].transcript()


def test_one_call_never_sees_what_an_earlier_call_of_the_run_left_behind(session: ReplaySession) -> None:
    """Calls of a run share the session (synthesis, agent server, boto3 session) but not AWS state: a call that
    pauses the agent and spends the month leaves a clean account to the next call of the same tenant and month."""
    spent = _script("given: {agent_status: paused, month_spend_usd: 500}\nexpect_end: {route: paused}\n")
    fresh = _script("turns:\n  - say: What is your return policy?\n    expect: {reply_contains: ['30']}\n"
                    "expect_end: {route: agent}\n")  # fmt: skip
    first = run_script(session, parse_script(spent))
    second = run_script(session, parse_script(fresh))
    assert first.passed, first.failure
    assert second.passed, second.failure
    assert "budget" not in second.transcript()


@pytest.mark.parametrize("name", ["vonage-knowledge-then-a-person", "vonage-barge-in"])
def test_a_bridge_call_gives_the_same_transcript_byte_for_byte(session: ReplaySession, name: str) -> None:
    # Sonic's stream crosses awscrt's native threads: the replay clock holds while its messages, its refusals
    # and its output's end are in flight, so the virtual times do not depend on the machine's speed.
    path = CALLS / "cozy-comfort" / f"{name}.yaml"
    runs = [run_paths(session, [path])[0] for _ in range(3)]
    assert all(r.passed for r in runs), runs[0].failure
    assert runs[0].transcript() == runs[1].transcript() == runs[2].transcript()


def test_a_failed_expectation_says_what_was_expected_what_happened_and_the_transcript(session: ReplaySession) -> None:
    script = parse_script(
        _script("turns:\n  - say: What is your return policy?\n    expect: {reply_contains: [pineapple]}\n")
    )
    result = run_script(session, script)
    assert not result.passed
    assert "expected: the reply to contain 'pineapple'" in result.failure
    assert "happened: the caller heard" in result.failure
    assert "caller    What is your return policy?" in result.failure


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ntenant: nobody-here\nat: '2025-01-06T10:00:00-05:00'\n", "there is no"),
        (_script("front_door: carrier-pigeon\n"), "front_door"),
        (_script("turns:\n  - say: hi\n    expect: {reply_contain: [x]}\n"), "unknown key ('reply_contain')"),
        (_script("given: {tool_failures: [teleport]}\n"), "tool_failures"),
        ("name: [unclosed\n", "not valid YAML"),
        (_script("given: {month_spend_usd: 10, agent_month_spend_usd: 20}\n"), "set month_spend_usd to at least"),
        (_script("given: {agent_budget_usd: 0}\n"), "given.agent_budget_usd"),
    ],
    ids=[
        "unknown-tenant",
        "unknown-front-door",
        "unknown-key",
        "unknown-tool",
        "malformed-yaml",
        "agent-spend-over-tenant-spend",
        "zero-agent-budget",
    ],
)
def test_bad_scripts_end_with_a_clear_error_and_the_others_still_run(
    session: ReplaySession, tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    good = CALLS / "cozy-comfort" / "closed-after-hours.yaml"
    results = run_paths(session, [bad, good])
    assert not results[0].passed
    assert message in results[0].failure
    assert results[1].passed


def test_a_flow_that_never_ends_is_stopped_by_the_step_budget() -> None:
    from oratio.replay.flow import Contact, FlowInterpreter, FlowRunError

    flow = {
        "Version": "2019-10-30",
        "StartAction": "a",
        "Actions": [
            {"Identifier": "a", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": {"x": "1"}},
             "Transitions": {"NextAction": "b", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "b"}]}},
            {"Identifier": "b", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": {"x": "2"}},
             "Transitions": {"NextAction": "a", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "a"}]}},
        ],
    }  # fmt: skip
    with pytest.raises(FlowRunError, match=r"no end after 50 actions.*a → b"):
        FlowInterpreter(None, step_budget=50).run("loop", flow, Contact("c-1", None, None))  # type: ignore[arg-type]


def test_talk_at_the_prompt_shows_the_call_and_saves_it_as_a_script_that_passes(
    session: ReplaySession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / "talk.yaml"
    typed = io.StringIO(f"What is your return policy?\n:save {saved}\nCan I talk to a person?\n")
    shown = io.StringIO()
    monkeypatch.setattr(cli, "ReplaySession", lambda: session_context(session))
    assert cli.talk(["--tenant", "cozy-comfort"], read=typed, write=shown) == 0
    out = shown.getvalue()
    assert "returns policy" in out.lower()
    assert "transfer to queue" in out
    assert "call over: transferred" in out
    script = parse_script(saved.read_text())
    assert script.turns[0].say == "What is your return policy?"
    assert script.turns[0].expect.reply_contains
    (result,) = run_paths(session, [saved])
    assert result.passed, result.failure


def test_talk_on_the_vonage_front_door_goes_through_the_bridge_and_saves_a_vonage_script_that_passes(
    session: ReplaySession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / "talk-vonage.yaml"
    typed = io.StringIO(f"How much is the memory foam pillow?\nCan I talk to a person?\n:save {saved}\n")
    shown = io.StringIO()
    monkeypatch.setattr(cli, "ReplaySession", lambda: session_context(session))
    assert cli.talk(["--tenant", "cozy-comfort", "--front-door", "vonage"], read=typed, write=shown) == 0
    out = shown.getvalue()
    assert "Vonage streams the call into the voice bridge" in out
    assert "tool knowledge_search: ok" in out
    assert "Memory Foam Pillow" in out  # what the tenant agent found, said by the bridge's speech model
    assert "handoff to a person" in out
    assert "call over: transferred" in out
    script = parse_script(saved.read_text())
    assert script.front_door == "vonage"
    assert [t.say for t in script.turns] == ["How much is the memory foam pillow?", "Can I talk to a person?"]
    assert script.turns[0].expect.tool_called == ["knowledge_search"]
    assert script.turns[1].expect.transfer is True
    (result,) = run_paths(session, [saved])
    assert result.passed, result.failure


def test_talk_on_the_twilio_front_door_runs_the_signed_webhook(
    session: ReplaySession, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = io.StringIO()
    monkeypatch.setattr(cli, "ReplaySession", lambda: session_context(session))
    argv = ["--tenant", "cozy-comfort", "--front-door", "twilio", "--at", "2025-01-05T21:00:00"]  # Sunday evening
    assert cli.talk(argv, read=io.StringIO("Hello?\n"), write=shown) == 0
    out = shown.getvalue()
    assert "(cozy-comfort, Twilio)" in out
    assert "closed" in out.lower()
    assert "call over: ended, route closed" in out


class session_context:
    def __init__(self, session: ReplaySession) -> None:
        self._session = session

    def __enter__(self) -> ReplaySession:
        return self._session

    def __exit__(self, *exc: object) -> None:
        return None
