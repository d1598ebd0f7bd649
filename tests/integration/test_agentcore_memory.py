"""AgentCore Memory as session memory, against moto's bedrock-agentcore (create_event / list_events)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from oratio.adapters.agentcore_memory import (
    AgentCoreSessionMemory,
    SessionMemoryNotFoundError,
    SessionMemoryUnavailableError,
    memory_actor_id,
    memory_session_id,
)
from oratio.agent.ports import ConversationTurn
from tests.integration.conftest import REGION

T0 = datetime(2026, 11, 3, 15, 0, 0, 250_000, tzinfo=UTC)
PHONE = "phone:+15551234567"
SESSION = "a1b2c3d4-e5f6-4711-8000-000000000001"


@pytest.fixture
def agentcore(aws_env: None) -> Iterator[tuple[Any, str]]:
    """A moto AgentCore data-plane client and the id of a memory made with the control plane."""
    with mock_aws():
        control = boto3.client("bedrock-agentcore-control", region_name=REGION)
        memory_id = control.create_memory(name="oratio_test_memory", eventExpiryDuration=30)["memory"]["id"]
        yield boto3.client("bedrock-agentcore", region_name=REGION), memory_id


def conversation(n: int, channel: str = "voice") -> list[ConversationTurn]:
    return [
        ConversationTurn(
            role="user" if i % 2 == 0 else "assistant",
            text=f"line {i}",
            at=T0 + timedelta(milliseconds=300 * i),
            channel=channel,
        )
        for i in range(n)
    ]


def test_the_last_turns_come_back_in_order(agentcore: tuple[Any, str]) -> None:
    # Given a conversation appended turn by turn, as the agent does
    client, memory_id = agentcore
    memory = AgentCoreSessionMemory(memory_id, client=client)
    turns = conversation(8)
    for pair in range(0, 8, 2):
        asyncio.run(memory.append(SESSION, PHONE, turns[pair : pair + 2]))

    # When the agent asks for the last three
    recent = asyncio.run(memory.recent_turns(SESSION, PHONE, 3))

    # Then it gets the newest three, oldest first, exactly as written (time, role, channel)
    assert recent == turns[5:]


def test_turns_are_stored_as_conversational_events(agentcore: tuple[Any, str]) -> None:
    client, memory_id = agentcore
    memory = AgentCoreSessionMemory(memory_id, client=client)
    asyncio.run(memory.append(SESSION, PHONE, conversation(2, channel="whatsapp")))

    events = client.list_events(
        memoryId=memory_id,
        actorId=memory_actor_id(PHONE),
        sessionId=SESSION,
        maxResults=10,
        includePayloads=True,
    )["events"]

    assert [e["payload"] for e in events] == [
        [{"conversational": {"content": {"text": "line 0"}, "role": "USER"}}],
        [{"conversational": {"content": {"text": "line 1"}, "role": "ASSISTANT"}}],
    ]
    assert events[0]["metadata"]["channel"] == {"stringValue": "whatsapp"}


def test_sessions_and_customers_do_not_share_memory(agentcore: tuple[Any, str]) -> None:
    client, memory_id = agentcore
    memory = AgentCoreSessionMemory(memory_id, client=client)
    asyncio.run(memory.append(SESSION, PHONE, conversation(2)))

    assert asyncio.run(memory.recent_turns("another-session", PHONE, 5)) == []
    assert asyncio.run(memory.recent_turns(SESSION, "phone:+15550000000", 5)) == []
    assert asyncio.run(memory.recent_turns(SESSION, "", 5)) == []


def test_an_unknown_caller_is_remembered_as_anonymous(agentcore: tuple[Any, str]) -> None:
    client, memory_id = agentcore
    memory = AgentCoreSessionMemory(memory_id, client=client)
    asyncio.run(memory.append(SESSION, "", conversation(2)))
    assert len(asyncio.run(memory.recent_turns(SESSION, "anonymous", 5))) == 2


def test_empty_turns_are_not_sent(agentcore: tuple[Any, str]) -> None:
    client, memory_id = agentcore
    memory = AgentCoreSessionMemory(memory_id, client=client)
    silent = ConversationTurn(role="assistant", text="  ", at=T0, channel="voice")
    asyncio.run(memory.append(SESSION, PHONE, [silent]))
    assert asyncio.run(memory.recent_turns(SESSION, PHONE, 5)) == []


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("phone:+15551234567", None),
        ("whatsapp:15551234567", "whatsapp:15551234567"),
        ("anonymous", "anonymous"),
        ("ig:jane.doe#1", None),
    ],
)
def test_actor_ids_fit_agentcore_and_stay_distinct(raw: str, safe: str | None) -> None:
    actor = memory_actor_id(raw)
    assert len(actor) <= 255
    assert actor[0].isalnum()
    assert not set(actor) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/:")
    if safe is not None:
        assert actor == safe
    assert memory_actor_id("phone:+15551234567") != memory_actor_id("phone:15551234567")


def test_session_ids_fit_agentcore() -> None:
    assert memory_session_id(SESSION) == SESSION
    converted = memory_session_id("cozy-comfort#contact/123 456")
    assert converted[0].isalnum()
    assert set(converted) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def test_newest_first_pages_stop_early_and_are_put_in_order() -> None:
    # moto pages oldest first in one page; the SDK reads the service as newest first with paging, so the
    # adapter is also checked against that shape with a Stubber on the real service model.
    client = boto3.client("bedrock-agentcore", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    memory_id = "oratio_memory-abcdefghij"
    actor = memory_actor_id(PHONE)

    def event(i: int) -> dict[str, Any]:
        role = "USER" if i % 2 == 0 else "ASSISTANT"
        return {
            "memoryId": memory_id,
            "actorId": actor,
            "sessionId": SESSION,
            "eventId": f"{1_700_000_000_000 + i}#abcdef",
            "eventTimestamp": T0 + timedelta(seconds=i),
            "payload": [{"conversational": {"content": {"text": f"line {i}"}, "role": role}}],
        }

    with Stubber(client) as stub:
        stub.add_response(
            "list_events",
            {"events": [event(5), event(4), event(3)], "nextToken": "page-2"},
            {"memoryId": memory_id, "actorId": actor, "sessionId": SESSION, "maxResults": 100, "includePayloads": True},
        )
        recent = asyncio.run(AgentCoreSessionMemory(memory_id, client=client).recent_turns(SESSION, PHONE, 2))
        stub.assert_no_pending_responses()

    assert [t.text for t in recent] == ["line 4", "line 5"]
    assert [t.role for t in recent] == ["user", "assistant"]
    assert recent[0].channel == "unknown"


@pytest.mark.parametrize(
    ("code", "error"),
    [("ResourceNotFoundException", SessionMemoryNotFoundError), ("ThrottledException", SessionMemoryUnavailableError)],
)
def test_service_failures_surface_as_typed_errors(code: str, error: type[Exception]) -> None:
    client = boto3.client("bedrock-agentcore", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("list_events", service_error_code=code, http_status_code=400)
        with pytest.raises(error) as raised:
            asyncio.run(
                AgentCoreSessionMemory("oratio_memory-abcdefghij", client=client).recent_turns(SESSION, PHONE, 2)
            )
    assert PHONE not in str(raised.value)
