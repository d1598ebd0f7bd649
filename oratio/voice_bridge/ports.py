"""The speech ports the bridge depends on; AWS adapters (Nova Sonic, Transcribe streaming, Polly) and
local ones sit behind them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from oratio.voice_bridge.config import ToolSpec
from oratio.voice_bridge.frames import Frame


class HistoryLine(BaseModel):
    """A FINAL line of the conversation so far, replayed into a renewed speech session."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    role: str  # "user" | "assistant"
    text: str


class SpeechSession(Protocol):
    """One speech session (Nova Sonic, or the cascaded recognizer → agent → synthesizer): audio in,
    frames out (AgentAudio, Transcript, ToolCallFrame, Interruption, TurnEnd, Usage)."""

    kind: str  # "sonic" | "cascaded": recorded with renewals and fallbacks

    @property
    def audio_bytes_sent(self) -> int:
        """Caller PCM bytes this session has accepted (renewal accounting: nothing may be lost)."""
        ...

    async def send_audio(self, pcm: bytes) -> None: ...

    async def send_tool_result(self, tool_use_id: str, content: dict[str, object]) -> None: ...

    async def send_text(self, text: str) -> None:
        """The caller's words as text, to be answered like a spoken turn (a turn carried over from a session
        that died before answering it)."""
        ...

    def frames(self) -> AsyncIterator[Frame]:
        """Output frames in order; ends when the session ends, raises `SpeechSessionError` on failure."""
        ...

    async def close(self) -> None: ...


class SpeechSessionFactory(Protocol):
    kind: str

    async def open(self, system_prompt: str, history: list[HistoryLine], tools: tuple[ToolSpec, ...]) -> SpeechSession:
        """Open a session primed with the prompt and history; raise `SpeechSessionError` if it cannot."""
        ...


class RecognizedText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    text: str
    final: bool


class RecognitionStream(Protocol):
    """One streaming recognition (Transcribe streaming in AWS)."""

    async def send_audio(self, pcm: bytes) -> None: ...

    def results(self) -> AsyncIterator[RecognizedText]: ...

    async def close(self) -> None: ...


class SpeechRecognizer(Protocol):
    async def start(self, sample_rate: int) -> RecognitionStream: ...


class SpeechSynthesizer(Protocol):
    """Text to PCM16 at the call's rate (Polly in AWS)."""

    async def synthesize(self, text: str, sample_rate: int) -> bytes: ...


class SpeechError(Exception):
    """A speech dependency failed."""


class SpeechSessionError(SpeechError):
    """The speech-to-speech session failed to open or died."""


class RecognitionError(SpeechError):
    pass


class SynthesisError(SpeechError):
    pass
