"""The vendor API Lambda end to end over moto (DynamoDB, SSM, S3): every endpoint's success and failure paths,
tenant isolation, idempotency, quotas, the rate limit and optimistic concurrency."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from oratio.adapters.dynamodb import (
    DynamoDBAgentDirectory,
    RouterSettings,
    dynamodb_call_router,
    dynamodb_client,
)
from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
from oratio.adapters.memory import FixedClock
from oratio.config.tenant import load_tenant_file
from oratio.domain.agents import AgentStatus
from oratio.domain.call_routing import Route, RoutingProfile
from oratio.domain.calls import InboundCall
from oratio_local.events import api_gateway_event
from oratio_local.openapi import OPENAPI_PATH
from tests.cross_tenant import probe
from tests.vendor_api_harness import (
    NUMBERS,
    START,
    VENDOR_A,
    VENDOR_B,
    VendorApi,
    agent_body,
    knowledge_bucket,
    register_number,
    seed_call,
    vendor_api,
)

__all__ = ["vendor_api"]  # the fixture

REPO = Path(__file__).resolve().parents[2]
A = "/api/v1/agents"


# ------------------------------------------------------------------------------------------ public
def test_health_answers_without_a_token(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("GET", "/api/v1/health", vendor=None)
    assert (reply.status, reply.body["status"]) == (200, "ok")


def test_served_openapi_document_is_the_committed_one(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("GET", "/api/v1/openapi.json", vendor=None)
    assert reply.status == 200
    assert reply.body == json.loads(OPENAPI_PATH.read_text()), "docs/openapi.json is stale: run `make openapi`"
    assert {"/api/v1/agents", "/api/v1/agents/provision", "/api/v1/agents/{agent_id}/pause"} <= set(reply.body["paths"])


# ---------------------------------------------------------------------------------- authentication
def test_request_without_vendor_claim_is_refused(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("GET", A, vendor=None)
    assert reply.status == 401
    assert reply.body["error"] == "unauthenticated"


def _with_claim(claim: Any, method: str = "GET", path: str = A, body: Any = None) -> dict[str, Any]:
    event = api_gateway_event(method, path, body=body, vendor_id=None)
    event["requestContext"]["authorizer"]["claims"]["custom:vendor_id"] = claim
    return event


@pytest.mark.parametrize(
    "claim",
    [None, True, False, 0, 1, -7, 3.5, "", "   ", [], ["cozy-comfort"], {}, {"S": "cozy-comfort"}],
    ids=repr,
)
def test_a_vendor_claim_that_is_not_a_non_empty_string_is_unauthenticated(vendor_api: VendorApi, claim: Any) -> None:
    reply = vendor_api.send(_with_claim(claim))
    assert (reply.status, reply.body["error"]) == (401, "unauthenticated")


@pytest.mark.parametrize("claim", ["null", "cozy-comfot", "../other", "Cozy-Comfort", "x" * 300])
def test_a_vendor_id_naming_no_deployed_tenant_is_forbidden_and_stores_nothing(
    vendor_api: VendorApi, claim: str
) -> None:
    listed = vendor_api.send(_with_claim(claim))
    created = vendor_api.send(_with_claim(claim, "POST", A, body=agent_body()))
    for reply in (listed, created):
        assert (reply.status, reply.body["error"]) == (403, "unknown_tenant")
        assert "names no tenant deployed on this platform" in reply.body["message"]
    dynamodb, tables = vendor_api.aws["dynamodb"], vendor_api.aws["tables"]
    for table in ("agents", "tenant_state"):
        assert dynamodb.scan(TableName=tables[table])["Items"] == []  # not even a rate-limit counter


def test_a_tenant_deployed_after_its_users_were_invited_is_admitted_once_its_stack_publishes(
    vendor_api: VendorApi,
) -> None:
    ssm = vendor_api.aws["ssm"]
    assert vendor_api.call("GET", A, vendor="late-tenant").status == 403
    ssm.put_parameter(Name="/oratio/tenants/late-tenant/limits/max-agents", Value="5", Type="String")
    vendor_api.handler.build_service().tenants._cache.clear()  # what UNKNOWN_TENANT_CACHE_SECONDS expiry does
    assert vendor_api.call("GET", A, vendor="late-tenant").status == 200


def test_vendor_id_in_the_body_is_rejected_not_trusted(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("POST", f"{A}/provision", body={"vendor_id": VENDOR_B, "agent_config": agent_body()})
    assert reply.status == 422
    assert [d["field"] for d in reply.body["details"]] == ["body.vendor_id"]
    assert vendor_api.call("GET", A, vendor=VENDOR_B).body["total"] == 0


# ------------------------------------------------------------------------------------------ create
def test_create_stores_a_draft_with_a_derived_character(vendor_api: VendorApi) -> None:
    agent = vendor_api.create()
    assert agent["status"] == "draft"
    assert agent["version"] == 1
    assert [c["channel_type"] for c in agent["channels"]] == ["instagram", "whatsapp", "facebook", "x", "voice"]
    assert all(c["status"] == "not_provisioned" for c in agent["channels"])
    assert "friendly and helpful customer service agent for Cozy Comfort Bedding" in agent["character"]["instructions"]
    assert "return policy: 30-day returns" in agent["character"]["instructions"]
    assert agent["allowed_actions"] == ["start", "delete"]
    assert vendor_api.call("GET", f"{A}/{agent['id']}").body == agent


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (agent_body(bogus=1), ["body.bogus"]),
        (agent_body(channels=["voice", "telegram"]), ["body.channels[1]"]),
        (agent_body(channels=["voice", "voice"]), ["body.channels"]),
        ({k: v for k, v in agent_body().items() if k != "name"}, ["body.name"]),
        (agent_body(character_config={"business_name": "B", "tone": "grumpy"}), ["body.character_config.tone"]),
        (agent_body(name=""), ["body.name"]),
    ],
    ids=["unknown-field", "unknown-channel", "repeated-channel", "missing-name", "bad-tone", "empty-name"],
)
def test_invalid_create_lists_each_failing_field(
    vendor_api: VendorApi, body: dict[str, Any], fields: list[str]
) -> None:
    reply = vendor_api.call("POST", A, body=body)
    assert reply.status == 422
    assert reply.body["error"] == "validation_error"
    assert [d["field"] for d in reply.body["details"]] == fields
    assert vendor_api.call("GET", A).body["total"] == 0


def test_body_that_is_not_json_is_a_validation_error(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("POST", A, raw_body="{not json")
    assert reply.status == 422
    assert reply.body["details"][0]["message"].startswith("the body is not valid JSON")


def test_oversized_body_is_refused_before_anything_is_stored(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("POST", A, body=agent_body(description="x" * 40_000))
    assert reply.status == 413
    assert reply.body["error"] == "payload_too_large"


def test_unknown_path_answers_json_404(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("GET", "/api/v1/nothing-here")
    assert (reply.status, reply.body["error"]) == (404, "not_found")


# ------------------------------------------------------------------------------------ provisioning
def test_provision_binds_voice_to_the_deployed_number_and_waits_for_social_credentials(vendor_api: VendorApi) -> None:
    result = vendor_api.provision()
    assert result["status"] == "completed"
    agent = result["agent_config"]
    assert agent["status"] == "active"
    assert agent["provisioning_complete"] is True
    channels = {c["channel_type"]: c for c in agent["channels"]}
    assert channels["voice"]["status"] == "active"
    assert channels["voice"]["phone_number"] == NUMBERS[VENDOR_A]
    assert channels["voice"]["aws_connect_instance_id"].endswith(f"instance/{VENDOR_A}-0000-4000-8000-000000000000")
    assert {channels[c]["status"] for c in ("instagram", "whatsapp", "facebook", "x")} == {"pending_credentials"}
    assert channels["x"]["elizaos_plugin"] == "@elizaos/plugin-twitter"
    assert agent["phone_number"] == NUMBERS[VENDOR_A]

    job = vendor_api.call("GET", f"/api/v1/provisioning/{result['provisioning_id']}")
    assert job.status == 200
    assert job.body["agent_id"] == result["agent_id"]
    assert [s["channel_type"] for s in job.body["steps"]] == ["instagram", "whatsapp", "facebook", "x", "voice"]


def test_provisioned_number_routes_calls_to_the_agent(vendor_api: VendorApi) -> None:
    result = vendor_api.provision()
    directory = DynamoDBAgentDirectory(vendor_api.aws["tables"]["agents"], client=vendor_api.aws["dynamodb"])
    found = directory.find_by_number(VENDOR_A, NUMBERS[VENDOR_A])
    assert found is not None
    assert (found.agent_id, found.status) == (result["agent_id"], AgentStatus.ACTIVE)


def test_pause_is_seen_by_the_call_router_at_once(vendor_api: VendorApi) -> None:
    agent_id = vendor_api.provision()["agent_id"]
    assert vendor_api.call("POST", f"{A}/{agent_id}/pause").body["status"] == "paused"
    directory = DynamoDBAgentDirectory(vendor_api.aws["tables"]["agents"], client=vendor_api.aws["dynamodb"])
    paused = directory.find_by_number(VENDOR_A, NUMBERS[VENDOR_A])
    assert paused is not None
    assert paused.status is AgentStatus.PAUSED


def test_provision_without_a_deployed_tenant_fails_the_voice_step_and_keeps_a_draft(vendor_api: VendorApi) -> None:
    vendor_api.aws["ssm"].delete_parameter(Name=f"/oratio/tenants/{VENDOR_A}/connect/phone-number")
    vendor_api.handler.build_service().tenants._cache.clear()
    result = vendor_api.provision(channels=["voice", "chat"])
    assert result["status"] == "failed"
    agent = result["agent_config"]
    assert agent["status"] == "draft"
    voice = next(c for c in agent["channels"] if c["channel_type"] == "voice")
    assert voice["status"] == "failed"
    assert "cdk deploy -c tenant=cozy-comfort" in voice["detail"]
    assert voice["phone_number"] is None


def test_second_voice_agent_cannot_take_a_number_another_agent_answers(vendor_api: VendorApi) -> None:
    first = vendor_api.provision(name="First")
    second = vendor_api.provision(name="Second", channels=["voice"])
    assert second["status"] == "failed"
    voice = second["agent_config"]["channels"][0]
    assert voice["status"] == "failed"
    assert first["agent_id"] in voice["detail"]


def test_deleting_a_voice_agent_frees_its_number(vendor_api: VendorApi) -> None:
    first = vendor_api.provision(name="First")
    assert vendor_api.call("DELETE", f"{A}/{first['agent_id']}").status == 200
    second = vendor_api.provision(name="Second", channels=["voice"])
    assert second["status"] == "completed"
    assert second["agent_config"]["phone_number"] == NUMBERS[VENDOR_A]


def test_start_on_a_draft_provisions_it(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["voice", "chat"])
    started = vendor_api.call("POST", f"{A}/{agent['id']}/start")
    assert started.status == 200
    assert started.body["status"] == "active"
    assert {c["status"] for c in started.body["channels"]} == {"active"}


# --------------------------------------------------------------------------------------- lifecycle
@pytest.mark.parametrize(
    ("actions", "final"),
    [
        (["pause"], "paused"),
        (["pause", "resume"], "active"),
        (["stop"], "stopped"),
        (["pause", "stop"], "stopped"),
        (["stop", "start"], "active"),
    ],
)
def test_lifecycle_actions_move_an_active_agent(vendor_api: VendorApi, actions: list[str], final: str) -> None:
    agent_id = vendor_api.provision()["agent_id"]
    for action in actions:
        reply = vendor_api.call("POST", f"{A}/{agent_id}/{action}")
        assert reply.status == 200, reply.body
    assert vendor_api.call("GET", f"{A}/{agent_id}").body["status"] == final


@pytest.mark.parametrize(("setup", "action"), [([], "pause"), ([], "resume"), ([], "stop"), (["start"], "start")])
def test_illegal_action_answers_409_with_current_status_and_allowed_actions(
    vendor_api: VendorApi, setup: list[str], action: str
) -> None:
    agent_id = vendor_api.create(channels=["chat"])["id"]
    for step in setup:
        vendor_api.call("POST", f"{A}/{agent_id}/{step}")
    before = vendor_api.call("GET", f"{A}/{agent_id}").body
    reply = vendor_api.call("POST", f"{A}/{agent_id}/{action}")
    assert reply.status == 409
    assert reply.body["error"] == "illegal_transition"
    assert reply.body["current_status"] == before["status"]
    assert reply.body["allowed_actions"] == before["allowed_actions"]
    assert vendor_api.call("GET", f"{A}/{agent_id}").body == before


# -------------------------------------------------------------------------------------- list / get
def test_list_pages_are_stable_and_in_creation_order(vendor_api: VendorApi) -> None:
    ids = []
    for n in range(5):
        vendor_api.clock.advance(timedelta(seconds=1))
        ids.append(vendor_api.create(name=f"Agent {n}")["id"])
    first = vendor_api.call("GET", A, query={"skip": "0", "limit": "2"}).body
    second = vendor_api.call("GET", A, query={"skip": str(first["next_skip"]), "limit": "2"}).body
    last = vendor_api.call("GET", A, query={"skip": "4", "limit": "2"}).body
    assert [a["id"] for a in first["items"] + second["items"] + last["items"]] == ids
    assert (first["total"], first["next_skip"], last["next_skip"]) == (5, 2, None)


def test_list_filters_by_status_and_hides_deleted_agents(vendor_api: VendorApi) -> None:
    active = vendor_api.provision(name="Live", channels=["chat"])["agent_id"]
    draft = vendor_api.create(name="Draft")["id"]
    gone = vendor_api.create(name="Gone")["id"]
    vendor_api.call("DELETE", f"{A}/{gone}")
    assert [a["id"] for a in vendor_api.call("GET", A, query={"status": "active"}).body["items"]] == [active]
    assert [a["id"] for a in vendor_api.call("GET", A, query={"status": "draft"}).body["items"]] == [draft]
    assert {a["id"] for a in vendor_api.call("GET", A).body["items"]} == {active, draft}
    deleted = vendor_api.call("GET", A, query={"status": "deleted"}).body["items"]
    assert [a["id"] for a in deleted] == [gone]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"skip": "-1"}, {"status": "sleeping"}])
def test_bad_list_parameters_are_validation_errors(vendor_api: VendorApi, query: dict[str, str]) -> None:
    reply = vendor_api.call("GET", A, query=query)
    assert reply.status == 422
    assert reply.body["details"][0]["field"].startswith("query.")


def test_get_unknown_agent_is_404(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("GET", f"{A}/agt-missing")
    assert (reply.status, reply.body["error"]) == (404, "not_found")


# ----------------------------------------------------------------------------------------- update
def test_update_changes_fields_and_rederives_the_character(vendor_api: VendorApi) -> None:
    agent = vendor_api.create()
    config = {**agent_body()["character_config"], "tone": "professional"}
    reply = vendor_api.call(
        "PUT", f"{A}/{agent['id']}", body={"version": 1, "name": "Front Desk", "character_config": config}
    )
    assert reply.status == 200
    assert (reply.body["name"], reply.body["version"]) == ("Front Desk", 2)
    assert reply.body["character"]["tone"] == "professional"
    assert reply.body["description"] == agent["description"]


def test_stale_update_answers_409_and_keeps_the_newer_write(vendor_api: VendorApi) -> None:
    agent_id = vendor_api.create()["id"]
    assert vendor_api.call("PUT", f"{A}/{agent_id}", body={"version": 1, "name": "Alice's edit"}).status == 200
    reply = vendor_api.call("PUT", f"{A}/{agent_id}", body={"version": 1, "name": "Bob's edit"})
    assert reply.status == 409
    assert (reply.body["error"], reply.body["current_version"]) == ("version_conflict", 2)
    assert vendor_api.call("GET", f"{A}/{agent_id}").body["name"] == "Alice's edit"


def test_update_with_a_status_applies_the_lifecycle(vendor_api: VendorApi) -> None:
    agent = vendor_api.provision(channels=["chat"])["agent_config"]
    paused = vendor_api.call("PUT", f"{A}/{agent['id']}", body={"version": agent["version"], "status": "paused"})
    assert paused.body["status"] == "paused"
    draft = vendor_api.create()
    illegal = vendor_api.call("PUT", f"{A}/{draft['id']}", body={"version": 1, "status": "paused"})
    assert illegal.status == 409
    assert illegal.body["current_status"] == "draft"


def test_update_without_version_is_a_validation_error(vendor_api: VendorApi) -> None:
    agent_id = vendor_api.create()["id"]
    reply = vendor_api.call("PUT", f"{A}/{agent_id}", body={"name": "x"})
    assert reply.status == 422
    assert [d["field"] for d in reply.body["details"]] == ["body.version"]


def test_adding_voice_to_a_live_agent_binds_the_number(vendor_api: VendorApi) -> None:
    agent = vendor_api.provision(channels=["chat"])["agent_config"]
    reply = vendor_api.call(
        "PUT", f"{A}/{agent['id']}", body={"version": agent["version"], "channels": ["chat", "voice"]}
    )
    assert reply.status == 200
    assert reply.body["phone_number"] == NUMBERS[VENDOR_A]


# ----------------------------------------------------------------------------------------- delete
def test_delete_is_soft_and_expires_after_the_retention_period(vendor_api: VendorApi) -> None:
    agent_id = vendor_api.create()["id"]
    reply = vendor_api.call("DELETE", f"{A}/{agent_id}")
    assert (reply.status, reply.body["status"]) == (200, "deleted")
    assert vendor_api.call("GET", f"{A}/{agent_id}").status == 404
    assert vendor_api.call("DELETE", f"{A}/{agent_id}").status == 404
    item = vendor_api.aws["dynamodb"].get_item(
        TableName=vendor_api.aws["tables"]["agents"], Key={"pk": {"S": VENDOR_A}, "sk": {"S": agent_id}}
    )["Item"]
    assert item["status"]["S"] == "deleted"
    assert int(item["expires_at"]["N"]) == int((START + timedelta(days=30)).timestamp())


# ----------------------------------------------------------------------------------------- quotas
def test_agent_quota_answers_409_naming_the_limit_and_frees_on_delete(vendor_api: VendorApi) -> None:
    ids = [vendor_api.create(name=f"Agent {n}")["id"] for n in range(5)]
    refused = vendor_api.call("POST", A, body=agent_body(name="One too many"))
    assert refused.status == 409
    assert (refused.body["error"], refused.body["limit"]) == ("quota_exceeded", 5)
    assert "max_agents" in refused.body["message"]
    assert vendor_api.call("GET", A).body["total"] == 5
    vendor_api.call("DELETE", f"{A}/{ids[0]}")
    assert vendor_api.call("POST", A, body=agent_body(name="Now fits")).status == 201


def test_rate_limit_answers_429_with_retry_after_until_the_next_minute(
    vendor_api: VendorApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORATIO_RATE_LIMIT_PER_MINUTE", "3")
    vendor_api.handler.settings.cache_clear()
    vendor_api.handler.build_service.cache_clear()
    assert [vendor_api.call("GET", A).status for _ in range(3)] == [200, 200, 200]
    refused = vendor_api.call("GET", A)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "50"  # the clock stands at hh:mm:10
    assert refused.body["retry_after_seconds"] == 50
    assert vendor_api.call("GET", A, vendor=VENDOR_B).status == 200  # per vendor
    vendor_api.clock.advance(timedelta(seconds=50))
    assert vendor_api.call("GET", A).status == 200


# ------------------------------------------------------------------------------------- idempotency
def test_provision_with_the_same_idempotency_key_creates_nothing_twice(vendor_api: VendorApi) -> None:
    headers = {"Idempotency-Key": "order-2026-11-30-0001"}
    body = {"agent_config": agent_body(channels=["chat"])}
    first = vendor_api.call("POST", f"{A}/provision", body=body, headers=headers)
    again = vendor_api.call("POST", f"{A}/provision", body=body, headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert vendor_api.call("GET", A).body["total"] == 1


def test_reusing_an_idempotency_key_with_another_body_is_refused(vendor_api: VendorApi) -> None:
    headers = {"Idempotency-Key": "order-2026-11-30-0002"}
    vendor_api.call("POST", f"{A}/provision", body={"agent_config": agent_body()}, headers=headers)
    reply = vendor_api.call("POST", f"{A}/provision", body={"agent_config": agent_body(name="Other")}, headers=headers)
    assert reply.status == 422
    assert reply.body["error"] == "idempotency_key_reused"
    assert vendor_api.call("GET", A).body["total"] == 1


def test_idempotency_keys_are_per_vendor(vendor_api: VendorApi) -> None:
    headers = {"Idempotency-Key": "shared-key-0001"}
    a = vendor_api.call("POST", A, body=agent_body(), headers=headers)
    b = vendor_api.call("POST", A, vendor=VENDOR_B, body=agent_body(), headers=headers)
    assert a.body["id"] != b.body["id"]
    assert vendor_api.call("GET", A, vendor=VENDOR_B).body["total"] == 1


def test_create_with_the_same_idempotency_key_returns_the_first_agent(vendor_api: VendorApi) -> None:
    headers = {"Idempotency-Key": "create-0000-0001"}
    first = vendor_api.call("POST", A, body=agent_body(), headers=headers)
    again = vendor_api.call("POST", A, body=agent_body(), headers=headers)
    assert again.body["id"] == first.body["id"]
    assert vendor_api.call("GET", A).body["total"] == 1


# -------------------------------------------------------------------------------------- knowledge
def test_knowledge_upload_answers_a_presigned_post_and_records_the_document(vendor_api: VendorApi) -> None:
    agent_id = vendor_api.create()["id"]
    body = {"file_name": "bedding_products.json.txt", "content_type": "text/plain", "size_bytes": 2048}
    reply = vendor_api.call("POST", f"{A}/{agent_id}/knowledge", body=body)
    assert reply.status == 201
    upload, document = reply.body["upload"], reply.body["document"]
    assert knowledge_bucket(VENDOR_A) in upload["url"]
    assert upload["fields"]["key"] == f"uploads/{agent_id}/{document['document_id']}/bedding_products.json.txt"
    assert upload["fields"]["Content-Type"] == "text/plain"
    policy = json.loads(__import__("base64").b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, 2048] in policy["conditions"]
    assert {"x-amz-signature", "x-amz-credential"} <= set(upload["fields"])
    listed = vendor_api.call("GET", f"{A}/{agent_id}/knowledge").body["items"]
    assert [(d["document_id"], d["status"]) for d in listed] == [(document["document_id"], "awaiting_upload")]
    # Beside the document, its knowledge-base metadata: it is this agent's (retrieval filters on it).
    sidecar = vendor_api.aws["s3"].get_object(
        Bucket=knowledge_bucket(VENDOR_A), Key=upload["fields"]["key"] + ".metadata.json"
    )
    assert json.loads(sidecar["Body"].read()) == {
        "metadataAttributes": {"oratio_agent_id": agent_id, "oratio_scope": "agent"}
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"file_name": "a.exe", "content_type": "application/x-msdownload", "size_bytes": 10}, "body.content_type"),
        ({"file_name": "big.pdf", "content_type": "application/pdf", "size_bytes": 60_000_000}, "body.size_bytes"),
        ({"file_name": "../etc/passwd", "content_type": "text/plain", "size_bytes": 10}, "body.file_name"),
        ({"file_name": "a.pdf.metadata.json", "content_type": "text/plain", "size_bytes": 10}, "body.file_name"),
    ],
)
def test_unacceptable_documents_are_refused(vendor_api: VendorApi, body: dict[str, Any], field: str) -> None:
    agent_id = vendor_api.create()["id"]
    reply = vendor_api.call("POST", f"{A}/{agent_id}/knowledge", body=body)
    assert reply.status == 422
    assert [d["field"] for d in reply.body["details"]] == [field]
    assert vendor_api.call("GET", f"{A}/{agent_id}/knowledge").body["items"] == []


def test_upload_for_a_tenant_without_a_knowledge_bucket_says_what_to_deploy(vendor_api: VendorApi) -> None:
    vendor_api.aws["ssm"].delete_parameter(Name=f"/oratio/tenants/{VENDOR_A}/knowledge/bucket-name")
    vendor_api.handler.build_service().tenants._cache.clear()
    agent_id = vendor_api.create()["id"]
    body = {"file_name": "faq.md", "content_type": "text/markdown", "size_bytes": 10}
    reply = vendor_api.call("POST", f"{A}/{agent_id}/knowledge", body=body)
    assert (reply.status, reply.body["error"]) == (409, "tenant_not_deployed")
    assert "cdk deploy -c tenant=cozy-comfort" in reply.body["message"]


# ---------------------------------------------------------------------------------- conversations
def test_conversations_list_newest_first_in_pages_and_show_turns(vendor_api: VendorApi) -> None:
    agent_id = vendor_api.create()["id"]
    for n in range(3):
        seed_call(vendor_api, VENDOR_A, agent_id, f"contact-{n}", minutes=n)
    first = vendor_api.call("GET", f"{A}/{agent_id}/conversations", query={"limit": "2"}).body
    assert [c["conversation_id"] for c in first["items"]] == ["contact-2", "contact-1"]
    rest = vendor_api.call(
        "GET", f"{A}/{agent_id}/conversations", query={"limit": "2", "next_token": first["next_token"]}
    ).body
    assert [c["conversation_id"] for c in rest["items"]] == ["contact-0"]
    detail = vendor_api.call("GET", f"{A}/{agent_id}/conversations/contact-1").body
    assert [(t["user_text"], t["agent_text"]) for t in detail["turns"]] == [
        ("Hi", "Hello!"),
        ("Return policy?", "30-day returns."),
    ]
    assert detail["total_cost_usd"] == pytest.approx(0.0002)


def test_a_forged_page_token_cannot_reach_another_vendors_conversations(vendor_api: VendorApi) -> None:
    agent_id = vendor_api.create()["id"]
    forged = {
        "agent_key": {"S": f"{VENDOR_B}#{agent_id}"},
        "started_at": {"S": START.isoformat()},
        "pk": {"S": f"{VENDOR_B}#c"},
        "sk": {"S": "SESSION"},
    }
    import base64

    token = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    reply = vendor_api.call("GET", f"{A}/{agent_id}/conversations", query={"next_token": token})
    assert (reply.status, reply.body["error"]) == (400, "invalid_page_token")
    assert vendor_api.call("GET", f"{A}/{agent_id}/conversations", query={"next_token": "%%%"}).status == 400


def test_conversation_of_another_agent_is_404(vendor_api: VendorApi) -> None:
    mine = vendor_api.create(name="Mine")["id"]
    other = vendor_api.create(name="Other")["id"]
    seed_call(vendor_api, VENDOR_A, other, "contact-x", minutes=0)
    assert vendor_api.call("GET", f"{A}/{mine}/conversations/contact-x").status == 404


# -------------------------------------------------------------------------------------- character
def test_character_export_is_an_elizaos_character_with_plugins_for_its_channels(vendor_api: VendorApi) -> None:
    agent_id = vendor_api.create()["id"]
    reply = vendor_api.call("GET", f"{A}/{agent_id}/character", query={"format": "elizaos"})
    assert reply.status == 200
    character = reply.body
    assert character["name"] == "Cozy Comfort Bedding Agent"
    assert character["bio"][0] == "AI agent for Cozy Comfort Bedding store"
    assert character["system"].startswith("You are a friendly and helpful customer service agent")
    # Only plugins published on npm; the channels no published plugin serves are named, with why.
    assert character["plugins"] == [
        "@elizaos/plugin-bootstrap",
        "@elizaos/plugin-sql",
        "@elizaos/plugin-whatsapp",
        "@elizaos/plugin-twitter",
    ]
    assert sorted(character["settings"]["unsupported_channels"]) == ["facebook", "instagram"]
    assert character["settings"]["context"]["store_hours"] == "9 AM - 6 PM EST"
    assert vendor_api.call("GET", f"{A}/{agent_id}/character", query={"format": "yaml"}).status == 422


# -------------------------------------------------------------------------------------- isolation
def test_vendor_b_gets_404_for_every_resource_of_vendor_a(vendor_api: VendorApi) -> None:
    result = vendor_api.provision()
    agent_id, job_id = result["agent_id"], result["provisioning_id"]
    seed_call(vendor_api, VENDOR_A, agent_id, "contact-a", minutes=0)
    vendor_api.call(
        "POST",
        f"{A}/{agent_id}/knowledge",
        body={"file_name": "faq.md", "content_type": "text/markdown", "size_bytes": 10},
    )
    before = vendor_api.call("GET", f"{A}/{agent_id}").body
    upload = {"file_name": "faq.md", "content_type": "text/markdown", "size_bytes": 10}
    requests: list[tuple[str, str, Any, dict[str, str] | None]] = [
        ("GET", f"{A}/{agent_id}", None, None),
        ("PUT", f"{A}/{agent_id}", {"version": before["version"], "name": "hijacked"}, None),
        ("DELETE", f"{A}/{agent_id}", None, None),
        *[("POST", f"{A}/{agent_id}/{action}", None, None) for action in ("start", "stop", "pause", "resume")],
        ("GET", f"/api/v1/provisioning/{job_id}", None, None),
        ("POST", f"{A}/{agent_id}/knowledge", upload, None),
        ("GET", f"{A}/{agent_id}/knowledge", None, None),
        ("GET", f"{A}/{agent_id}/conversations", None, None),
        ("GET", f"{A}/{agent_id}/conversations/contact-a", None, None),
        ("GET", f"{A}/{agent_id}/character", None, {"format": "elizaos"}),
    ]
    for method, path, body, query in requests:
        reply = vendor_api.call(method, path, vendor=VENDOR_B, body=body, query=query)
        assert (reply.status, reply.body["error"]) == (404, "not_found"), (method, path, reply.body)
    assert vendor_api.call("GET", A, vendor=VENDOR_B).body["items"] == []
    assert vendor_api.call("GET", f"{A}/{agent_id}").body == before


# ------------------------------------------------------------------------------------- bridge numbers
def test_a_bridge_number_binds_voice_to_the_media_stream_path(vendor_api: VendorApi) -> None:
    register_number(vendor_api, "+15559870000")
    result = vendor_api.provision(channels=["voice"], bridge_number="+15559870000")
    agent = result["agent_config"]
    assert (result["status"], agent["phone_number"], agent["bridge_number"]) == (
        "completed",
        "+15559870000",
        "+15559870000",
    )
    voice = agent["channels"][0]
    assert voice["aws_connect_instance_id"] is None
    assert "voice bridge" in voice["detail"]
    directory = DynamoDBAgentDirectory(vendor_api.aws["tables"]["agents"], client=vendor_api.aws["dynamodb"])
    found = directory.find_by_number(VENDOR_A, "+15559870000")
    assert found is not None
    assert found.agent_id == result["agent_id"]
    # the Connect number stays free for another agent
    assert vendor_api.provision(name="Connect agent", channels=["voice"])["status"] == "completed"


def test_moving_an_agent_from_connect_to_a_bridge_number_frees_the_connect_number(vendor_api: VendorApi) -> None:
    register_number(vendor_api, "+15559870001")
    agent = vendor_api.provision(name="Mover", channels=["voice"])["agent_config"]
    moved = vendor_api.call(
        "PUT", f"{A}/{agent['id']}", body={"version": agent["version"], "bridge_number": "+15559870001"}
    )
    assert moved.status == 200
    assert moved.body["phone_number"] == "+15559870001"
    taker = vendor_api.provision(name="Taker", channels=["voice"])
    assert taker["agent_config"]["phone_number"] == NUMBERS[VENDOR_A]
    back = vendor_api.call("PUT", f"{A}/{agent['id']}", body={"version": moved.body["version"], "bridge_number": None})
    assert (back.status, back.body["error"]) == (409, "number_in_use")


# ------------------------------------------------------------------------------------- media and outages
def test_a_body_that_is_not_json_is_refused_with_415(vendor_api: VendorApi) -> None:
    reply = vendor_api.call(
        "POST",
        A,
        raw_body="name=Agent&business_type=retail",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (reply.status, reply.body["error"]) == (415, "unsupported_media_type")
    assert vendor_api.call("GET", A).body["total"] == 0


def test_a_throttled_data_layer_answers_503_with_retry_after(
    vendor_api: VendorApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.stub import Stubber

    client = dynamodb_client()
    stubber = Stubber(client)
    for _ in range(3):  # botocore's retries, then it gives up
        stubber.add_client_error("update_item", service_error_code="ThrottlingException", http_status_code=400)
    stubber.activate()
    monkeypatch.setattr(vendor_api.handler, "dynamodb_client", lambda: client)
    vendor_api.handler.build_service.cache_clear()
    reply = vendor_api.call("GET", A)
    assert (reply.status, reply.body["error"]) == (503, "service_unavailable")
    assert reply.headers["Retry-After"] == "2"


@pytest.mark.parametrize(
    "body",
    ["[" * 15_000 + "]" * 15_000, '{"name":' * 3_000 + '"x"' + "}" * 3_000],  # within the 32 KiB body limit
    ids=["deep-array", "deep-object"],
)
def test_a_deeply_nested_json_body_is_a_422_not_a_server_error(vendor_api: VendorApi, body: str) -> None:
    reply = vendor_api.call("POST", A, raw_body=body)
    assert (reply.status, reply.body["error"]) == (422, "validation_error")
    assert "recursion limit exceeded" in reply.body["details"][0]["message"]
    assert vendor_api.call("GET", A).body["total"] == 0


# ------------------------------------------------------------------------------------- number registry
def _route_call(vendor_api: VendorApi, vendor: str, number: str, contact_id: str) -> Any:
    """A call to `number` through `vendor`'s call router, over the same tables (what its tenant stack deploys)."""
    tables = vendor_api.aws["tables"]
    profile = RoutingProfile.from_tenant(load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml"))
    profile = profile.model_copy(update={"tenant_id": vendor})
    settings = RouterSettings(
        agents_table=tables["agents"],
        conversations_table=tables["conversations"],
        tenant_state_table=tables["tenant_state"],
        numbers_table=tables["numbers"],
        routing_profile=profile.model_dump_json(),  # type: ignore[arg-type]  # Json[...] takes the text
    )
    # START is a Monday morning in New York: the business is open.
    router, _ = dynamodb_call_router(settings, FixedClock(START), client=vendor_api.aws["dynamodb"])
    return router.route(InboundCall(contact_id=contact_id, channel="voice", dialed_number=number))


def test_no_vendor_can_give_its_agent_a_number_another_tenant_answers(vendor_api: VendorApi) -> None:
    owner = vendor_api.provision(channels=["voice"])  # vendor A's agent answers A's Connect number
    taken = NUMBERS[VENDOR_A]
    b_agent = vendor_api.create(vendor=VENDOR_B, name="B agent", channels=["voice"])
    attempts = [
        vendor_api.call("POST", A, vendor=VENDOR_B, body=agent_body(channels=["voice"], bridge_number=taken)),
        vendor_api.call(
            "POST",
            f"{A}/provision",
            vendor=VENDOR_B,
            body={"agent_config": agent_body(channels=["voice"], bridge_number=taken)},
        ),
        vendor_api.call(
            "PUT", f"{A}/{b_agent['id']}", vendor=VENDOR_B, body={"version": b_agent["version"], "bridge_number": taken}
        ),
    ]
    for reply in attempts:
        assert (reply.status, reply.body["error"]) == (409, "number_in_use"), reply.body
        assert "another account on this platform" in reply.body["message"]
        assert VENDOR_A not in json.dumps(reply.body)
        assert owner["agent_id"] not in json.dumps(reply.body)
    decision = _route_call(vendor_api, VENDOR_A, taken, "contact-after-attempts")
    assert (decision.route, decision.agent_id) == (Route.AGENT, owner["agent_id"])  # A's callers still reach A
    b_items = vendor_api.call("GET", A, vendor=VENDOR_B).body["items"]
    assert [(i["id"], i["bridge_number"]) for i in b_items] == [(b_agent["id"], None)]


def test_a_bridge_number_nobody_registered_is_refused_until_the_operator_registers_it(vendor_api: VendorApi) -> None:
    body = agent_body(channels=["voice"], bridge_number="+15559871234")
    refused = vendor_api.call("POST", f"{A}/provision", body={"agent_config": body})
    assert (refused.status, refused.body["error"]) == (409, "number_not_registered")
    assert "ask your operator to register it" in refused.body["message"]
    assert vendor_api.call("GET", A).body["total"] == 0
    register_number(vendor_api, "+15559871234")
    assert vendor_api.provision(channels=["voice"], bridge_number="+15559871234")["status"] == "completed"


def test_a_draft_whose_number_was_released_fails_its_voice_step_when_started(vendor_api: VendorApi) -> None:
    register_number(vendor_api, "+15559871235")
    draft = vendor_api.create(channels=["voice"], bridge_number="+15559871235")
    DynamoDBNumberRegistry(vendor_api.aws["tables"]["numbers"], client=vendor_api.aws["dynamodb"]).release(
        VENDOR_A, "+15559871235"
    )
    started = vendor_api.call("POST", f"{A}/{draft['id']}/start")
    assert (started.status, started.body["status"]) == (200, "draft")
    (voice,) = started.body["channels"]
    assert (voice["status"], voice["phone_number"]) == ("failed", None)
    assert "not registered to your tenant" in voice["detail"]


def test_no_cross_tenant_attempt_reads_changes_or_claims_anything(vendor_api: VendorApi) -> None:
    report = probe(vendor_api)
    assert report.attempts >= 30
    assert report.leaks == []


def _tool(url: str) -> dict[str, Any]:
    return {
        "name": "check_order",
        "description": "Look up an order's status",
        "url": url,
        "input_schema": {"type": "object", "properties": {"order_number": {"type": "string"}}},
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://10.0.4.7/orders",
        "https://localhost/orders",
        "https://orders.internal/status",
    ],
)
def test_a_vendor_defined_tool_url_that_points_inside_is_refused_when_the_definition_is_written(
    vendor_api: VendorApi, url: str
) -> None:
    field = "body.definition.tools.business_tools[0].url"
    created = vendor_api.call("POST", A, body=agent_body(definition={"tools": {"business_tools": [_tool(url)]}}))
    assert created.status == 422, created.body
    assert field in [d["field"] for d in created.body["details"]]
    assert "public https:// endpoint" in next(d["message"] for d in created.body["details"] if d["field"] == field)
    assert vendor_api.call("GET", A).body["total"] == 0

    agent = vendor_api.create()
    updated = vendor_api.call(
        "PUT",
        f"{A}/{agent['id']}",
        body={"version": agent["version"], "definition": {"tools": {"business_tools": [_tool(url)]}}},
    )
    assert updated.status == 422, updated.body
    assert field in [d["field"] for d in updated.body["details"]]
    versions = vendor_api.call("GET", f"{A}/{agent['id']}/versions").body
    assert [v["version"] for v in versions["items"]] == [1]


