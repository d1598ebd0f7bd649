"""`BedrockConverseModel`: the `ModelPort` over Amazon Bedrock's `converse_stream`.

boto3 is blocking, so the stream is read in a worker thread and its events handed to the event loop
through an `asyncio.Queue`; the loop never waits on a socket. botocore retries are off (one attempt):
the engine retries with its own backoff and moves to another model when one keeps failing. AWS errors
become `ModelError` subclasses raised `from` the original; their messages never reach a reply.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.ports import (
    ModelError,
    ModelRequestError,
    ModelThrottledError,
    ModelTimeoutError,
    ModelUnavailableError,
)

ERROR_CODES: dict[str, type[ModelError]] = {
    "ThrottlingException": ModelThrottledError,
    "TooManyRequestsException": ModelThrottledError,
    "ModelTimeoutException": ModelTimeoutError,
    "ServiceUnavailableException": ModelUnavailableError,
    "InternalServerException": ModelUnavailableError,
    "ModelNotReadyException": ModelUnavailableError,
    "ModelStreamErrorException": ModelUnavailableError,
    "ModelErrorException": ModelUnavailableError,
    "ValidationException": ModelRequestError,
    "AccessDeniedException": ModelRequestError,
    "ResourceNotFoundException": ModelRequestError,
}
# Exception events that arrive inside the stream instead of as an HTTP error.
STREAM_ERROR_EVENTS: dict[str, str] = {
    "internalServerException": "InternalServerException",
    "modelStreamErrorException": "ModelStreamErrorException",
    "validationException": "ValidationException",
    "throttlingException": "ThrottlingException",
    "serviceUnavailableException": "ServiceUnavailableException",
}


class BedrockModelSettings(BaseModel):
    """Client settings of the Bedrock runtime client (explicit timeouts; retries left to the engine)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    region: str | None = None
    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    read_timeout_seconds: float = Field(default=20.0, gt=0)
    max_pool_connections: int = Field(default=50, ge=1)


def map_error(error: Exception) -> ModelError:
    """The `ModelError` for a botocore failure (unknown client errors count as the model being unavailable)."""
    if isinstance(error, ClientError):  # EventStreamError is a ClientError too
        code = str(error.response.get("Error", {}).get("Code", ""))
        kind = ERROR_CODES.get(code, ModelUnavailableError)
        return kind(f"bedrock converse_stream failed: {code or 'unknown error'}")
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        return ModelTimeoutError("bedrock converse_stream timed out")
    if isinstance(error, EndpointConnectionError | BotoCoreError):
        return ModelUnavailableError(f"bedrock converse_stream failed: {type(error).__name__}")
    return ModelUnavailableError(f"bedrock converse_stream failed: {type(error).__name__}")


_DONE = object()


class BedrockConverseModel:
    """Streams Converse responses from Bedrock; one instance (and client) serves every turn of a process."""

    def __init__(
        self, settings: BedrockModelSettings | None = None, client_factory: Callable[[], Any] | None = None
    ) -> None:
        self.settings = settings or BedrockModelSettings()
        self._client_factory = client_factory or self._default_client
        self._client: Any = None
        self._lock = threading.Lock()

    def _default_client(self) -> Any:
        config = Config(
            connect_timeout=self.settings.connect_timeout_seconds,
            read_timeout=self.settings.read_timeout_seconds,
            retries={"mode": "standard", "max_attempts": 1},
            max_pool_connections=self.settings.max_pool_connections,
        )
        return boto3.client("bedrock-runtime", region_name=self.settings.region, config=config)

    @property
    def client(self) -> Any:
        """The bedrock-runtime client, created on first use (never at import)."""
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def converse_stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return self._stream(request)

    async def _stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def read() -> None:
            stream = None
            try:
                response = self.client.converse_stream(**request)
                stream = response["stream"]
                for event in stream:
                    if cancelled.is_set():
                        break
                    put(event)
            except Exception as e:  # handed to the loop and raised there, mapped
                put(e)
            finally:
                if stream is not None and hasattr(stream, "close"):
                    stream.close()
                put(_DONE)

        reader = loop.run_in_executor(None, read)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, Exception):
                    raise map_error(item) from item
                for name, code in STREAM_ERROR_EVENTS.items():
                    if name in item:
                        raise ERROR_CODES[code](f"bedrock stream error: {code}")
                yield item
        finally:
            # A consumer that stops early (deadline, cancellation) tells the thread to stop reading.
            cancelled.set()
            if reader.done():
                reader.result()


__all__ = ["BedrockConverseModel", "BedrockModelSettings", "map_error"]
