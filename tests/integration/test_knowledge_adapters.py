"""Knowledge adapters against the real botocore service models, with `Stubber` standing in for AWS (moto has
no S3 Vectors `query_vectors`, no Titan `invoke_model` and no knowledge-base `retrieve`).

Each request is checked against the parameters the service expects (and botocore validates it against the
service model); each stubbed response is mapped to passages; service errors become typed knowledge errors.
A `before-send` guard on every client fails the test instead of letting an un-stubbed call out.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from oratio.adapters.knowledge import (
    CLIENT_CONFIG,
    BedrockKnowledgeBaseRetriever,
    EmbeddingRetriever,
    KnowledgeError,
    KnowledgeRequestError,
    KnowledgeUnavailableError,
    S3VectorsIndex,
    TitanEmbedder,
)
from oratio.config import load_tenant_file
from oratio.domain.knowledge_scope import SearchScope

REGION = "us-east-1"
TENANTS = Path(__file__).resolve().parents[2] / "tenants"
BUCKET = "oratio-cozy-comfort-vectors"
KB_ID = "KB12345678"
TITAN = "amazon.titan-embed-text-v2:0"
# One attempt: the error tests must not sit through retry back-off.
TEST_CONFIG = Config(retries={"mode": "standard", "max_attempts": 1})


def _refuse_network(**_: Any) -> None:
    raise AssertionError("a request tried to leave the test: stub it")


def make_client(service: str) -> Any:
    client = boto3.client(
        service,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=TEST_CONFIG,
    )
    client.meta.events.register("before-send", _refuse_network)
    return client


@pytest.fixture
def s3vectors(aws_env: None) -> Iterator[tuple[Any, Stubber]]:
    client = make_client("s3vectors")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def bedrock_runtime(aws_env: None) -> Iterator[tuple[Any, Stubber]]:
    client = make_client("bedrock-runtime")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def agent_runtime(aws_env: None) -> Iterator[tuple[Any, Stubber]]:
    client = make_client("bedrock-agent-runtime")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


class JsonText:
    """Matches a JSON string by its decoded value (key order does not matter)."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str | bytes) and json.loads(other) == self.expected

    def __hash__(self) -> int:
        return hash(json.dumps(self.expected, sort_keys=True))

    def __repr__(self) -> str:
        return f"JsonText({self.expected!r})"


def titan_body(embedding: list[float]) -> StreamingBody:
    raw = json.dumps({"embedding": embedding, "inputTextTokenCount": 3}).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def vector_hit(key: str, distance: float, text: str | None, **metadata: Any) -> dict[str, Any]:
    meta: dict[str, Any] = dict(metadata)
    if text is not None:
        meta["AMAZON_BEDROCK_TEXT"] = text
    return {"key": key, "distance": distance, "metadata": meta}


# ---------------------------------------------------------------------------------------------- Titan
def test_titan_embedder_asks_for_the_configured_dimensions_normalised(bedrock_runtime: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock_runtime
    stubber.add_response(
        "invoke_model",
        {"body": titan_body([0.1, 0.2, 0.3, 0.4]), "contentType": "application/json"},
        expected_params={
            "modelId": TITAN,
            "body": JsonText({"inputText": "queen comforter", "dimensions": 4, "normalize": True}),
            "contentType": "application/json",
            "accept": "application/json",
        },
    )

    vector = asyncio.run(TitanEmbedder(TITAN, 4, client=client).embed("queen comforter"))

    assert vector == [0.1, 0.2, 0.3, 0.4]


def test_titan_embedder_follows_the_tenant_settings() -> None:
    tenant = load_tenant_file(TENANTS / "cozy-comfort.yaml")

    embedder = TitanEmbedder.from_settings(tenant.knowledge, client=object())

    assert (embedder.model_id, embedder.dimensions, embedder.normalize) == (TITAN, 1024, True)


def test_titan_answer_of_the_wrong_size_is_refused(bedrock_runtime: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock_runtime
    stubber.add_response("invoke_model", {"body": titan_body([0.1, 0.2]), "contentType": "application/json"})

    with pytest.raises(KnowledgeError, match="got 2 dimensions, expected 4"):
        asyncio.run(TitanEmbedder(TITAN, 4, client=client).embed("pillows"))


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, KnowledgeUnavailableError),
        ("ModelTimeoutException", 408, KnowledgeUnavailableError),
        ("ServiceUnavailableException", 503, KnowledgeUnavailableError),
        ("AccessDeniedException", 403, KnowledgeRequestError),
        ("ValidationException", 400, KnowledgeRequestError),
    ],
)
def test_titan_errors_are_typed(
    bedrock_runtime: tuple[Any, Stubber], code: str, status: int, expected: type[KnowledgeError]
) -> None:
    client, stubber = bedrock_runtime
    stubber.add_client_error("invoke_model", service_error_code=code, http_status_code=status)

    with pytest.raises(expected, match=code) as raised:
        asyncio.run(TitanEmbedder(TITAN, 4, client=client).embed("queen comforter"))

    assert "queen comforter" not in str(raised.value)  # the query stays out of error messages
    assert raised.value.__cause__ is not None


