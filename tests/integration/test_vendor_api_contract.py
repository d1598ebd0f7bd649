"""Tests generated from the committed OpenAPI document, over the real handler on moto: every body field sent as
`null`, and every body sent with other media types. Nothing a vendor sends may produce a 5xx: a field that cannot
be cleared answers 422 naming it, a field where clearing means something is cleared, a non-JSON body answers 415.

A new body field is covered by these tests as soon as `make openapi` puts it in the document; a new operation
with a body needs a valid example body below (the test says so)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from oratio_local.openapi import OPENAPI_PATH
from tests.vendor_api_harness import VENDOR_A, VendorApi, agent_body, vendor_api

__all__ = ["vendor_api"]  # the fixture

DOCUMENT = json.loads(OPENAPI_PATH.read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]
OTHER_MEDIA_TYPES = (
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return SCHEMAS[ref.rsplit("/", 1)[1]] if ref else schema


def media_types_taken(operation_id: str) -> set[str]:
    """The media types an operation's body may have (JSON alone, unless the document lists others)."""
    for item in DOCUMENT["paths"].values():
        for operation in item.values():
            if operation.get("operationId") == operation_id:
                return set(operation.get("requestBody", {}).get("content", {}))
    return set()


def body_operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, operationId, body schema) of every operation that takes a JSON body."""
    found = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                found.append((method.upper(), path, operation["operationId"], _resolve(body["schema"])))
    return found


def nullable(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(option.get("type") == "null" for option in schema.get("anyOf", []))


# Operations the vendor API only documents: API Gateway sends them to their own function, whose own tests send bad
# bodies (the ElizaOS webhook is signed: lambdas/elizaos_webhook, tests/integration/test_elizaos_webhook.py).
SERVED_ELSEWHERE = frozenset({"elizaos_webhook_api_v1_webhooks_elizaos_post"})
OPERATIONS = [op for op in body_operations() if op[2] not in SERVED_ELSEWHERE]
# Optional in the schema but required by the example's case (linking SMS needs its number): null answers 422.
REQUIRED_IN_EXAMPLE = {("link_channel_api_v1_agents__agent_id__channels__channel__put", "phone_number")}
FIELD_CASES = [
    (method, path, op, name, nullable(prop) and (op, name) not in REQUIRED_IN_EXAMPLE)
    for method, path, op, schema in OPERATIONS
    for name, prop in schema.get("properties", {}).items()
]


def upload_body() -> dict[str, Any]:
    return {"file_name": "returns.pdf", "content_type": "application/pdf", "size_bytes": 1234}


# What a valid request of each operation looks like: (its path, its body) on a deployed vendor with one agent.
BASES: dict[str, Callable[[VendorApi], tuple[str, dict[str, Any]]]] = {
    "create_agent_api_v1_agents_post": lambda api: ("/api/v1/agents", agent_body()),
    "provision_agent_api_v1_agents_provision_post": lambda api: (
        "/api/v1/agents/provision",
        {"agent_config": agent_body(channels=["chat"])},
    ),
    "update_agent_api_v1_agents__agent_id__put": lambda api: _agent_path(api, {"name": "Renamed"}),
    "start_upload_api_v1_agents__agent_id__knowledge_post": lambda api: _agent_path(api, upload_body(), "/knowledge"),
    # SMS links the tenant's own imported number (no platform call); the other fields are other channels'.
    "link_channel_api_v1_agents__agent_id__channels__channel__put": lambda api: _agent_path(
        api, {"phone_number": "+15550100000"}, "/channels/sms"
    ),
    "start_web_chat_api_v1_agents__agent_id__chat_post": lambda api: _agent_path(api, {"display_name": "Ana"}, "/chat"),
    "link_identity_api_v1_customers__kind___value__identities_post": lambda api: (
        "/api/v1/customers/phone/+16505551234/identities",
        {"kind": "instagram", "value": "6815722318506841"},
    ),
    "set_eliza_secret_api_v1_webhooks_elizaos_secret_put": lambda api: (
        "/api/v1/webhooks/elizaos/secret",
        {"secret": "s" * 40},
    ),
    "submit_sop_api_v1_agents__agent_id__sop_post": lambda api: _agent_path(
        api, {"sop": "# Returns\n- 30 days with a receipt."}, "/sop"
    ),
}


def _agent_path(api: VendorApi, body: dict[str, Any], suffix: str = "") -> tuple[str, dict[str, Any]]:
    agent = api.create(channels=["chat"])
    if not suffix:
        body = {"version": agent["version"], **body}
    return f"/api/v1/agents/{agent['id']}{suffix}", body


def test_every_operation_with_a_body_has_an_example_here() -> None:
    assert OPERATIONS
    missing = [op for _, _, op, _ in OPERATIONS if op not in BASES]
    assert not missing, f"add a valid example body for {missing} to BASES"


@pytest.mark.parametrize(("method", "path", "operation", "field", "is_nullable"), FIELD_CASES, ids=lambda v: str(v))
def test_null_in_any_body_field_is_a_clear_answer_never_a_server_error(
    vendor_api: VendorApi, method: str, path: str, operation: str, field: str, is_nullable: bool
) -> None:
    url, body = BASES[operation](vendor_api)
    body[field] = None

    reply = vendor_api.call(method, url, vendor=VENDOR_A, body=body)

    assert reply.status < 500, reply.body
    if is_nullable:
        # Clearing is meaningful for this field: the request is accepted (or refused for a domain reason).
        assert reply.status in (200, 201, 202, 409), reply.body
    else:
        assert reply.status == 422, reply.body
        assert any(field in problem["field"] for problem in reply.body["details"]), reply.body


@pytest.mark.parametrize("media_type", OTHER_MEDIA_TYPES)
@pytest.mark.parametrize("empty", [True, False], ids=["empty-body", "with-body"])
@pytest.mark.parametrize(("method", "path", "operation"), [o[:3] for o in OPERATIONS], ids=[o[2] for o in OPERATIONS])
def test_a_body_that_is_not_json_answers_415_on_every_operation(
    vendor_api: VendorApi, method: str, path: str, operation: str, media_type: str, empty: bool
) -> None:
    if media_type in media_types_taken(operation):
        pytest.skip(f"{operation} takes {media_type} bodies (its own tests send them)")
    url, body = BASES[operation](vendor_api)
    raw = "" if empty else json.dumps(body)

    reply = vendor_api.call(method, url, vendor=VENDOR_A, raw_body=raw, headers={"Content-Type": media_type})

    assert reply.status == 415, reply.body
    assert reply.body["error"] == "unsupported_media_type"


def test_clearing_the_description_context_and_definition_clears_them(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"], description="old", definition={"tone": "casual"})
    body = {"version": agent["version"], "description": None, "context": None, "definition": None}

    reply = vendor_api.call("PUT", f"/api/v1/agents/{agent['id']}", body=body)

    assert reply.status == 200, reply.body
    assert reply.body["description"] == ""
    assert reply.body["context"] == {"store_hours": None, "contact_info": None, "website": None}
    assert reply.body["definition"]["tone"] is None
