"""The agent lifecycle table: every (status, action) pair, legal or not."""

from __future__ import annotations

import pytest

from oratio.domain.agents import AgentStatus as S
from oratio.vendors.errors import IllegalTransition
from oratio.vendors.lifecycle import AgentAction as A
from oratio.vendors.lifecycle import InternalAction as I
from oratio.vendors.lifecycle import action_for_status, allowed_actions, next_status

LEGAL = {
    (S.DRAFT, A.START): S.PROVISIONING,
    (S.DRAFT, A.DELETE): S.DELETED,
    (S.PROVISIONING, A.START): S.PROVISIONING,
    (S.PROVISIONING, A.DELETE): S.DELETED,
    (S.ACTIVE, A.PAUSE): S.PAUSED,
    (S.ACTIVE, A.STOP): S.STOPPED,
    (S.ACTIVE, A.DELETE): S.DELETED,
    (S.PAUSED, A.RESUME): S.ACTIVE,
    (S.PAUSED, A.STOP): S.STOPPED,
    (S.PAUSED, A.DELETE): S.DELETED,
    (S.STOPPED, A.START): S.ACTIVE,
    (S.STOPPED, A.DELETE): S.DELETED,
}


@pytest.mark.parametrize(("status", "action"), [(s, a) for s in S for a in A])
def test_vendor_actions_follow_the_table(status: S, action: A) -> None:
    if (status, action) in LEGAL:
        assert next_status(status, action) is LEGAL[(status, action)]
    else:
        with pytest.raises(IllegalTransition) as refused:
            next_status(status, action)
        assert refused.value.current == status.value
        assert list(refused.value.allowed_actions) == allowed_actions(status)
        assert status.value in refused.value.message


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (S.DRAFT, ["start", "delete"]),
        (S.PROVISIONING, ["start", "delete"]),
        (S.ACTIVE, ["pause", "stop", "delete"]),
        (S.PAUSED, ["resume", "stop", "delete"]),
        (S.STOPPED, ["start", "delete"]),
        (S.DELETED, []),
    ],
)
def test_allowed_actions_per_status(status: S, allowed: list[str]) -> None:
    assert allowed_actions(status) == allowed


def test_only_provisioning_leaves_provisioning() -> None:
    assert next_status(S.DRAFT, I.PROVISION) is S.PROVISIONING
    assert next_status(S.PROVISIONING, I.COMPLETE) is S.ACTIVE
    assert next_status(S.PROVISIONING, I.FAIL) is S.DRAFT
    with pytest.raises(IllegalTransition):
        next_status(S.ACTIVE, I.COMPLETE)


@pytest.mark.parametrize(
    ("current", "target", "action"),
    [
        (S.ACTIVE, S.PAUSED, A.PAUSE),
        (S.PAUSED, S.ACTIVE, A.RESUME),
        (S.STOPPED, S.ACTIVE, A.START),
        (S.PAUSED, S.STOPPED, A.STOP),
        (S.ACTIVE, S.ACTIVE, None),
    ],
)
def test_a_target_status_maps_to_the_action_leading_there(current: S, target: S, action: A | None) -> None:
    assert action_for_status(current, target) is action


@pytest.mark.parametrize(("current", "target"), [(S.DRAFT, S.PAUSED), (S.DRAFT, S.ACTIVE), (S.STOPPED, S.PAUSED)])
def test_unreachable_target_status_is_refused(current: S, target: S) -> None:
    with pytest.raises(IllegalTransition):
        action_for_status(current, target)
