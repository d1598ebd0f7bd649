"""Nova Sonic speech sessions over the bidirectional stream of `aws-sdk-bedrock-runtime` (the `SpeechSession`
port of the voice bridge).

The SDK signs every input event (SigV4 event-stream chaining), so sends on one stream are serialized by a
lock; reading runs in the caller's task through `frames()`. Bidirectional streams need HTTP/2, which only
the awscrt transport speaks (the default aiohttp transport refuses duplex streams), so the client is
always built with `AWSCRTHTTPClient`. `ca_file` makes the transport trust one extra certificate
authority: the local Nova Sonic stand-in's, in tests and local calls; never set when deployed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aws_sdk_bedrock_runtime.client import AsyncBedrockRuntimeClient
from aws_sdk_bedrock_runtime.config import AsyncBedrockRuntimeConfig
from aws_sdk_bedrock_runtime.models import (
    BidirectionalInputPayloadPart,
    InvokeModelWithBidirectionalStreamInputChunk,
    InvokeModelWithBidirectionalStreamOperationInput,
    InvokeModelWithBidirectionalStreamOutputChunk,
)
from awscrt import io as crt_io
from smithy_http.aio.crt import AWSCRTHTTPClient

from oratio.voice_bridge import sonic_protocol as protocol
from oratio.voice_bridge.config import SonicSettings, ToolSpec
from oratio.voice_bridge.frames import Frame
from oratio.voice_bridge.ports import HistoryLine, SpeechSessionError

logger = logging.getLogger(__name__)


class NovaSonicOpenError(SpeechSessionError):
    """The session could not be opened (refused, unreachable, or too slow to answer)."""


class NovaSonicStreamError(SpeechSessionError):
    """The open session failed: an exception event, a broken connection, or an unreadable event."""


def crt_transport(ca_file: Path | None = None) -> AWSCRTHTTPClient:
    """The HTTP/2 transport; with `ca_file`, certificates signed by that authority are trusted too."""
    transport = AWSCRTHTTPClient()
    if ca_file is not None:
        options = crt_io.TlsContextOptions()
        options.override_default_trust_store_from_path(None, str(ca_file))
        # The transport builds its TLS context in __init__ and offers no option for a custom trust store.
        transport._tls_ctx = crt_io.ClientTlsContext(options)
    return transport


async def build_client(
    settings: SonicSettings, *, ca_file: Path | None = None, **overrides: Any
) -> AsyncBedrockRuntimeClient:
    """A Bedrock Runtime client for Sonic: region and endpoint from `settings`, credentials from the SDK's
    default chain (the runtime's role when deployed) unless `overrides` give static ones."""
    config = await AsyncBedrockRuntimeConfig.resolve(
        region=settings.region,
        endpoint_uri=settings.endpoint_uri,
        transport=crt_transport(ca_file),
        **overrides,
    )
    return AsyncBedrockRuntimeClient(config=config)


class NovaSonicSession:
    """One open Nova Sonic session: the prompt's audio content is open until `close()`."""

    kind = "sonic"

    def __init__(
        self, stream: Any, output: Any, prompt_name: str, sample_rate: int, *, close_timeout_seconds: float
    ) -> None:
        self._stream = stream
        self._output = output
        self.prompt_name = prompt_name
        self._close_timeout = close_timeout_seconds
        self._parser = protocol.OutputParser(sample_rate, clock=time.perf_counter)
        self._lock = asyncio.Lock()
        self._closed = False
        self._audio_bytes = 0

    @property
    def audio_bytes_sent(self) -> int:
        return self._audio_bytes

    async def _send_raw(self, payload: bytes) -> None:
        chunk = InvokeModelWithBidirectionalStreamInputChunk(value=BidirectionalInputPayloadPart(bytes_=payload))
        try:
            async with self._lock:
                await self._stream.input_stream.send(chunk)
        except Exception as e:  # OSError from the publisher, CRT errors: the stream is gone
            raise NovaSonicStreamError(f"sending to Nova Sonic failed ({type(e).__name__})") from e

    async def _send_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            await self._send_raw(json.dumps(event, separators=(",", ":")).encode())

    async def send_audio(self, pcm: bytes) -> None:
        if self._closed:
            raise NovaSonicStreamError("the session is closed")
        await self._send_raw(protocol.audio_input_bytes(self.prompt_name, pcm))
        self._audio_bytes += len(pcm)

    async def send_tool_result(self, tool_use_id: str, content: dict[str, object]) -> None:
        await self._send_events(protocol.tool_result(self.prompt_name, tool_use_id, dict(content)))

    async def send_text(self, text: str) -> None:
        if self._closed:
            raise NovaSonicStreamError("the session is closed")
        await self._send_events(protocol.caller_text(self.prompt_name, text))

    async def frames(self) -> AsyncIterator[Frame]:
        while True:
            try:
                event = await self._output.receive()
            except Exception as e:  # modelled exception events are raised by the SDK's receiver
                if self._closed:
                    return
                raise NovaSonicStreamError(f"Nova Sonic stream failed: {type(e).__name__}") from e
            if event is None:
                return
            if not isinstance(event, InvokeModelWithBidirectionalStreamOutputChunk) or event.value.bytes_ is None:
                continue
            try:
                frames = self._parser.parse(event.value.bytes_)
            except protocol.SonicProtocolError as e:
                raise NovaSonicStreamError(str(e)) from e
            for frame in frames:
                yield frame

    async def close(self) -> None:
        """End the session (closing events, then the stream), bounded: a dead or stalled stream whose sends no
        longer complete must not hold the call open."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._send_events(protocol.closing(self.prompt_name, audio_open=True))
                async with self._lock:
                    await self._stream.input_stream.close()
        except Exception as e:  # closing a dead stream (or one that no longer takes input): nothing more to tell it
            logger.info("nova sonic session closed uncleanly: %s", type(e).__name__)
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._stream.close()
        except Exception as e:
            logger.info("nova sonic stream close failed: %s", type(e).__name__)


class NovaSonicSessionFactory:
    """Opens sessions with the system prompt, the conversation so far, and the bridge's tools."""

    kind = "sonic"

    def __init__(self, client: AsyncBedrockRuntimeClient, settings: SonicSettings, sample_rate: int) -> None:
        self._client = client
        self._settings = settings
        self._sample_rate = sample_rate

    async def open(
        self, system_prompt: str, history: list[HistoryLine], tools: tuple[ToolSpec, ...]
    ) -> NovaSonicSession:
        prompt_name = f"prompt-{uuid.uuid4()}"
        events = protocol.opening(
            prompt_name,
            self._settings,
            self._sample_rate,
            system_prompt,
            [(line.role, line.text) for line in history],
            tools,
        )
        stream: Any = None
        try:
            async with asyncio.timeout(self._settings.open_timeout_seconds):
                stream = await self._client.invoke_model_with_bidirectional_stream(
                    InvokeModelWithBidirectionalStreamOperationInput(model_id=self._settings.model_id)
                )
                session = NovaSonicSession(
                    stream,
                    None,
                    prompt_name,
                    self._sample_rate,
                    close_timeout_seconds=self._settings.close_timeout_seconds,
                )
                await session._send_events(events)
                _, output = await stream.await_output()
                session._output = output
                return session
        except TimeoutError as e:
            await _close_quietly(stream)
            raise NovaSonicOpenError("Nova Sonic did not answer in time") from e
        except NovaSonicStreamError as e:
            await _close_quietly(stream)
            raise NovaSonicOpenError(str(e)) from e
        except Exception as e:  # access denied, validation, throttling, unreachable endpoint
            await _close_quietly(stream)
            raise NovaSonicOpenError(f"Nova Sonic refused the session ({type(e).__name__})") from e

    async def aclose(self) -> None:
        await self._client.close()


async def _close_quietly(stream: Any) -> None:
    if stream is None:
        return
    try:
        await stream.close()
    except Exception as e:
        logger.debug("closing a failed stream: %s", type(e).__name__)
