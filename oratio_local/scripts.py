"""What the demo's callers say, written from the tenant's own business (its products, policies and name), so the
demo plays any tenant file: nothing in it is about one business."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oratio.config import TenantConfig


def _words(value: str) -> str:
    return value.replace("_", " ")


@dataclass(frozen=True)
class CallerLines:
    """One tenant's caller lines: a product question (answered from its knowledge files), a policy question,
    a slower question, a request for a person and a goodbye."""

    product: str
    product_query: str
    policy: str
    slow: str
    person: str = "Can I talk to a person, please?"
    goodbye: str = "Great, thanks. Bye!"
    greeting: str = "Hi there!"
    overview: str = "What can you help me with?"
    noise: str = "mmm hrrm"
    has_policy: bool = False

    def compared(self) -> tuple[str, ...]:
        """What the demo asks two agents of the tenant alike."""
        return (self.greeting, self.overview, *((self.policy,) if self.has_policy else ()))


def caller_lines(tenant: TenantConfig) -> CallerLines:
    business = tenant.business
    offered = [_words(p) for p in (business.products or business.specialties)]
    item = offered[0] if offered else "your services"
    policies = business.policies
    if policies.returns:
        policy = "What's your return policy?"
    elif policies.shipping:
        policy = "Do you deliver?"
    else:
        policy = "When are you open?"
    if policies.shipping and policy != "Do you deliver?":
        slow = "Do you deliver?"
    else:
        slow = f"How much does {offered[1] if len(offered) > 1 else item} cost?"
    return CallerLines(
        product=f"Hi, do you have {item}?",
        product_query=item,
        policy=policy,
        slow=slow,
        has_policy=bool(policies.returns or policies.shipping),
    )


# The members desk answers its calls on a Twilio/Vonage number, through the voice bridge (the Connect number is
# the front desk's).
MEMBERS_BRIDGE_NUMBER = "+15550100777"


def second_agent_request(tenant: TenantConfig, base: dict[str, Any]) -> dict[str, Any]:
    """A second agent of the same tenant with its own persona, tone and facts: what a vendor running several agents
    sets up (the brief's body plus `definition` overrides)."""
    business = tenant.business
    facts: dict[str, str] = {}
    if business.policies.returns:
        facts["returns_policy"] = f"{business.policies.returns} Members get 30 extra days."
    if business.policies.shipping:
        facts["shipping_policy"] = f"{business.policies.shipping} Members always ship free."
    offered = list(business.products[:2])
    return {
        **base,
        "name": f"{business.name} Members Desk",
        "description": f"The members' line of {business.name}",
        "character_config": {
            **base["character_config"],
            "persona": f"Riley, the members' advisor of {business.name}",
            "tone": "professional",
            "knowledge_base": {},
        },
        "definition": {
            "facts": facts,
            **({"business": {"products": offered}} if offered else {}),
            "lines": {"greeting": f"Hello, this is Riley at {business.name}'s members desk. How can I help?"},
        },
        "channels": ["voice", "chat"],
        "bridge_number": MEMBERS_BRIDGE_NUMBER,
    }
