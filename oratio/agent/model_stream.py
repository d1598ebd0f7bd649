"""One Converse call, streamed: text spoken as sentences while it arrives, tool calls and thinking collected
into a `ModelRound`, retries only before anything was said."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from oratio.agent.chunking import SentenceChunker
from oratio.agent.contracts import ReplyEvent, TextChunk
from oratio.agent.ports import ModelError, ModelPort, ModelUnavailableError
from oratio.agent.resilience import RetryPolicy, retry_async
from oratio.agent.tools.base import ToolCall, ToolResult
from oratio.agent.turn import ModelRound, Turn
from oratio.config.catalog import ModelEntry

logger = logging.getLogger(__name__)

Emit = Callable[[ReplyEvent], None]


async def stream_round(
    port: ModelPort,
    request: dict[str, Any],
    model: ModelEntry,
    turn: Turn,
    chunker: SentenceChunker,
    emit: Emit,
    result: ModelRound,
    *,
    retry: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]],
    rand: Callable[[], float],
) -> None:
    """Stream one Converse call into `result`: speak text as sentences, collect tool calls, thinking and usage."""

    async def open_stream() -> tuple[dict[str, Any] | None, AsyncIterator[dict[str, Any]]]:
        # Retries are only safe before anything was said, so they cover opening the stream.
        stream = aiter(port.converse_stream(request))
        try:
            return await anext(stream), stream
        except StopAsyncIteration:
            return None, stream

    def on_retry(attempt: int, error: ModelError, delay: float) -> None:
        logger.info(
            "model call retried",
            extra={"model_id": model.id, "attempt": attempt, "error": type(error).__name__, "delay_s": delay},
        )

    first, stream = await retry_async(open_stream, retry, sleep=sleep, rand=rand, on_retry=on_retry)
    if first is None:
        raise ModelUnavailableError("empty response stream")
    blocks: dict[int, dict[str, Any]] = {}

    def speak(sentences: Sequence[str]) -> None:
        for sentence in sentences:
            result.spoke = True
            turn.texts.append(sentence)
            emit(TextChunk(text=sentence))

    event: dict[str, Any] | None = first
    while event is not None:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            tool = start.get("start", {}).get("toolUse")
            if tool:
                blocks[start["contentBlockIndex"]] = {"kind": "tool", "id": tool["toolUseId"], "name": tool["name"]}
        elif "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta, block = body["delta"], blocks.setdefault(body["contentBlockIndex"], {})
            if "text" in delta:
                block.setdefault("kind", "text")
                block["text"] = block.get("text", "") + delta["text"]
                speak(chunker.feed(delta["text"]))
            elif "toolUse" in delta:
                block["input"] = block.get("input", "") + delta["toolUse"].get("input", "")
            elif "reasoningContent" in delta:
                # Thinking is kept only to hand back to the model with tool results; never said or logged.
                block["kind"] = "reasoning"
                reasoning = delta["reasoningContent"]
                block["text"] = block.get("text", "") + reasoning.get("text", "")
                if "signature" in reasoning:
                    block["signature"] = reasoning["signature"]
                if "redactedContent" in reasoning:
                    block["redacted"] = reasoning["redactedContent"]
        elif "messageStop" in event:
            result.stop_reason = event["messageStop"].get("stopReason")
        elif "metadata" in event:
            result.usage = event["metadata"].get("usage", {})
        event = await anext(stream, None)
    tail = chunker.flush()
    if tail:
        speak([tail])
    for index in sorted(blocks):
        collect_block(blocks[index], result)


def collect_block(block: dict[str, Any], result: ModelRound) -> None:
    """Add one streamed content block to the round: text, thinking (as sent, for the next call), or a tool call."""
    kind = block.get("kind")
    if kind == "text" and block.get("text", "").strip():
        result.content.append({"text": block["text"]})
    elif kind == "reasoning":
        if "redacted" in block:
            result.content.append({"reasoningContent": {"redactedContent": block["redacted"]}})
        else:
            text = {
                "text": block.get("text", ""),
                **({"signature": block["signature"]} if "signature" in block else {}),
            }
            result.content.append({"reasoningContent": {"reasoningText": text}})
    elif kind == "tool":
        raw = block.get("input", "") or "{}"
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            # The toolUse goes back to the model as sent, answered by an error result it can act on.
            result.content.append({"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": {}}})
            result.malformed.append(
                ToolResult(tool_use_id=block["id"], name=block["name"], status="error", error="malformed tool input")
            )
            return
        result.content.append({"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": arguments}})
        result.calls.append(ToolCall(tool_use_id=block["id"], name=block["name"], arguments=arguments))
