"""The agent lifecycle as a table: which action moves an agent from which status to which.

    draft ──start (or POST /agents/provision)──▶ provisioning ──(channels bound)──▶ active ⇄ paused (pause / resume)
    provisioning ──start──▶ provisioning (retries a provisioning run that died half way)
    active, paused ──stop──▶ stopped ──start──▶ active
    any but deleted ──delete──▶ deleted (soft: the item is kept for the retention period)

`provisioning` is left only by the provisioning step itself (`complete` / `fail`), never by a vendor action.
Every path that takes calls or messages reads the stored status, so a change applies to the next contact.
"""

from __future__ import annotations

from enum import StrEnum

from oratio.domain.agents import AgentStatus
from oratio.vendors.errors import IllegalTransition


class AgentAction(StrEnum):
    """What a vendor can ask of an agent (`POST /agents/{id}/<action>`, `PUT status`, `DELETE`)."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    DELETE = "delete"


class InternalAction(StrEnum):
    """Transitions only provisioning makes (`POST /agents/provision`, or `start` on a draft)."""

    PROVISION = "provision"
    COMPLETE = "complete_provisioning"
    FAIL = "fail_provisioning"


S = AgentStatus
A = AgentAction
TRANSITIONS: dict[tuple[AgentStatus, AgentAction | InternalAction], AgentStatus] = {
    (S.DRAFT, InternalAction.PROVISION): S.PROVISIONING,
    (S.DRAFT, A.START): S.PROVISIONING,
    # Provisioning runs inside the request; if that run died, `start` runs it again.
    (S.PROVISIONING, A.START): S.PROVISIONING,
    (S.PROVISIONING, InternalAction.COMPLETE): S.ACTIVE,
    (S.PROVISIONING, InternalAction.FAIL): S.DRAFT,
    (S.ACTIVE, A.PAUSE): S.PAUSED,
    (S.PAUSED, A.RESUME): S.ACTIVE,
    (S.ACTIVE, A.STOP): S.STOPPED,
    (S.PAUSED, A.STOP): S.STOPPED,
    (S.STOPPED, A.START): S.ACTIVE,
    **{(status, A.DELETE): S.DELETED for status in AgentStatus if status is not S.DELETED},
}

# `PUT /agents/{id}` may name a target status; it is the same as asking for the action that leads there.
STATUS_ACTIONS: dict[AgentStatus, tuple[AgentAction, ...]] = {
    S.ACTIVE: (A.START, A.RESUME),
    S.PAUSED: (A.PAUSE,),
    S.STOPPED: (A.STOP,),
}


def allowed_actions(status: AgentStatus) -> list[str]:
    """The vendor actions the status allows, in a stable order."""
    return [a.value for a in AgentAction if (status, a) in TRANSITIONS]


def next_status(current: AgentStatus, action: AgentAction | InternalAction) -> AgentStatus:
    """The status after `action`, or `IllegalTransition` naming the current status and the allowed actions."""
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise IllegalTransition(current.value, action.value, allowed_actions(current))
    return target


def action_for_status(current: AgentStatus, target: AgentStatus) -> AgentAction | None:
    """The action moving `current` to `target` (None when already there); `IllegalTransition` if none does."""
    if current is target:
        return None
    for action in STATUS_ACTIONS.get(target, ()):
        if TRANSITIONS.get((current, action)) is target:
            return action
    raise IllegalTransition(current.value, f"set status {target.value} on", allowed_actions(current))
