"""The agent definition: tenant defaults overridden field by field (one merge, table-driven), what the brief's
fields imply, the field-by-field diff, and the per-container source that re-checks the live version."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from oratio.agent_definitions.diff import FieldChange, diff_documents
from oratio.agent_definitions.memory import MemoryDefinitionStore
from oratio.agent_definitions.merge import merge_fields, resolve, tenant_defaults
from oratio.agent_definitions.model import (
    AgentDefinition,
    AgentOverrides,
    Overrides,
    WorkflowOverrides,
)
from oratio.agent_definitions.source import CachedDefinitionSource, DefinitionUnavailableError, SourceSettings
from oratio.agent_definitions.spec import AgentContext, AgentSpec, CharacterConfig, overrides_of
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.config import load_tenant_file
from oratio.domain.agents import AgentStatus

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
DEFAULTS = tenant_defaults(TENANT, "agt-1")
AT = datetime(2026, 11, 30, 12, tzinfo=UTC)


def over(**fields: Any) -> AgentOverrides:
    return AgentOverrides.model_validate(fields)


# --------------------------------------------------------------------------------------------- merge
@pytest.mark.parametrize(
    ("overrides", "path", "expected"),
    [
        # nothing set: the tenant's value
        (over(), "tone", "friendly_helpful"),
        # a top-level field replaces
        (over(tone="professional"), "tone", "professional"),
        # null keeps the default
        (over(persona=None), "persona", DEFAULTS.persona),
        # a nested group merges field by field: the greeting changes, the closing line stays
        (over(lines={"greeting": "Hi, it's Sam!"}), "lines.greeting", "Hi, it's Sam!"),
        (over(lines={"greeting": "Hi, it's Sam!"}), "lines.closing_line", DEFAULTS.lines.closing_line),
        (over(models={"monthly_budget_usd": 25}), "models.monthly_budget_usd", 25.0),
        (over(models={"monthly_budget_usd": 25}), "models.allowed_models", TENANT.agent.allowed_models),
        # a mapping merges key by key: a new fact is added, the tenant's stay
        (over(facts={"promo": "10% off duvets"}), "facts.promo", "10% off duvets"),
        (over(facts={"promo": "10% off duvets"}), "facts.returns_policy", DEFAULTS.facts["returns_policy"]),
        # a key set to null removes the tenant's entry
        (over(facts={"shipping_policy": None}), "facts", {"returns_policy": DEFAULTS.facts["returns_policy"]}),
        # lists replace as a whole
        (over(tools={"builtin": ["knowledge_search"]}), "tools.builtin", ("knowledge_search",)),
        (over(business={"products": ["sheets"]}), "business.products", ("sheets",)),
        (over(business={"products": ["sheets"]}), "business.specialties", TENANT.business.specialties),
        # voice tiers merge by key: a tier added, the tenant's kept
        (over(voice={"tiers": {"vip": {"voice_id": "Danielle"}}}), "voice.tiers.vip.voice_id", "Danielle"),
        (over(voice={"tiers": {"vip": {"voice_id": "Danielle"}}}), "voice.tiers.standard.voice_id", "Joanna"),
        # the persona and closing line the tenant derives follow the agent's own business name
        (
            over(business={"name": "Cozy Kids"}),
            "lines.closing_line",
            DEFAULTS.lines.closing_line.replace("Cozy Comfort Bedding", "Cozy Kids"),
        ),
        (over(name="Sam"), "persona", "Sam, the customer assistant of Cozy Comfort Bedding, a retail business"),
        (over(name="Sam", persona="Sam, our sleep expert"), "persona", "Sam, our sleep expert"),
    ],
)
def test_an_agent_overrides_its_tenant_field_by_field(overrides: AgentOverrides, path: str, expected: Any) -> None:
    value: Any = resolve(TENANT, "agt-1", overrides)
    for part in path.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    assert value == expected


def test_merged_definition_is_validated_as_a_whole() -> None:
    # premium tier must be a voice tier of the merged definition
    with pytest.raises(ValidationError, match="premium_tier"):
        resolve(TENANT, "agt-1", over(workflow={"premium_tier": "gold"}))
    # ... and the agent may bring that tier itself
    resolved = resolve(
        TENANT, "agt-1", over(workflow={"premium_tier": "gold"}, voice={"tiers": {"gold": {"voice_id": "Ruth"}}})
    )
    assert resolved.workflow.premium_tier == "gold"


def test_roles_must_name_where_the_conversation_starts() -> None:
    with pytest.raises(ValidationError, match="initial_role"):
        WorkflowOverrides(roles=("support",))
    assert WorkflowOverrides(roles=("support",), initial_role="support").roles == ("support",)


def test_vendor_tool_urls_must_be_https() -> None:
    tool = {
        "name": "book",
        "description": "Book a slot",
        "url": "http://api.example.com/book",
        "input_schema": {"type": "object"},
    }
    with pytest.raises(ValidationError, match="https"):
        over(tools={"business_tools": [tool]})


def test_every_override_field_has_a_default_to_override() -> None:
    """The overrides mirror the definition: each group's fields exist in the group it overrides."""

    def check(overrides: type[BaseModel], definition: type[BaseModel]) -> None:
        for name, field in overrides.model_fields.items():
            assert name in definition.model_fields, f"{overrides.__name__}.{name}"
            target = definition.model_fields[name].annotation
            inner = next(
                (
                    a
                    for a in getattr(field.annotation, "__args__", ())
                    if isinstance(a, type) and issubclass(a, Overrides)
                ),
                None,
            )
            if inner is not None and isinstance(target, type):
                check(inner, target)

    check(AgentOverrides, AgentDefinition)


