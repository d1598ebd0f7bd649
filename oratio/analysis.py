"""Post-call analysis: when a call or conversation ends, a cheap model reads its (redacted) transcript and writes
a summary, the outcome, the caller's sentiment and the lead fields; stored with the conversation.

Idempotent (a redelivered end event finds the analysis claimed and does nothing), budgeted (its tokens are
metered like every spend, and it is skipped, with the reason stored, when the month's budget is out), and the
model speaks Bedrock Converse through `ModelPort` (Bedrock when deployed, a rule-based stand-in locally).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from oratio.agent.ports import BudgetLedger, ModelError, ModelPort, TurnRecord
from oratio.agent_definitions.model import DEFAULT_LEAD_FIELDS
from oratio.agent_definitions.source import DefinitionSource
from oratio.agent_definitions.spec import overrides_of
from oratio.budget import BudgetState, check_budget
from oratio.config.catalog import ModelCatalog
from oratio.config.tenant import BudgetSettings, TenantConfig
from oratio.domain.call_events import ChargeOnce
from oratio.domain.call_routing import DEFAULT_RETENTION_DAYS
from oratio.metering import CostCategory, Meter, record_charges

logger = logging.getLogger(__name__)

ANALYSIS_ACTION = "analysis"
ANALYSIS_PROFILE_ENV_VAR = "ORATIO_ANALYSIS_PROFILE"
Outcome = Literal["resolved", "transferred", "abandoned", "sale", "complaint"]
Sentiment = Literal["positive", "neutral", "negative"]
MAX_OUTPUT_TOKENS = 400
TRANSCRIPT_LINE_CHARS = 500
# Budget reserve: an analysis is not started when it could cost more than what is left.
ESTIMATED_OUTPUT_TOKENS = 250
CHARS_PER_TOKEN = 4


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AnalysisFindings(_Record):
    """What the model must answer (its JSON), validated."""

    summary: str = Field(min_length=1, max_length=1_000)
    outcome: Outcome
    sentiment: Sentiment
    lead: dict[str, Any] = Field(default_factory=dict)


class CallAnalysis(_Record):
    """The stored analysis of one conversation, or why there is none."""

    conversation_id: str
    agent_id: str | None = None
    status: Literal["analysed", "skipped"]
    reason: str | None = Field(default=None, description="why it was skipped")
    lead_fields: tuple[str, ...] = Field(default=(), description="the lead fields the agent's workflow asked for")
    findings: AnalysisFindings | None = None
    model_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    analysed_at: AwareDatetime


class AnalysisProfile(_Record):
    """The slice of a tenant the analysis needs (it fits a Lambda environment variable)."""

    tenant_id: str
    business_name: str
    business_type: str
    analysis_model: str
    monthly_budget_usd: float = Field(gt=0)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1)

    @classmethod
    def from_tenant(cls, tenant: TenantConfig) -> AnalysisProfile:
        return cls(
            tenant_id=tenant.tenant_id,
            business_name=tenant.business.name,
            business_type=tenant.business.business_type,
            analysis_model=tenant.operations.analysis_model,
            monthly_budget_usd=tenant.agent.monthly_budget_usd,
            budget=tenant.budget,
        )


class TranscriptReader(Protocol):
    async def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]: ...


class AnalysisStore(Protocol):
    def put(self, tenant_id: str, contact_id: str, analysis: dict[str, Any], expires_at: int) -> None: ...


class LeadFieldSource(Protocol):
    async def lead_fields(self, tenant_id: str, agent_id: str) -> tuple[str, ...]:
        """The lead fields the agent's live definition's workflow names."""
        ...


class DefinitionLeadFields:
    """`LeadFieldSource` over the agents' definitions: the live version's `workflow.lead_fields`, else the
    default ones (an agent without a published version, or one whose workflow names none)."""

    def __init__(self, source: DefinitionSource) -> None:
        self._source = source

    async def lead_fields(self, tenant_id: str, agent_id: str) -> tuple[str, ...]:
        live = await self._source.live(tenant_id, agent_id)
        workflow = overrides_of(live.spec).workflow if live.spec is not None else None
        if workflow is None or workflow.lead_fields is None:
            return DEFAULT_LEAD_FIELDS
        return tuple(workflow.lead_fields)


def analysis_prompt(
    profile: AnalysisProfile, turns: Sequence[TurnRecord], lead_fields: Sequence[str]
) -> dict[str, Any]:
    """The Converse request body (without modelId): instructions, the schema to answer in, the transcript."""
    lines = []
    for turn in turns:
        if turn.user_text:
            lines.append(f"Customer: {turn.user_text[:TRANSCRIPT_LINE_CHARS]}")
        if turn.reply_text:
            lines.append(f"Agent: {turn.reply_text[:TRANSCRIPT_LINE_CHARS]}")
    schema = {
        "summary": "two sentences: what the customer wanted and what happened",
        "outcome": "one of resolved, transferred, abandoned, sale, complaint",
        "sentiment": "one of positive, neutral, negative (the customer's)",
        "lead": {field: "string or null" for field in lead_fields},
    }
    system = (
        f"You analyse finished customer conversations of {profile.business_name} ({profile.business_type}). "
        "Answer with one JSON object only, no prose, exactly in this shape: " + json.dumps(schema)
    )
    return {
        "system": [{"text": system}],
        "messages": [{"role": "user", "content": [{"text": "Transcript:\n" + "\n".join(lines or ["(no words)"])}]}],
        "inferenceConfig": {"maxTokens": MAX_OUTPUT_TOKENS, "temperature": 0},
    }


def parse_findings(text: str, lead_fields: Sequence[str] = DEFAULT_LEAD_FIELDS) -> AnalysisFindings:
    """The JSON object in the model's answer (models sometimes wrap it in prose or a code fence), its lead
    holding exactly the fields asked for (a field the model left out is null; one it made up is dropped)."""
    match = re.search(r"\{.*\}", text, flags=re.DOTALL)
    if match is None:
        raise ValueError("the model's answer holds no JSON object")
    findings = AnalysisFindings.model_validate_json(match.group())
    return findings.model_copy(update={"lead": {f: findings.lead.get(f) for f in lead_fields}})


class PostCallAnalyst:
    """Analyses ended conversations of one tenant."""

    def __init__(
        self,
        *,
        profile: AnalysisProfile,
        catalog: ModelCatalog,
        model: ModelPort,
        transcripts: TranscriptReader,
        store: AnalysisStore,
        once: ChargeOnce,
        ledger: BudgetLedger,
        meter: Meter,
        clock: Callable[[], datetime],
        lead_fields: LeadFieldSource | None = None,
    ) -> None:
        self._profile = profile
        self._catalog = catalog
        self._model = model
        self._transcripts = transcripts
        self._store = store
        self._once = once
        self._ledger = ledger
        self._meter = meter
        self._clock = clock
        self._lead_fields = lead_fields

    async def analyse(
        self, contact_id: str, agent_id: str | None, *, occasion: str | None = None
    ) -> CallAnalysis | None:
        """Analyse the conversation once per end (`occasion`: which one, for conversations that end more than
        once, e.g. a message thread that fell quiet, was re-opened and fell quiet again); None when that end was
        already claimed (a redelivered end event). The stored analysis is always of the whole conversation."""
        profile = self._profile
        tenant_id = profile.tenant_id
        # Read before the claim: a failed read is retried by the event's redelivery, not lost behind a claim.
        fields = await self._fields(agent_id)
        action = ANALYSIS_ACTION if occasion is None else f"{ANALYSIS_ACTION}#{occasion}"
        if not self._once.claim(tenant_id, contact_id, action):
            return None
        now = self._clock()
        turns = await self._transcripts.turns(tenant_id, contact_id)
        model = self._catalog.model(profile.analysis_model)
        request = {"modelId": model.bedrock_model_id, **analysis_prompt(profile, turns, fields)}
        estimate = model.estimate_cost_usd(len(json.dumps(request)) // CHARS_PER_TOKEN, ESTIMATED_OUTPUT_TOKENS)
        spent = await self._ledger.month_to_date_usd(tenant_id, now)
        budget = check_budget(spent + estimate, profile.monthly_budget_usd, profile.budget)
        if budget.state is BudgetState.EXHAUSTED:
            return self._keep(self._skipped(contact_id, agent_id, f"monthly budget reached ({budget.describe()})"))
        if not turns:
            return self._keep(self._skipped(contact_id, agent_id, "nothing was said"))
        try:
            text, usage = await self._converse(request)
        except ModelError as e:
            return self._keep(self._skipped(contact_id, agent_id, f"analysis model failed ({type(e).__name__})"))
        charge = self._meter.model_tokens(
            model, int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0)), category=CostCategory.ANALYSIS
        )
        await record_charges(
            self._ledger, [charge], tenant_id=tenant_id, at=now, agent_id=agent_id, session_id=contact_id
        )
        try:
            findings = parse_findings(text, fields)
        except (ValueError, ValidationError):
            logger.warning("analysis answer was not the expected JSON", extra={"contact_id": contact_id})
            return self._keep(self._skipped(contact_id, agent_id, "the analysis model's answer was not valid JSON"))
        return self._keep(
            CallAnalysis(
                conversation_id=contact_id,
                agent_id=agent_id,
                status="analysed",
                lead_fields=fields,
                findings=findings,
                model_id=model.id,
                input_tokens=int(usage.get("inputTokens", 0)),
                output_tokens=int(usage.get("outputTokens", 0)),
                cost_usd=round(charge.usd, 8),
                analysed_at=now,
            )
        )

    async def _fields(self, agent_id: str | None) -> tuple[str, ...]:
        if self._lead_fields is None or agent_id is None:
            return DEFAULT_LEAD_FIELDS
        return await self._lead_fields.lead_fields(self._profile.tenant_id, agent_id)

    async def _converse(self, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        text, usage = "", {}
        async for event in self._model.converse_stream(request):
            if "contentBlockDelta" in event:
                text += event["contentBlockDelta"]["delta"].get("text", "")
            elif "metadata" in event:
                usage = event["metadata"].get("usage", {})
        return text, usage

    def _skipped(self, contact_id: str, agent_id: str | None, reason: str) -> CallAnalysis:
        return CallAnalysis(
            conversation_id=contact_id, agent_id=agent_id, status="skipped", reason=reason, analysed_at=self._clock()
        )

    def _keep(self, analysis: CallAnalysis) -> CallAnalysis:
        expires = int((analysis.analysed_at + timedelta(days=self._profile.retention_days)).timestamp())
        self._store.put(
            self._profile.tenant_id, analysis.conversation_id, analysis.model_dump(mode="json"), expires_at=expires
        )
        return analysis
