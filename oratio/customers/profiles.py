"""The rule for joining two profiles of one customer, shared by the in-memory and DynamoDB stores so the two
cannot drift: when an identity is linked to a customer, what was known under that identity moves into the
customer's profile (conversations, lead data, score, other identities) and the identity resolves to it."""

from __future__ import annotations

from oratio.agent.ports import CustomerContext


def merged_profile(target: CustomerContext, source: CustomerContext | None, identity: str) -> CustomerContext:
    """`target` with `identity` linked to it and everything `source` (the profile stored under `identity`, if
    any) knew: the newest conversations of both, lead facts (the target's win on a clash), the higher score."""
    linked = {*target.linked_identities, identity}
    recent = list(target.recent_conversations)
    lead = dict(target.lead)
    score = target.qualification_score
    name = target.display_name
    if source is not None:
        linked.update(source.linked_identities)
        recent += source.recent_conversations
        lead = {**source.lead, **lead}
        score = max(score, source.qualification_score)
        name = name or source.display_name
    linked.discard(target.customer_key)
    stamps = [t for t in (target.updated_at, source.updated_at if source else None) if t is not None]
    return target.model_copy(
        update={
            "linked_identities": tuple(sorted(linked)),
            "recent_conversations": tuple(sorted(recent, key=lambda c: c.at)),
            "lead": lead,
            "qualification_score": score,
            "display_name": name,
            "updated_at": max(stamps) if stamps else None,
        }
    )
