"""`RuleBasedModel`: a local stand-in for Bedrock, used by `make demo` and local runs. It is NOT a language model and
makes no claim to be one.

It answers with fixed rules from what the agent's system prompt says (who the agent is, the business, its products,
hours and the facts it may quote) and the customer's words: greetings (in the agent's persona), hours, policies and
any other fact the agent's definition lists, asked for by its name; questions about the agent's products or prices
go through a `knowledge_search` toolUse and are answered from the returned passages, said as sentences; asking for a
person calls `transfer_to_human`; a goodbye calls `end_call`. Nothing in it knows a particular business: two agents
with different definitions answer the same question differently. It speaks real ConverseStream event shapes with
plausible usage numbers (prompt-cache reads only after a request that carried a cache point with the same prefix),
so the engine, routing, cost accounting and tools run exactly as they do against Bedrock.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

CHARS_PER_TOKEN = 4
# Words that ask about what a business offers, whatever it offers (its own products come from the prompt).
PRODUCT_WORDS = ("product", "price", "cost", "how much", "size", "stock", "sell", "offer", "do you have", "available")
PERSON_WORDS = ("human", "person", "someone", "representative", "real agent", "manager")
GOODBYE_WORDS = ("goodbye", "bye", "that's all", "thats all", "hang up")


def speakable(passage: str) -> str:
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
    lines = [line for line in passage.strip().splitlines() if line.strip()]
    if len(lines) > 1 and not lines[0].rstrip().endswith((".", "!", "?", ":")):
        lines = lines[1:]  # a section heading ("Store policies > Returns") is not said
    best = re.split(r"(?<=[.!?])\s+", " ".join(" ".join(lines).split()))[:2]
    return "Here's what I found: " + " ".join(best)


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text) for w in words)


def _line(system: str, pattern: str) -> str | None:
    match = re.search(pattern, system, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


def _facts(system: str) -> dict[str, str]:
    """The "- Label: value" lines under "Facts you may quote:", by lower-cased label."""
    _, found, rest = system.partition("Facts you may quote:")
    facts: dict[str, str] = {}
    for line in rest.splitlines()[1:] if found else ():
        match = re.match(r"^- ([^:]+): (.+)$", line)
        if match is None:
            break
        facts[match.group(1).lower()] = match.group(2).strip()
    return facts


def _fact_about(facts: dict[str, str], *topics: str) -> str | None:
    return next((value for label, value in facts.items() if any(t in label for t in topics)), None)


LABEL_FILLER = frozenset({"policy", "our", "the", "and", "for"})


def _fact_named_in(facts: dict[str, str], text: str) -> tuple[str, str] | None:
    """A fact whose label words (filler left out) all appear in the customer's words: "price match policy" for
    "what is your price match policy?" -- so any fact the definition lists can be asked for by its name."""
    for label, value in facts.items():
        words = [w for w in re.findall(r"[a-z0-9]+", label) if w not in LABEL_FILLER]
        if words and all(_has(text, (w,)) for w in words):
            return label, value
    return None


def _product_words(system: str) -> tuple[str, ...]:
    listed = _line(system, r"^Products: (.+)\.$") or ""
    words: list[str] = []
    for product in listed.split(","):
        product = product.strip().lower()
        if product:
            words.append(product)
            words.append(product.split()[-1].rstrip("s"))  # "bedding sets" -> "set", "pillows" -> "pillow"
    return tuple(w for w in words if len(w) > 2)


class RuleBasedModel:
    """Deterministic `ModelPort` for local runs; see the module docstring for what it can and cannot do."""

    def __init__(self, pause_seconds: float = 0.0) -> None:
        self._pause = pause_seconds
        self.requests: list[dict[str, Any]] = []
        self._cached_prefixes: set[str] = set()

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
        read, written = self._cache(request.get("system", []))
        usage = {
            "inputTokens": max(1, input_tokens - read - written),
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
            "cacheReadInputTokens": read,
            "cacheWriteInputTokens": written,
        }
        yield {"metadata": {"usage": usage, "metrics": {"latencyMs": 25}}}

    def _cache(self, system: list[dict[str, Any]]) -> tuple[int, int]:
        """Tokens read from and written to the prompt cache: the system prefix before a cache point is written the
        first time it is seen and read after that; a request without a cache point caches nothing."""
        points = [i for i, block in enumerate(system) if "cachePoint" in block]
        if not points:
            return 0, 0
        prefix = "".join(block.get("text", "") for block in system[: points[0]])
        tokens = max(1, len(prefix) // CHARS_PER_TOKEN)
        if prefix in self._cached_prefixes:
            return tokens, 0
        self._cached_prefixes.add(prefix)
        return 0, tokens

    def _decide(
        self, system: str, text: str, results: list[dict[str, Any]], tools: set[str]
    ) -> tuple[str, tuple[str, dict[str, Any]] | None]:
        """The reply text and, if any, the tool to call."""
        business = _line(system, r"^Business: (.+?) \(") or "our business"
        persona = _line(system, r"^You are (.+?)\.$") or ""
        facts = _facts(system)
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
            policy = _fact_about(facts, "return", "refund")
            return (
                f"Our returns policy: {policy}" if policy else "Let me connect you with someone about returns."
            ), None
        if _has(text, ("shipping", "delivery", "deliver", "ship")):
            policy = _fact_about(facts, "shipping", "delivery")
            return (f"About shipping: {policy}" if policy else "Shipping depends on your order."), None
        if _has(text, ("hours", "open", "close", "closed", "opening")):
            hours = _line(system, r"^Opening hours[^:]*: (.+)$") or "during business hours"
            now = re.search(r"the business is (open|closed) now", system)
            status = f" We're {now.group(1)} right now." if now else ""
            return f"Our hours are {hours.rstrip('.')}.{status}", None
        named = _fact_named_in(facts, text)
        if named is not None:
            return f"About our {named[0]}: {named[1]}", None
        if (_has(text, PRODUCT_WORDS) or _has(text, _product_words(system))) and "knowledge_search" in tools:
            return "", ("knowledge_search", {"query": text[:200]})
        if _has(text, ("hello", "hi", "hey", "good morning", "good afternoon")):
            who = f" This is {persona.split(',')[0]}." if "," in persona else ""
            return f"Hello, and welcome to {business}!{who} How can I help you today?", None
        products = _line(system, r"^Products: (.+)$")
        offer = f" We offer {products.rstrip('.')}." if products else ""
        return f"I can help with our products, hours and policies.{offer} What would you like to know?", None

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
        return speakable(passages[0])
