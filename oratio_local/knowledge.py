"""Local stand-in for knowledge retrieval: BM25 lexical search over the tenant's own knowledge files.

This is not semantic search. It uses no embeddings and no vector index; it ranks passages by shared words
(lightly stemmed), so "duvet" does not find "comforter" and paraphrases score poorly. It exists so the local
mode and tests can answer knowledge questions with no AWS account, behind the same `KnowledgeRetriever`
port as the deployed Bedrock/S3 Vectors retrieval, and is never used when deployed.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oratio.agent.ports import Passage
from oratio.config.tenant import TenantConfig
from oratio.domain.knowledge_scope import SearchScope

logger = logging.getLogger(__name__)

# Standard BM25 parameters (Robertson & Zaragoza): term-frequency saturation and length normalisation.
BM25_K1 = 1.5
BM25_B = 0.75
# Markdown sections longer than this are split at paragraph boundaries (roughly one chunk per topic).
MAX_CHUNK_CHARS = 900

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from have how i if in is it its me my of on or our so that the "
    "their them there this to was we what when where which who will with you your".split()
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


def _stem(word: str) -> str:
    # Plural folding only: enough for "comforters"/"comforter", "pillows"/"pillow", "policies"/"policy".
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed word tokens without stop words."""
    words = (w.replace("'", "") for w in _TOKEN.findall(text.lower()))
    return [_stem(w) for w in words if w not in _STOPWORDS]


@dataclass(frozen=True)
class _Document:
    passage: Passage
    terms: Counter[str]
    length: int


class LexicalRetriever:
    """`KnowledgeRetriever` ranking passages with BM25 over their words (no embeddings; see module doc). A scoped
    search sees only the passages its scope admits (`Passage.agent_id`: the owning agent, None tenant-wide), like
    the knowledge base's metadata filter; word statistics stay those of the whole collection."""

    def __init__(self, passages: list[Passage]) -> None:
        self._documents = [
            _Document(passage=p, terms=Counter(tokens), length=len(tokens))
            for p in passages
            if (tokens := tokenize(p.text))
        ]
        count = len(self._documents)
        self._average_length = sum(d.length for d in self._documents) / count if count else 0.0
        frequency: Counter[str] = Counter()
        for document in self._documents:
            frequency.update(document.terms.keys())
        # BM25+ style idf floor at zero keeps very common words from counting against a passage.
        self._idf = {term: max(0.0, math.log((count - n + 0.5) / (n + 0.5) + 1.0)) for term, n in frequency.items()}

    @classmethod
    def from_tenant(cls, tenant: TenantConfig, tenants_dir: Path | str) -> LexicalRetriever:
        """Passages from the tenant's file knowledge sources (paths are relative to `tenants_dir`).

        JSON catalogs give one passage per entry; Markdown is split by heading, then by paragraph.
        Sources given by URL are skipped: the local mode does not fetch from the internet.
        """
        base = Path(tenants_dir)
        passages: list[Passage] = []
        for source in tenant.knowledge.sources:
            if source.path is None:
                logger.info("knowledge source %s is a URL; skipped in the local mode", source.name)
                continue
            path = base / source.path
            if not path.is_file():
                raise FileNotFoundError(
                    f"{tenant.tenant_id}: knowledge source {source.name!r} points to {path}, which does not exist"
                )
            passages.extend(load_passages(path, source=source.path))
        return cls(passages)

    def with_agent_documents(self, agent_id: str, paths: list[Path]) -> LexicalRetriever:
        """This collection plus documents that belong to one agent only (what a vendor's upload is locally)."""
        own = [
            p.model_copy(update={"agent_id": agent_id})
            for path in paths
            for p in load_passages(path, source=f"{agent_id}/{path.name}")
        ]
        return LexicalRetriever([d.passage for d in self._documents] + own)

    @property
    def passage_count(self) -> int:
        return len(self._documents)

    async def retrieve(self, query: str, top_k: int, scope: SearchScope | None = None) -> list[Passage]:
        """The `top_k` passages sharing the most informative words with `query` (none if nothing matches)."""
        query_terms = set(tokenize(query))
        scored: list[tuple[float, int]] = []
        for position, document in enumerate(self._documents):
            if scope is not None and not scope.admits(document.passage.agent_id):
                continue
            score = sum(self._term_score(term, document) for term in query_terms if term in document.terms)
            if score > 0:
                scored.append((score, position))
        # Ties keep file order, so results are deterministic.
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [
            self._documents[position].passage.model_copy(update={"score": round(score, 4)})
            for score, position in scored[:top_k]
        ]

    def _term_score(self, term: str, document: _Document) -> float:
        frequency = document.terms[term]
        norm = 1 - BM25_B + BM25_B * document.length / (self._average_length or 1.0)
        return self._idf.get(term, 0.0) * frequency * (BM25_K1 + 1) / (frequency + BM25_K1 * norm)


