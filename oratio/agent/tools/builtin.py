"""Built-in tools every agent may enable: knowledge search, transfer to a human, and ending the call.

Transfer and end-call do not act themselves: they return a `handoff` / `end_call` result that the turn
engine turns into a `Handoff` / `EndCall` reply event, so the channel (Connect, the voice bridge, a chat
webhook) does the transfer or hang-up in its own way.
"""

from __future__ import annotations

import logging
from typing import Any

from oratio.agent.ports import KnowledgeRetriever
from oratio.agent.tools.base import ToolContext, ToolSpec
from oratio.agent.tools.invocation import ToolError
from oratio.domain.knowledge_scope import SearchScope

logger = logging.getLogger(__name__)

# A passage is what the model reads: long enough for a product entry or a policy paragraph, short enough
# that a handful stay well inside the executor's result limit and the model's context.
MAX_PASSAGE_CHARS = 1_200
MAX_QUERY_CHARS = 500
MAX_SUMMARY_CHARS = 600
MAX_REASON_CHARS = 200
NO_SUMMARY = "No summary available; ask the customer how you can help."


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _clip_passage(text: str, limit: int) -> str:
    """A passage's text within `limit`, its lines kept (a section heading stays on a line of its own)."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    joined = "\n".join(lines)
    return joined if len(joined) <= limit else joined[: limit - 1].rstrip() + "…"


class KnowledgeSearchTool:
    """Searches the agent's knowledge (products, prices, policies) and returns the best passages. With a
    `scope`, only that agent's documents (and the tenant-wide ones if the scope includes them) are searched."""

    def __init__(
        self,
        retriever: KnowledgeRetriever,
        top_k: int = 4,
        max_passage_chars: int = MAX_PASSAGE_CHARS,
        *,
        scope: SearchScope | None = None,
    ):
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        self._retriever = retriever
        self._scope = scope
        self._top_k = top_k
        self._max_passage_chars = max_passage_chars
        self.spec = ToolSpec(
            name="knowledge_search",
            description=(
                "Search the business's own knowledge: products (names, sizes, materials, colours, prices, "
                "availability), store policies (returns, exchanges, shipping, order tracking), opening hours "
                "and FAQs. Call it before answering any factual question about the business, and answer "
                "only from the passages it returns; if none are relevant, say you don't know rather than "
                "guess. Use a short, specific query in the customer's terms, e.g. 'queen size down "
                "comforter price' or 'return policy opened items'."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "minLength": 2,
                        "maxLength": MAX_QUERY_CHARS,
                        "description": "What to look up, in a few words (product, size, policy topic).",
                    }
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        )

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        query = arguments["query"].strip()
        if not query:
            raise ToolError("the query is empty; say what to look up")
        try:
            passages = await self._retriever.retrieve(query, self._top_k, self._scope)
        except Exception as e:
            # Whatever the retriever's failure (adapter errors are typed there), the model only needs to
            # know that knowledge is unavailable right now; the cause goes to the logs.
            logger.warning("knowledge search failed", extra={"error": type(e).__name__, "tenant": context.tenant_id})
            raise ToolError("the knowledge base is unavailable right now") from e
        found = [
            {
                "text": _clip_passage(p.text, self._max_passage_chars),
                "source": p.source,
                "score": None if p.score is None else round(p.score, 4),
            }
            for p in passages[: self._top_k]
            if p.text.strip()
        ]
        if not found:
            return {"passages": [], "note": "Nothing relevant was found. Say you don't know; do not guess."}
        return {"passages": found}


class TransferToHumanTool:
    """Asks for a human agent; the result carries the reason and a short summary for that person."""

    def __init__(self) -> None:
        self.spec = ToolSpec(
            name="transfer_to_human",
            description=(
                "Transfer the customer to a human colleague. Use it when the customer asks for a person, "
                "is upset or complaining, needs something you cannot do with your other tools (refunds, "
                "account changes, exceptions to policy), or when you have failed to help twice. Before "
                "calling it, tell the customer you are transferring them. Give a one-line reason and a "
                "short summary so the colleague does not have to ask again."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "reason": {
                        "type": "string",
                        "minLength": 3,
                        "maxLength": MAX_REASON_CHARS,
                        "description": "Why a human is needed, e.g. 'customer wants a refund on a used duvet'.",
                    },
                    "summary": {
                        "type": "string",
                        "maxLength": MAX_SUMMARY_CHARS,
                        "description": (
                            "Two or three sentences for the human agent: who the customer is (if known), "
                            "what they want, what has been tried, order numbers mentioned."
                        ),
                    },
                },
                "required": ["reason"],
                "additionalProperties": False,
            },
        )

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        summary = (arguments.get("summary") or "").strip() or context.conversation_summary.strip() or NO_SUMMARY
        return {
            "handoff": {
                "reason": _clip(arguments["reason"], MAX_REASON_CHARS),
                "summary": _clip(summary, MAX_SUMMARY_CHARS),
            }
        }


class EndCallTool:
    """Ends the conversation (hangs up on voice) once the customer is done."""

    def __init__(self) -> None:
        self.spec = ToolSpec(
            name="end_call",
            description=(
                "End the conversation (on a phone call: hang up). Use it only when the customer has said "
                "goodbye, confirmed they need nothing else, or asked to end the call. Say a short, warm "
                "goodbye in your reply first; never use it to avoid a question."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "reason": {
                        "type": "string",
                        "minLength": 3,
                        "maxLength": MAX_REASON_CHARS,
                        "description": "Why the conversation ends, e.g. 'customer said goodbye'.",
                    }
                },
                "required": ["reason"],
                "additionalProperties": False,
            },
        )

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        return {"end_call": {"reason": _clip(arguments["reason"], MAX_REASON_CHARS)}}
