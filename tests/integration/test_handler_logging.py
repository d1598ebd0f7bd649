"""Log lines name the request they belong to: keys appended for one request (the vendor's id) are gone when the
container's next request starts, in every handler, because every handler wears `lambda_entry`."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oratio.observability import logger
from tests.vendor_api_harness import VENDOR_A, VENDOR_B, VendorApi, vendor_api

__all__ = ["vendor_api"]  # the fixture

REPO = Path(__file__).resolve().parents[2]
HANDLERS = sorted(p.parent.name for p in (REPO / "lambdas").glob("*/handler.py"))


class LogLines:
    """The shared logger's structured lines, formatted by its own Powertools formatter (keys included)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logger.registered_formatter)

    def take(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.stream.getvalue().splitlines() if line.startswith("{")]
        self.stream.seek(0)
        self.stream.truncate()
        return lines


@pytest.fixture
def logs() -> Iterator[LogLines]:
    lines = LogLines()
    logger.addHandler(lines.handler)
    yield lines
    logger.removeHandler(lines.handler)


def test_a_request_after_another_vendors_carries_only_its_own_vendor(vendor_api: VendorApi, logs: LogLines) -> None:
    logs.take()
    vendor_api.call("GET", "/api/v1/agents/agt-missing", vendor=VENDOR_A)  # 404, logged as refused
    first = logs.take()
    # A request refused at the gate logs before any vendor is known: nothing may name vendor A.
    vendor_api.call("POST", "/api/v1/agents", vendor=VENDOR_B, raw_body="x" * 40_000)
    refused = logs.take()
    vendor_api.call("GET", "/api/v1/agents/agt-missing", vendor=VENDOR_B)
    second = logs.take()

    assert {line.get("vendor_id") for line in first} == {VENDOR_A}
    assert refused
    assert all("vendor_id" not in line for line in refused), refused
    assert {line.get("vendor_id") for line in second} == {VENDOR_B}
    correlation = [line["correlation_id"] for line in (*first, *second)]
    assert len(set(correlation)) == 2  # each request's lines carry its own request id


@pytest.mark.parametrize("folder", HANDLERS)
def test_every_handler_starts_each_invocation_without_the_previous_requests_keys(
    folder: str, aws_env: None, logs: LogLines
) -> None:
    from oratio_local.events import lambda_context
    from oratio_local.lambdas import load_handler

    handler = load_handler(folder)
    logger.append_keys(vendor_id="previous-tenant", contact_id="previous-contact")  # as a previous request left it
    logs.take()
    with contextlib.suppress(ValueError):  # some handlers raise their designed error on a malformed event
        handler.lambda_handler(["not", "an", "event"], lambda_context(f"oratio-{folder}"))
    lines = logs.take()
    assert lines, "the handler logged nothing for a malformed event"
    assert "previous-tenant" not in json.dumps(lines)
    assert "previous-contact" not in json.dumps(lines)
