"""AWS adapters behind the knowledge ports: Titan text embeddings (Bedrock runtime), the tenant's S3 Vectors
index, and the Bedrock knowledge base's `Retrieve`.

Two ways to retrieve, same port: `EmbeddingRetriever(TitanEmbedder, S3VectorsIndex)` queries the index the
knowledge base fills (one embedding call plus one vector query, no knowledge-base hop), and
`BedrockKnowledgeBaseRetriever` lets Bedrock do both. Blocking boto3 calls run in a worker thread; every
failure surfaces as a `KnowledgeError` subclass raised from the botocore error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.agent.ports import Embedder, Passage, VectorIndex
from oratio.config.catalog import load_model_catalog
from oratio.config.tenant import KnowledgeSettings
from oratio.domain.knowledge_scope import AGENT_KEY, SearchScope, bedrock_filter, s3vectors_filter

logger = logging.getLogger(__name__)

# Knowledge search runs inside a tool call with a ~5 s budget: fail fast, retry once.
CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=3,
    retries={"mode": "standard", "max_attempts": 2},
)
# Metadata keys Bedrock knowledge bases write on each vector in S3 Vectors.
TEXT_KEY = "AMAZON_BEDROCK_TEXT"
METADATA_KEY = "AMAZON_BEDROCK_METADATA"
SOURCE_URI_KEY = "x-amz-bedrock-kb-source-uri"
DEFAULT_INDEX_NAME = "knowledge"

_UNAVAILABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "InternalServerException",
        "RequestTimeoutException",
        "ModelTimeoutException",
        "ModelNotReadyException",
        "ModelErrorException",
        "BadGatewayException",
        "DependencyFailedException",
        "ServiceQuotaExceededException",
    }
)


class KnowledgeError(Exception):
    """A knowledge call failed; the message names the service and operation, never the query text."""


class KnowledgeUnavailableError(KnowledgeError):
    """The service could not answer in time, throttled us, or failed on its side: retrying later may work."""


class KnowledgeRequestError(KnowledgeError):
    """The request was refused (validation, access, missing index or knowledge base): retrying won't help."""


def _translate(error: ClientError | BotoCoreError, where: str) -> KnowledgeError:
    if isinstance(error, BotoCoreError):
        return KnowledgeUnavailableError(f"{where}: {type(error).__name__}")
    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _UNAVAILABLE_CODES or (isinstance(status, int) and status >= 500):
        return KnowledgeUnavailableError(f"{where}: {code}")
    return KnowledgeRequestError(f"{where}: {code}")


class _LazyClient:
    """A boto3 client made on first use (not at import or construction), safely from worker threads."""

    def __init__(self, service: str, client: Any | None, region_name: str | None) -> None:
        self._service = service
        self._client = client
        self._region_name = region_name
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._client is None:
                # A session per client: boto3's default session is not safe to share across threads.
                session = boto3.session.Session(region_name=self._region_name)
                self._client = session.client(self._service, config=CLIENT_CONFIG)
            return self._client

    async def call(self, operation: str, where: str, **params: Any) -> dict[str, Any]:
        def invoke() -> dict[str, Any]:
            method: Callable[..., dict[str, Any]] = getattr(self.get(), operation)
            return method(**params)

        try:
            return await asyncio.to_thread(invoke)
        except (ClientError, BotoCoreError) as e:
            raise _translate(e, where) from e


class TitanEmbedder:
    """`Embedder` over Amazon Titan Text Embeddings V2 (`bedrock-runtime` InvokeModel)."""

    def __init__(
        self,
        model_id: str = "amazon.titan-embed-text-v2:0",
        dimensions: int = 1024,
        *,
        normalize: bool = True,
        client: Any | None = None,
        region_name: str | None = None,
    ) -> None:
        self.model_id = model_id
        self.dimensions = dimensions
        self.normalize = normalize
        self._client = _LazyClient("bedrock-runtime", client, region_name)

    @classmethod
    def from_settings(cls, settings: KnowledgeSettings, **kwargs: Any) -> TitanEmbedder:
        """The embedder matching a tenant's knowledge settings (same model and dimensions as its index)."""
        model = load_model_catalog().embedding_model(settings.embedding_model)
        return cls(model.bedrock_model_id, settings.dimensions, **kwargs)

    async def embed(self, text: str) -> list[float]:
        body = json.dumps({"inputText": text, "dimensions": self.dimensions, "normalize": self.normalize})
        where = f"bedrock-runtime InvokeModel ({self.model_id})"
        response = await self._client.call(
            "invoke_model",
            where,
            modelId=self.model_id,
            body=body,
            contentType="application/json",
            accept="application/json",
        )
        try:
            raw = await asyncio.to_thread(response["body"].read)
        except BotoCoreError as e:  # the body streams after the call returned: it can still time out
            raise _translate(e, where) from e
        try:
            payload = json.loads(raw)
            embedding = [float(x) for x in payload["embedding"]]
        except (KeyError, TypeError, ValueError) as e:
            raise KnowledgeError(f"{where}: response has no embedding") from e
        if len(embedding) != self.dimensions:
            raise KnowledgeError(f"{where}: got {len(embedding)} dimensions, expected {self.dimensions}")
        return embedding


