"""Metering: what each thing a conversation uses costs, by category, from the price and model catalogs.

Every front door meters what it alone sees: the tenant agent its model tokens, knowledge retrievals and
messages; the Connect code hook Lex requests, Polly characters and (estimated) Nova Sonic speech; the call
events function Connect voice and telephony minutes (estimated from Connect's disconnect timestamps); the
voice bridge Nova Sonic tokens (measured), Transcribe seconds and Polly characters. A `Charge` says what was
used and what it cost; `record_charges` writes them to the budget ledger (month, day, agent and the
conversation's own cost breakdown) in one go.

Items whose amount comes from an estimate end in `_estimated` (`ESTIMATED_SUFFIX`), so a reader of the
ledger or of a conversation's breakdown can tell a bill line from our reckoning.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from oratio.config.catalog import ModelCatalog, ModelEntry
from oratio.config.prices import PriceCatalog

if TYPE_CHECKING:
    from oratio.agent.ports import BudgetLedger

ESTIMATED_SUFFIX = "_estimated"


class CostCategory(StrEnum):
    """The ledger's categories (the first part of a usage item); every spend belongs to exactly one."""

    MODEL = "model"  # Bedrock Converse tokens of agent turns
    SPEECH_TO_SPEECH = "speech_to_speech"  # Nova Sonic tokens (bridge: measured; Connect: estimated)
    CONNECT_VOICE = "connect_voice"  # Amazon Connect voice minutes
    TELEPHONY = "telephony"  # inbound telephony minutes
    CONNECT_MESSAGING = "connect_messaging"  # Connect chat / SMS messages
    LEX = "lex"  # Lex speech and text requests
    POLLY = "polly"  # Polly characters
    TRANSCRIBE = "transcribe"  # Transcribe streaming seconds
    KNOWLEDGE = "knowledge"  # vector queries / knowledge-base retrievals
    EMBEDDINGS = "embeddings"  # query embeddings
    ANALYSIS = "analysis"  # post-call analysis model tokens
    AGENT_CREATOR = "agent_creator"  # AgentCreator stage model tokens (an SOP turned into an agent)


@dataclass(frozen=True, slots=True)
class Charge:
    """One metered use: `quantity` of `unit`, costing `usd`; `item` names what (a model id, an engine, ...)."""

    category: CostCategory
    item: str
    quantity: float
    unit: str
    usd: float
    estimated: bool = False

    @property
    def ledger_item(self) -> str:
        """The ledger's item name: "#" is the key separator, and estimates say so."""
        name = self.item.replace("#", "-")
        if self.estimated and not name.endswith(ESTIMATED_SUFFIX):
            name += ESTIMATED_SUFFIX
        return name