# ------------------------------------------------------------------------------------------ S3 Vectors
def test_vector_query_asks_for_metadata_and_distance_and_maps_hits_to_passages(
    s3vectors: tuple[Any, Stubber],
) -> None:
    client, stubber = s3vectors
    stubber.add_response(
        "query_vectors",
        {
            "distanceMetric": "cosine",
            "vectors": [
                vector_hit(
                    "chunk-1",
                    0.125,
                    "All-Season Down Alternative Comforter, full/queen $109",
                    **{"x-amz-bedrock-kb-source-uri": "s3://cozy-docs/bedding_products.json"},
                ),
                vector_hit(
                    "chunk-2",
                    0.5,
                    "Returns within 30 days of delivery",
                    AMAZON_BEDROCK_METADATA=json.dumps({"source": "s3://cozy-docs/policies.md"}),
                ),
                vector_hit("chunk-3", 0.6, "No source recorded"),
                vector_hit("stray", 0.7, None, note="written by something else"),
            ],
        },
        expected_params={
            "vectorBucketName": BUCKET,
            "indexName": "knowledge",
            "queryVector": {"float32": [0.1, 0.2, 0.3]},
            "topK": 4,
            "returnMetadata": True,
            "returnDistance": True,
        },
    )

    passages = asyncio.run(S3VectorsIndex(BUCKET, client=client).query([0.1, 0.2, 0.3], 4))

    assert [(p.text, p.source, p.score) for p in passages] == [
        ("All-Season Down Alternative Comforter, full/queen $109", "s3://cozy-docs/bedding_products.json", 0.875),
        ("Returns within 30 days of delivery", "s3://cozy-docs/policies.md", 0.5),
        ("No source recorded", "chunk-3", 0.4),
    ]


def test_euclidean_index_scores_closer_hits_higher(s3vectors: tuple[Any, Stubber]) -> None:
    client, stubber = s3vectors
    stubber.add_response(
        "query_vectors",
        {"distanceMetric": "euclidean", "vectors": [vector_hit("a", 0.0, "same"), vector_hit("b", 1.0, "further")]},
    )

    passages = asyncio.run(S3VectorsIndex(BUCKET, client=client).query([0.1], 2))

    assert [p.score for p in passages] == [1.0, 0.5]


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("TooManyRequestsException", 429, KnowledgeUnavailableError),
        ("InternalServerException", 500, KnowledgeUnavailableError),
        ("NotFoundException", 404, KnowledgeRequestError),
        ("ValidationException", 400, KnowledgeRequestError),
    ],
)
def test_vector_query_errors_are_typed(
    s3vectors: tuple[Any, Stubber], code: str, status: int, expected: type[KnowledgeError]
) -> None:
    client, stubber = s3vectors
    stubber.add_client_error("query_vectors", service_error_code=code, http_status_code=status)

    with pytest.raises(expected, match=f"s3vectors QueryVectors \\({BUCKET}/knowledge\\): {code}"):
        asyncio.run(S3VectorsIndex(BUCKET, client=client).query([0.1], 1))