def _source_of(vector: dict[str, Any], metadata: dict[str, Any]) -> str:
    source = metadata.get(SOURCE_URI_KEY)
    if isinstance(source, str) and source:
        return source
    # Older ingestions keep the document's attributes only inside the JSON text of AMAZON_BEDROCK_METADATA.
    raw = metadata.get(METADATA_KEY)
    nested: Any = raw
    if isinstance(raw, str):
        try:
            nested = json.loads(raw)
        except ValueError:
            nested = None
    if isinstance(nested, dict):
        for key in (SOURCE_URI_KEY, "source", "sourceUri"):
            value = nested.get(key)
            if isinstance(value, str) and value:
                return value
    return str(vector.get("key", "unknown"))


def distance_to_score(distance: float, metric: str) -> float:
    """A similarity in which higher is better: 1 - distance for cosine, 1 / (1 + distance) for euclidean."""
    if metric == "cosine":
        return 1.0 - distance
    return 1.0 / (1.0 + distance)


class S3VectorsIndex:
    """`VectorIndex` over the tenant's S3 Vectors index that its Bedrock knowledge base fills."""

    def __init__(
        self,
        vector_bucket_name: str,
        index_name: str = DEFAULT_INDEX_NAME,
        *,
        distance_metric: Literal["cosine", "euclidean"] = "cosine",
        client: Any | None = None,
        region_name: str | None = None,
    ) -> None:
        self.vector_bucket_name = vector_bucket_name
        self.index_name = index_name
        self.distance_metric = distance_metric
        self._client = _LazyClient("s3vectors", client, region_name)

    async def query(self, vector: list[float], top_k: int, scope: SearchScope | None = None) -> list[Passage]:
        params: dict[str, Any] = {
            "vectorBucketName": self.vector_bucket_name,
            "indexName": self.index_name,
            "queryVector": {"float32": vector},
            "topK": top_k,
            "returnMetadata": True,
            "returnDistance": True,
        }
        if scope is not None:
            params["filter"] = s3vectors_filter(scope)
        response = await self._client.call(
            "query_vectors", f"s3vectors QueryVectors ({self.vector_bucket_name}/{self.index_name})", **params
        )
        metric = str(response.get("distanceMetric") or self.distance_metric)
        passages: list[Passage] = []
        for item in response.get("vectors", []):
            metadata = item.get("metadata") or {}
            text = metadata.get(TEXT_KEY) if isinstance(metadata, dict) else None
            if not isinstance(text, str) or not text.strip():
                # Not written by the knowledge base (or written without text): nothing to show the model.
                logger.warning("vector without text skipped", extra={"key": item.get("key")})
                continue
            distance = item.get("distance")
            score = None if distance is None else round(distance_to_score(float(distance), metric), 6)
            owner = metadata.get(AGENT_KEY)
            passages.append(
                Passage(
                    text=text,
                    source=_source_of(item, metadata),
                    score=score,
                    agent_id=owner if isinstance(owner, str) else None,
                )
            )
        return passages


class EmbeddingRetriever:
    """`KnowledgeRetriever` that embeds the query and asks a vector index for the nearest passages."""

    def __init__(self, embedder: Embedder, index: VectorIndex) -> None:
        self._embedder = embedder
        self._index = index

    async def retrieve(self, query: str, top_k: int, scope: SearchScope | None = None) -> list[Passage]:
        vector = await self._embedder.embed(query)
        return await self._index.query(vector, top_k, scope)


def _location_uri(location: dict[str, Any]) -> str:
    for kind, field in (("s3Location", "uri"), ("webLocation", "url"), ("customDocumentLocation", "id")):
        value = (location.get(kind) or {}).get(field)
        if isinstance(value, str) and value:
            return value
    return str(location.get("type", "unknown"))


class BedrockKnowledgeBaseRetriever:
    """`KnowledgeRetriever` over a Bedrock knowledge base's `Retrieve` (embedding and search done by Bedrock)."""

    def __init__(self, knowledge_base_id: str, *, client: Any | None = None, region_name: str | None = None) -> None:
        self.knowledge_base_id = knowledge_base_id
        self._client = _LazyClient("bedrock-agent-runtime", client, region_name)

    async def retrieve(self, query: str, top_k: int, scope: SearchScope | None = None) -> list[Passage]:
        search: dict[str, Any] = {"numberOfResults": top_k}
        if scope is not None:
            search["filter"] = bedrock_filter(scope)
        response = await self._client.call(
            "retrieve",
            f"bedrock-agent-runtime Retrieve ({self.knowledge_base_id})",
            knowledgeBaseId=self.knowledge_base_id,
            retrievalQuery={"text": query},
            retrievalConfiguration={"vectorSearchConfiguration": search},
        )
        passages: list[Passage] = []
        for item in response.get("retrievalResults", []):
            text = (item.get("content") or {}).get("text")
            if not isinstance(text, str) or not text.strip():
                continue
            score = item.get("score")
            owner = (item.get("metadata") or {}).get(AGENT_KEY)
            passages.append(
                Passage(
                    text=text,
                    source=_location_uri(item.get("location") or {}),
                    score=None if score is None else float(score),
                    agent_id=owner if isinstance(owner, str) else None,
                )
            )
        return passages
