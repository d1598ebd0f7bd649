"""The one merge: a lower layer's values with a higher layer's set fields on top, field by field.

`merge_fields(base, top)` is how an agent's `AgentOverrides` apply to its tenant's defaults (`resolve`), and how
the overrides a spec implies combine with its explicit ones (`oratio.agent_definitions.spec.overrides_of`):

- a field `top` leaves out, or sets to null, keeps `base`'s value;
- a nested group of overrides (a subclass of `Overrides`) merges field by field, recursively;
- a mapping merges key by key; a key whose value is null removes `base`'s entry (when `base` is itself a layer
  of overrides, the null is kept, so the removal still applies when that layer meets the defaults);
- anything else (text, numbers, lists, complete models such as opening hours or a business tool) replaces.

The result is validated as `base`'s type, so cross-field rules (a premium tier that exists, an initial role
among the roles) hold for the merged definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from oratio.agent_definitions.model import (
    AgentDefinition,
    AgentLines,
    AgentOverrides,
    BusinessFacts,
    Guardrails,
    ModelAllowance,
    Overrides,
    ToolSettings,
    VoiceDefinition,
    WorkflowDefinition,
)
from oratio.config.tenant import TenantConfig


def merge_fields[M: BaseModel](base: M, top: BaseModel | None) -> M:
    """`base` with the fields `top` sets applied on top (see the module doc for the rules)."""
    if top is None:
        return base
    layered = isinstance(base, Overrides)
    fields = type(base).model_fields
    updates: dict[str, Any] = {}
    for name in top.model_fields_set:
        value = getattr(top, name)
        if value is None:
            continue
        if name not in fields:
            raise TypeError(f"{type(top).__name__}.{name} has nothing to override in {type(base).__name__}")
        current = getattr(base, name)
        if isinstance(value, Overrides) and isinstance(current, BaseModel):
            updates[name] = merge_fields(current, value)
        elif isinstance(value, Mapping) and isinstance(current, Mapping | None):
            updates[name] = _merge_mapping(current or {}, value, keep_removals=layered)
        else:
            updates[name] = value
    kept = base.model_fields_set if layered else fields.keys()
    return type(base).model_validate({**{name: getattr(base, name) for name in kept}, **updates})


def _merge_mapping(base: Mapping[str, Any], top: Mapping[str, Any], *, keep_removals: bool) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if value is None and not keep_removals:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _words(value: str) -> str:
    return value.replace("_", " ")


def _persona(business: BusinessFacts, name: str | None) -> str:
    who = f"the customer assistant of {business.name}, a {_words(business.business_type)} business"
    return f"{name}, {who}" if name else who


def _derived_lines(tenant: TenantConfig, business: BusinessFacts) -> AgentLines:
    return AgentLines(
        greeting=tenant.voice.greeting or f"Welcome to {business.name}! How can I help you today?",
        paused_line="Our assistant is taking a short break, so let me pass you to someone from our team.",
        closing_line=f"Thanks for contacting {business.name}. This assistant is not available any more, so I'll "
        "end here. Goodbye.",
        handover_line="Let me connect you with someone from our team who can help with that.",
    )


def tenant_defaults(tenant: TenantConfig, agent_id: str) -> AgentDefinition:
    """The tenant file as an agent definition: what every agent of the tenant is until it overrides it."""
    b, agent, voice = tenant.business, tenant.agent, tenant.voice
    facts = {
        key: value
        for key, value in (("returns_policy", b.policies.returns), ("shipping_policy", b.policies.shipping))
        if value
    }
    business = BusinessFacts(
        name=b.name,
        business_type=b.business_type,
        products=b.products,
        specialties=b.specialties,
        hours=b.hours,
        contact=b.contact,
        website=str(b.website) if b.website else None,
    )
    return AgentDefinition(
        tenant_id=tenant.tenant_id,
        agent_id=agent_id,
        version=None,
        name=f"{b.name} assistant",
        persona=_persona(business, None),
        tone=b.tone,
        business=business,
        facts=facts,
        lines=_derived_lines(tenant, business),
        workflow=WorkflowDefinition(
            roles=agent.workflow.roles,
            initial_role=agent.workflow.initial_role,
            qualification_threshold=agent.workflow.qualification_threshold,
            premium_tier=agent.workflow.premium_tier,
        ),
        tools=ToolSettings(
            builtin=agent.tools,
            business_tools=agent.business_tools,
            timeout_seconds=agent.tool_timeout_seconds,
            max_parallel=agent.max_parallel_tools,
        ),
        models=ModelAllowance(
            allowed_models=agent.allowed_models,
            monthly_budget_usd=agent.monthly_budget_usd,
            max_turn_cost_usd=agent.max_turn_cost_usd,
            thinking_budget_tokens=agent.thinking_budget_tokens,
            turn_deadline_seconds=agent.turn_deadline_seconds,
        ),
        voice=VoiceDefinition(voice_id=voice.voice_id, default_tier=voice.default_tier, tiers=voice.tiers),
        guardrails=Guardrails(
            refusal_line="I'm sorry, I can't help with that here. Is there anything else I can do for you?"
        ),
    )


def resolve(
    tenant: TenantConfig, agent_id: str, overrides: AgentOverrides | None, version: int | None = None
) -> AgentDefinition:
    """The definition one agent runs with: its tenant's defaults with its overrides on top.

    Defaults the tenant file derives from the business (the persona, the closing line, a greeting the file does
    not set) follow the agent's own business name and agent name when it sets them and not the derived field.
    """
    base = tenant_defaults(tenant, agent_id)
    if overrides is not None and (overrides.business is not None or overrides.name is not None):
        business = merge_fields(base.business, overrides.business)
        base = base.model_copy(
            update={
                "name": overrides.name or base.name,
                "persona": _persona(business, overrides.name),
                "lines": _derived_lines(tenant, business),
            }
        )
    resolved = merge_fields(base, overrides)
    # The tenant's allowance is the ceiling: an agent routes among the tenant's allowed models only (no others
    # can be invoked by the tenant's runtime role).
    ceiling = tenant.agent.allowed_models
    allowed = tuple(m for m in resolved.models.allowed_models if m in ceiling)
    if not allowed:
        raise ValueError(f"none of the agent's models {list(resolved.models.allowed_models)} is allowed for the tenant")
    updates: dict[str, object] = {"version": version}
    if allowed != resolved.models.allowed_models:
        updates["models"] = resolved.models.model_copy(update={"allowed_models": allowed})
    return resolved.model_copy(update=updates)
