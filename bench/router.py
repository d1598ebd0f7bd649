"""Call router figures: cold import time of the handler module, and warm handler latency with the
data layer in memory (the full Powertools-decorated `lambda_handler`, not just the domain)."""

from __future__ import annotations

import io
import statistics
import uuid
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

from bench.stats import cold_import_seconds, report, report_value, time_calls
from oratio.adapters.memory import (
    FixedClock,
    InMemoryAgentDirectory,
    InMemoryCallSessionStore,
    InMemoryNumberRegistry,
)
from oratio.config import load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import RoutingProfile
from oratio.domain.calls import CallRouter
from oratio_local.events import connect_contact_flow_event, lambda_context
from oratio_local.lambdas import load_handler

ROOT = Path(__file__).resolve().parents[1]
NUMBER = "+15552333464"
OPEN = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York


def warm_handler_samples(iterations: int) -> list[float]:
    tenant = load_tenant_file(ROOT / "tenants" / "cozy-comfort.yaml")
    profile = RoutingProfile.from_tenant(tenant).model_copy(update={"max_concurrent_calls": 10_000_000})
    agents = InMemoryAgentDirectory(
        [
            Agent(
                vendor_id=tenant.tenant_id,
                agent_id="front-desk",
                name="Front desk",
                status=AgentStatus.ACTIVE,
                phone_number=NUMBER,
                created_at=OPEN,
                updated_at=OPEN,
            )
        ]
    )
    router = CallRouter(
        profile=profile,
        agents=agents,
        sessions=InMemoryCallSessionStore(),
        clock=FixedClock(OPEN),
        numbers=InMemoryNumberRegistry({NUMBER: tenant.tenant_id}),
    )
    handler = load_handler("call_router")
    handler.build_router = lambda: router  # type: ignore[attr-defined]  # loaded from a file path
    context = lambda_context("call_router")
    sink = io.StringIO()

    def one_call() -> None:
        event = connect_contact_flow_event(contact_id=str(uuid.uuid4()), dialed=NUMBER)
        with redirect_stdout(sink):
            answer = handler.lambda_handler(event, context)
        sink.seek(0)
        sink.truncate()
        assert answer["route"] == "agent", answer

    return time_calls(one_call, iterations)


def run(iterations: int = 2_000) -> None:
    print("call router")
    cold = cold_import_seconds("call_router")
    report_value("cold import of handler module (median of 7)", statistics.median(cold) * 1e3, "ms")
    report(f"warm lambda_handler, in-memory data ({iterations} calls)", warm_handler_samples(iterations))
