"""The typed frames that flow through a call's pipeline.

Audio frames are slotted dataclasses (they are the hot path: 50 a second each way per call); wire
messages are validated where they enter, in the serializers. Downstream means caller → speech →
caller; upstream means back towards the caller's input (e.g. a tool result going to the speech stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal


class Direction(Enum):
    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"


@dataclass(slots=True)
class Frame:
    """Base of every frame."""


# ------------------------------------------------------------------------------------------ audio
@dataclass(slots=True)
class CallerAudio(Frame):
    """What the caller said: PCM16 little-endian mono."""

    pcm: bytes
    sample_rate: int


@dataclass(slots=True)
class AgentAudio(Frame):
    """What the agent says: PCM16 little-endian mono, any chunk size (the output re-frames it)."""

    pcm: bytes
    sample_rate: int
    source: Literal["sonic", "synthesizer", "apology", "holding", "lifecycle"] = "sonic"
    created_at: float = 0.0  # loop time when the chunk left the speech stage (latency accounting)


# ------------------------------------------------------------------------------------------- text
@dataclass(slots=True)
class Transcript(Frame):
    """A line of the conversation. Only `final` ones are persisted or carried into a renewed session. `failed`:
    an assistant line said because the agent could not answer (recorded as a failed turn)."""

    role: Literal["user", "assistant"]
    text: str
    final: bool
    failed: bool = False


@dataclass(slots=True)
class TurnEnd(Frame):
    """The agent finished (or stopped) replying: END_TURN, INTERRUPTED or TOOL_USE."""

    stop_reason: str


@dataclass(slots=True)
class Usage(Frame):
    """Token use reported by the speech session since the previous Usage frame (deltas)."""

    speech_input_tokens: int = 0
    text_input_tokens: int = 0
    speech_output_tokens: int = 0
    text_output_tokens: int = 0


# ------------------------------------------------------------------------------------------ tools
@dataclass(slots=True)
class ToolCallFrame(Frame):
    """The speech model asks for a tool; the tenant agent answers it."""

    tool_use_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolResultFrame(Frame):
    """The tenant agent's answer to a tool call, travelling upstream to the speech session."""

    tool_use_id: str
    name: str
    status: str
    content: dict[str, Any]


# ---------------------------------------------------------------------------------------- control
@dataclass(slots=True)
class Interruption(Frame):
    """The caller barged in: drop every agent frame queued for the caller now."""


@dataclass(slots=True)
class Start(Frame):
    """The media stream started (Twilio `start`, Vonage's first JSON message, a local hello)."""

    call_id: str
    stream_id: str
    sample_rate: int
    encoding: Literal["mulaw", "l16"]
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Stop(Frame):
    """The call is over (provider `stop`, socket closed, or the bridge ends the call)."""

    reason: str


@dataclass(slots=True)
class Mark(Frame):
    """A named point in the outbound audio; the provider echoes it back when it has been played."""

    name: str


@dataclass(slots=True)
class Clear(Frame):
    """Tell the provider to discard audio it has buffered for the caller (Twilio `clear`)."""


@dataclass(slots=True)
class Renew(Frame):
    """The speech session was replaced by a fresh one (before Nova Sonic's session limit)."""

    session_number: int
    buffered_bytes: int
    reason: str = ""
    failover: bool = False  # the session it replaced had failed (not a planned renewal)


@dataclass(slots=True)
class ErrorFrame(Frame):
    """Something failed; `code` is a stable identifier, `message` is safe to log."""

    code: str
    message: str


@dataclass(slots=True)
class Fallback(Frame):
    """The call degraded: `to` is `cascaded` (recognizer → agent → synthesizer) or `apology`."""

    to: str
    reason: str


@dataclass(slots=True)
class Transfer(Frame):
    """Hand the caller to a human (the agent's Handoff, or the end of the degradation ladder)."""

    reason: str
    summary: str = ""


@dataclass(slots=True)
class Lifecycle(Frame):
    """The agent stopped taking conversations during the call (paused, stopped, deleted): what is queued for the
    caller is dropped, and the change is recorded with the call."""

    status: str
    action: str  # "handoff" (paused) or "end"
    version: int | None = None