def test_unreachable_endpoint_is_unavailable(aws_env: None) -> None:
    client = make_client("s3vectors")
    client.meta.events.unregister("before-send", _refuse_network)

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://s3vectors.us-east-1.amazonaws.com")

    client.meta.events.register("before-send", unreachable)

    with pytest.raises(KnowledgeUnavailableError, match="EndpointConnectionError"):
        asyncio.run(S3VectorsIndex(BUCKET, client=client).query([0.1], 1))


# --------------------------------------------------------------------------------- embed, then query
def test_embedding_retriever_queries_the_index_with_the_query_embedding(
    bedrock_runtime: tuple[Any, Stubber], s3vectors: tuple[Any, Stubber]
) -> None:
    runtime, runtime_stub = bedrock_runtime
    vectors, vectors_stub = s3vectors
    runtime_stub.add_response("invoke_model", {"body": titan_body([0.5, 0.5]), "contentType": "application/json"})
    vectors_stub.add_response(
        "query_vectors",
        {"distanceMetric": "cosine", "vectors": [vector_hit("k", 0.25, "Free shipping over $50")]},
        expected_params={
            "vectorBucketName": BUCKET,
            "indexName": "knowledge",
            "queryVector": {"float32": [0.5, 0.5]},
            "topK": 3,
            "returnMetadata": True,
            "returnDistance": True,
        },
    )
    retriever = EmbeddingRetriever(TitanEmbedder(TITAN, 2, client=runtime), S3VectorsIndex(BUCKET, client=vectors))

    passages = asyncio.run(retriever.retrieve("shipping cost", 3))

    assert [(p.text, p.score) for p in passages] == [("Free shipping over $50", 0.75)]


# ------------------------------------------------------------------------------- Bedrock knowledge base
def test_knowledge_base_retrieve_maps_results_to_passages(agent_runtime: tuple[Any, Stubber]) -> None:
    client, stubber = agent_runtime
    stubber.add_response(
        "retrieve",
        {
            "retrievalResults": [
                {
                    "content": {"type": "TEXT", "text": "Alpine Goose Down Comforter, king $349"},
                    "location": {"type": "S3", "s3Location": {"uri": "s3://cozy-docs/bedding_products.json"}},
                    "score": 0.71,
                },
                {
                    "content": {"type": "TEXT", "text": "Shipping is free on orders over $50"},
                    "location": {"type": "WEB", "webLocation": {"url": "https://cozycomfort.com/shipping"}},
                    "score": 0.42,
                },
                {"content": {"type": "TEXT", "text": "   "}, "location": {"type": "S3"}},
            ]
        },
        expected_params={
            "knowledgeBaseId": KB_ID,
            "retrievalQuery": {"text": "king comforter"},
            "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 5}},
        },
    )

    passages = asyncio.run(BedrockKnowledgeBaseRetriever(KB_ID, client=client).retrieve("king comforter", 5))

    assert [(p.text, p.source, p.score) for p in passages] == [
        ("Alpine Goose Down Comforter, king $349", "s3://cozy-docs/bedding_products.json", 0.71),
        ("Shipping is free on orders over $50", "https://cozycomfort.com/shipping", 0.42),
    ]


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, KnowledgeUnavailableError),
        ("DependencyFailedException", 424, KnowledgeUnavailableError),
        ("ResourceNotFoundException", 404, KnowledgeRequestError),
        ("AccessDeniedException", 403, KnowledgeRequestError),
    ],
)
def test_knowledge_base_errors_are_typed(
    agent_runtime: tuple[Any, Stubber], code: str, status: int, expected: type[KnowledgeError]
) -> None:
    client, stubber = agent_runtime
    stubber.add_client_error("retrieve", service_error_code=code, http_status_code=status)

    with pytest.raises(expected, match=code):
        asyncio.run(BedrockKnowledgeBaseRetriever(KB_ID, client=client).retrieve("pillows", 3))


