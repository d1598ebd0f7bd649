"""The vendor API's operations routes through the real Lambda handler over moto: usage by agent, day and
category; a conversation's cost breakdown, analysis and recording link; the audit log of writes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from oratio.adapters.dynamodb import DynamoDBCallSessionStore
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
from oratio.adapters.dynamodb_operations import DynamoDBAnalysisStore
from oratio.domain.call_routing import Route, RouteReason
from oratio.domain.calls import CallSession
from tests.vendor_api_harness import NUMBERS, VENDOR_A, VENDOR_B, VendorApi, connect_instance_arn, vendor_api

__all__ = ["vendor_api"]  # the fixture

DAY1 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def ledger(api: VendorApi) -> DynamoDBBudgetLedger:
    tables = api.aws["tables"]
    return DynamoDBBudgetLedger(
        tables["usage"], conversations_table=tables["conversations"], client=api.aws["dynamodb"]
    )


def spend(api: VendorApi, at: datetime, category: str, item: str, usd: float, agent: str, session: str) -> None:
    asyncio.run(ledger(api).add(VENDOR_A, at, category, item, usd, agent_id=agent, session_id=session))


def open_call(api: VendorApi, agent_id: str, contact_id: str, vendor: str = VENDOR_A) -> None:
    tables = api.aws["tables"]
    sessions = DynamoDBCallSessionStore(tables["conversations"], tables["tenant_state"], client=api.aws["dynamodb"])
    session = CallSession(
        tenant_id=vendor,
        contact_id=contact_id,
        agent_id=agent_id,
        channel="voice",
        dialed_number=NUMBERS[vendor],
        route=Route.AGENT,
        reason=RouteReason.ACCEPTED,
        voice_tier="standard",
        started_at=DAY1,
        counted_against_limit=False,
    )
    sessions.open(session, max_concurrent_calls=10)


def seed_spend(api: VendorApi) -> None:
    spend(api, DAY1, "model", "nova-lite", 0.25, "front-desk", "call-1")
    spend(api, DAY1, "lex", "speech_request", 0.004, "front-desk", "call-1")
    spend(api, DAY1, "connect_voice", "voice_minutes_from_disconnect_estimated", 0.171, "front-desk", "call-1")
    spend(api, DAY2, "model", "nova-lite", 1.0, "sales", "call-2")


def test_usage_groups_the_range_by_agent_day_or_category(vendor_api: VendorApi) -> None:
    seed_spend(vendor_api)
    query = {"from": "2026-11-01", "to": "2026-11-30"}
    by_agent = vendor_api.call("GET", "/api/v1/usage", query={**query, "group_by": "agent"})
    assert by_agent.status == 200, by_agent.body
    assert by_agent.body["total_usd"] == 1.425
    assert by_agent.body["lines"] == [{"key": "front-desk", "usd": 0.425}, {"key": "sales", "usd": 1.0}]
    by_day = vendor_api.call("GET", "/api/v1/usage", query={**query, "group_by": "day"}).body
    assert by_day["lines"] == [{"key": "2026-11-02", "usd": 0.425}, {"key": "2026-11-03", "usd": 1.0}]
    by_category = vendor_api.call("GET", "/api/v1/usage", query={**query, "group_by": "category"}).body
    assert {line["key"]: line["usd"] for line in by_category["lines"]} == {
        "connect_voice": 0.171,
        "lex": 0.004,
        "model": 1.25,
    }
    # One day only, and another vendor sees none of it
    one_day = vendor_api.call("GET", "/api/v1/usage", query={"from": "2026-11-03", "to": "2026-11-03"}).body
    assert one_day["total_usd"] == 1.0
    other = vendor_api.call("GET", "/api/v1/usage", vendor=VENDOR_B, query=query).body
    assert (other["total_usd"], other["lines"]) == (0.0, [])


def test_a_backwards_or_too_long_range_is_refused_naming_the_field(vendor_api: VendorApi) -> None:
    backwards = vendor_api.call("GET", "/api/v1/usage", query={"from": "2026-11-30", "to": "2026-11-01"})
    assert backwards.status == 422
    assert backwards.body["details"][0]["field"] == "query.to"
    assert "swap them" in backwards.body["details"][0]["message"]
    bad_group = vendor_api.call(
        "GET", "/api/v1/usage", query={"from": "2026-11-01", "to": "2026-11-02", "group_by": "x"}
    )
    assert bad_group.status == 422


def test_a_conversation_has_its_cost_breakdown_with_estimates_marked(vendor_api: VendorApi) -> None:
    agent = vendor_api.create()
    spend(vendor_api, DAY1, "model", "nova-lite", 0.25, agent["id"], "call-9")
    spend(
        vendor_api, DAY1, "telephony", "US_DID_inbound_minutes_from_disconnect_estimated", 0.0099, agent["id"], "call-9"
    )
    open_call(vendor_api, agent["id"], "call-9")
    reply = vendor_api.call("GET", f"/api/v1/agents/{agent['id']}/conversations/call-9/costs")
    assert reply.status == 200, reply.body
    assert reply.body == {
        "conversation_id": "call-9",
        "total_usd": 0.2599,
        "lines": [
            {"category": "model", "item": "nova-lite", "usd": 0.25, "estimated": False},
            {
                "category": "telephony",
                "item": "US_DID_inbound_minutes_from_disconnect_estimated",
                "usd": 0.0099,
                "estimated": True,
            },
        ],
    }
    # Another vendor's caller cannot read it, and another agent's path answers 404 too
    assert (
        vendor_api.call("GET", f"/api/v1/agents/{agent['id']}/conversations/call-9/costs", vendor=VENDOR_B).status
        == 404
    )
    assert vendor_api.call("GET", "/api/v1/agents/other-agent/conversations/call-9/costs").status in (404, 422)


def test_the_analysis_is_returned_once_the_call_was_analysed(vendor_api: VendorApi) -> None:
    agent = vendor_api.create()
    open_call(vendor_api, agent["id"], "call-5")
    path = f"/api/v1/agents/{agent['id']}/conversations/call-5/analysis"
    assert vendor_api.call("GET", path).status == 404
    analysis = {"summary": "Asked about returns.", "outcome": "resolved", "sentiment": "positive", "lead": {}}
    store = DynamoDBAnalysisStore(vendor_api.aws["tables"]["conversations"], client=vendor_api.aws["dynamodb"])
    store.put(VENDOR_A, "call-5", analysis, expires_at=int((DAY1 + timedelta(days=90)).timestamp()))
    assert vendor_api.call("GET", path).body == analysis


def test_a_recorded_call_gets_a_presigned_url_that_expires(vendor_api: VendorApi) -> None:
    s3, ssm = vendor_api.aws["s3"], vendor_api.aws["ssm"]
    bucket = "oratio-cozy-comfort-recordings-test"
    s3.create_bucket(Bucket=bucket)
    ssm.put_parameter(Name=f"/oratio/tenants/{VENDOR_A}/connect/recordings-bucket", Value=bucket, Type="String")
    instance = connect_instance_arn(VENDOR_A).rsplit("/", 1)[-1]
    agent = vendor_api.create()
    open_call(vendor_api, agent["id"], "call-7")
    path = f"/api/v1/agents/{agent['id']}/conversations/call-7/recording"
    assert vendor_api.call("GET", path).status == 404  # nothing recorded (yet)
    key = f"call-recordings/{instance}/CallRecordings/2026/11/02/call-7_20261102T15:00_UTC.wav"
    s3.put_object(Bucket=bucket, Key=key, Body=b"RIFF")
    reply = vendor_api.call("GET", path)
    assert reply.status == 200, reply.body
    url = urlparse(reply.body["url"])
    assert url.path.endswith(key.replace(":", "%3A")) or url.path.endswith(key)
    assert parse_qs(url.query)["X-Amz-Expires"] == ["900"]


def test_every_write_is_audited_and_a_vendor_reads_only_its_own_entries(vendor_api: VendorApi) -> None:
    agent = vendor_api.create()
    updated = vendor_api.call(
        "PUT", f"/api/v1/agents/{agent['id']}", body={"version": agent["version"], "name": "Desk"}
    )
    assert updated.status == 200, updated.body
    vendor_api.call("GET", f"/api/v1/agents/{agent['id']}")  # reads are not audited
    vendor_api.call("PUT", f"/api/v1/agents/{agent['id']}", body={"version": 1, "name": "Stale"})  # 409: not applied
    vendor_api.create(vendor=VENDOR_B)

    entries = vendor_api.call("GET", "/api/v1/audit").body["items"]
    assert [e["action"] for e in entries] == [f"PUT /api/v1/agents/{agent['id']}", "POST /api/v1/agents"]
    update: dict[str, Any] = entries[0]
    assert (update["before_version"], update["after_version"], update["status"]) == (1, 2, 200)
    assert update["actor"] == "0b1c2d3e-1111-2222-3333-444455556666"
    assert update["source_ip"] == "203.0.113.10"
    assert [e["action"] for e in vendor_api.call("GET", "/api/v1/audit", vendor=VENDOR_B).body["items"]] == [
        "POST /api/v1/agents"
    ]
