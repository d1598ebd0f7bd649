"""LexicalRetriever (the local stand-in for knowledge search) over Cozy Comfort's shipped knowledge files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from oratio.agent.ports import Passage
from oratio.config import load_tenant_file
from oratio.config.tenant import KnowledgeSource
from oratio.domain.knowledge_scope import SearchScope
from oratio_local.knowledge import LexicalRetriever, markdown_chunks, tokenize

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
CATALOG = "knowledge/cozy-comfort/bedding_products.json"
POLICIES = "knowledge/cozy-comfort/policies.md"


@pytest.fixture(scope="module")
def retriever() -> LexicalRetriever:
    return LexicalRetriever.from_tenant(load_tenant_file(TENANTS / "cozy-comfort.yaml"), TENANTS)


def search(retriever: LexicalRetriever, query: str, top_k: int = 3) -> list[Passage]:
    return asyncio.run(retriever.retrieve(query, top_k))


def test_queen_comforter_finds_a_comforter_with_its_queen_price_and_source(retriever: LexicalRetriever) -> None:
    best = search(retriever, "queen comforter")[0]

    assert "Category: comforter" in best.text
    assert "full/queen $" in best.text
    assert best.source == CATALOG
    assert best.score is not None
    assert best.score > 0


def test_return_question_finds_the_returns_policy(retriever: LexicalRetriever) -> None:
    best = search(retriever, "how do I return something?")[0]

    assert best.source == POLICIES
    assert best.text.startswith("Cozy Comfort Bedding store policies > Returns")
    assert "30 days" in best.text


def test_shipping_question_finds_free_shipping_over_50(retriever: LexicalRetriever) -> None:
    best = search(retriever, "free shipping")[0]

    assert best.source == POLICIES
    assert "free on orders over $50" in best.text


def test_every_catalog_entry_and_policy_section_is_a_passage(retriever: LexicalRetriever) -> None:
    # 12 products in the catalog; 6 policy sections (none long enough to split)
    assert retriever.passage_count == 12 + 6


def test_results_are_ranked_best_first_and_capped_at_top_k(retriever: LexicalRetriever) -> None:
    results = search(retriever, "goose down pillow", top_k=2)

    assert len(results) == 2
    assert results[0].score is not None
    assert results[1].score is not None
    assert results[0].score >= results[1].score
    assert "Royal Goose Down Pillow" in results[0].text


def test_no_shared_words_means_no_passages(retriever: LexicalRetriever) -> None:
    assert search(retriever, "quantum chromodynamics") == []


def test_it_is_lexical_not_semantic(retriever: LexicalRetriever) -> None:
    # Honest limits: a synonym that never appears in the files finds nothing.
    assert search(retriever, "quilt") == []


def test_missing_knowledge_file_names_the_tenant_and_source(tmp_path: Path) -> None:
    tenant = load_tenant_file(TENANTS / "cozy-comfort.yaml")

    with pytest.raises(FileNotFoundError, match="cozy-comfort: knowledge source 'product-catalog'"):
        LexicalRetriever.from_tenant(tenant, tmp_path)


def test_url_sources_are_skipped_locally() -> None:
    tenant = load_tenant_file(TENANTS / "cozy-comfort.yaml")
    web_only = tenant.knowledge.model_copy(
        update={"sources": (KnowledgeSource.model_validate({"name": "faq", "url": "https://cozycomfort.com/faq"}),)}
    )

    local = LexicalRetriever.from_tenant(tenant.model_copy(update={"knowledge": web_only}), TENANTS)

    assert local.passage_count == 0


def test_markdown_chunks_keep_their_heading_path_and_split_long_sections() -> None:
    page = "# Guide\n\n## Care\n\n" + "\n\n".join(f"Paragraph {i} " + "wash " * 40 for i in range(5))

    chunks = markdown_chunks(page, max_chars=500)

    assert len(chunks) > 1
    assert all(chunk.startswith("Guide > Care\n") for chunk in chunks)
    assert all(len(chunk) <= 500 for chunk in chunks)


def test_tokens_fold_plurals_and_drop_stop_words() -> None:
    assert tokenize("The Comforters and Pillows for policies") == ["comforter", "pillow", "policy"]


def test_a_scoped_search_sees_its_agents_documents_and_the_tenant_wide_ones_only(
    retriever: LexicalRetriever, tmp_path: Path
) -> None:
    own = tmp_path / "members.md"
    own.write_text("# Members\n\nMembers return any comforter within 90 days, even opened.\n")
    other = tmp_path / "wholesale.md"
    other.write_text("# Wholesale\n\nWholesale buyers return comforter pallets within 7 days.\n")
    scoped = retriever.with_agent_documents("agt-members", [own]).with_agent_documents("agt-wholesale", [other])

    def texts(scope: SearchScope | None) -> str:
        return " ".join(p.text for p in asyncio.run(scoped.retrieve("return comforter within days", 20, scope)))

    members = texts(SearchScope(agent_id="agt-members"))
    assert "90 days" in members
    assert "pallets" not in members  # another agent's document
    assert "30 days" in members  # the tenant-wide policies
    own_only = texts(SearchScope(agent_id="agt-members", include_tenant_documents=False))
    assert "90 days" in own_only
    assert "30 days" not in own_only
    # Unscoped (a tenant-level search): everything.
    assert "pallets" in texts(None)