def test_merging_layers_of_overrides_keeps_removals_for_the_defaults() -> None:
    lower = over(facts={"promo": "x"})
    upper = over(facts={"shipping_policy": None})
    layered = merge_fields(lower, upper)
    assert layered.facts == {"promo": "x", "shipping_policy": None}
    assert "shipping_policy" not in resolve(TENANT, "a", layered).facts


# --------------------------------------------------------------------------------------- the brief
def spec(**changes: Any) -> AgentSpec:
    base: dict[str, Any] = {
        "name": "Sleep Expert",
        "business_type": "retail",
        "character_config": CharacterConfig(
            business_name="Cozy Comfort Bedding",
            knowledge_base={"return_policy": "60 days for members"},
            persona="Sam, the sleep expert of Cozy Comfort Bedding",
        ),
        "context": AgentContext(store_hours="9-6 weekdays"),
    }
    return AgentSpec.model_validate({**base, **changes})


def test_the_brief_fields_say_who_the_agent_is_and_what_it_may_quote() -> None:
    resolved = resolve(TENANT, "agt-1", overrides_of(spec()))
    assert resolved.persona == "Sam, the sleep expert of Cozy Comfort Bedding"
    assert resolved.facts["return_policy"] == "60 days for members"
    assert resolved.facts["store_hours"] == "9-6 weekdays"
    # the brief's empty product list means "not given": the tenant's products stay
    assert resolved.business.products == TENANT.business.products


def test_explicit_definition_fields_win_over_what_the_brief_implies() -> None:
    explicit = spec(definition=over(persona="Riley, the returns desk", tone="professional"))
    resolved = resolve(TENANT, "agt-1", overrides_of(explicit))
    assert (resolved.persona, resolved.tone) == ("Riley, the returns desk", "professional")


# ---------------------------------------------------------------------------------------------- diff
def test_diff_names_each_changed_field_with_its_path() -> None:
    before = {"name": "A", "definition": {"facts": {"promo": "x"}, "tools": {"business_tools": [{"url": "https://a"}]}}}
    after = {
        "name": "B",
        "definition": {"facts": {"hours": "9-5"}, "tools": {"business_tools": [{"url": "https://b"}]}},
        "description": "new",
    }
    assert diff_documents(before, after) == [
        FieldChange(path="definition.facts.hours", change="added", after="9-5"),
        FieldChange(path="definition.facts.promo", change="removed", before="x"),
        FieldChange(
            path="definition.tools.business_tools[0].url", change="changed", before="https://a", after="https://b"
        ),
        FieldChange(path="description", change="added", after="new"),
        FieldChange(path="name", change="changed", before="A", after="B"),
    ]


def test_a_reordered_list_of_plain_values_is_one_change() -> None:
    changes = diff_documents({"products": ["a", "b"]}, {"products": ["b", "a"]})
    assert changes == [FieldChange(path="products", change="changed", before=["a", "b"], after=["b", "a"])]


