"""Lost end events leak no slot, end to end over moto: Vonage calls answered by the telephony webhook whose
`/vonage/event` never comes hold their slots only until their leases run out; then the next caller is admitted
(the router frees expired slots first) and the scheduled reconciler closes the rest as `abandoned`. Time is a
replayed clock shared by the handlers, never a sleep."""

from __future__ import annotations

import json
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from oratio.adapters.dynamodb import DynamoDBCallSessionStore
from oratio.adapters.memory import FixedClock
from oratio.domain.call_events import TENANT_ID_ENV_VAR
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR
from oratio.domain.call_slots import ABANDONED
from oratio.tables import CONVERSATIONS, TENANT_STATE
from oratio_local.events import scheduled_event
from tests.events import lambda_context
from tests.integration.conftest import load_handler, table_name
from tests.integration.test_call_router_dynamodb import OPEN_TIME, PROFILE, active_calls, seed_agent
from tests.integration.test_voice_webhook import ANSWER_PARAMS, aws, js_stringify, vonage_answer, vonage_event

__all__ = ["aws"]  # the fixture, shared with the webhook's own tests

LEASE = timedelta(seconds=PROFILE.call_slots.lease_seconds)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(OPEN_TIME)


@pytest.fixture
def limited(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A tenant allowed `n` concurrent calls, with its agent on the number."""

    def _limit(n: int) -> None:
        monkeypatch.setenv(ROUTING_PROFILE_ENV_VAR, PROFILE.model_copy(update={"max_concurrent_calls": n}).to_env())
        monkeypatch.setenv(TENANT_ID_ENV_VAR, PROFILE.tenant_id)
        seed_agent(aws)

    return _limit


def webhook(clock: FixedClock) -> ModuleType:
    handler = load_handler("voice_webhook")
    handler.clock = clock
    return handler


def answer(handler: ModuleType, uuid: str) -> str:
    """Vonage asks what to do with call `uuid`; the NCCO's first action (`connect` to the bridge, or `talk`)."""
    event = vonage_answer({**ANSWER_PARAMS, "uuid": uuid})
    response = handler.lambda_handler(event, lambda_context("oratio-cozy-comfort-voice-webhook"))
    return str(json.loads(response["body"])[0]["action"])


def reconcile(clock: FixedClock) -> dict[str, int]:
    handler = load_handler("call_reconciler")
    handler.clock = clock
    result: dict[str, int] = handler.lambda_handler(
        scheduled_event(at=clock.now()), lambda_context("oratio-cozy-comfort-call-reconciler")
    )
    return result


def session(client: Any, uuid: str) -> dict[str, Any]:
    item: dict[str, Any] = client.get_item(
        TableName=table_name(CONVERSATIONS),
        Key={"pk": {"S": f"{PROFILE.tenant_id}#{uuid}"}, "sk": {"S": "SESSION"}},
        ConsistentRead=True,
    )["Item"]
    return item


@pytest.mark.parametrize("lost", [1, 4])
def test_calls_whose_end_event_is_lost_hold_their_slots_only_until_their_leases_run_out(
    aws: Any, limited: Any, clock: FixedClock, lost: int
) -> None:
    # Given a tenant full of Vonage calls whose end events will never arrive
    limited(lost)
    handler = webhook(clock)
    assert [answer(handler, f"lost-{n}") for n in range(lost)] == ["connect"] * lost
    # When another caller rings while their leases still run, they are turned away
    clock.advance(LEASE - timedelta(seconds=5))
    assert answer(handler, "too-early") == "talk"
    # Then once the leases ran out, the next caller reaches the agent: expired slots no longer count
    clock.advance(timedelta(seconds=10))
    assert answer(handler, "in-time") == "connect"
    # And the scheduled reconciler closes every other lost call, so no slot stays leaked
    reconcile(clock)
    assert active_calls(aws) == 1  # the caller now on the line
    for n in range(lost):
        item = session(aws, f"lost-{n}")
        assert (item["status"]["S"], item["outcome"]["S"]) == ("closed", ABANDONED)
        assert "lease_tenant" not in item  # out of the lease index
    # And a lost call's late end event changes nothing (it must not free a slot twice)
    event = vonage_event(js_stringify({"uuid": "lost-0", "status": "completed"}))
    response = handler.lambda_handler(event, lambda_context("oratio-cozy-comfort-voice-webhook"))
    assert json.loads(response["body"]) == {"closed": False}
    assert active_calls(aws) == 1


def test_the_reconciler_frees_lost_slots_when_no_caller_comes(
    aws: Any, limited: Any, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    limited(10)
    handler = webhook(clock)
    for n in range(6):
        answer(handler, f"lost-{n}")
    assert active_calls(aws) == 6
    assert reconcile(clock) == {"released": 0}  # nothing has expired yet
    clock.advance(LEASE + timedelta(seconds=1))
    assert reconcile(clock) == {"released": 6}
    assert active_calls(aws) == 0
    assert reconcile(clock) == {"released": 0}  # a second run frees nothing twice
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CallSlotsReclaimed"' in line]
    assert [m["CallSlotsReclaimed"] for m in metrics] == [[0.0], [6.0], [0.0]]


def test_a_call_that_renews_its_lease_is_not_reclaimed(aws: Any, limited: Any, clock: FixedClock) -> None:
    limited(1)
    handler = webhook(clock)
    answer(handler, "alive")
    store = DynamoDBCallSessionStore(table_name(CONVERSATIONS), table_name(TENANT_STATE), client=aws)
    for _ in range(4):  # the bridge renews while the call streams
        clock.advance(LEASE / 2)
        store.renew_lease(PROFILE.tenant_id, "alive", clock.now(), clock.now() + LEASE)
    assert reconcile(clock) == {"released": 0}
    assert answer(handler, "second") == "talk"
    assert session(aws, "alive")["status"]["S"] == "open"
