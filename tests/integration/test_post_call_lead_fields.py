"""The lead fields an analysis records are the agent's own: the real post-call analysis Lambda over moto reads the
agent's live definition (`workflow.lead_fields`, written as the vendor API writes versions) and the analysis it
stores holds exactly those fields — change the list and what is stored for the conversation changes."""

from __future__ import annotations

import asyncio
import io
import uuid
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oratio.adapters.dynamodb import DynamoDBAgentDirectory, _serialize
from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder
from oratio.adapters.dynamodb_operations import DynamoDBAnalysisStore
from oratio.agent.ports import TurnRecord
from oratio.agent_definitions.dynamodb import version_to_item
from oratio.agent_definitions.model import DEFAULT_LEAD_FIELDS
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.analysis import ANALYSIS_PROFILE_ENV_VAR, AnalysisProfile
from oratio.config.tenant import load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE
from oratio_local.analysis_model import RuleBasedAnalysisModel
from oratio_local.events import lambda_context
from tests.integration.conftest import load_handler, table_name

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
NOW = datetime(2026, 11, 30, 15, tzinfo=UTC)
SAID = "I need a king mattress topper, my budget is $300."


def _analyse(dynamodb: Any, monkeypatch: pytest.MonkeyPatch, agent_id: str, lead_fields: list[str] | None) -> Any:
    """Publish `lead_fields` as the agent's live definition, record one exchange, and run the analysis Lambda on
    the conversation's idle event; the stored analysis."""
    for spec in (AGENTS, AGENT_DEFINITIONS, CONVERSATIONS, TENANT_STATE, USAGE):
        monkeypatch.setenv(spec.env_var, table_name(spec))
    monkeypatch.setenv("ORATIO_CONNECT_INSTANCE_ARN", "arn:aws:connect:us-east-1:111122223333:instance/x")
    profile = AnalysisProfile.from_tenant(TENANT)
    monkeypatch.setenv(ANALYSIS_PROFILE_ENV_VAR, profile.model_dump_json(exclude_defaults=True))
    DynamoDBAgentDirectory(table_name(AGENTS), client=dynamodb).put_agent(
        Agent(
            vendor_id=TENANT.tenant_id,
            agent_id=agent_id,
            name="Sleep expert",
            status=AgentStatus.ACTIVE,
            created_at=NOW - timedelta(days=3),
            updated_at=NOW - timedelta(days=3),
            live_version=1,
        )
    )
    workflow = {"lead_fields": lead_fields} if lead_fields is not None else {}
    spec = AgentSpec.model_validate(
        {
            "name": "Sleep expert",
            "business_type": "retail",
            "character_config": {"business_name": "Cozy Comfort Bedding"},
            "definition": {"workflow": workflow} if workflow else {},
        }
    )
    version = DefinitionVersion(
        vendor_id=TENANT.tenant_id,
        agent_id=agent_id,
        version=1,
        spec=spec,
        author="vendor",
        note="first",
        created_at=NOW - timedelta(days=3),
    )
    dynamodb.put_item(TableName=table_name(AGENT_DEFINITIONS), Item=_serialize(version_to_item(version)))
    session = f"whatsapp-{uuid.uuid4().hex[:12]}"
    recorder = DynamoDBConversationRecorder(table_name(CONVERSATIONS), client=dynamodb)
    turn = TurnRecord(
        tenant_id=TENANT.tenant_id,
        session_id=session,
        agent_id=agent_id,
        channel="whatsapp",
        sequence=1,
        user_text=SAID,
        reply_text="Our Cloud king topper is $279.",
        model_id="nova-lite",
        routing_reason="simple",
        role="greeter",
        at=NOW,
    )
    asyncio.run(recorder.record_turn(turn))
    handler = load_handler("post_call_analysis")
    handler.BedrockConverseModel = RuleBasedAnalysisModel  # the one stand-in: no Bedrock offline
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Conversation Idle",
        "source": "oratio.messaging",
        "account": "111122223333",
        "time": NOW.isoformat(),
        "region": "us-east-1",
        "resources": [],
        "detail": {"tenantId": TENANT.tenant_id, "sessionId": session, "agentId": agent_id, "idleAt": 1},
    }
    with redirect_stdout(io.StringIO()):
        assert handler.lambda_handler(event, lambda_context("post_call_analysis"))["action"] == "analysed"
    return DynamoDBAnalysisStore(table_name(CONVERSATIONS), client=dynamodb).analysis(TENANT.tenant_id, session)


def test_the_analysis_records_the_lead_fields_the_agents_workflow_names(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = _analyse(dynamodb, monkeypatch, "sleep-expert", ["mattress_size", "budget", "delivery_postcode"])
    assert stored["lead_fields"] == ["mattress_size", "budget", "delivery_postcode"]
    assert stored["findings"]["lead"] == {"mattress_size": "king", "budget": "$300", "delivery_postcode": None}


def test_an_agent_whose_workflow_names_none_gets_the_default_lead_fields(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = _analyse(dynamodb, monkeypatch, "front-desk", None)
    assert tuple(stored["findings"]["lead"]) == DEFAULT_LEAD_FIELDS
    assert "mattress_size" not in stored["findings"]["lead"]
