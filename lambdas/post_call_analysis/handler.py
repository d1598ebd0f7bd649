"""Post-call analysis Lambda: Amazon Connect's DISCONNECTED contact event (the same EventBridge rule as the
call-events function, a second target) or a messaging channel's idle-conversation event starts the analysis of
the conversation that ended.

Thin edge: parse the event (an EventBridge event first, then its detail as the source's), call
`PostCallAnalyst.analyse` (idempotent: a redelivered event does nothing), log and count. An event that is not one
of the two is answered `rejected` after a log line naming its fields and a metric (retrying could never make it
one); failures of the analysis raise, so Lambda retries and then dead-letters the event.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError

from oratio.adapters.bedrock_model import BedrockConverseModel
from oratio.adapters.dynamodb import DynamoDBCallSessionStore, dynamodb_client
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger, DynamoDBConversationRecorder
from oratio.adapters.dynamodb_call_costs import DynamoDBOnceClaims
from oratio.adapters.dynamodb_operations import DynamoDBAnalysisStore
from oratio.agent_definitions.dynamodb import DynamoDBDefinitionReader
from oratio.agent_definitions.source import CachedDefinitionSource
from oratio.analysis import ANALYSIS_PROFILE_ENV_VAR, AnalysisProfile, DefinitionLeadFields, PostCallAnalyst
from oratio.channels.idle import IDLE_EVENT_DETAIL_TYPE, IDLE_EVENT_SOURCE, IdleConversation
from oratio.config.catalog import load_model_catalog
from oratio.config.prices import load_price_catalog
from oratio.domain.call_events import CONNECT_INSTANCE_ARN_ENV_VAR, DISCONNECTED, ConnectContactEvent
from oratio.lambda_events import EventBridgeEnvelope, field_problems
from oratio.metering import Meter
from oratio.observability import lambda_entry, logger, metrics
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE, table_settings

CORRELATION_ID_PATH = "detail.contactId || detail.sessionId"


class AnalysisSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    usage_table: str = Field(min_length=1)
    agents_table: str = Field(min_length=1)
    agent_definitions_table: str = Field(min_length=1)
    connect_instance_arn: str = Field(min_length=1)
    profile: Json[AnalysisProfile]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> AnalysisSettings:
        env = os.environ if environ is None else environ
        return cls.model_validate(
            {
                **table_settings(env, CONVERSATIONS, TENANT_STATE, USAGE, AGENTS, AGENT_DEFINITIONS),
                "connect_instance_arn": env.get(CONNECT_INSTANCE_ARN_ENV_VAR),
                "profile": env.get(ANALYSIS_PROFILE_ENV_VAR),
            }
        )


@cache
def settings() -> AnalysisSettings:
    return AnalysisSettings.from_environ()


@cache
def build_analyst() -> PostCallAnalyst:
    s = settings()
    client = dynamodb_client()
    catalog = load_model_catalog()
    return PostCallAnalyst(
        profile=s.profile,
        catalog=catalog,
        model=BedrockConverseModel(),
        transcripts=DynamoDBConversationRecorder(s.conversations_table, client=client),
        store=DynamoDBAnalysisStore(s.conversations_table, client=client),
        once=DynamoDBOnceClaims(s.conversations_table, client=client),
        ledger=DynamoDBBudgetLedger(s.usage_table, conversations_table=s.conversations_table, client=client),
        meter=Meter(load_price_catalog(), catalog),
        clock=lambda: datetime.now(UTC),
        # The lead fields of the agent's live definition (its workflow's), re-read as the runtimes do.
        lead_fields=DefinitionLeadFields(
            CachedDefinitionSource(DynamoDBDefinitionReader(s.agents_table, s.agent_definitions_table, client=client))
        ),
    )


def _ended(event: Any) -> tuple[str, str | None, str | None] | None:
    """(conversation id, agent id, occasion) of the conversation that ended, or None for an event not ours to
    analyse. A call ends once; a messaging conversation each time it falls quiet (the occasion names which)."""
    envelope = EventBridgeEnvelope.model_validate(event)
    if envelope.source == IDLE_EVENT_SOURCE and envelope.detail_type == IDLE_EVENT_DETAIL_TYPE:
        idle = IdleConversation.model_validate(envelope.detail)
        if idle.tenant_id != settings().profile.tenant_id:
            return None
        return idle.session_id, idle.agent_id, idle.occasion
    contact = ConnectContactEvent.model_validate(event)
    if contact.detail.event_type != DISCONNECTED or contact.detail.instance_arn != settings().connect_instance_arn:
        return None
    sessions = DynamoDBCallSessionStore(settings().conversations_table, settings().tenant_state_table)
    session = sessions.get(settings().profile.tenant_id, contact.contact_id)
    if session is None:
        return None  # never routed by Oratio: nothing of ours to analyse
    return contact.contact_id, session.agent_id, None


@lambda_entry(correlation_id_path=CORRELATION_ID_PATH)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    try:
        ended = _ended(event)
    except ValidationError as e:
        logger.error("end-of-conversation event rejected", extra={"problems": field_problems(e)})
        metrics.add_metric(name="AnalysisEventsRejected", unit=MetricUnit.Count, value=1)
        return {"action": "rejected"}
    if ended is None:
        return {"action": "ignored"}
    try:
        conversation_id, agent_id, occasion = ended
        analysis = asyncio.run(build_analyst().analyse(conversation_id, agent_id, occasion=occasion))
    except Exception:
        metrics.add_metric(name="AnalysisFailures", unit=MetricUnit.Count, value=1)
        logger.exception("post-call analysis failed; it will be retried, then dead-lettered")
        raise
    if analysis is None:
        logger.info("conversation already analysed: redelivered event, nothing done")
        return {"action": "already_analysed"}
    metrics.add_metric(
        name="CallsAnalysed" if analysis.status == "analysed" else "AnalysesSkipped", unit=MetricUnit.Count, value=1
    )
    logger.info("post-call analysis", extra={"status": analysis.status, "reason": analysis.reason})
    return {"action": analysis.status}