def test_knowledge_search_tool_over_the_knowledge_base_reports_an_outage_safely(
    agent_runtime: tuple[Any, Stubber],
) -> None:
    from oratio.agent.tools.base import ToolCall, ToolContext
    from oratio.agent.tools.builtin import KnowledgeSearchTool
    from oratio.agent.tools.executor import ToolExecutor

    client, stubber = agent_runtime
    stubber.add_client_error("retrieve", service_error_code="ThrottlingException", http_status_code=429)
    executor = ToolExecutor([KnowledgeSearchTool(BedrockKnowledgeBaseRetriever(KB_ID, client=client))])
    context = ToolContext("cozy-comfort", "front-desk", "s-1", "voice", None)

    [result] = asyncio.run(executor.run_all([ToolCall("u1", "knowledge_search", {"query": "pillows"})], context))

    assert result.status == "error"
    assert result.error == "ToolError: the knowledge base is unavailable right now"


# ------------------------------------------------------------------------------------------ clients
@pytest.mark.parametrize(
    "adapter",
    [
        lambda: TitanEmbedder(),
        lambda: S3VectorsIndex(BUCKET),
        lambda: BedrockKnowledgeBaseRetriever(KB_ID),
    ],
    ids=["titan", "s3vectors", "knowledge-base"],
)
def test_clients_are_built_on_first_use_with_explicit_timeouts_and_standard_retries(
    aws_env: None, adapter: Any
) -> None:
    made = adapter()
    client = made._client.get()

    assert client.meta.config.connect_timeout == CLIENT_CONFIG.connect_timeout
    assert client.meta.config.read_timeout == CLIENT_CONFIG.read_timeout
    assert client.meta.config.retries["mode"] == "standard"
    assert made._client.get() is client


# ------------------------------------------------------------------------------------------- scope
SCOPE = SearchScope(agent_id="agt-1")
OWN_ONLY = SearchScope(agent_id="agt-1", include_tenant_documents=False)


@pytest.mark.parametrize(
    ("scope", "expected_filter"),
    [
        (
            SCOPE,
            {
                "orAll": [
                    {"equals": {"key": "oratio_agent_id", "value": "agt-1"}},
                    {"equals": {"key": "oratio_scope", "value": "tenant"}},
                ]
            },
        ),
        (OWN_ONLY, {"equals": {"key": "oratio_agent_id", "value": "agt-1"}}),
    ],
)
def test_knowledge_base_retrieve_filters_on_the_agent_and_tenant_wide_documents(
    agent_runtime: tuple[Any, Stubber], scope: SearchScope, expected_filter: dict[str, Any]
) -> None:
    client, stubber = agent_runtime
    hit = {
        "content": {"type": "TEXT", "text": "Members get 60 days"},
        "location": {"type": "S3", "s3Location": {"uri": "s3://b/uploads/agt-1/doc-1/members.pdf"}},
        "metadata": {"oratio_agent_id": "agt-1", "oratio_scope": "agent"},
        "score": 0.8,
    }
    # Stubber validates the request against bedrock-agent-runtime's model: the filter shape is Bedrock's own.
    stubber.add_response(
        "retrieve",
        {"retrievalResults": [hit]},
        expected_params={
            "knowledgeBaseId": KB_ID,
            "retrievalQuery": {"text": "returns"},
            "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 3, "filter": expected_filter}},
        },
    )

    (passage,) = asyncio.run(BedrockKnowledgeBaseRetriever(KB_ID, client=client).retrieve("returns", 3, scope))

    assert passage.agent_id == "agt-1"


def test_vector_query_filters_on_the_agent_and_tenant_wide_documents(s3vectors: tuple[Any, Stubber]) -> None:
    client, stubber = s3vectors
    stubber.add_response(
        "query_vectors",
        {"distanceMetric": "cosine", "vectors": [vector_hit("c", 0.1, "Members get 60 days", oratio_agent_id="agt-1")]},
        expected_params={
            "vectorBucketName": BUCKET,
            "indexName": "knowledge",
            "queryVector": {"float32": [0.1]},
            "topK": 2,
            "returnMetadata": True,
            "returnDistance": True,
            "filter": {"$or": [{"oratio_agent_id": {"$eq": "agt-1"}}, {"oratio_scope": {"$eq": "tenant"}}]},
        },
    )

    (passage,) = asyncio.run(S3VectorsIndex(BUCKET, client=client).query([0.1], 2, SCOPE))

    assert passage.agent_id == "agt-1"