# -------------------------------------------------------------------------------------------- source
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def stored(store: MemoryDefinitionStore, version: int, name: str, status: AgentStatus = AgentStatus.ACTIVE) -> None:
    store.put(
        DefinitionVersion(
            vendor_id="cozy-comfort",
            agent_id="agt-1",
            version=version,
            spec=spec(name=name),
            author="owner@cozycomfort.com",
            note="test",
            created_at=AT,
        )
    )
    store.set_pointer("cozy-comfort", "agt-1", status, version)


def test_source_rechecks_the_live_version_at_most_every_few_seconds() -> None:
    store, clock = MemoryDefinitionStore(), Clock()
    stored(store, 1, "First")
    source = CachedDefinitionSource(store, SourceSettings(recheck_seconds=2.0), monotonic=clock)

    async def run() -> list[str]:
        names = [(await source.live("cozy-comfort", "agt-1")).spec.name]  # type: ignore[union-attr]
        stored(store, 2, "Second")  # published
        clock.now = 1.0
        names.append((await source.live("cozy-comfort", "agt-1")).spec.name)  # type: ignore[union-attr]
        clock.now = 2.5
        names.append((await source.live("cozy-comfort", "agt-1")).spec.name)  # type: ignore[union-attr]
        return names

    assert asyncio.run(run()) == ["First", "First", "Second"]
    assert store.pointer_reads == 2
    assert store.version_reads == 2  # each version read once


def test_source_carries_a_pause_to_the_next_check() -> None:
    store, clock = MemoryDefinitionStore(), Clock()
    stored(store, 1, "First")
    source = CachedDefinitionSource(store, SourceSettings(recheck_seconds=2.0), monotonic=clock)

    async def run() -> list[bool]:
        live = [(await source.live("cozy-comfort", "agt-1")).takes_conversations]
        store.set_pointer("cozy-comfort", "agt-1", AgentStatus.PAUSED, 1)
        clock.now = 3.0
        live.append((await source.live("cozy-comfort", "agt-1")).takes_conversations)
        return live

    assert asyncio.run(run()) == [True, False]
    assert store.version_reads == 1  # same version: no second document read


class FlakyStore(MemoryDefinitionStore):
    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    async def pointer(self, tenant_id: str, agent_id: str) -> Any:
        if self.broken:
            raise ConnectionError("table unreachable")
        return await super().pointer(tenant_id, agent_id)


def test_a_load_failure_keeps_the_last_good_version_and_is_counted() -> None:
    store, clock = FlakyStore(), Clock()
    stored(store, 1, "First")
    source = CachedDefinitionSource(store, SourceSettings(recheck_seconds=1.0), monotonic=clock)

    async def run() -> str:
        await source.live("cozy-comfort", "agt-1")
        store.broken = True
        clock.now = 5.0
        agent = await source.live("cozy-comfort", "agt-1")
        assert agent.spec is not None
        return agent.spec.name

    assert asyncio.run(run()) == "First"
    assert source.failures == 1


def test_an_agent_never_loaded_fails_loudly_when_its_store_is_down() -> None:
    store = FlakyStore()
    store.broken = True
    source = CachedDefinitionSource(store)
    with pytest.raises(DefinitionUnavailableError):
        asyncio.run(source.live("cozy-comfort", "agt-1"))


def test_an_unknown_agent_is_reported_as_not_found() -> None:
    agent = asyncio.run(CachedDefinitionSource(MemoryDefinitionStore()).live("cozy-comfort", "nobody"))
    assert not agent.found
    assert not agent.takes_conversations


def test_a_pinned_version_is_served_whatever_is_live() -> None:
    store = MemoryDefinitionStore()
    stored(store, 1, "First")
    stored(store, 2, "Second")
    agent = asyncio.run(CachedDefinitionSource(store).live("cozy-comfort", "agt-1", version=1))
    assert agent.spec is not None
    assert agent.spec.name == "First"
    assert agent.version == 1


def test_an_agents_lead_fields_replace_the_default_list_and_keep_the_rest_of_its_workflow() -> None:
    from oratio.agent_definitions.model import DEFAULT_LEAD_FIELDS

    assert resolve(TENANT, "agt-1", over()).workflow.lead_fields == DEFAULT_LEAD_FIELDS
    resolved = resolve(TENANT, "agt-1", over(workflow={"lead_fields": ["mattress_size", "budget"]}))
    assert resolved.workflow.lead_fields == ("mattress_size", "budget")
    assert resolved.workflow.roles == tenant_defaults(TENANT, "agt-1").workflow.roles
