"""`AgentSpec`: one agent as its vendor wrote it through the API, which is what a definition version stores.

Its first part is the product brief's vocabulary (`name`, `business_type`, `character_config`, `context`); the
second, `definition`, holds every other setting as `AgentOverrides`. `overrides_of` turns the whole spec into
the overrides the agent applies on top of its tenant's defaults: the brief's fields say who the agent is and what
it may quote; an explicit `definition` field wins over what the brief's fields imply.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent_definitions.merge import merge_fields
from oratio.agent_definitions.model import (
    FACT_KEY_PATTERN,
    LONG_TEXT,
    MAX_FACTS,
    SHORT_TEXT,
    AgentOverrides,
    BusinessOverrides,
)

MAX_LIST_ITEMS = MAX_FACTS
ShortText = Annotated[str, Field(min_length=1, max_length=SHORT_TEXT)]


class _Body(BaseModel):
    """Vendor-written: unknown fields are errors, surrounding whitespace is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, defer_build=True)


class Tone(StrEnum):
    """How the agent sounds; each tone maps to style rules in `oratio.vendors.character`."""

    FRIENDLY_HELPFUL = "friendly_helpful"
    PROFESSIONAL_FRIENDLY = "professional_friendly"
    PROFESSIONAL = "professional"
    WARM_EMPATHETIC = "warm_empathetic"
    CASUAL = "casual"
    ENTHUSIASTIC = "enthusiastic"


class CharacterConfig(_Body):
    """Who the agent speaks for and how (the brief's `character_config`)."""

    business_name: ShortText
    products: list[ShortText] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    specialties: list[ShortText] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    tone: Tone = Tone.FRIENDLY_HELPFUL
    knowledge_base: dict[Annotated[str, Field(pattern=FACT_KEY_PATTERN)], Annotated[str, Field(max_length=500)]] = (
        Field(
            default_factory=dict,
            max_length=MAX_LIST_ITEMS,
            description="short facts the agent may quote, e.g. return_policy: '30-day returns'",
        )
    )
    persona: str | None = Field(default=None, max_length=LONG_TEXT, description="replaces the derived persona")
    extra_instructions: str | None = Field(default=None, max_length=LONG_TEXT, description="appended to instructions")


class AgentContext(_Body):
    """Business context the agent may mention (the brief's `context`)."""

    store_hours: str | None = Field(default=None, max_length=SHORT_TEXT)
    contact_info: str | None = Field(default=None, max_length=SHORT_TEXT)
    website: str | None = Field(default=None, max_length=200)


class AgentSpec(_Body):
    """One agent as its vendor wrote it; a definition version stores one, whole."""

    name: ShortText
    description: str = Field(default="", max_length=LONG_TEXT)
    business_type: Annotated[str, Field(min_length=1, max_length=60)]
    character_config: CharacterConfig
    context: AgentContext = Field(default_factory=AgentContext)
    definition: AgentOverrides = Field(default_factory=AgentOverrides)


# Facts the brief's `context` carries, and the keys they are quoted under.
CONTEXT_FACTS = (("store_hours", "store_hours"), ("contact_info", "contact"))


def overrides_of(spec: AgentSpec) -> AgentOverrides:
    """The overrides a spec applies to its tenant's defaults (explicit `definition` fields win)."""
    config, context = spec.character_config, spec.context
    facts: dict[str, str | None] = {k: v for k, v in config.knowledge_base.items() if v}
    facts |= {key: getattr(context, name) for name, key in CONTEXT_FACTS if getattr(context, name)}
    business = BusinessOverrides.model_validate(
        _given(
            name=config.business_name,
            business_type=spec.business_type,
            # An empty list in the brief's shape means "not given": the tenant's products stay.
            products=tuple(config.products),
            specialties=tuple(config.specialties),
            website=context.website,
        )
    )
    implied = AgentOverrides.model_validate(
        _given(
            name=spec.name,
            persona=config.persona,
            instructions=config.extra_instructions,
            tone=config.tone.value,
            business=business,
            facts=facts,
        )
    )
    return merge_fields(implied, spec.definition)


def _given(**values: object) -> dict[str, object]:
    """The values that say something (None and empty ones are "not given"), so only they count as set."""
    return {key: value for key, value in values.items() if value not in (None, "", (), {})}
