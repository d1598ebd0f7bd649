"""An agent's character, derived from its business profile, and its export as an ElizaOS character file.

The derivation is deterministic (same profile, same character), so a vendor can predict what an edit does;
`persona` and `extra_instructions` in the profile let them take over where the template falls short.
"""

from __future__ import annotations

from typing import Any

from oratio.config.tenant import Channel
from oratio.vendors.models import AgentContext, Character, CharacterConfig, ElizaCharacter, ElizaStyle, Tone

# Per tone: how the agent is described, the adjectives ElizaOS uses, and style rules.
TONES: dict[Tone, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    Tone.FRIENDLY_HELPFUL: (
        "friendly and helpful",
        ("friendly", "helpful", "patient", "knowledgeable"),
        ("Be warm and upbeat.", "Offer the next helpful step."),
    ),
    Tone.PROFESSIONAL_FRIENDLY: (
        "professional and friendly",
        ("professional", "courteous", "clear", "reliable"),
        ("Be courteous and precise.", "Keep a friendly but businesslike tone."),
    ),
    Tone.PROFESSIONAL: (
        "professional",
        ("professional", "precise", "reliable"),
        ("Be precise and businesslike.", "Avoid small talk."),
    ),
    Tone.WARM_EMPATHETIC: (
        "warm and empathetic",
        ("warm", "empathetic", "reassuring", "patient"),
        ("Acknowledge how the customer feels before solving.", "Reassure without overpromising."),
    ),
    Tone.CASUAL: (
        "relaxed and casual",
        ("casual", "easygoing", "helpful"),
        ("Use plain, everyday words.", "Keep it light."),
    ),
    Tone.ENTHUSIASTIC: (
        "enthusiastic and energetic",
        ("enthusiastic", "energetic", "positive", "helpful"),
        ("Show genuine excitement about the products.", "Stay positive."),
    ),
}
COMMON_STYLE = (
    "Answer in short sentences that read well aloud.",
    "Never invent prices, stock or policies; say you will check instead.",
    "Offer a human colleague when the customer asks for one.",
)
# The one table of ElizaOS plugins an export may name: each checked on the npm registry with
# `npm view <name> name version` (2026-12-01; the version is npm's `latest` then). Only published plugins are
# named; re-check them when ElizaOS publishes more (there was no @elizaos/plugin-instagram or -facebook).
ELIZAOS_PLUGINS: dict[str, str] = {
    "@elizaos/plugin-bootstrap": "1.7.2",
    "@elizaos/plugin-sql": "1.7.2",
    "@elizaos/plugin-whatsapp": "2.0.0-beta.1",
    "@elizaos/plugin-twitter": "1.2.22",
}
# Every character gets the bootstrap and SQL plugins, plus the plugin of each social channel ElizaOS serves.
BASE_PLUGINS = ("@elizaos/plugin-bootstrap", "@elizaos/plugin-sql")
CHANNEL_PLUGINS: dict[Channel, str] = {
    Channel.WHATSAPP: "@elizaos/plugin-whatsapp",
    Channel.X: "@elizaos/plugin-twitter",
}
# Social channels the agent may have that no published ElizaOS plugin serves: the export says so.
ELIZAOS_UNSERVED: dict[Channel, str] = {
    Channel.INSTAGRAM: "no ElizaOS plugin for Instagram is published on npm",
    Channel.FACEBOOK: "no ElizaOS plugin for Facebook Messenger is published on npm",
}
assert all(p in ELIZAOS_PLUGINS for p in (*BASE_PLUGINS, *CHANNEL_PLUGINS.values())), "plugins must be in the table"


def _words(items: list[str]) -> list[str]:
    return [item.replace("_", " ") for item in items]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def derive_character(name: str, business_type: str, config: CharacterConfig, context: AgentContext) -> Character:
    """The agent's persona, instructions and style from its business profile."""
    tone_text, adjectives, tone_style = TONES[config.tone]
    business = config.business_name
    products, specialties = _words(config.products), _words(config.specialties)
    persona = config.persona or (
        f"{name}, the {tone_text} assistant of {business}, a {business_type.replace('_', ' ')} business"
        + (f" specializing in {_join(specialties)}" if specialties else "")
        + "."
    )
    lines = [
        f"You are a {tone_text} customer service agent for {business}.",
    ]
    if products:
        lines.append(f"You help customers with {_join(products)}.")
    if specialties:
        lines.append(f"You know {_join(specialties)} well.")
    facts = [f"{key.replace('_', ' ')}: {value}" for key, value in config.knowledge_base.items()]
    if context.store_hours:
        facts.append(f"store hours: {context.store_hours}")
    if context.contact_info:
        facts.append(f"contact: {context.contact_info}")
    if context.website:
        facts.append(f"website: {context.website}")
    if facts:
        lines.append("Facts you may quote: " + "; ".join(facts) + ".")
    lines.append("Keep a " + tone_text + " tone and give accurate information; if unsure, offer to check.")
    if config.extra_instructions:
        lines.append(config.extra_instructions)
    return Character(
        persona=persona,
        instructions=" ".join(lines),
        tone=config.tone,
        adjectives=list(adjectives),
        topics=[*products, *specialties],
        style=[*tone_style, *COMMON_STYLE],
        greeting=f"Welcome to {business}! How can I help you today?",
    )


def _username(name: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return slug[:40] or "agent"


def eliza_character(
    *,
    name: str,
    description: str,
    business_type: str,
    channels: list[Channel],
    config: CharacterConfig,
    context: AgentContext,
    character: Character,
) -> ElizaCharacter:
    """The agent as an ElizaOS character file: `system` holds the instructions, `bio` the description and
    persona, `settings.context` the business context, `plugins` the published plugin of each social channel
    ElizaOS serves (with their npm versions in `settings.plugin_versions`), and `settings.unsupported_channels`
    the agent's channels ElizaOS cannot serve, with why."""
    plugins = [*BASE_PLUGINS, *(CHANNEL_PLUGINS[c] for c in channels if c in CHANNEL_PLUGINS)]
    unsupported = {c.value: ELIZAOS_UNSERVED[c] for c in channels if c in ELIZAOS_UNSERVED}
    bio = [text for text in (description, character.persona) if text]
    business_context: dict[str, Any] = {
        "business_name": config.business_name,
        "business_type": business_type,
        "products": list(config.products),
        "specialties": list(config.specialties),
        "tone": config.tone.value,
        **{k: v for k, v in context.model_dump().items() if v is not None},
        "knowledge_base": dict(config.knowledge_base),
    }
    return ElizaCharacter(
        name=name,
        username=_username(name),
        system=character.instructions,
        bio=bio,
        topics=character.topics,
        adjectives=character.adjectives,
        knowledge=[f"{k.replace('_', ' ')}: {v}" for k, v in config.knowledge_base.items()],
        style=ElizaStyle(all=character.style, chat=list(COMMON_STYLE[:1]), post=["Keep posts short and friendly."]),
        plugins=plugins,
        settings={
            "context": business_context,
            "channels": [c.value for c in channels],
            "plugin_versions": {p: ELIZAOS_PLUGINS[p] for p in plugins},
            "unsupported_channels": unsupported,
        },
    )
