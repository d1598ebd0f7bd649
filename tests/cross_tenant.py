"""Cross-tenant attempts through the vendor API (over `tests/vendor_api_harness.py`): vendor B, with a valid token
of its own, tries to read, change, list, page into, replay or claim what belongs to vendor A.

A *leak* is any of: an answer that is not the designed refusal (404 for A's resources, 409 `number_in_use` for A's
numbers, 400/404 for forged tokens and ids), an answer whose body names vendor A or carries A's agent, job,
document or conversation ids beyond the id B itself sent, B's idempotent replay returning A's result, or any of A's
data (its agent, its documents, its conversations, its numbers) different afterwards. Shared by
tests/integration/test_vendor_api.py and `make fuzz`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
from tests.vendor_api_harness import (
    NUMBERS,
    START,
    VENDOR_A,
    VENDOR_B,
    Reply,
    VendorApi,
    agent_body,
    register_number,
    seed_call,
)

A_BRIDGE_NUMBER = "+15559876500"
AGENTS = "/api/v1/agents"


@dataclass
class CrossTenantReport:
    attempts: int = 0
    leaks: list[str] = field(default_factory=list)


def _snapshot(api: VendorApi, agent_id: str) -> dict[str, Any]:
    """Everything of A's that B must not be able to change, as A sees it."""
    registry = DynamoDBNumberRegistry(api.aws["tables"]["numbers"], client=api.aws["dynamodb"])
    return {
        "agent": api.call("GET", f"{AGENTS}/{agent_id}").body,
        "documents": api.call("GET", f"{AGENTS}/{agent_id}/knowledge").body,
        "conversations": api.call("GET", f"{AGENTS}/{agent_id}/conversations").body,
        "numbers": [c.number for c in registry.numbers_of(VENDOR_A)],
    }


