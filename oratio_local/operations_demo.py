"""The demo's operations step: what a replayed Connect call of step 6 cost, by category (as the code hook metered it
into the call's cost breakdown, in moto DynamoDB), and its post-call analysis written by the rule-based
analysis stand-in (`oratio_local/analysis_model.py`; deployed, a cheap Bedrock model writes it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from oratio.analysis import AnalysisProfile, CallAnalysis, PostCallAnalyst
from oratio.config import TenantConfig
from oratio.tables import CONVERSATIONS, USAGE


def call_operations(tenant: TenantConfig, client: Any, contact_id: str) -> tuple[dict[str, float], CallAnalysis | None]:
    from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger, DynamoDBConversationRecorder
    from oratio.adapters.dynamodb_call_costs import DynamoDBCallCosts, DynamoDBOnceClaims
    from oratio.adapters.dynamodb_operations import DynamoDBAnalysisStore
    from oratio.config.catalog import load_model_catalog
    from oratio.config.prices import load_price_catalog
    from oratio.metering import Meter
    from oratio_local.analysis_model import RuleBasedAnalysisModel
    from oratio_local.dynamodb import table_name

    conversations, usage = table_name(CONVERSATIONS), table_name(USAGE)
    catalog = load_model_catalog()
    analyst = PostCallAnalyst(
        profile=AnalysisProfile.from_tenant(tenant),
        catalog=catalog,
        model=RuleBasedAnalysisModel(),
        transcripts=DynamoDBConversationRecorder(conversations, client=client),
        store=DynamoDBAnalysisStore(conversations, client=client),
        once=DynamoDBOnceClaims(conversations, client=client),
        ledger=DynamoDBBudgetLedger(usage, conversations_table=conversations, client=client),
        meter=Meter(load_price_catalog(), catalog),
        clock=lambda: datetime.now(UTC),
    )
    analysis = asyncio.run(analyst.analyse(contact_id, "front-desk"))
    return DynamoDBCallCosts(conversations, client=client).lines(tenant.tenant_id, contact_id), analysis


def print_call_operations(lines: dict[str, float], analysis: CallAnalysis | None) -> None:
    print("  the call's cost breakdown (conversation COST item; *_estimated lines are our estimates):")
    for line, usd in sorted(lines.items()):
        print(f"    {line:<62} ${usd:.6f}")
    print(f"    {'total':<62} ${sum(lines.values()):.6f}")
    print("  (the agent's model tokens are booked by the agent app's own local ledger here; deployed, in this item)")
    if analysis is None:
        return
    print(f"\n  post-call analysis ({analysis.status}, model {analysis.model_id}, rule-based stand-in locally):")
    if analysis.findings is not None:
        findings = analysis.findings
        print(f"    summary:   {findings.summary}")
        print(f"    outcome:   {findings.outcome}; sentiment: {findings.sentiment}")
        print(f"    lead:      {findings.lead}")
    else:
        print(f"    skipped:   {analysis.reason}")
    print(f"    tokens:    {analysis.input_tokens} in + {analysis.output_tokens} out, ${analysis.cost_usd:.6f}")
