"""The model port AgentCreator's stages call: one structured answer per stage call.

A stage sends instructions and JSON inputs and gets back its output model, validated; the adapter says which
model answered and how many tokens it took. Bedrock's adapter forces the answer through a tool whose input schema
is the stage's output schema (`oratio.agent_creator.adapters.bedrock_model`); the scripted model answers tests
from a script (`oratio.agent_creator.scripted_model`); the local model derives answers from the SOP text by rule
(`oratio_local.creator_model`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from oratio.agent_creator.jobs import StageName


@dataclass(frozen=True)
class StageRequest:
    """One stage call: what the stage is asked (instructions) and what it is given (JSON inputs)."""

    stage: StageName
    instructions: str
    inputs: dict[str, Any]
    model_id: str = ""  # the model catalog id this stage is configured to use


@dataclass(frozen=True)
class StageUsage:
    model_id: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class StageAnswer[T: BaseModel]:
    output: T
    usage: StageUsage


class StageModelError(Exception):
    """A stage's model call failed; `vendor_message` says it in words a vendor can act on."""

    retryable = False
    vendor_message = "the model could not answer this stage"


class StageModelThrottledError(StageModelError):
    retryable = True
    vendor_message = "the model service was busy (throttled) and stayed busy after several tries"


class StageModelUnavailableError(StageModelError):
    retryable = True
    vendor_message = "the model service was unavailable"


class StageModelRequestError(StageModelError):
    vendor_message = "the model refused the request (access or validation)"


class StageOutputInvalidError(StageModelError):
    retryable = True
    vendor_message = "the model's answer did not match the stage's schema"


class StageModel(Protocol):
    """Answers one stage call with the stage's output model."""

    def answer[T: BaseModel](self, request: StageRequest, output_type: type[T]) -> StageAnswer[T]: ...


@dataclass
class Backoff:
    """Retries with full-jitter exponential backoff for errors that say retrying may help."""

    attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float, float], float] = field(default=random.uniform)

    def run[R](self, call: Callable[[], R]) -> R:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except StageModelError as e:
                if not e.retryable or isinstance(e, StageOutputInvalidError) or attempt == self.attempts:
                    raise
                self.sleep(self.jitter(0.0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))))
        raise AssertionError("unreachable")
