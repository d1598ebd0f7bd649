"""Routes of agents themselves: create, provision, list, read, change, delete, and the lifecycle actions."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from oratio.domain.agents import AgentStatus
from oratio.vendors.api.context import BASE, SECURITY, AgentId, IdempotencyKey, RouteContext
from oratio.vendors.api.responses import ok
from oratio.vendors.lifecycle import AgentAction
from oratio.vendors.models import AgentCreate, AgentPage, AgentUpdate, AgentView, ProvisioningResult, ProvisionRequest

LIFECYCLE_SUMMARIES = {
    AgentAction.START: "Start an agent (a draft is provisioned; a stopped one goes live again)",
    AgentAction.STOP: "Stop an agent (callers hear the unavailable message; conversations under way end politely)",
    AgentAction.PAUSE: "Pause an agent (callers hear the paused message; conversations under way go to a person)",
    AgentAction.RESUME: "Resume a paused agent",
}


def register(app: APIGatewayRestResolver, ctx: RouteContext) -> None:
    def _create(request: dict[str, Any]) -> dict[str, Any]:
        body = AgentCreate.model_validate(request["body"])
        return ctx.service().create_agent(request["vendor_id"], body, request["author"]).model_dump(mode="json")

    def _provision(request: dict[str, Any]) -> dict[str, Any]:
        body = ProvisionRequest.model_validate(request["body"])
        result = ctx.service().provision_new(request["vendor_id"], body.agent_config, request["author"])
        return result.model_dump(mode="json")

    def _request(key: str, body: AgentCreate | ProvisionRequest) -> dict[str, Any]:
        return {"vendor_id": ctx.vendor_id(), "key": key, "author": ctx.author(), "body": body.model_dump(mode="json")}

    @app.post(
        f"{BASE}/agents",
        summary="Create an agent (draft; its first definition version is live at once)",
        status_code=201,
        responses=ok(201, "Created", 409),
        security=SECURITY,
        tags=["agents"],
    )
    def create_agent(body: Annotated[AgentCreate, Body()], idempotency_key: IdempotencyKey = None) -> AgentView:
        if idempotency_key is None:
            return ctx.service().create_agent(ctx.vendor_id(), body, ctx.author())
        return AgentView.model_validate(ctx.once(_create, _request(idempotency_key, body)))

    @app.post(
        f"{BASE}/agents/provision",
        summary="Create an agent and provision its channels",
        status_code=201,
        responses=ok(201, "Provisioned (see status and each channel)", 409),
        security=SECURITY,
        tags=["agents"],
    )
    def provision_agent(
        body: Annotated[ProvisionRequest, Body()], idempotency_key: IdempotencyKey = None
    ) -> ProvisioningResult:
        if idempotency_key is None:
            return ctx.service().provision_new(ctx.vendor_id(), body.agent_config, ctx.author())
        return ProvisioningResult.model_validate(ctx.once(_provision, _request(idempotency_key, body)))

    @app.get(f"{BASE}/agents", summary="List agents", responses=ok(), security=SECURITY, tags=["agents"])
    def list_agents(
        skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        status: Annotated[AgentStatus | None, Query()] = None,
    ) -> AgentPage:
        return ctx.service().list_agents(ctx.vendor_id(), skip=skip, limit=limit, status=status)

    @app.get(f"{BASE}/agents/<agent_id>", summary="Get an agent", responses=ok(200, "OK", 404), security=SECURITY)
    def get_agent(agent_id: AgentId) -> AgentView:
        return ctx.service().get_agent(ctx.vendor_id(), agent_id)

    @app.put(
        f"{BASE}/agents/<agent_id>",
        summary="Update an agent (optimistic: send the version you read); a definition change writes a new version",
        responses=ok(200, "Updated", 404, 409),
        security=SECURITY,
        tags=["agents"],
    )
    def update_agent(agent_id: AgentId, body: Annotated[AgentUpdate, Body()]) -> AgentView:
        return ctx.service().update_agent(ctx.vendor_id(), agent_id, body, ctx.author())

    @app.delete(
        f"{BASE}/agents/<agent_id>",
        summary="Delete an agent (soft: kept for the retention period)",
        responses=ok(200, "Deleted", 404),
        security=SECURITY,
        tags=["agents"],
    )
    def delete_agent(agent_id: AgentId) -> AgentView:
        return ctx.service().delete_agent(ctx.vendor_id(), agent_id)

    for action, summary in LIFECYCLE_SUMMARIES.items():
        _lifecycle_route(app, ctx, action, summary)


def _lifecycle_route(app: APIGatewayRestResolver, ctx: RouteContext, action: AgentAction, summary: str) -> None:
    def run(agent_id: AgentId) -> AgentView:
        return ctx.service().act(ctx.vendor_id(), agent_id, action)

    run.__name__ = f"{action.value}_agent"
    app.post(
        f"{BASE}/agents/<agent_id>/{action.value}",
        summary=summary,
        responses=ok(200, "The agent in its new status", 404, 409),
        security=SECURITY,
        tags=["lifecycle"],
    )(run)
