"""The model catalog: configuration data (model_catalog.yaml), never constants in code."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oratio.config.yaml_files import load_yaml_file

CATALOG_FILE = Path(__file__).with_name("model_catalog.yaml")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Capabilities(_Frozen):
    tools: bool = True
    extended_thinking: bool = False
    prompt_caching: bool = False
    # Amazon Nova takes cache points in `system` and `messages` but rejects one in `toolConfig.tools`;
    # Anthropic Claude accepts all three. Off by default so an unknown model never gets a rejected request.
    tool_cache_point: bool = False
    # The documented minimum prefix (tokens) a cache point needs before Bedrock caches anything; below it a
    # cache point only costs request bytes. Required for a model with prompt caching.
    min_cache_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _caching_has_a_minimum(self) -> Capabilities:
        if self.prompt_caching and self.min_cache_tokens is None:
            raise ValueError("a model with prompt_caching needs min_cache_tokens (Bedrock's documented minimum)")
        return self


class ModelEntry(_Frozen):
    """One chat model Oratio may route to; `strength` orders what a turn may need (1 simple, 2 capable,
    3 strongest) and the router picks the cheapest model strong enough."""

    id: str
    bedrock_model_id: str
    strength: int = Field(default=1, ge=1, le=3)
    input_per_million_usd: float = Field(ge=0)
    output_per_million_usd: float = Field(ge=0)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    latency_class: Literal["fastest", "fast", "balanced", "slow"] = "balanced"
    # Prompt-cache prices; when unset, cached tokens are charged at the input price (a safe over-estimate
    # for reads, and the real price for models that do not surcharge writes).
    cache_read_per_million_usd: float | None = Field(default=None, ge=0)
    cache_write_per_million_usd: float | None = Field(default=None, ge=0)

    def estimate_cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million_usd + output_tokens * self.output_per_million_usd) / 1_000_000

    def usage_cost_usd(
        self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0, cache_write_tokens: int = 0
    ) -> float:
        """Cost of one Converse call from its reported usage (`inputTokens` excludes cached tokens)."""
        read_price = self.cache_read_per_million_usd
        write_price = self.cache_write_per_million_usd
        cached = cache_read_tokens * (self.input_per_million_usd if read_price is None else read_price)
        cached += cache_write_tokens * (self.input_per_million_usd if write_price is None else write_price)
        return self.estimate_cost_usd(input_tokens, output_tokens) + cached / 1_000_000


class EmbeddingModel(_Frozen):
    """An embedding model for knowledge search; the vector index dimension must match it."""

    id: str
    bedrock_model_id: str
    dimensions: tuple[int, ...]
    default_dimensions: int
    input_per_million_usd: float = Field(ge=0)

    @model_validator(mode="after")
    def _default_is_supported(self) -> EmbeddingModel:
        if self.default_dimensions not in self.dimensions:
            raise ValueError(f"default_dimensions {self.default_dimensions} not in {self.dimensions}")
        return self


class ModelCatalog(_Frozen):
    models: tuple[ModelEntry, ...]
    embedding_models: tuple[EmbeddingModel, ...]

    def model(self, model_id: str) -> ModelEntry:
        for entry in self.models:
            if entry.id == model_id:
                return entry
        raise KeyError(model_id)

    def embedding_model(self, model_id: str) -> EmbeddingModel:
        for entry in self.embedding_models:
            if entry.id == model_id:
                return entry
        raise KeyError(model_id)

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.models)

    @property
    def embedding_model_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.embedding_models)


@cache
def load_model_catalog(path: Path = CATALOG_FILE) -> ModelCatalog:
    """Load and validate the catalog (cached: it is read-only configuration). A malformed file raises
    `YamlFileError` naming the file and the line."""
    return ModelCatalog.model_validate(load_yaml_file(path))
