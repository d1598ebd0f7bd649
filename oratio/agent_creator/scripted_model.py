"""`ScriptedModel`: a `StageModel` for tests and benchmarks that answers each stage from a script.

Per stage, a queue of answers: an output model (returned as is), a callable (given the request, returns the
output: e.g. a real rule-based stage), or an exception (raised: a throttled or failing stage). A stage with no
scripted answer left falls back to `fallback` when one is given (the local model), else fails the test loudly.
Every request is kept, so tests can read what each stage was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from oratio.agent_creator.jobs import StageName
from oratio.agent_creator.model_port import StageAnswer, StageModel, StageRequest, StageUsage

CHARS_PER_TOKEN = 4
Answer = BaseModel | Exception | Callable[[StageRequest], BaseModel]


@dataclass
class ScriptedModel:
    script: dict[StageName, list[Answer]] = field(default_factory=dict)
    fallback: StageModel | None = None
    model_id: str = "claude-sonnet-4-5"
    requests: list[StageRequest] = field(default_factory=list)

    def answer[T: BaseModel](self, request: StageRequest, output_type: type[T]) -> StageAnswer[T]:
        self.requests.append(request)
        queue = self.script.get(request.stage, [])
        if not queue:
            if self.fallback is None:
                raise AssertionError(f"the script has no answer left for {request.stage.value}")
            return self.fallback.answer(request, output_type)
        answer: Any = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        output = answer(request) if callable(answer) and not isinstance(answer, BaseModel) else answer
        if not isinstance(output, output_type):
            output = output_type.model_validate(output.model_dump())
        sent = len(request.instructions) + len(json.dumps(request.inputs, default=str))
        usage = StageUsage(request.model_id or self.model_id, max(1, sent // CHARS_PER_TOKEN),
                           max(1, len(output.model_dump_json()) // CHARS_PER_TOKEN))  # fmt: skip
        return StageAnswer(output, usage)

    def stages_asked(self) -> list[StageName]:
        return [r.stage for r in self.requests]