class Meter:
    """Turns quantities into charges with the catalogs' prices. Pure: no I/O, no clock."""

    def __init__(self, prices: PriceCatalog, models: ModelCatalog) -> None:
        self.prices = prices
        self.models = models

    # --------------------------------------------------------------------------------- models
    def model_tokens(
        self,
        model: ModelEntry,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        *,
        category: CostCategory = CostCategory.MODEL,
    ) -> Charge:
        usd = model.usage_cost_usd(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        tokens = input_tokens + output_tokens + cache_read_tokens + cache_write_tokens
        return Charge(category, model.id, tokens, "tokens", usd)

    # ---------------------------------------------------------------------------------- speech
    def sonic_tokens(self, speech_in: int, text_in: int, speech_out: int, text_out: int, model_id: str) -> Charge:
        """Nova Sonic usage as Sonic reported it (the bridge)."""
        usd = self.prices.nova_sonic.cost_usd(speech_in, text_in, speech_out, text_out)
        return Charge(
            CostCategory.SPEECH_TO_SPEECH, model_id, speech_in + text_in + speech_out + text_out, "tokens", usd
        )

    def sonic_from_words(self, heard: str, spoken: str, model_id: str) -> Charge:
        """Nova Sonic speech estimated from the words heard and spoken (the Connect path reports no tokens):
        characters → seconds of speech → speech tokens each way."""
        sonic = self.prices.nova_sonic
        per_second = sonic.speech_tokens_per_second.usd
        seconds_in = len(heard.strip()) / sonic.speaking_chars_per_second.usd
        seconds_out = len(spoken.strip()) / sonic.speaking_chars_per_second.usd
        tokens_in, tokens_out = math.ceil(seconds_in * per_second), math.ceil(seconds_out * per_second)
        usd = sonic.cost_usd(tokens_in, 0, tokens_out, 0)
        return Charge(
            CostCategory.SPEECH_TO_SPEECH, f"{model_id}_speech", tokens_in + tokens_out, "tokens", usd, estimated=True
        )

    def polly_characters(self, engine: str, text: str) -> Charge:
        chars = len(text)
        price = self.prices.polly.per_million_characters(engine)
        return Charge(CostCategory.POLLY, engine.lower(), chars, "characters", chars * price.usd / 1_000_000)

    def lex_speech_requests(self, requests: int = 1) -> Charge:
        price = self.prices.lex.speech_request
        return Charge(CostCategory.LEX, "speech_request", requests, "requests", requests * price.usd)

    def lex_text_requests(self, requests: int = 1) -> Charge:
        price = self.prices.lex.text_request
        return Charge(CostCategory.LEX, "text_request", requests, "requests", requests * price.usd)

    def transcribe_stream(self, seconds: float) -> Charge:
        """One streaming request of `seconds` of audio (billed per second, with the per-request minimum)."""
        prices = self.prices.transcribe
        billed = max(math.ceil(seconds), int(prices.minimum_seconds_per_request.usd)) if seconds > 0 else 0
        return Charge(
            CostCategory.TRANSCRIBE, "streaming_seconds", billed, "seconds", billed * prices.streaming_per_second.usd
        )

    # ------------------------------------------------------------------------------- telephony
    def connect_call_minutes(self, duration_seconds: float, country: str, number_type: str) -> list[Charge]:
        """Connect voice and inbound telephony for a call of `duration_seconds`, estimated from Connect's own
        timestamps (the bill counts its own seconds; these are ours)."""
        minutes = max(0.0, duration_seconds) / 60
        voice = self.prices.connect.voice_per_minute
        line = self.prices.telephony.inbound_per_minute(country, number_type)
        return [
            Charge(
                CostCategory.CONNECT_VOICE,
                "voice_minutes_from_disconnect",
                round(minutes, 4),
                "minutes",
                minutes * voice.usd,
                estimated=True,
            ),
            Charge(
                CostCategory.TELEPHONY,
                f"{country}_{number_type}_inbound_minutes_from_disconnect",
                round(minutes, 4),
                "minutes",
                minutes * line.usd,
                estimated=True,
            ),
        ]

    def messages(self, channel: str, count: int) -> Charge | None:
        """Messages through Amazon Connect (web chat, SMS); other channels are not billed by AWS per message."""
        if channel == "chat":
            price = self.prices.connect.chat_per_message
        elif channel == "sms":
            price = self.prices.connect.messaging_per_message
        else:
            return None
        return Charge(CostCategory.CONNECT_MESSAGING, f"{channel}_messages", count, "messages", count * price.usd)

    # ------------------------------------------------------------------------------- knowledge
    def knowledge_retrieval(self, query: str, embedding_model_id: str) -> list[Charge]:
        """One knowledge search: the query's embedding (tokens estimated from its length) and one vector query."""
        model = self.models.embedding_model(embedding_model_id)
        tokens = max(1, math.ceil(len(query) / self.prices.estimation.chars_per_token.usd))
        return [
            Charge(
                CostCategory.EMBEDDINGS,
                model.id,
                tokens,
                "tokens",
                tokens * model.input_per_million_usd / 1_000_000,
                estimated=True,
            ),
            Charge(CostCategory.KNOWLEDGE, "vector_query", 1, "queries", self.prices.knowledge.vector_query.usd),
        ]


async def record_charges(
    ledger: BudgetLedger,
    charges: Iterable[Charge | None],
    *,
    tenant_id: str,
    at: datetime,
    agent_id: str | None = None,
    session_id: str | None = None,
    event_id: str | None = None,
) -> None:
    """Add every positive charge to the ledger (month, day, agent and the conversation's breakdown), together.

    `event_id` names what was charged for (a usage report, a call's end): a retry with the same id counts each
    charge once (`<event_id>#<n>` per charge), so a caller that retries after a failure never double-counts."""
    spend: Sequence[Charge] = [c for c in charges if c is not None and c.usd > 0]
    await asyncio.gather(
        *(
            ledger.add(
                tenant_id,
                at,
                c.category.value,
                c.ledger_item,
                c.usd,
                agent_id=agent_id,
                session_id=session_id,
                charge_id=None if event_id is None else f"{event_id}#{n}",
            )
            for n, c in enumerate(spend)
        )
    )


class CallMinutes:
    """`CallMinutesMeter`: a voice call's Connect voice and inbound telephony minutes, booked to the ledger
    (the call events function is synchronous, so each booking runs its own short event loop)."""

    def __init__(
        self,
        meter: Meter,
        ledger: BudgetLedger,
        *,
        country: str,
        number_type: str,
    ) -> None:
        self._meter = meter
        self._ledger = ledger
        self._country = country
        self._number_type = number_type

    def meter_minutes(
        self, tenant_id: str, contact_id: str, agent_id: str | None, seconds: float, at: datetime
    ) -> None:
        """Book the minutes at `at` (the call's end: its month and day are the call's, not the booking's)."""
        charges = self._meter.connect_call_minutes(seconds, self._country, self._number_type)
        # Keyed by the contact: a redelivered end event (or a retry after a failure) books the minutes once.
        asyncio.run(
            record_charges(
                self._ledger,
                charges,
                tenant_id=tenant_id,
                at=at,
                agent_id=agent_id,
                session_id=contact_id,
                event_id=f"{contact_id}#call-minutes",
            )
        )
