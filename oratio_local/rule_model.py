"""`RuleBasedModel`: a local stand-in for Bedrock, used by `make demo` and local runs. It is NOT a language
model and makes no claim to be one.

It answers with fixed rules from the business facts in the system prompt (name, hours, returns and shipping
policies, products) and the customer's words: greetings, hours, policies; product questions go through a
`knowledge_search` toolUse and are answered from the returned passages; asking for a person calls
`transfer_to_human`; a goodbye calls `end_call`. It speaks real ConverseStream event shapes with plausible
usage numbers, so the engine, routing, cost accounting and tools run exactly as they do against Bedrock.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

CHARS_PER_TOKEN = 4
PRODUCT_WORDS = (
    "product",
    "price",
    "cost",
    "duvet",
    "pillow",
    "comforter",
    "sheet",
    "bedding",
    "size",
    "stock",
    "sell",
)
PERSON_WORDS = ("human", "person", "someone", "representative", "real agent", "manager")
GOODBYE_WORDS = ("goodbye", "bye", "that's all", "thats all", "hang up")


def _speakable(passage: str) -> str:
    """A catalogue entry ("Name: …" lines) as a sentence a caller can follow; other text: its first sentences."""
    # Catalogue passages read "Name: … Id: … Description: …" (one line or several).
    parts = re.split(r"(?:^|\s)([A-Z][a-z]+(?: [a-z]+)?):\s", passage.strip())
    fields = {key.lower(): " ".join(value.split()) for key, value in zip(parts[1::2], parts[2::2], strict=True)}
    if "name" in fields:
        answer = f"We have the {fields['name']}."
        if "description" in fields:
            answer += f" {fields['description'].rstrip('.')}."
        if "sizes" in fields:
            answer += f" Sizes and prices: {fields['sizes'].rstrip('.')}."
        return answer + " Would you like to hear about anything else?"
    best = re.split(r"(?<=[.!?])\s+", " ".join(passage.split()))[:2]
    return "Here's what I found: " + " ".join(best)


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text) for w in words)


def _fact(system: str, label: str) -> str | None:
    match = re.search(rf"^{re.escape(label)}[^:]*:\s*(.+)$", system, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


class RuleBasedModel:
    """Deterministic `ModelPort` for local runs; see the module docstring for what it can and cannot do."""

    def __init__(self, pause_seconds: float = 0.0) -> None:
        self._pause = pause_seconds
        self.requests: list[dict[str, Any]] = []

    def converse_stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self.requests.append(request)
        return self._respond(request)

    async def _respond(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        system = "\n".join(b.get("text", "") for b in request.get("system", []))
        messages: list[dict[str, Any]] = request.get("messages", [])
        last = messages[-1]["content"] if messages else []
        tools = {t["toolSpec"]["name"] for t in request.get("toolConfig", {}).get("tools", []) if "toolSpec" in t}
        results = [b["toolResult"] for b in last if "toolResult" in b]
        user_text = " ".join(b.get("text", "") for b in last if "text" in b).lower()

        reply, tool_call = self._decide(system, user_text, results, tools)
        if self._pause:
            await asyncio.sleep(self._pause)
        yield {"messageStart": {"role": "assistant"}}
        index = 0
        if reply:
            for piece in re.findall(r"\S+\s*", reply):
                yield {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": index}}
            yield {"contentBlockStop": {"contentBlockIndex": index}}
            index += 1
        if tool_call is not None:
            name, arguments = tool_call
            start = {"toolUse": {"toolUseId": f"tooluse_{len(self.requests):04d}", "name": name}}
            yield {"contentBlockStart": {"start": start, "contentBlockIndex": index}}
            raw = json.dumps(arguments)
            for cut in range(0, len(raw), 16):
                yield {
                    "contentBlockDelta": {
                        "delta": {"toolUse": {"input": raw[cut : cut + 16]}},
                        "contentBlockIndex": index,
                    }
                }
            yield {"contentBlockStop": {"contentBlockIndex": index}}
        yield {"messageStop": {"stopReason": "tool_use" if tool_call else "end_turn"}}
        prompt_chars = (
            len(system) + len(json.dumps(messages, default=str)) + len(json.dumps(request.get("toolConfig", {})))
        )
        input_tokens = max(1, prompt_chars // CHARS_PER_TOKEN)
        output_tokens = max(1, (len(reply) + (40 if tool_call else 0)) // CHARS_PER_TOKEN)
        # After the first request of a session the static prefix would be served from the prompt cache.
        cached = min(input_tokens // 2, len(system) // CHARS_PER_TOKEN) if len(messages) > 1 else 0
        usage = {
            "inputTokens": input_tokens - cached,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
            "cacheReadInputTokens": cached,
            "cacheWriteInputTokens": 0,
        }
        yield {"metadata": {"usage": usage, "metrics": {"latencyMs": 25}}}

    def _decide(
        self, system: str, text: str, results: list[dict[str, Any]], tools: set[str]
    ) -> tuple[str, tuple[str, dict[str, Any]] | None]:
        """The reply text and, if any, the tool to call."""
        name_match = re.search(r"customer assistant of (.+?), a ", system)
        business = name_match.group(1) if name_match else "our business"
        if results:
            return self._answer_from_results(results), None
        if _has(text, PERSON_WORDS) and "transfer_to_human" in tools:
            return "Of course, I'll connect you with a colleague.", (
                "transfer_to_human",
                {"reason": "customer asked for a person"},
            )
        if _has(text, GOODBYE_WORDS) and "end_call" in tools:
            return f"Thanks for contacting {business}. Goodbye!", ("end_call", {"reason": "customer said goodbye"})
        if _has(text, ("return", "refund", "exchange")):
            policy = _fact(system, "Returns policy")
            return (
                f"Our returns policy: {policy}" if policy else "Let me connect you with someone about returns."
            ), None
        if _has(text, ("shipping", "delivery", "deliver", "ship")):
            policy = _fact(system, "Shipping policy")
            return (f"About shipping: {policy}" if policy else "Shipping depends on your order."), None
        if _has(text, ("hours", "open", "close", "closed", "opening")):
            hours = _fact(system, "Opening hours") or "during business hours"
            now = re.search(r"the business is (open|closed) now", system)
            status = f" We're {now.group(1)} right now." if now else ""
            return f"Our hours are {hours.rstrip('.')}.{status}", None
        if _has(text, PRODUCT_WORDS) and "knowledge_search" in tools:
            return "", ("knowledge_search", {"query": text[:200]})
        if _has(text, ("hello", "hi", "hey", "good morning", "good afternoon")):
            return f"Hello, and welcome to {business}! How can I help you today?", None
        products = _fact(system, "Products")
        offer = f" We offer {products.rstrip('.')}." if products else ""
        return f"I can help with our products, hours, returns and shipping.{offer} What would you like to know?", None

    @staticmethod
    def _answer_from_results(results: list[dict[str, Any]]) -> str:
        passages: list[str] = []
        for result in results:
            for block in result.get("content", []):
                body = block.get("json", {})
                for passage in body.get("passages", []):
                    text = passage.get("text") if isinstance(passage, dict) else str(passage)
                    if text:
                        passages.append(str(text))
                if "handoff" in body:
                    return ""  # it already said it would connect them
                if "end_call" in body:
                    return ""
        if not passages:
            return (
                "I'm sorry, I couldn't find that in our catalogue. Would you like me to connect you with a colleague?"
            )
        return _speakable(passages[0])
