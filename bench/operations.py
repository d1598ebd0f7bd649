"""Operations figures: PII redaction precision/recall on the corpus and its cost per 1,000 turns; post-call
analysis tokens and cost per call for the demo's calls; the latency metering adds to a turn.

What each figure includes is printed with it. CPU time (process_time) is used where the work is CPU-bound, so
the figures move less with the load of a shared machine; wall-clock figures are said to be so.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench.stats import report, report_value, time_calls
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
from oratio.adapters.memory_agent import InMemoryConversationRecorder
from oratio.agent.ports import TurnRecord
from oratio.analysis import AnalysisProfile, PostCallAnalyst
from oratio.config import load_tenant_file
from oratio.config.catalog import load_model_catalog
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import IdentifierPattern
from oratio.metering import Meter, record_charges
from oratio.privacy import Redactor
from oratio_local.analysis_model import RuleBasedAnalysisModel

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "pii_corpus.yaml"
# AWS Lambda arm64 compute, USD per GB-second (us-east-1, first pricing tier), at the 1 GB our functions use.
LAMBDA_ARM_USD_PER_GB_SECOND = 0.0000133334
FUNCTION_GB = 1.0
REPLY = "Sure, our Cloud duvet is $179 and ships free; anything else I can help with?"
# The demo's calls (steps 4 and 5 of make demo): what the caller said and what the agent answered.
DEMO_CALLS = {
    "step 4 (agent over HTTP)": [
        ("Hi, I'm looking for a new comforter for my queen bed.", "Our Cloud comforter comes in queen for $149."),
        ("What's your return policy?", "30-day returns on unused items in their original packaging."),
        ("Can I talk to a person, please?", "Let me connect you with someone from our team."),
    ],
    "step 5 (Connect call)": [
        ("Hi, I'm looking for a new comforter for my queen bed.", "Our Cloud comforter comes in queen for $149."),
        ("Do you ship to Canada?", "About shipping: Free shipping on orders over $50."),
        ("Can I talk to a person, please?", "Of course, I'll connect you with a colleague."),
    ],
}


class _NoNetworkDynamoDB:
    """A DynamoDB client that answers at once: what is left is the metering code itself (no round trip)."""

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        return {}


class _Transcripts:
    """The in-memory recorder's turns behind the async transcript port."""

    def __init__(self, recorder: InMemoryConversationRecorder) -> None:
        self._recorder = recorder

    async def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]:
        return self._recorder.turns(tenant_id, session_id)


def redaction_figures() -> None:
    data = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    redactor = Redactor([IdentifierPattern.model_validate(i) for i in data["identifiers"]])
    tp = fp = fn = 0
    for utterance in data["utterances"]:
        text = utterance["text"]
        found = {(f.kind, text[f.start : f.end]) for f in redactor.find(text)}
        expected = {(p["kind"], p["value"]) for p in utterance["pii"]}
        tp, fp, fn = tp + len(found & expected), fp + len(found - expected), fn + len(expected - found)
    print(f"  PII corpus: {len(data['utterances'])} utterances, {tp + fn} known PII spans (tests/data/pii_corpus.yaml)")
    report_value("redaction precision", 100 * tp / (tp + fp), "%")
    report_value("redaction recall", 100 * tp / (tp + fn), "%")
    turns = [(u["text"], REPLY) for u in data["utterances"]]
    start = time.process_time()
    rounds = 20
    for _ in range(rounds):
        for said, reply in turns:
            redactor.redact(said)
            redactor.redact(reply)
    cpu_per_turn = (time.process_time() - start) / (rounds * len(turns))
    report_value("redactor CPU per turn (caller line + reply)", cpu_per_turn * 1e3, "ms")
    cost = cpu_per_turn * 1000 * FUNCTION_GB * LAMBDA_ARM_USD_PER_GB_SECOND
    print(f"  {'redactor cost per 1,000 turns (Lambda arm64 1 GB)':<48} ${cost:.7f}")


def analysis_figures() -> None:
    tenant = load_tenant_file(ROOT / "tenants" / "cozy-comfort.yaml")
    catalog = load_model_catalog()
    print("  post-call analysis per call (locally the rule-based stand-in: tokens are its prompt/answer chars / 4;")
    print("  deployed, Nova Micro's reported usage):")
    for name, lines in DEMO_CALLS.items():
        recorder = InMemoryConversationRecorder()

        for sequence, (said, reply) in enumerate(lines, start=1):
            turn = TurnRecord(
                tenant_id=tenant.tenant_id,
                session_id="bench-call",
                agent_id="front-desk",
                channel="voice",
                sequence=sequence,
                user_text=said,
                reply_text=reply,
                model_id="nova-lite",
                routing_reason="bench",
                role="greeter",
                at=datetime.now(UTC),
            )
            asyncio.run(recorder.record_turn(turn))
        from oratio.adapters.memory_agent import InMemoryBudgetLedger

        class Once:
            def claim(self, tenant_id: str, contact_id: str, action: str) -> bool:
                return True

        class Store:
            def put(self, tenant_id: str, contact_id: str, analysis: dict[str, Any], expires_at: int) -> None:
                return None

        analyst = PostCallAnalyst(
            profile=AnalysisProfile.from_tenant(tenant),
            catalog=catalog,
            model=RuleBasedAnalysisModel(),
            transcripts=_Transcripts(recorder),
            store=Store(),
            once=Once(),
            ledger=InMemoryBudgetLedger(),
            meter=Meter(load_price_catalog(), catalog),
            clock=lambda: datetime.now(UTC),
        )
        result = asyncio.run(analyst.analyse("bench-call", "front-desk"))
        assert result is not None
        print(
            f"  {name:<48} {result.input_tokens:5d} in + {result.output_tokens:4d} out tokens"
            f"   ${result.cost_usd:.6f} ({result.model_id})"
        )


def metering_figures() -> None:
    meter = Meter(load_price_catalog(), load_model_catalog())
    model = load_model_catalog().model("nova-lite")
    at = datetime.now(UTC)
    # A typical agent turn's spend: its model tokens, one knowledge search (embedding + vector query), 2 messages.
    charges = [
        meter.model_tokens(model, 1800, 120),
        *meter.knowledge_retrieval("queen down comforter price", "titan-embed-text-v2"),
        meter.messages("chat", 2),
    ]
    ledger = DynamoDBBudgetLedger("usage", conversations_table="conversations", client=_NoNetworkDynamoDB())
    loop = asyncio.new_event_loop()

    def one_turn() -> None:
        loop.run_until_complete(
            record_charges(ledger, charges, tenant_id="bench", at=at, agent_id="front-desk", session_id="call")
        )

    samples = time_calls(one_turn, iterations=500, warmup=20)
    loop.close()
    print("  metering per turn (wall clock, the code only: DynamoDB answers at once; each charge is one")
    print("  TransactWriteItems, the charges run concurrently on threads, so deployed add about one transaction's")
    print("  round trip, more when concurrent charges conflict on the month's total and retry; after the reply):")
    report("record_charges, 4 charges (model, knowledge x2, messages)", samples)


def run() -> None:
    print("operations")
    redaction_figures()
    analysis_figures()
    metering_figures()
