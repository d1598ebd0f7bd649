"""Routes of an agent's definition versions: list, read one, diff two, publish one, roll back to an earlier one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

from oratio.vendors.api.context import BASE, MAX_VERSION, SECURITY, AgentId, RouteContext, VersionNumber
from oratio.vendors.api.responses import ok
from oratio.vendors.models import AgentView, VersionDiffView, VersionPage, VersionView

VERSIONS = f"{BASE}/agents/<agent_id>/versions"


# After a publish: (vendor id, agent id, version, who, request id) — AgentCreator records approvals of its versions.
PublishHook = Callable[[str, str, int, str, str], None]


def register(app: APIGatewayRestResolver, ctx: RouteContext, on_publish: PublishHook | None = None) -> None:
    @app.get(
        VERSIONS,
        summary="The agent's definition versions, newest first (which one is live)",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["versions"],
    )
    def list_versions(agent_id: AgentId) -> VersionPage:
        return ctx.service().list_versions(ctx.vendor_id(), agent_id)

    @app.get(
        f"{VERSIONS}/<version>",
        summary="One definition version, whole",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["versions"],
    )
    def get_version(agent_id: AgentId, version: VersionNumber) -> VersionView:
        return ctx.service().get_version(ctx.vendor_id(), agent_id, version)

    @app.get(
        f"{VERSIONS}/<version>/diff",
        summary="What changed from another version (default: the live one) to this one, field by field",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["versions"],
    )
    def diff_version(
        agent_id: AgentId,
        version: VersionNumber,
        against: Annotated[int | None, Query(ge=1, le=MAX_VERSION, description="the version to compare with")] = None,
    ) -> VersionDiffView:
        return ctx.service().diff_versions(ctx.vendor_id(), agent_id, version, against)

    @app.post(
        f"{VERSIONS}/<version>/publish",
        summary="Publish a version: conversations use it from their next turn",
        responses=ok(200, "The agent with its new live version", 404, 409),
        security=SECURITY,
        tags=["versions"],
    )
    def publish_version(agent_id: AgentId, version: VersionNumber) -> AgentView:
        published = ctx.service().publish(ctx.vendor_id(), agent_id, version, ctx.author())
        if on_publish is not None:
            on_publish(ctx.vendor_id(), agent_id, version, ctx.author(), app.current_event.request_context.request_id)
        return published

    @app.post(
        f"{VERSIONS}/<version>/rollback",
        summary="Roll back: publish a version older than the live one",
        responses=ok(200, "The agent with its new live version", 404, 409),
        security=SECURITY,
        tags=["versions"],
    )
    def rollback_version(agent_id: AgentId, version: VersionNumber) -> AgentView:
        return ctx.service().publish(ctx.vendor_id(), agent_id, version, ctx.author(), rollback=True)
