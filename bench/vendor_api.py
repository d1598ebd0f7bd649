"""Vendor API figures: cold import time of the handler module, and warm latency of create, get and list
through the full `lambda_handler` (gate, Powertools resolver and validation, service) with the data layer
in memory."""

from __future__ import annotations

import io
import json
import statistics
from contextlib import redirect_stdout
from typing import Any

from bench.stats import cold_import_seconds, report, report_value, time_calls
from oratio.vendors.ports import TenantDeployment
from oratio.vendors.service import VendorService, VendorSettings
from oratio_local.events import api_gateway_event, lambda_context
from oratio_local.lambdas import load_handler
from oratio_local.vendor import brief_agent_request, memory_vendor_service

VENDOR = "cozy-comfort"
BODY = brief_agent_request()


def _memory_service(agents: int) -> VendorService:
    deployment = TenantDeployment(tenant_id=VENDOR, max_agents=agents + 100_000)
    return memory_vendor_service({VENDOR: deployment}, settings=VendorSettings(rate_limit_per_minute=10_000_000))


def warm_samples(iterations: int) -> dict[str, list[float]]:
    import os

    os.environ.setdefault("ORATIO_IDEMPOTENCY_TABLE", "unused-in-memory")
    from oratio.vendors.settings import VENDOR_TABLES

    for spec in VENDOR_TABLES:
        os.environ.setdefault(spec.env_var, "unused-in-memory")
    handler = load_handler("vendor_api")
    service = _memory_service(iterations)
    handler.service_factory = lambda: service  # type: ignore[attr-defined]  # loaded from a file path
    context = lambda_context("vendor_api")
    sink = io.StringIO()
    created: list[str] = []

    def call(event: dict[str, Any], status: int) -> dict[str, Any]:
        with redirect_stdout(sink):
            response = handler.lambda_handler(event, context)
        sink.seek(0)
        sink.truncate()
        assert response["statusCode"] == status, response["body"][:300]
        result: dict[str, Any] = json.loads(response["body"])
        return result

    def create() -> None:
        created.append(call(api_gateway_event("POST", "/api/v1/agents", body=BODY), 201)["id"])

    samples = {"create": time_calls(create, iterations)}
    ids = iter(created * 2)
    samples["get"] = time_calls(lambda: call(api_gateway_event("GET", f"/api/v1/agents/{next(ids)}"), 200), iterations)
    page = {"skip": "0", "limit": "20"}
    samples["list (20 of many)"] = time_calls(
        lambda: call(api_gateway_event("GET", "/api/v1/agents", query=page), 200), iterations // 4
    )
    return samples


def run(iterations: int = 1_000) -> None:
    print("vendor API")
    cold = cold_import_seconds("vendor_api")
    report_value("cold import of handler module (median of 7)", statistics.median(cold) * 1e3, "ms")
    for name, samples in warm_samples(iterations).items():
        report(f"warm {name}, in-memory data", samples)
