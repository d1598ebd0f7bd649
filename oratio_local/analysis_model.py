"""A rule-based stand-in for the post-call analysis model (local mode only): it reads the transcript in the
Converse request and answers the analysis JSON in real ConverseStream event shapes. It is not an LLM: the
outcome comes from phrases (a transfer, an order, a complaint), the sentiment from word lists; it answers the lead
fields the request's schema asks for (the agent's workflow's), filling those it has a rule for (products from the
tenant's product words, a budget from a dollar amount, a size from bed-size words, the next step from a transfer)
and leaving the rest null; deployed, a catalog model on Bedrock writes the analysis."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

POSITIVE = ("thanks", "thank you", "great", "perfect", "love", "wonderful", "helpful")
NEGATIVE = ("angry", "terrible", "awful", "disappointed", "worst", "broken", "complaint", "unacceptable")
TRANSFERRED = ("connect you", "someone from our team", "transfer")
SALE = ("order placed", "i'll take it", "i will take it", "buy it", "purchase")
PRODUCT_WORDS = ("comforter", "duvet", "pillow", "sheet", "bedding set", "mattress", "blanket", "quilt")
CHARS_PER_TOKEN = 4
BED_SIZES = ("twin", "full", "queen", "king", "california king")
SCHEMA_MARK = "exactly in this shape: "


class RuleBasedAnalysisModel:
    """`ModelPort` answering analysis requests by rules (see the module docstring)."""

    async def converse_stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        transcript = request["messages"][0]["content"][0]["text"]
        system = request["system"][0]["text"]
        schema = json.loads(system.split(SCHEMA_MARK, 1)[1]) if SCHEMA_MARK in system else {}
        answer = json.dumps(self._analyse(transcript, tuple(schema.get("lead", {}))))
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": answer}}}
        yield {"messageStop": {"stopReason": "end_turn"}}
        prompt_chars = len(json.dumps(request))
        usage = {"inputTokens": prompt_chars // CHARS_PER_TOKEN, "outputTokens": len(answer) // CHARS_PER_TOKEN}
        yield {"metadata": {"usage": usage}}

    @staticmethod
    def _analyse(transcript: str, lead_fields: tuple[str, ...]) -> dict[str, Any]:
        customer = [
            line.removeprefix("Customer: ") for line in transcript.splitlines() if line.startswith("Customer: ")
        ]
        agent = [line.removeprefix("Agent: ") for line in transcript.splitlines() if line.startswith("Agent: ")]
        said, replied = " ".join(customer).lower(), " ".join(agent).lower()
        if any(p in said for p in NEGATIVE):
            outcome = "complaint"
        elif any(p in replied for p in TRANSFERRED) or "person" in said:
            outcome = "transferred"
        elif any(p in said for p in SALE):
            outcome = "sale"
        elif customer and not agent:
            outcome = "abandoned"
        else:
            outcome = "resolved"
        score = sum(p in said for p in POSITIVE) - sum(p in said for p in NEGATIVE)
        sentiment = "positive" if score > 0 else "negative" if score < 0 else "neutral"
        products = sorted({w for w in PRODUCT_WORDS if re.search(rf"\b{w}s?\b", said)})
        asks = "; ".join(c.rstrip("?.! ") for c in customer[:3]) or "nothing"
        amount = re.search(r"\$\s?\d[\d,]*", said)
        sizes = [s for s in BED_SIZES if re.search(rf"\b{s}\b", said)]
        rules: dict[str, str | None] = {
            "products": ", ".join(products) or None,
            "budget": amount.group().replace(" ", "") if amount else None,
            "size": sizes[-1] if sizes else None,
            "next_step": "call back from the team" if outcome == "transferred" else None,
        }

        def fill(field: str) -> str | None:
            return next((value for key, value in rules.items() if key in field), None)

        return {
            "summary": f"The customer asked about: {asks}. Outcome: {outcome}.",
            "outcome": outcome,
            "sentiment": sentiment,
            "lead": {field: fill(field) for field in lead_fields},
        }