# ----------------------------------------------------------------------------------------- file loading
def load_passages(path: Path, *, source: str) -> list[Passage]:
    """Passages of one knowledge file, by its suffix (.json catalog, .md/.markdown/.txt text)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return [Passage(text=chunk, source=source) for chunk in _json_chunks(json.loads(text))]
    return [Passage(text=chunk, source=source) for chunk in markdown_chunks(text)]


def _json_chunks(data: Any) -> list[str]:
    """One chunk per catalog entry: the first list of objects found (top level or under a key)."""
    entries: list[Any] | None = data if isinstance(data, list) else None
    if isinstance(data, dict):
        entries = next(
            (v for v in data.values() if isinstance(v, list) and v and all(isinstance(e, dict) for e in v)), None
        )
        if entries is None:
            return [_render(data)]
    return [_render(entry) for entry in entries or []]


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _render(value: Any) -> str:
    """A catalog entry as readable lines ("Sizes: queen $129.00, king $149.00")."""
    if not isinstance(value, dict):
        return _render_value(value)
    # The name first: it is what the model (and a reader of the passage) needs to recognise the entry.
    ordered = sorted(value.items(), key=lambda item: item[0] != "name")
    return "\n".join(f"{_label(k)}: {_render_value(v)}" for k, v in ordered if v not in (None, "", [], {}))


def _render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        # Catalog maps are usually size/option → price.
        return ", ".join(
            f"{k} ${v:,.2f}" if isinstance(v, int | float) and not isinstance(v, bool) else f"{k} {_render_value(v)}"
            for k, v in value.items()
        )
    if isinstance(value, list):
        return ", ".join(_render_value(v) for v in value)
    return str(value)


def markdown_chunks(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """Chunks of a Markdown page: one per section, long sections split between paragraphs.

    Every chunk starts with its heading path ("Store policies > Returns"), so a paragraph keeps its topic.
    """
    chunks: list[str] = []
    trail: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def close_paragraph() -> None:
        if current:
            paragraphs.append(" ".join(line.strip() for line in current))
            current.clear()

    def close_section() -> None:
        close_paragraph()
        if paragraphs:
            heading = " > ".join(title for _, title in trail)
            chunks.extend(_pack(heading, paragraphs, max_chars))
            paragraphs.clear()

    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            close_section()
            level = len(match.group(1))
            trail[:] = [(lvl, title) for lvl, title in trail if lvl < level]
            trail.append((level, match.group(2)))
        elif line.strip():
            current.append(line)
        else:
            close_paragraph()
    close_section()
    return chunks


def _pack(heading: str, paragraphs: list[str], max_chars: int) -> list[str]:
    prefix = f"{heading}\n" if heading else ""
    packed: list[str] = []
    body = ""
    for paragraph in paragraphs:
        if body and len(prefix) + len(body) + len(paragraph) + 1 > max_chars:
            packed.append(prefix + body)
            body = ""
        body = f"{body}\n{paragraph}" if body else paragraph
    if body:
        packed.append(prefix + body)
    return packed
