"""Connect voice code hook figures: its own overhead per turn, with agent time taken out.

The full Powertools-decorated `voice_turn` handler answers real-shaped Lex code-hook events; the data layer
is in memory, and the worker is the real `LambdaTurnWorker` (thread hand-off, deadline wait, outcome
parsing) over a stand-in Lambda client that returns a finished outcome at once. So the figures are what the
code hook adds to a turn on top of the agent's own time and the network hops (the Lambda invoke of the
worker, DynamoDB reads), which a bench on this machine cannot show honestly.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import uuid
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import cold_import_seconds, report, report_value, time_calls
from oratio.adapters.lambda_turn_worker import LambdaTurnWorker
from oratio.adapters.memory_agent import InMemoryBudgetLedger, InMemoryConversationRecorder, InMemoryWorkflowStateStore
from oratio.adapters.memory_voice import InMemoryBreakerStore, InMemoryTurnMailbox, RecorderTranscripts
from oratio.agent.contracts import TurnComplete
from oratio.config import load_tenant_file
from oratio.connect_voice.outcome import TurnOutcome
from oratio.connect_voice.profile import VoiceProfile
from oratio.connect_voice.service import ConnectVoice
from oratio.domain.circuit_breaker import BreakerPolicy, CircuitBreakers
from oratio_local.events import connect_voice_action_event, lambda_context, lex_code_hook_event
from oratio_local.lambdas import load_handler

ROOT = Path(__file__).resolve().parents[1]
TENANT = load_tenant_file(ROOT / "tenants" / "cozy-comfort.yaml")
PROFILE = VoiceProfile.from_tenant(TENANT)
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
REPLY = "Yes, our queen duvets start at $89, and shipping is free over $50."


class _Payload:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def read(self) -> bytes:
        return self._body


class InstantWorkerLambda:
    """Answers `invoke` like the worker function would, at once (agent and network time: zero)."""

    def __init__(self) -> None:
        done = TurnComplete(session_id="c", model_id="nova-lite", routing_reason="simple", role="greeter",
                            qualification_score=0.3, cost_usd=0.0004)  # fmt: skip
        self.body = TurnOutcome(turn_id="0" * 32, status="ok", reply_text=REPLY, done=done, finished_at=NOW)
        self.body_bytes = self.body.model_dump_json().encode()

    def invoke(self, **_: Any) -> dict[str, Any]:
        return {"StatusCode": 200, "Payload": _Payload(self.body_bytes)}


def _voice(mailbox: InMemoryTurnMailbox) -> ConnectVoice:
    recorder = InMemoryConversationRecorder()
    return ConnectVoice(
        PROFILE,
        breakers=CircuitBreakers(
            PROFILE.tenant_id, InMemoryBreakerStore(), BreakerPolicy(PROFILE.connect.breaker), lambda: NOW
        ),
        worker=LambdaTurnWorker("oratio-bench-worker", client=InstantWorkerLambda()),
        mailbox=mailbox,
        recorder=recorder,
        transcripts=RecorderTranscripts(recorder),
        budget=InMemoryBudgetLedger(),
        workflow_states=InMemoryWorkflowStateStore(),
        clock=lambda: NOW,
    )


def handler_samples(iterations: int) -> dict[str, list[float]]:
    handler = load_handler("voice_turn")
    mailbox = InMemoryTurnMailbox()
    voice = _voice(mailbox)
    handler.build_voice = lambda: voice  # type: ignore[attr-defined]  # loaded from a file path
    context = lambda_context("voice_turn")
    sink = io.StringIO()
    attributes = {"caller": "+15551234567", "agent_id": "front-desk", "speech_mode": "speech_to_speech"}

    def call(event: dict[str, Any]) -> dict[str, Any]:
        with redirect_stdout(sink):  # the handler's EMF metrics belong to CloudWatch
            answer: dict[str, Any] = handler.lambda_handler(event, context)
        sink.seek(0)
        sink.truncate()
        return answer

    def lex_turn() -> None:
        contact = str(uuid.uuid4())
        answer = call(lex_code_hook_event(session_id=contact, session_attributes={"contact_id": contact, **attributes}))
        assert answer["messages"][0]["content"] == REPLY, answer

    # Replies already waiting in the mailbox, one per call, stored before the clock starts.
    outcome = InstantWorkerLambda().body
    waiting = [str(uuid.uuid4()) for _ in range(iterations // 2 + 50)]
    for contact in waiting:
        asyncio.run(mailbox.put(PROFILE.tenant_id, contact, outcome))

    def pickup() -> None:
        contact = waiting.pop()
        answer = call(connect_voice_action_event("pickup", contact_id=contact, attributes={"pending_turn": "0" * 32}))
        assert answer["prompt"] == REPLY, answer

    def prepare() -> None:
        answer = call(connect_voice_action_event("prepare", contact_id=str(uuid.uuid4())))
        assert answer["speech_mode"] == "speech_to_speech", answer

    return {
        "lex": time_calls(lex_turn, iterations),
        "pickup": time_calls(pickup, iterations // 2),
        "prepare": time_calls(prepare, iterations // 2),
    }


def run(iterations: int = 2_000) -> None:
    print("Connect voice code hook (voice_turn), agent time and network hops excluded")
    cold = cold_import_seconds("voice_turn")
    report_value("cold import of handler module (median of 7)", statistics.median(cold) * 1e3, "ms")
    samples = handler_samples(iterations)
    report(f"Lex turn overhead, full handler ({iterations} turns)", samples["lex"])
    report(f"flow pickup of a ready reply ({iterations // 2} calls)", samples["pickup"])
    report(f"flow prepare at call start ({iterations // 2} calls)", samples["prepare"])
    report_value("silence budget / code hook deadline", PROFILE.connect.max_silence_seconds * 1e3, "ms")
    report_value("  of which the code hook waits for the agent", PROFILE.deadline_seconds * 1e3, "ms")
