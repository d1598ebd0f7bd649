"""Routes of what hangs off an agent: provisioning jobs, knowledge documents, conversations, the ElizaOS export."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from oratio.vendors.api.context import BASE, ID_PATTERN, SECURITY, AgentId, RouteContext
from oratio.vendors.api.responses import ok
from oratio.vendors.models import (
    ConversationDetail,
    ConversationPage,
    ElizaCharacter,
    KnowledgeDocumentList,
    KnowledgeUploadRequest,
    KnowledgeUploadView,
    ProvisioningJobView,
)

CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$"


def register(app: APIGatewayRestResolver, ctx: RouteContext) -> None:
    @app.get(
        f"{BASE}/provisioning/<provisioning_id>",
        summary="Provisioning job status, one step per channel",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["agents"],
    )
    def get_provisioning(provisioning_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> ProvisioningJobView:
        return ctx.service().get_provisioning(ctx.vendor_id(), provisioning_id)

    @app.post(
        f"{BASE}/agents/<agent_id>/knowledge",
        summary="Announce a knowledge document (only this agent searches it); answers a presigned upload",
        status_code=201,
        responses=ok(201, "Upload instructions", 404, 409),
        security=SECURITY,
        tags=["knowledge"],
    )
    def start_upload(agent_id: AgentId, body: Annotated[KnowledgeUploadRequest, Body()]) -> KnowledgeUploadView:
        return ctx.service().start_upload(ctx.vendor_id(), agent_id, body)

    @app.get(
        f"{BASE}/agents/<agent_id>/knowledge",
        summary="Knowledge documents with ingestion status",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["knowledge"],
    )
    def list_documents(agent_id: AgentId) -> KnowledgeDocumentList:
        return ctx.service().list_documents(ctx.vendor_id(), agent_id)

    @app.get(
        f"{BASE}/agents/<agent_id>/conversations",
        summary="Conversations, newest first",
        responses=ok(200, "OK", 400, 404),
        security=SECURITY,
        tags=["conversations"],
    )
    def list_conversations(
        agent_id: AgentId,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        next_token: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> ConversationPage:
        return ctx.service().list_conversations(ctx.vendor_id(), agent_id, limit=limit, next_token=next_token)

    @app.get(
        f"{BASE}/agents/<agent_id>/conversations/<conversation_id>",
        summary="One conversation with its turns",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["conversations"],
    )
    def get_conversation(
        agent_id: AgentId, conversation_id: Annotated[str, Path(pattern=CONVERSATION_ID_PATTERN)]
    ) -> ConversationDetail:
        return ctx.service().get_conversation(ctx.vendor_id(), agent_id, conversation_id)

    @app.get(
        f"{BASE}/agents/<agent_id>/character",
        summary="Export the agent's character (ElizaOS; says which channels ElizaOS cannot serve)",
        responses=ok(200, "Character file", 404),
        security=SECURITY,
        tags=["agents"],
    )
    def export_character(
        agent_id: AgentId, format: Annotated[Literal["elizaos"], Query()] = "elizaos"
    ) -> ElizaCharacter:
        return ctx.service().export_character(ctx.vendor_id(), agent_id, format)
