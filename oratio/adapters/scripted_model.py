"""`ScriptedModel`: a `ModelPort` that replays scripted ConverseStream responses, for tests.

Each call to `converse_stream` takes the next scripted response. A response is a list of steps: raw
ConverseStream events (dicts exactly as Bedrock sends them, e.g. recorded from a real call) or compact
helpers (`text`, `tool_use`, `thinking`, `stop`, `usage`, `fail`, `delay`) that expand into the same
event shapes: tool input arrives as JSON string fragments in `contentBlockDelta.delta.toolUse.input`,
as Bedrock streams it. Every request is kept in `requests` so tests can assert on what was sent.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from oratio.agent.ports import ModelError


@dataclass(frozen=True)
class Text:
    text: str
    pieces: int = 3  # how many deltas the text streams in


@dataclass(frozen=True)
class ToolUse:
    tool_use_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Thinking:
    text: str
    signature: str = "sig-scripted"


@dataclass(frozen=True)
class Stop:
    reason: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True)
class Fail:
    error: ModelError


@dataclass(frozen=True)
class Delay:
    seconds: float


Step = Text | ToolUse | Thinking | Stop | Usage | Fail | Delay | dict[str, Any]
Response = Sequence[Step] | ModelError


def text(value: str, pieces: int = 3) -> Text:
    """Assistant text, streamed in `pieces` deltas."""
    return Text(value, pieces)


def tool_use(tool_use_id: str, name: str, input: dict[str, Any]) -> ToolUse:
    return ToolUse(tool_use_id, name, input)


def thinking(value: str, signature: str = "sig-scripted") -> Thinking:
    """An extended-thinking (reasoningContent) block."""
    return Thinking(value, signature)


def stop(reason: str = "end_turn") -> Stop:
    return Stop(reason)


def usage(input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> Usage:
    return Usage(input_tokens, output_tokens, cache_read, cache_write)


def fail(error: ModelError) -> Fail:
    """Raise `error` at this point of the stream."""
    return Fail(error)


def delay(seconds: float) -> Delay:
    return Delay(seconds)


def _split(value: str, pieces: int) -> list[str]:
    if pieces <= 1 or len(value) <= 1:
        return [value]
    size = max(1, -(-len(value) // pieces))
    return [value[i : i + size] for i in range(0, len(value), size)]


class ScriptedModel:
    """Replays one scripted response per `converse_stream` call; a bare `ModelError` fails the call."""

    def __init__(self, responses: Sequence[Response]) -> None:
        self._responses = list(responses)
        self.requests: list[dict[str, Any]] = []

    @property
    def remaining(self) -> int:
        return len(self._responses)

    def converse_stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self.requests.append(copy.deepcopy(request))
        if not self._responses:
            raise AssertionError("ScriptedModel: no scripted response left for this request")
        return self._play(self._responses.pop(0))

    async def _play(self, response: Response) -> AsyncIterator[dict[str, Any]]:
        if isinstance(response, ModelError):
            raise response
        yield {"messageStart": {"role": "assistant"}}
        index = 0
        stopped = False
        for step in response:
            if isinstance(step, dict):
                yield step
            elif isinstance(step, Delay):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Fail):
                raise step.error
            elif isinstance(step, Text):
                for piece in _split(step.text, step.pieces):
                    yield {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": index}}
                yield {"contentBlockStop": {"contentBlockIndex": index}}
                index += 1
            elif isinstance(step, Thinking):
                for piece in _split(step.text, 2):
                    delta = {"reasoningContent": {"text": piece}}
                    yield {"contentBlockDelta": {"delta": delta, "contentBlockIndex": index}}
                signature = {"reasoningContent": {"signature": step.signature}}
                yield {"contentBlockDelta": {"delta": signature, "contentBlockIndex": index}}
                yield {"contentBlockStop": {"contentBlockIndex": index}}
                index += 1
            elif isinstance(step, ToolUse):
                start = {"toolUse": {"toolUseId": step.tool_use_id, "name": step.name}}
                yield {"contentBlockStart": {"start": start, "contentBlockIndex": index}}
                for piece in _split(json.dumps(step.input), 3):
                    delta = {"toolUse": {"input": piece}}
                    yield {"contentBlockDelta": {"delta": delta, "contentBlockIndex": index}}
                yield {"contentBlockStop": {"contentBlockIndex": index}}
                index += 1
            elif isinstance(step, Stop):
                stopped = True
                yield {"messageStop": {"stopReason": step.reason}}
            elif isinstance(step, Usage):
                if not stopped:
                    # Bedrock always sends messageStop before metadata; a script that left it out gets one.
                    stopped = True
                    yield {"messageStop": {"stopReason": "end_turn"}}
                tokens = {
                    "inputTokens": step.input_tokens,
                    "outputTokens": step.output_tokens,
                    "totalTokens": step.input_tokens + step.output_tokens + step.cache_read + step.cache_write,
                    "cacheReadInputTokens": step.cache_read,
                    "cacheWriteInputTokens": step.cache_write,
                }
                yield {"metadata": {"usage": tokens, "metrics": {"latencyMs": 120}}}
        if not stopped and not any(isinstance(s, dict) and "messageStop" in s for s in response):
            yield {"messageStop": {"stopReason": "end_turn"}}
