"""Nova Sonic's bidirectional-stream events: what the bridge sends, and what it makes of what comes back.

Pure functions over the JSON event shapes of the Nova Sonic user guide ("Handling input events" /
"Handling output events" with the bidirectional API), so the session adapter stays a thin loop and the
local stand-in can be checked against the same shapes.

Input, in this order per session: sessionStart → promptStart (audio output at the call's rate, text
output, tool specs) → the system prompt as one SYSTEM TEXT content → the conversation so far as
USER/ASSISTANT TEXT contents (once, before any audio) → one interactive USER AUDIO content fed by many
audioInput events → tool results as TOOL contents while the audio content stays open → contentEnd,
promptEnd, sessionEnd to close.

Output: completionStart; contentStart (role, type, and `additionalModelFields` with generationStage
SPECULATIVE or FINAL); textOutput / audioOutput / toolUse; contentEnd with stopReason PARTIAL_TURN,
END_TURN, INTERRUPTED or TOOL_USE; usageEvent (cumulative and delta token counts); completionEnd.
A barge-in shows as a textOutput whose content is `{ "interrupted" : true }` and/or a contentEnd with
stopReason INTERRUPTED.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from oratio.voice_bridge.config import SonicSettings, ToolSpec
from oratio.voice_bridge.frames import (
    AgentAudio,
    Frame,
    Interruption,
    ToolCallFrame,
    Transcript,
    TurnEnd,
    Usage,
)

AUDIO_MEDIA_TYPE = "audio/lpcm"
SYSTEM_CONTENT = "system"
AUDIO_CONTENT = "caller-audio"
HISTORY_PREFIX = "history-"
TOOL_RESULT_PREFIX = "tool-result-"
CALLER_TEXT_PREFIX = "caller-text-"
# Sonic counts one history line against its input; very long lines are cut rather than rejected.
MAX_HISTORY_LINE_CHARS = 1_000


class SonicProtocolError(ValueError):
    """An output event the bridge cannot read (a broken stream, or a Sonic change to check)."""


def _event(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"event": {name: body}}


def session_start(settings: SonicSettings) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inferenceConfiguration": {
            "maxTokens": settings.max_tokens,
            "topP": settings.top_p,
            "temperature": settings.temperature,
        }
    }
    if settings.endpointing_sensitivity is not None:
        # Nova 2 Sonic nests turn detection in sessionStart; Nova Sonic v1 rejects the field.
        body["turnDetectionConfiguration"] = {"endpointingSensitivity": settings.endpointing_sensitivity}
    return _event("sessionStart", body)


def audio_configuration(sample_rate: int) -> dict[str, Any]:
    return {
        "mediaType": AUDIO_MEDIA_TYPE,
        "sampleRateHertz": sample_rate,
        "sampleSizeBits": 16,
        "channelCount": 1,
        "audioType": "SPEECH",
        "encoding": "base64",
    }


def prompt_start(
    prompt_name: str, settings: SonicSettings, sample_rate: int, tools: tuple[ToolSpec, ...]
) -> dict[str, Any]:
    output_audio = audio_configuration(sample_rate)
    output_audio["voiceId"] = settings.voice_id
    body: dict[str, Any] = {
        "promptName": prompt_name,
        "textOutputConfiguration": {"mediaType": "text/plain"},
        "audioOutputConfiguration": output_audio,
    }
    if tools:
        body["toolUseOutputConfiguration"] = {"mediaType": "application/json"}
        body["toolConfiguration"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": tool.name,
                        "description": tool.description,
                        # Sonic takes the JSON schema as a string.
                        "inputSchema": {"json": json.dumps(tool.input_schema, separators=(",", ":"))},
                    }
                }
                for tool in tools
            ]
        }
    return _event("promptStart", body)


def text_content(
    prompt_name: str, content_name: str, role: str, text: str, *, interactive: bool = False
) -> list[dict[str, Any]]:
    """A whole TEXT content: contentStart, textInput, contentEnd. Not interactive: the system prompt or a history
    line; interactive (USER, while the audio content is open): the caller's words as text, which Nova 2 Sonic
    answers like speech (cross-modal input)."""
    return [
        _event(
            "contentStart",
            {
                "promptName": prompt_name,
                "contentName": content_name,
                "type": "TEXT",
                "interactive": interactive,
                "role": role,
                "textInputConfiguration": {"mediaType": "text/plain"},
            },
        ),
        _event("textInput", {"promptName": prompt_name, "contentName": content_name, "content": text}),
        _event("contentEnd", {"promptName": prompt_name, "contentName": content_name}),
    ]


def caller_text(prompt_name: str, text: str) -> list[dict[str, Any]]:
    """A caller turn sent as interactive text (each in a content of its own, as cross-modal input requires)."""
    return text_content(prompt_name, f"{CALLER_TEXT_PREFIX}{uuid.uuid4()}", "USER", text, interactive=True)


def audio_content_start(prompt_name: str, sample_rate: int) -> dict[str, Any]:
    return _event(
        "contentStart",
        {
            "promptName": prompt_name,
            "contentName": AUDIO_CONTENT,
            "type": "AUDIO",
            "interactive": True,
            "role": "USER",
            "audioInputConfiguration": audio_configuration(sample_rate),
        },
    )


def audio_input_bytes(prompt_name: str, pcm: bytes) -> bytes:
    """One audioInput event, already serialized: the hot path builds the JSON text directly."""
    return _audio_input_prefix(prompt_name) + base64.b64encode(pcm) + b'"}}}'


@functools.lru_cache(maxsize=64)
def _audio_input_prefix(prompt_name: str) -> bytes:
    # Everything before the audio is the same for every chunk of a session's prompt: built once.
    return (
        b'{"event":{"audioInput":{"promptName":'
        + json.dumps(prompt_name).encode()
        + b',"contentName":"'
        + AUDIO_CONTENT.encode()
        + b'","content":"'
    )


def tool_result(prompt_name: str, tool_use_id: str, content: dict[str, Any]) -> list[dict[str, Any]]:
    content_name = f"{TOOL_RESULT_PREFIX}{tool_use_id}"
    return [
        _event(
            "contentStart",
            {
                "promptName": prompt_name,
                "contentName": content_name,
                "interactive": False,
                "type": "TOOL",
                "role": "TOOL",
                "toolResultInputConfiguration": {
                    "toolUseId": tool_use_id,
                    "type": "TEXT",
                    "textInputConfiguration": {"mediaType": "text/plain"},
                },
            },
        ),
        _event(
            "toolResult",
            {
                "promptName": prompt_name,
                "contentName": content_name,
                "content": json.dumps(content, separators=(",", ":"), default=str),
            },
        ),
        _event("contentEnd", {"promptName": prompt_name, "contentName": content_name}),
    ]


def closing(prompt_name: str, audio_open: bool) -> list[dict[str, Any]]:
    events = []
    if audio_open:
        events.append(_event("contentEnd", {"promptName": prompt_name, "contentName": AUDIO_CONTENT}))
    events.append(_event("promptEnd", {"promptName": prompt_name}))
    events.append(_event("sessionEnd", {}))
    return events


def opening(
    prompt_name: str,
    settings: SonicSettings,
    sample_rate: int,
    system_prompt: str,
    history: list[tuple[str, str]],
    tools: tuple[ToolSpec, ...],
) -> list[dict[str, Any]]:
    """Every event before the first audio chunk, in the order Sonic requires."""
    events = [session_start(settings), prompt_start(prompt_name, settings, sample_rate, tools)]
    events += text_content(prompt_name, SYSTEM_CONTENT, "SYSTEM", system_prompt)
    for index, (role, text) in enumerate(_trim_history(history, settings.history_max_chars)):
        events += text_content(prompt_name, f"{HISTORY_PREFIX}{index}", role.upper(), text[:MAX_HISTORY_LINE_CHARS])
    events.append(audio_content_start(prompt_name, sample_rate))
    return events


def _trim_history(history: list[tuple[str, str]], max_chars: int) -> list[tuple[str, str]]:
    """The newest lines that fit in `max_chars`, oldest first, starting with a USER line (Sonic expects
    the conversation to open with the caller)."""
    kept: list[tuple[str, str]] = []
    used = 0
    for role, text in reversed(history):
        cost = min(len(text), MAX_HISTORY_LINE_CHARS)
        if used + cost > max_chars:
            break
        kept.append((role, text))
        used += cost
    kept.reverse()
    while kept and kept[0][0] != "user":
        kept.pop(0)
    return kept


# ----------------------------------------------------------------------------------------- output
@dataclass(slots=True)
class OutputParser:
    """Turns one session's output events into frames, remembering each content block's role and stage."""

    sample_rate: int
    clock: Any = None  # callable returning loop time, stamped on audio frames for latency accounting
    _contents: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> (role, type, stage)
    _usage_seen: tuple[int, int, int, int] = (0, 0, 0, 0)
    _interrupted: bool = False  # one barge-in is reported by several events: emit one Interruption

    def parse(self, raw: bytes) -> list[Frame]:
        try:
            message = json.loads(raw)
            (name, body), *_ = message["event"].items()
        except (ValueError, KeyError, AttributeError, TypeError) as e:
            raise SonicProtocolError("unreadable Nova Sonic output event") from e
        handler = _HANDLERS.get(name)
        if handler is None:
            return []  # completionStart, completionEnd and events added later carry nothing for the call
        try:
            return handler(self, body)
        except (KeyError, TypeError, ValueError, binascii.Error) as e:
            raise SonicProtocolError(f"unreadable Nova Sonic {name} event") from e

    def _content_start(self, body: dict[str, Any]) -> list[Frame]:
        stage = "FINAL"
        extra = body.get("additionalModelFields")
        if extra:
            stage = str(json.loads(extra).get("generationStage", "FINAL"))
        self._contents[str(body["contentId"])] = (str(body.get("role", "")), str(body.get("type", "")), stage)
        return []

    def _text(self, body: dict[str, Any]) -> list[Frame]:
        content = str(body["content"])
        if _is_interruption(content):
            return self._interruption()
        role, _, stage = self._contents.get(
            str(body.get("contentId", "")), (str(body.get("role", "")), "TEXT", "FINAL")
        )
        speaker: Literal["user", "assistant"] = "user" if role == "USER" else "assistant"
        return [Transcript(role=speaker, text=content, final=stage == "FINAL")]

    def _interruption(self) -> list[Frame]:
        if self._interrupted:
            return []
        self._interrupted = True
        return [Interruption()]

    def _audio(self, body: dict[str, Any]) -> list[Frame]:
        self._interrupted = False
        pcm = binascii.a2b_base64(body["content"])  # b64decode without its Python wrapper: a hot path
        return [AgentAudio(pcm=pcm, sample_rate=self.sample_rate, created_at=self.clock() if self.clock else 0.0)]

    def _tool_use(self, body: dict[str, Any]) -> list[Frame]:
        raw = body.get("content") or "{}"
        arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
        if not isinstance(arguments, dict):
            raise ValueError("tool input is not an object")
        return [ToolCallFrame(tool_use_id=str(body["toolUseId"]), name=str(body["toolName"]), arguments=arguments)]

    def _content_end(self, body: dict[str, Any]) -> list[Frame]:
        role, _, _ = self._contents.pop(str(body.get("contentId", "")), (str(body.get("role", "")), "", ""))
        reason = str(body.get("stopReason", ""))
        if reason == "INTERRUPTED":
            return [*self._interruption(), TurnEnd(reason)]
        # The caller's transcript also ends with END_TURN: only the agent's turn end is a turn boundary.
        if reason == "TOOL_USE" or (reason == "END_TURN" and role == "ASSISTANT"):
            return [TurnEnd(reason)]
        return []

    def _usage(self, body: dict[str, Any]) -> list[Frame]:
        total = body.get("details", {}).get("total", {})
        seen = (
            int(total.get("input", {}).get("speechTokens", 0)),
            int(total.get("input", {}).get("textTokens", 0)),
            int(total.get("output", {}).get("speechTokens", 0)),
            int(total.get("output", {}).get("textTokens", 0)),
        )
        # Totals are cumulative per session: report what is new since the last event.
        delta = tuple(max(0, now - before) for now, before in zip(seen, self._usage_seen, strict=True))
        self._usage_seen = seen
        if not any(delta):
            return []
        return [Usage(*delta)]


def _is_interruption(content: str) -> bool:
    text = content.strip()
    if not text.startswith("{"):
        return False
    try:
        return bool(json.loads(text).get("interrupted"))
    except (ValueError, AttributeError):
        return False


_HANDLERS = {
    "contentStart": OutputParser._content_start,
    "textOutput": OutputParser._text,
    "audioOutput": OutputParser._audio,
    "toolUse": OutputParser._tool_use,
    "contentEnd": OutputParser._content_end,
    "usageEvent": OutputParser._usage,
}
