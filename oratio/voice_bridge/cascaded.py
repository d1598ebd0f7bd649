"""The cascaded speech path: streaming recognition → tenant agent → text-to-speech, behind the same
`SpeechSession` port as Nova Sonic, so the speech stage degrades to it without the rest of the call
noticing. Amazon Transcribe streaming and Polly sit behind the recognizer/synthesizer ports in AWS.

Each FINAL recognized line is one agent turn (`UserMessage`); the reply's sentence-sized text chunks are
synthesized and spoken as they arrive. Caller speech while the agent talks (a partial result) is a
barge-in: the reply stops and an Interruption goes down the pipeline. An agent that fails or does not answer
within `agent_turn_timeout_seconds` gets the caller the trouble line (recorded as a failed turn) and the call
goes on: one failed turn is not a broken speech path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from oratio.agent.contracts import (
    Acknowledgement,
    CustomerIdentity,
    EndCall,
    ErrorEvent,
    Handoff,
    InvocationRequest,
    TextChunk,
    UserMessage,
)
from oratio.config.tenant import Channel
from oratio.voice_bridge.config import BridgeSettings, ToolSpec
from oratio.voice_bridge.frames import AgentAudio, Frame, Interruption, Stop, Transcript, Transfer, TurnEnd
from oratio.voice_bridge.ports import (
    HistoryLine,
    RecognitionStream,
    SpeechError,
    SpeechRecognizer,
    SpeechSessionError,
    SpeechSynthesizer,
)

logger = logging.getLogger(__name__)

_END = object()


class CascadedSession:
    kind = "cascaded"

    def __init__(
        self,
        settings: BridgeSettings,
        stream: RecognitionStream,
        agent: Any,
        synthesizer: SpeechSynthesizer,
        call_id: Callable[[], str],
        customer: Callable[[], CustomerIdentity | None],
    ) -> None:
        self.settings = settings
        self._stream = stream
        self._agent = agent
        self._synthesizer = synthesizer
        self._call_id = call_id
        self._customer = customer
        self._out: asyncio.Queue[Frame | object] = asyncio.Queue()
        self._audio_bytes = 0
        self._reply: asyncio.Task[None] | None = None
        self._listener = asyncio.create_task(self._listen())
        self._closed = False

    @property
    def audio_bytes_sent(self) -> int:
        return self._audio_bytes

    async def send_audio(self, pcm: bytes) -> None:
        await self._stream.send_audio(pcm)
        self._audio_bytes += len(pcm)

    async def send_tool_result(self, tool_use_id: str, content: dict[str, object]) -> None:
        """Tools run inside the agent on this path; there is nothing to send back."""

    async def send_text(self, text: str) -> None:
        """A turn carried over from a session that died before answering it: answered as if just heard."""
        self._start_reply(text)

    async def frames(self) -> AsyncIterator[Frame]:
        while True:
            item = await self._out.get()
            if item is _END:
                return
            if isinstance(item, SpeechSessionError):
                raise item
            if isinstance(item, Frame):
                yield item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in (self._listener, self._reply):
            if task is not None:
                task.cancel()
        with contextlib.suppress(Exception):
            await self._stream.close()
        self._out.put_nowait(_END)

    async def _listen(self) -> None:
        try:
            async for result in self._stream.results():
                if not result.final:
                    if self._reply is not None and not self._reply.done():
                        self._reply.cancel()  # the caller talks over the agent: stop speaking
                        self._out.put_nowait(Interruption())
                    continue
                text = result.text.strip()
                if not text:
                    continue
                self._out.put_nowait(Transcript(role="user", text=text, final=True))
                self._start_reply(text)
            self._out.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except SpeechError as e:
            self._out.put_nowait(SpeechSessionError(f"recognition failed: {e}"))
        except Exception as e:
            logger.exception("cascaded recognition failed")
            self._out.put_nowait(SpeechSessionError(f"recognition failed ({type(e).__name__})"))

    def _start_reply(self, text: str) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.cancel()
        self._reply = asyncio.create_task(self._answer(text))

    async def _answer(self, text: str) -> None:
        request = InvocationRequest(
            tenant_id=self.settings.tenant_id,
            agent_id=self.settings.agent_id,
            channel=Channel.VOICE,
            customer=self._customer(),
            session_id=self._call_id(),
            input=UserMessage(text=text),
        )
        spoken: list[str] = []
        rate = self.settings.sample_rate
        ending = False
        try:
            async with asyncio.timeout(self.settings.agent_turn_timeout_seconds):
                async for event in self._agent.invoke(request, self._call_id()):
                    if isinstance(event, TextChunk | Acknowledgement) and event.text.strip():
                        pcm = await self._synthesizer.synthesize(event.text, rate)
                        if isinstance(event, TextChunk):
                            spoken.append(event.text.strip())
                        self._out.put_nowait(AgentAudio(pcm, rate, source="synthesizer"))
                    elif isinstance(event, ErrorEvent) and not spoken:
                        spoken.append(event.message)
                        self._out.put_nowait(
                            AgentAudio(
                                await self._synthesizer.synthesize(event.message, rate), rate, source="synthesizer"
                            )
                        )
                    elif isinstance(event, Handoff):
                        self._out.put_nowait(Transfer(event.reason, event.summary))
                    elif isinstance(event, EndCall):
                        ending = True
        except SpeechError as e:
            self._out.put_nowait(SpeechSessionError(f"speaking the reply failed: {e}"))
            return
        except Exception as e:  # AgentClientError, a timeout: this turn failed, the speech path still works
            logger.warning("cascaded agent turn failed: %s", type(e).__name__)
            if not spoken:
                await self._say_trouble()
                return
        if spoken:
            self._out.put_nowait(Transcript(role="assistant", text=" ".join(spoken), final=True))
        self._out.put_nowait(TurnEnd("END_TURN"))
        if ending:
            self._out.put_nowait(Stop("agent_ended_call"))

    async def _say_trouble(self) -> None:
        text, rate = self.settings.trouble_text, self.settings.sample_rate
        try:
            pcm = await self._synthesizer.synthesize(text, rate)
        except SpeechError as e:
            self._out.put_nowait(SpeechSessionError(f"speaking the trouble line failed: {e}"))
            return
        self._out.put_nowait(AgentAudio(pcm, rate, source="synthesizer"))
        self._out.put_nowait(Transcript(role="assistant", text=text, final=True, failed=True))
        self._out.put_nowait(TurnEnd("END_TURN"))


class CascadedSessionFactory:
    """Opens cascaded sessions; the conversation so far lives in the tenant agent's own memory."""

    kind = "cascaded"

    def __init__(
        self,
        settings: BridgeSettings,
        recognizer: SpeechRecognizer,
        agent: Any,
        synthesizer: SpeechSynthesizer,
        *,
        call_id: Callable[[], str],
        customer: Callable[[], CustomerIdentity | None],
    ) -> None:
        self.settings = settings
        self._recognizer = recognizer
        self._agent = agent
        self._synthesizer = synthesizer
        self._call_id = call_id
        self._customer = customer

    async def open(
        self, system_prompt: str, history: list[HistoryLine], tools: tuple[ToolSpec, ...]
    ) -> CascadedSession:
        try:
            stream = await self._recognizer.start(self.settings.sample_rate)
        except SpeechError as e:
            raise SpeechSessionError(f"speech recognition is unavailable: {e}") from e
        return CascadedSession(self.settings, stream, self._agent, self._synthesizer, self._call_id, self._customer)