def probe(api: VendorApi) -> CrossTenantReport:
    """Seed vendor A, run every attempt as vendor B, and report the attempts and the leaks."""
    register_number(api, A_BRIDGE_NUMBER, VENDOR_A)
    provisioned = api.provision(channels=["voice", "chat"])
    agent_id, job_id = provisioned["agent_id"], provisioned["provisioning_id"]
    upload = {"file_name": "returns.md", "content_type": "text/markdown", "size_bytes": 120}
    document_id = api.call("POST", f"{AGENTS}/{agent_id}/knowledge", body=upload).body["document"]["document_id"]
    seed_call(api, VENDOR_A, agent_id, "contact-a-1")
    idempotent = api.call(
        "POST", AGENTS, body=agent_body(name="Keyed agent"), headers={"Idempotency-Key": "shared-key-0001"}
    ).body
    before = _snapshot(api, agent_id)
    a_ids = {agent_id, job_id, document_id, "contact-a-1", idempotent["id"]}
    report = CrossTenantReport()
    b_agent = api.create(vendor=VENDOR_B, name="B agent", channels=["voice"])

    def attempt(label: str, reply: Reply, allowed: set[int]) -> None:
        """One attempt; an id of A's that B itself sent (in the path) may be echoed back in the refusal."""
        report.attempts += 1
        text = json.dumps(reply.body)
        if reply.status not in allowed:
            report.leaks.append(f"{label}: answered {reply.status} {text[:120]}")
        if VENDOR_A in text or any(i in text for i in a_ids if i not in label):
            report.leaks.append(f"{label}: the answer names vendor A or its data: {text[:120]}")

    # A's resources by id, with every method the API has.
    resources: list[tuple[str, str, Any]] = [
        ("GET", f"{AGENTS}/{agent_id}", None),
        ("PUT", f"{AGENTS}/{agent_id}", {"version": before["agent"]["version"], "name": "hijacked"}),
        ("PUT", f"{AGENTS}/{agent_id}", {"version": before["agent"]["version"], "bridge_number": None}),
        ("DELETE", f"{AGENTS}/{agent_id}", None),
        *[("POST", f"{AGENTS}/{agent_id}/{action}", None) for action in ("start", "stop", "pause", "resume")],
        ("POST", f"{AGENTS}/{agent_id}/knowledge", upload),
        ("GET", f"{AGENTS}/{agent_id}/knowledge", None),
        ("GET", f"{AGENTS}/{agent_id}/conversations", None),
        ("GET", f"{AGENTS}/{agent_id}/conversations/contact-a-1", None),
        ("GET", f"{AGENTS}/{agent_id}/character", None),
        ("GET", f"{AGENTS}/{agent_id}/versions", None),
        ("GET", f"{AGENTS}/{agent_id}/versions/1", None),
        ("GET", f"{AGENTS}/{agent_id}/versions/1/diff", None),
        ("POST", f"{AGENTS}/{agent_id}/versions/1/publish", None),
        ("POST", f"{AGENTS}/{agent_id}/versions/1/rollback", None),
        ("GET", f"/api/v1/provisioning/{job_id}", None),
        ("GET", f"{AGENTS}/{b_agent['id']}/conversations/contact-a-1", None),  # B's agent, A's conversation
    ]
    for method, path, body in resources:
        attempt(f"{method} {path}", api.call(method, path, vendor=VENDOR_B, body=body), {404})
    # Listings: nothing of A's in any status.
    for query in (None, {"status": "active"}, {"status": "draft"}, {"status": "deleted"}, {"limit": "100"}):
        attempt(f"GET {AGENTS} {query}", api.call("GET", AGENTS, vendor=VENDOR_B, query=query), {200})
    # Page tokens forged to point into A's conversations, from B's own agent.
    forged = {
        "agent_key": {"S": f"{VENDOR_A}#{agent_id}"},
        "started_at": {"S": START.isoformat()},
        "pk": {"S": f"{VENDOR_A}#contact-a-1"},
        "sk": {"S": "SESSION"},
    }
    token = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    for owner_path in (b_agent["id"], agent_id):
        reply = api.call("GET", f"{AGENTS}/{owner_path}/conversations", vendor=VENDOR_B, query={"next_token": token})
        report.attempts += 1
        if reply.status not in {400, 404} or "contact-a-1" in json.dumps(reply.body):
            report.leaks.append(f"forged page token via {owner_path}: answered {reply.status}")
    # A's numbers, claimed for B's agents on create, provision and update.
    for number in (NUMBERS[VENDOR_A], A_BRIDGE_NUMBER):
        claims = [
            ("POST", AGENTS, agent_body(channels=["voice"], bridge_number=number)),
            ("POST", f"{AGENTS}/provision", {"agent_config": agent_body(channels=["voice"], bridge_number=number)}),
            ("PUT", f"{AGENTS}/{b_agent['id']}", {"version": b_agent["version"], "bridge_number": number}),
        ]
        for method, path, body in claims:
            reply = api.call(method, path, vendor=VENDOR_B, body=body)
            attempt(f"{method} {path} claiming {number}", reply, {409})
            if reply.status == 409 and reply.body.get("error") != "number_in_use":
                report.leaks.append(f"{method} {path} claiming {number}: {reply.body.get('error')}, not number_in_use")
    # A's idempotency key, replayed by B with A's body: B gets an agent of its own, never A's.
    replay = api.call(
        "POST",
        AGENTS,
        vendor=VENDOR_B,
        body=agent_body(name="Keyed agent"),
        headers={"Idempotency-Key": "shared-key-0001"},
    )
    attempt("idempotent replay of A's key", replay, {201})
    # A vendor id in the body, in any field the API might read.
    smuggled = {"vendor_id": VENDOR_A, "agent_config": agent_body()}
    attempt("vendor id in the body", api.call("POST", f"{AGENTS}/provision", vendor=VENDOR_B, body=smuggled), {422})

    after = _snapshot(api, agent_id)
    if after != before:
        changed = sorted(key for key in before if before[key] != after[key])
        report.leaks.append(f"vendor A's data changed: {changed}")
    return report