def test_a_vendor_defined_tool_on_a_public_https_host_is_accepted(vendor_api: VendorApi) -> None:
    tools = {"business_tools": [_tool("https://api.cozycomfort.com/v1/orders/status")]}
    created = vendor_api.call("POST", A, body=agent_body(definition={"tools": tools}))
    assert created.status == 201, created.body


# ---------------------------------------------------------------------------------------- lead fields
@pytest.mark.parametrize(
    ("lead_fields", "problem"),
    [
        (["Mattress Size"], "body.definition.workflow.lead_fields[0]"),
        (["budget", "budget"], "body.definition.workflow.lead_fields"),
        ([], "body.definition.workflow.lead_fields"),
        ([f"field_{n}" for n in range(21)], "body.definition.workflow.lead_fields"),
    ],
)
def test_lead_fields_that_are_not_unique_snake_case_names_are_a_422_naming_the_field(
    vendor_api: VendorApi, lead_fields: list[str], problem: str
) -> None:
    created = vendor_api.call("POST", A, body=agent_body(definition={"workflow": {"lead_fields": lead_fields}}))
    assert created.status == 422, created.body
    assert problem in [d["field"] for d in created.body["details"]]
    assert vendor_api.call("GET", A).body["total"] == 0


def test_an_agents_lead_fields_are_stored_returned_and_diffed_between_versions(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(definition={"workflow": {"lead_fields": ["mattress_size", "budget"]}})
    stored = vendor_api.call("GET", f"{A}/{agent['id']}/versions/1").body
    assert stored["spec"]["definition"]["workflow"]["lead_fields"] == ["mattress_size", "budget"]
    updated = vendor_api.call(
        "PUT",
        f"{A}/{agent['id']}",
        body={"version": agent["version"], "definition": {"workflow": {"lead_fields": ["mattress_size", "timeline"]}}},
    )
    assert updated.status == 200, updated.body
    reply = vendor_api.call("GET", f"{A}/{agent['id']}/versions/2/diff", query={"against": "1"})
    assert reply.status == 200, reply.body
    diff = reply.body
    assert {
        "path": "definition.workflow.lead_fields",
        "change": "changed",
        "before": ["mattress_size", "budget"],
        "after": ["mattress_size", "timeline"],
    } in diff["changes"]
