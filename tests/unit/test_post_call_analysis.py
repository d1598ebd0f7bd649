"""Post-call analysis: once per conversation, metered, skipped with a reason when the budget is out or the
model's answer is unusable."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oratio.adapters.memory_agent import InMemoryBudgetLedger, InMemoryConversationRecorder
from oratio.adapters.scripted_model import ScriptedModel, stop, text, usage
from oratio.agent.ports import TurnRecord
from oratio.analysis import AnalysisProfile, PostCallAnalyst
from oratio.config.catalog import load_model_catalog
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import load_tenant_file
from oratio.metering import Meter

TENANT = load_tenant_file(Path(__file__).resolve().parents[2] / "tenants" / "cozy-comfort.yaml")
NOW = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
ANSWER = {"summary": "Asked about duvets.", "outcome": "resolved", "sentiment": "positive", "lead": {"budget": "200"}}


class Once:
    def __init__(self) -> None:
        self.claimed: set[tuple[str, str, str]] = set()

    def claim(self, tenant_id: str, contact_id: str, action: str) -> bool:
        key = (tenant_id, contact_id, action)
        first = key not in self.claimed
        self.claimed.add(key)
        return first


class Transcripts:
    """The in-memory recorder's turns behind the async `TranscriptReader` port (as DynamoDB's are)."""

    def __init__(self, recorder: InMemoryConversationRecorder) -> None:
        self._recorder = recorder

    async def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]:
        return self._recorder.turns(tenant_id, session_id)


class Store:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put(self, tenant_id: str, contact_id: str, analysis: dict[str, Any], expires_at: int) -> None:
        self.items[contact_id] = analysis


def analyst(
    model: ScriptedModel, ledger: InMemoryBudgetLedger | None = None, lead_fields: Any = None
) -> tuple[PostCallAnalyst, Store]:
    recorder, store = InMemoryConversationRecorder(), Store()
    asyncio.run(
        recorder.record_turn(
            TurnRecord(
                tenant_id=TENANT.tenant_id,
                session_id="call-1",
                agent_id="front-desk",
                channel="voice",
                sequence=1,
                user_text="Do you have down duvets under $200?",
                reply_text="Yes, the Cloud duvet is $179.",
                model_id="nova-lite",
                routing_reason="simple",
                role="greeter",
                at=NOW,
            )
        )
    )
    catalog = load_model_catalog()
    return (
        PostCallAnalyst(
            profile=AnalysisProfile.from_tenant(TENANT),
            catalog=catalog,
            model=model,
            transcripts=Transcripts(recorder),
            store=store,
            once=Once(),
            ledger=ledger or InMemoryBudgetLedger(),
            meter=Meter(load_price_catalog(), catalog),
            clock=lambda: NOW,
            lead_fields=lead_fields,
        ),
        store,
    )


def test_an_ended_call_is_analysed_once_and_its_tokens_are_metered() -> None:
    model = ScriptedModel([[text(json.dumps(ANSWER)), stop(), usage(600, 80)]])
    ledger = InMemoryBudgetLedger()
    subject, store = analyst(model, ledger)

    first = asyncio.run(subject.analyse("call-1", "front-desk"))
    again = asyncio.run(subject.analyse("call-1", "front-desk"))  # the end event delivered twice

    assert first is not None
    assert first.status == "analysed"
    assert first.findings is not None
    assert first.findings.outcome == "resolved"
    assert again is None
    assert len(model.requests) == 1
    assert model.requests[0]["modelId"] == load_model_catalog().model("nova-micro").bedrock_model_id
    assert "Do you have down duvets" in json.dumps(model.requests[0]["messages"])
    expected = load_model_catalog().model("nova-micro").usage_cost_usd(600, 80)
    assert asyncio.run(ledger.conversation_costs(TENANT.tenant_id, "call-1")) == {"analysis#nova-micro": expected}
    # The default lead fields, each present (null when the model had nothing for it)
    assert store.items["call-1"]["findings"]["lead"] == {
        "products_of_interest": None,
        "budget": "200",
        "timeline": None,
        "next_step": None,
    }


class Fields:
    """The agent's workflow's lead fields (the `LeadFieldSource` port)."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields

    async def lead_fields(self, tenant_id: str, agent_id: str) -> tuple[str, ...]:
        return self.fields


def test_the_agents_lead_fields_are_asked_for_and_stored_exactly() -> None:
    answer = {**ANSWER, "lead": {"budget": "200", "mattress_size": "king", "made_up": "x"}}
    model = ScriptedModel([[text(json.dumps(answer)), stop(), usage(600, 80)]])
    subject, store = analyst(model, lead_fields=Fields(("mattress_size", "delivery_postcode")))
    result = asyncio.run(subject.analyse("call-1", "front-desk"))
    assert result is not None
    assert result.lead_fields == ("mattress_size", "delivery_postcode")
    system = model.requests[0]["system"][0]["text"]
    assert '"mattress_size"' in system
    assert '"delivery_postcode"' in system
    assert '"budget"' not in system.split('"lead"', 1)[1]
    assert store.items["call-1"]["findings"]["lead"] == {"mattress_size": "king", "delivery_postcode": None}


def test_analysis_is_skipped_with_the_reason_when_the_budget_is_out() -> None:
    ledger = InMemoryBudgetLedger()
    asyncio.run(ledger.add(TENANT.tenant_id, NOW, "model", "nova-lite", TENANT.agent.monthly_budget_usd))
    model = ScriptedModel([])
    subject, store = analyst(model, ledger)
    result = asyncio.run(subject.analyse("call-1", "front-desk"))
    assert result is not None
    assert result.status == "skipped"
    assert result.reason is not None
    assert result.reason.startswith("monthly budget reached")
    assert model.requests == []
    assert store.items["call-1"]["status"] == "skipped"


def test_an_answer_that_is_not_the_json_asked_for_is_stored_as_skipped() -> None:
    model = ScriptedModel([[text("The call went well."), stop(), usage(600, 10)]])
    subject, _store = analyst(model)
    result = asyncio.run(subject.analyse("call-1", None))
    assert result is not None
    assert result.status == "skipped"
    assert result.reason == "the analysis model's answer was not valid JSON"
