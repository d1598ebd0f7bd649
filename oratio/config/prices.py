"""The price catalog: what Oratio meters besides model tokens (`price_catalog.yaml`), each price with its
source page, the date it was read, and whether it is published or our estimate.

Model and embedding token prices stay in the model catalog (`model_catalog.yaml`); this file covers Amazon
Connect (voice minutes, chat and messaging), inbound telephony, Amazon Lex requests, Nova Sonic speech tokens,
Amazon Polly characters, Amazon Transcribe streaming seconds and knowledge retrievals.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from oratio.config.yaml_files import load_yaml_file

PRICE_CATALOG_FILE = Path(__file__).with_name("price_catalog.yaml")
PollyEngine = Literal["standard", "neural", "long-form", "generative"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Price(_Frozen):
    """One number of the catalog: a USD amount per `unit` (or, for estimation factors, the factor itself)."""

    usd: float = Field(ge=0)
    unit: str = Field(min_length=1)
    source: HttpUrl | None = Field(default=None, description="the page the number was read from")
    as_of: date
    basis: Literal["published", "estimate"]
    note: str | None = None

    @model_validator(mode="after")
    def _published_names_its_page(self) -> Price:
        if self.basis == "published" and self.source is None:
            raise ValueError("a published price must name its source page")
        return self

    @property
    def estimated(self) -> bool:
        return self.basis == "estimate"


class TelephonyRate(Price):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    type: Literal["DID", "TOLL_FREE"]


class ConnectPrices(_Frozen):
    voice_per_minute: Price
    chat_per_message: Price
    messaging_per_message: Price


class TelephonyPrices(_Frozen):
    rates: tuple[TelephonyRate, ...] = ()
    default: Price

    def inbound_per_minute(self, country: str, number_type: str) -> Price:
        """The inbound rate of a number (the default for a country not listed)."""
        for rate in self.rates:
            if rate.country == country and rate.type == number_type:
                return rate
        return self.default


class LexPrices(_Frozen):
    speech_request: Price
    text_request: Price


class NovaSonicPrices(_Frozen):
    speech_input_per_1k: Price
    speech_output_per_1k: Price
    text_input_per_1k: Price
    text_output_per_1k: Price
    speaking_chars_per_second: Price
    speech_tokens_per_second: Price

    def cost_usd(self, speech_in: int, text_in: int, speech_out: int, text_out: int) -> float:
        """Cost of measured Nova Sonic usage (token counts as Sonic reports them)."""
        return (
            speech_in * self.speech_input_per_1k.usd
            + text_in * self.text_input_per_1k.usd
            + speech_out * self.speech_output_per_1k.usd
            + text_out * self.text_output_per_1k.usd
        ) / 1000


class PollyPrices(_Frozen):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    standard: Price
    neural: Price
    long_form: Price = Field(alias="long-form")
    generative: Price

    def per_million_characters(self, engine: str) -> Price:
        """The price of an engine, by Polly's own name ("long-form") or Connect's title case ("Neural")."""
        name = engine.lower().replace("-", "_")
        if name not in type(self).model_fields:
            raise KeyError(f"unknown Polly engine {engine!r}")
        price: Price = getattr(self, name)
        return price


class TranscribePrices(_Frozen):
    streaming_per_second: Price
    minimum_seconds_per_request: Price


class KnowledgePrices(_Frozen):
    vector_query: Price
    knowledge_base_retrieve: Price


class EstimationFactors(_Frozen):
    chars_per_token: Price


class PriceCatalog(_Frozen):
    connect: ConnectPrices
    telephony: TelephonyPrices
    lex: LexPrices
    nova_sonic: NovaSonicPrices
    polly: PollyPrices
    transcribe: TranscribePrices
    knowledge: KnowledgePrices
    estimation: EstimationFactors


@cache
def load_price_catalog(path: Path = PRICE_CATALOG_FILE) -> PriceCatalog:
    """Load and validate the catalog (cached: it is read-only configuration); read with the bounded YAML reader
    the other configuration files use, which imports PyYAML only on this first load."""
    return PriceCatalog.model_validate(load_yaml_file(path))
