"""`TurnWorker` over AWS Lambda: the code hook invokes the `voice_agent_turn` function synchronously and waits
for it only as long as the caller's silence budget allows.

Why a synchronous invoke the caller may stop waiting for: Lambda runs a synchronous invocation to completion
even when the client stops reading (the invocation is not tied to the connection), so a slow turn finishes
in the worker and its outcome lands in the turn mailbox, while a fast one comes straight back in the
response, with no polling on the fast path. botocore's retries are off: retrying a turn would run the
agent (and its tools) twice. The blocking call runs on a small thread pool of its own, so a call left
running never holds the event loop's default executor, which the DynamoDB adapters use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from oratio.connect_voice.outcome import TurnJob, TurnOutcome
from oratio.connect_voice.ports import TurnWorkerError

logger = logging.getLogger(__name__)

# Long enough for any turn the worker can run (its own timeout is 30 s); the code hook's deadline is enforced
# by the wait, not by the socket.
CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=35, retries={"mode": "standard", "total_max_attempts": 1})
# Invocations a container may have in flight: each slow turn leaves one thread waiting on its worker (up to
# the read timeout) after the code hook answered, and a full pool would delay the next turn's invoke.
INVOKE_THREADS = 16


class LambdaTurnWorker:
    """Runs turns in the worker function; `run` returns None when the turn outlasts the wait."""

    def __init__(self, function_name: str, *, client: Any | None = None) -> None:
        self.function_name = function_name
        self._client_instance = client
        self._pool = ThreadPoolExecutor(max_workers=INVOKE_THREADS, thread_name_prefix="turn-worker")

    @property
    def _client(self) -> Any:
        if self._client_instance is None:  # built on first use: cold starts pay only when a turn runs
            self._client_instance = boto3.client("lambda", config=CLIENT_CONFIG)
        return self._client_instance

    async def run(self, job: TurnJob, wait_seconds: float) -> TurnOutcome | None:
        client = self._client
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[TurnOutcome] = loop.create_future()
        running: Future[TurnOutcome] = self._pool.submit(self._invoke, client, job)
        running.add_done_callback(lambda done: _hand_over(loop, done, answer))
        try:
            return await asyncio.wait_for(answer, timeout=max(0.0, wait_seconds))
        except TimeoutError:
            return None  # the invocation runs on; its outcome goes to the mailbox

    def _invoke(self, client: Any, job: TurnJob) -> TurnOutcome:
        try:
            response = client.invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                Payload=job.model_dump_json().encode(),
            )
            payload = response["Payload"].read()
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", "Unknown"))
            raise TurnWorkerError(f"invoking {self.function_name} failed: {code}") from e
        except BotoCoreError as e:
            raise TurnWorkerError(f"invoking {self.function_name} failed: {type(e).__name__}") from e
        if response.get("FunctionError"):
            raise TurnWorkerError(f"{self.function_name} failed: {response['FunctionError']}")
        try:
            return TurnOutcome.model_validate_json(payload)
        except ValidationError as e:
            raise TurnWorkerError(f"{self.function_name} answered something that is not a TurnOutcome") from e


def _hand_over(loop: asyncio.AbstractEventLoop, done: Future[TurnOutcome], answer: asyncio.Future[TurnOutcome]) -> None:
    """Pass the thread's result to the waiting coroutine, if it still waits (and its loop still runs)."""

    def settle() -> None:
        if answer.done():  # the wait timed out: nobody to tell but the log
            error = done.exception()
            if error is not None:
                logger.warning("turn worker invocation failed after the wait", extra={"error": type(error).__name__})
            return
        error = done.exception()
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(done.result())

    with contextlib.suppress(RuntimeError):  # the loop is closed: the caller is long gone
        loop.call_soon_threadsafe(settle)
