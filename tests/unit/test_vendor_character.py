"""Character derivation from the business profile, and the ElizaOS export."""

from __future__ import annotations

import pytest

from oratio.config.tenant import Channel
from oratio.vendors.character import (
    CHANNEL_PLUGINS,
    ELIZAOS_PLUGINS,
    ELIZAOS_UNSERVED,
    derive_character,
    eliza_character,
)
from oratio.vendors.models import AgentContext, CharacterConfig, Tone

CONFIG = CharacterConfig(
    business_name="Cozy Comfort Bedding",
    products=["bedding_sets", "pillows", "comforters", "duvets"],
    specialties=["bedding", "home_decor", "sleep_products"],
    tone=Tone.FRIENDLY_HELPFUL,
    knowledge_base={"return_policy": "30-day returns", "shipping_info": "Free shipping over $50"},
)
CONTEXT = AgentContext(store_hours="9 AM - 6 PM EST", contact_info="+1-555-BEDDING", website="cozycomfort.com")


def test_instructions_name_the_business_products_facts_and_tone() -> None:
    character = derive_character("Cozy Agent", "retail", CONFIG, CONTEXT)
    assert character.instructions.startswith(
        "You are a friendly and helpful customer service agent for Cozy Comfort Bedding."
    )
    for fact in ("bedding sets, pillows, comforters and duvets", "return policy: 30-day returns", "store hours: 9 AM"):
        assert fact in character.instructions
    assert character.persona == (
        "Cozy Agent, the friendly and helpful assistant of Cozy Comfort Bedding, a retail business specializing in "
        "bedding, home decor and sleep products."
    )
    assert character.greeting == "Welcome to Cozy Comfort Bedding! How can I help you today?"


@pytest.mark.parametrize("tone", list(Tone))
def test_every_tone_has_its_own_voice(tone: Tone) -> None:
    character = derive_character("A", "retail", CONFIG.model_copy(update={"tone": tone}), CONTEXT)
    assert character.tone is tone
    assert character.adjectives
    assert character.style


def test_vendor_persona_and_extra_instructions_take_over() -> None:
    config = CONFIG.model_copy(
        update={"persona": "Mia, a sleep expert.", "extra_instructions": "Never discuss prices."}
    )
    character = derive_character("A", "retail", config, CONTEXT)
    assert character.persona == "Mia, a sleep expert."
    assert character.instructions.endswith("Never discuss prices.")


def test_derivation_is_deterministic() -> None:
    assert derive_character("A", "retail", CONFIG, CONTEXT) == derive_character("A", "retail", CONFIG, CONTEXT)


def test_eliza_character_carries_instructions_context_and_the_published_plugin_of_each_channel() -> None:
    character = derive_character("Cozy Agent", "retail", CONFIG, CONTEXT)
    eliza = eliza_character(
        name="Cozy Agent",
        description="AI agent for Cozy Comfort Bedding store",
        business_type="retail",
        channels=[Channel.VOICE, Channel.INSTAGRAM, Channel.X],
        config=CONFIG,
        context=CONTEXT,
        character=character,
    )
    assert eliza.system == character.instructions
    # Only plugins published on npm (no @elizaos/plugin-instagram exists); Instagram is said to be unserved.
    assert eliza.plugins == ["@elizaos/plugin-bootstrap", "@elizaos/plugin-sql", "@elizaos/plugin-twitter"]
    assert eliza.settings["plugin_versions"]["@elizaos/plugin-twitter"] == ELIZAOS_PLUGINS["@elizaos/plugin-twitter"]
    assert list(eliza.settings["unsupported_channels"]) == ["instagram"]
    assert "no ElizaOS plugin" in eliza.settings["unsupported_channels"]["instagram"]
    assert eliza.username == "cozy-agent"
    assert eliza.settings["context"]["website"] == "cozycomfort.com"
    assert eliza.settings["channels"] == ["voice", "instagram", "x"]
    assert "return policy: 30-day returns" in eliza.knowledge


@pytest.mark.parametrize("channel", [c for c in Channel if c not in (Channel.VOICE, Channel.CHAT, Channel.SMS)])
def test_every_social_channel_is_either_served_by_a_pinned_plugin_or_named_unserved(channel: Channel) -> None:
    plugin = CHANNEL_PLUGINS.get(channel)
    assert (plugin in ELIZAOS_PLUGINS) != (channel in ELIZAOS_UNSERVED)
