"""A local stand-in for Amazon Nova Sonic's bidirectional stream, for tests and local spoken calls.

It speaks the real wire protocol, so the bridge is driven through the real `aws-sdk-bedrock-runtime`
client: HTTP/2 over TLS on 127.0.0.1 (hypercorn, with a throw-away certificate authority from `trustme`
that the client is told to trust), `POST /model/{modelId}/invoke-with-bidirectional-stream`, and AWS
event-stream framing (`application/vnd.amazon.eventstream`, encoded and decoded with
`smithy-aws-event-stream`, the library the SDK itself uses). Each input event arrives SigV4-signed in an
envelope (`:date`, `:chunk-signature`); the signature is not checked, the framing and order are.

What it is not: a speech model. It follows a `Scenario`: it detects the caller's turns by audio energy
(voiced 20 ms frames, then `silence_ms` of quiet, measured in audio time so tests are deterministic), and
answers each with the scripted ASR transcript, optional toolUse (then waits for the TOOL result), a
SPECULATIVE text preview, audio (a tone, sent faster than real time as Sonic does), the FINAL text, and a
usageEvent. Caller speech during the audio is a barge-in: it stops and reports the interruption. A caller turn
sent as interactive USER text (Nova 2 Sonic's cross-modal input) is answered like a spoken one. It can also
refuse to open, fail mid-call and expire sessions, as the real service does, and fail the ways a network and a
busy service do (`Scenario` fault modes): go silent mid-reply without an error event, have its connection reset
mid-reply, have its TLS connection closed while a tool runs, give up waiting for a slow tool. A faulted turn
is put back, so the session the bridge opens next answers it when asked again. Connection faults need the
stand-in's TCP relay in front of the server (started only for scenarios that use them). Input the real service
would reject (an audio format its reference does not list, a tool result naming no toolUse of the session) gets
a validationException. `python -m oratio_local.sonic_standin` runs it as a process of its own.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import contextlib
import dataclasses
import io
import json
import logging
import math
import socket
import ssl
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from pydantic import BaseModel, ConfigDict, Field
from smithy_aws_event_stream.events import Event, EventMessage

logger = logging.getLogger(__name__)

FRAME_MS = 20
VOICE_RMS = 400.0  # PCM16 RMS above which a 20 ms frame counts as speech
EVENT_STREAM = b"application/vnd.amazon.eventstream"
PATH_SUFFIX = "/invoke-with-bidirectional-stream"
DRAIN_SECONDS = 2.0

# The audio formats the Nova 2 Sonic user guide documents for audioInputConfiguration and audioOutputConfiguration
# ("Handling input events with the bidirectional API"): 16-bit mono LPCM at 8, 16 or 24 kHz, base64.
SONIC_SAMPLE_RATES = frozenset({8_000, 16_000, 24_000})
SONIC_AUDIO_FORMAT = {"mediaType": "audio/lpcm", "sampleSizeBits": 16, "channelCount": 1, "encoding": "base64"}

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class ToolUse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Turn(BaseModel):
    """What the stand-in 'hears' and says for one caller turn. `{tool_result}` in `reply` is replaced by
    the TOOL content the bridge sends back, `{tool_summary}` by its first passage in a sentence (the way a
    model would say it rather than read JSON aloud)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heard: str
    reply: str
    tool: ToolUse | None = None
    reply_seconds: float = Field(default=0.6, gt=0)


NOTHING_FOUND = "I couldn't find that just now."


def tool_summary(result: str, max_chars: int = 160) -> str:
    """The first knowledge passage of a tool result as a sentence a caller can follow (a catalogue entry's fields
    said, not read out), cut at a sentence or a word. Never the raw tool record: without a passage, a spoken
    "nothing found"."""
    from oratio_local.rule_model import speakable

    try:
        passages = json.loads(result).get("passages") or []
        text = speakable(str(passages[0]["text"]))
    except (ValueError, AttributeError, LookupError, TypeError):
        return NOTHING_FOUND
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return cut[: end + 1] if end > 40 else cut.rsplit(" ", 1)[0] + "…"


class Scenario(BaseModel):
    """A scripted Sonic. Turns are consumed across sessions (a renewed session continues the script)."""

    model_config = ConfigDict(extra="forbid")

    turns: list[Turn] = Field(default_factory=list)
    silence_ms: int = 200
    speed: float = Field(default=8.0, gt=0, description="audio is sent this many times faster than real time")
    refuse_sessions: set[int] = Field(default_factory=set, description="session numbers (1-based) refused at open")
    refuse_all_after: int | None = Field(default=None, description="refuse every session after this number")
    fail_after_turns: int | None = Field(default=None, description="modelStreamErrorException after N turns")
    expire_after_seconds: float | None = Field(default=None, description="session ends with an error after this")
    tool_wait_seconds: float = Field(default=5.0, description="how long a toolUse waits for its result, then fails")
    sample_rate: int = 8_000
    loop_per_session: bool = Field(
        default=False,
        description="each session plays the turns from the first, looping (independent concurrent calls, e.g. "
        "the bench), instead of one script continued across sessions",
    )
    # Faults, by turn number (1-based, in script order), each happening once: the stream stops sending mid-reply
    # (no error event, the connection stays open); the connection is reset (TCP RST) mid-reply; the TLS
    # connection is closed while the bridge runs the turn's tool.
    stall_on_turns: set[int] = Field(default_factory=set)
    reset_on_turns: set[int] = Field(default_factory=set)
    close_during_tool_on_turns: set[int] = Field(default_factory=set)

    @property
    def cuts_connections(self) -> bool:
        return bool(self.reset_on_turns or self.close_during_tool_on_turns)


@dataclass
class SessionLog:
    """What one session received and sent: the tests' evidence."""

    number: int
    model_id: str
    signed: bool = False
    events: list[str] = field(
        default_factory=list
    )  # input event names in order (contentStart as "contentStart:TYPE:ROLE")
    history: list[tuple[str, str]] = field(default_factory=list)
    system_prompt: str = ""
    voice_id: str = ""
    tools: list[str] = field(default_factory=list)
    audio_rate: int | None = None
    output_rate: int | None = None
    refusal: str | None = None  # the validationException the stand-in answered an input event with
    audio_bytes: int = 0
    audio_event_bytes: list[int] = field(default_factory=list)  # PCM bytes of each audioInput event, in order
    tool_results: dict[str, str] = field(default_factory=dict)
    turns_answered: int = 0
    interrupted: int = 0
    closed_cleanly: bool = False
    refused: bool = False
    text_turns: list[str] = field(default_factory=list)  # caller turns sent as interactive text
    faults: list[str] = field(default_factory=list)  # "stall:2", "reset:1", "tls_close:3", "tool_timeout:1"
    # time.monotonic() when each reply's first audioOutput was handed to the server (the bench's latency anchor)
    reply_audio_at: list[float] = field(default_factory=list)


class WireObserver(Protocol):
    """Told of every event message a session reads from the client and writes to it (the call replay's clock
    counts the messages in flight between the SDK's native transport threads and the stand-in)."""

    def read(self, session: int) -> None: ...

    def written(self, session: int) -> None: ...

    def refused(self, session: int) -> None:
        """The session is refused at open: what the client sent on it is never read (its end is `written`)."""


class SonicStandIn:
    """Run with `async with SonicStandIn(scenario) as sonic:`; point the SDK at `sonic.endpoint` and trust
    `sonic.ca_file`."""

    def __init__(self, scenario: Scenario | None = None, *, observer: WireObserver | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.observer = observer
        self.sessions: list[SessionLog] = []
        self._next_turn = 0
        self._faulted: set[str] = set()
        self._dir = tempfile.TemporaryDirectory(prefix="sonic-standin-")
        self._shutdown = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._relay: _Relay | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return Path(self._dir.name) / "ca.pem"

    async def __aenter__(self) -> SonicStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        folder = Path(self._dir.name)
        cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
        ca.cert_pem.write_to_path(str(self.ca_file))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            server_port = probe.getsockname()[1]
        config = HypercornConfig()
        config.bind = [f"127.0.0.1:{server_port}"]
        config.certfile = config.keyfile = str(folder / "server.pem")
        config.alpn_protocols = ["h2"]
        config.accesslog = None
        config.errorlog = logging.getLogger("oratio_local.sonic_standin.server")
        config.errorlog.setLevel(logging.CRITICAL)
        self._task = asyncio.create_task(serve(self._app, config, shutdown_trigger=self._shutdown.wait))  # type: ignore[arg-type]
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", server_port)
                writer.close()
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("the Sonic stand-in did not start")
        self.port = server_port
        if self.scenario.cuts_connections:
            self._relay = _Relay(server_port)
            self.port = await self._relay.start()

    async def cut_connections(self, *, reset: bool) -> None:
        """Drop every client connection: reset (TCP RST) or closed (the TLS connection ends without a reply)."""
        if self._relay is None:
            raise RuntimeError("connection faults need the relay: use a scenario with reset or close faults")
        await self._relay.cut(reset=reset)

    def fault_due(self, kind: str, turn_number: int, turns: set[int]) -> bool:
        """Whether fault `kind` happens on this turn now (once per turn); when it does, the turn is put back."""
        key = f"{kind}:{turn_number}"
        if turn_number not in turns or key in self._faulted:
            return False
        self._faulted.add(key)
        self.put_back(turn_number)
        return True

    def put_back(self, turn_number: int) -> None:
        """The turn was not answered: the next caller turn (spoken or sent as text) gets it again."""
        self._next_turn = min(self._next_turn, turn_number - 1)

    async def stop(self) -> None:
        if self._relay is not None:
            await self._relay.close()
        self._shutdown.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
        self._dir.cleanup()

    def take_turn(self) -> tuple[int, Turn] | None:
        """The next scripted turn and its number (1-based), or None when the script is done."""
        if self._next_turn >= len(self.scenario.turns):
            return None
        turn = self.scenario.turns[self._next_turn]
        self._next_turn += 1
        return self._next_turn, turn

    # --------------------------------------------------------------------------------- ASGI
    async def _app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or scope["method"] != "POST" or not path.endswith(PATH_SUFFIX):
            await _plain(send, 404, b'{"message":"not found"}')
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        log = SessionLog(
            number=len(self.sessions) + 1,
            model_id=path.removeprefix("/model/").removesuffix(PATH_SUFFIX),
            signed=headers.get("authorization", "").startswith("AWS4-HMAC-SHA256")
            and headers.get("x-amz-content-sha256") == "STREAMING-AWS4-HMAC-SHA256-EVENTS",
        )
        self.sessions.append(log)
        scenario = self.scenario
        if log.number in scenario.refuse_sessions or (
            scenario.refuse_all_after is not None and log.number > scenario.refuse_all_after
        ):
            log.refused = True
            if self.observer is not None:
                self.observer.refused(log.number)
            # The body stays open until the client is done with its side: hypercorn drops a stream whose
            # response completed and then fails the whole connection on the client's next data frame.
            await _plain(
                send,
                503,
                b'{"message":"Service unavailable (stand-in)"}',
                error="ServiceUnavailableException",
                more=True,
            )
            await _drain(receive)
            if self.observer is not None:
                self.observer.written(log.number)  # the refusal's end, on its way to the client
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", EVENT_STREAM)]})
        session = _Session(self, log, send)
        await session.run(receive)


async def _plain(send: Send, status: int, body: bytes, error: str | None = None, *, more: bool = False) -> None:
    headers = [(b"content-type", b"application/json")]
    if error:
        headers.append((b"x-amzn-errortype", error.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def _drain(receive: Receive) -> None:
    """Read the request until the stream closes: hypercorn's HTTP/2 connection fails if a stream's app
    returns while the client is still sending on it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass


def audio_configuration_problem(config: object) -> str | None:
    """What Nova Sonic's reference does not allow in an audio configuration, or None if it is a documented one."""
    if not isinstance(config, dict):
        return "missing"
    rate = config.get("sampleRateHertz")
    if rate not in SONIC_SAMPLE_RATES:
        return f"sampleRateHertz {rate!r} is not one of {sorted(SONIC_SAMPLE_RATES)}"
    for key, expected in SONIC_AUDIO_FORMAT.items():
        if config.get(key) != expected:
            return f"{key} must be {expected!r}, got {config.get(key)!r}"
    return None


def rms(pcm: bytes) -> float:
    """Root-mean-square level of PCM16 audio: how the stand-ins tell speech (≥ `VOICE_RMS`) from silence."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def tone(sample_rate: int, seconds: float, frequency: float = 330.0, amplitude: int = 6_000) -> bytes:
    samples = array.array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * frequency * n / sample_rate))
            for n in range(int(sample_rate * seconds))
        ),
    )
    return samples.tobytes()


class _Session:
    """One bidirectional stream: reads input events, detects caller turns, plays the scenario."""

    def __init__(self, server: SonicStandIn, log: SessionLog, send: Send) -> None:
        self.server = server
        self.log = log
        self._send = send
        self._send_lock = asyncio.Lock()
        self.prompt_name = ""
        self.rate = server.scenario.sample_rate
        self.voiced_ms = 0
        self.quiet_ms = 0
        self.in_turn = False
        self.speaking = False
        self.barge_in = asyncio.Event()
        self.tool_results: dict[str, asyncio.Future[str]] = {}
        self.finished = False
        self.usage = [0, 0, 0, 0]
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = b""
        self._ended = False
        self._content_interactive = False
        self.stalled = False  # the stream stopped sending (a stall fault): it still reads, it never answers
        self._turns_taken = 0
        self.output_rate = self.rate
        self._tool_contents: dict[str, str] = {}  # TOOL contentName -> the toolUseId it answers

    def _take_turn(self) -> tuple[int, Turn] | None:
        """The next scripted turn and its number (1-based, in script order): the server's shared script, or with
        `loop_per_session` this session's own pass through it (looping)."""
        scenario = self.server.scenario
        if not scenario.loop_per_session:
            return self.server.take_turn()
        if not scenario.turns:
            return None
        index = self._turns_taken % len(scenario.turns)
        self._turns_taken += 1
        return index + 1, scenario.turns[index]

    async def run(self, receive: Receive) -> None:
        expiry = self.server.scenario.expire_after_seconds
        if expiry is not None:
            self._spawn(self._expire(expiry))
        buffer = b""
        message: dict[str, Any] = {"type": "http.request"}
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                buffer += message.get("body", b"")
                while len(buffer) >= 4 and len(buffer) >= int.from_bytes(buffer[:4], "big"):
                    total = int.from_bytes(buffer[:4], "big")
                    frame, buffer = buffer[:total], buffer[total:]
                    if self.server.observer is not None:
                        self.server.observer.read(self.log.number)
                    if not self.finished:
                        await self._envelope(frame)
                # Read the request to its end even after the response ended (an error, an expiry): the
                # HTTP/2 stream must stay known to the server until the client closes its side.
                if not message.get("more_body", False):
                    break
        finally:
            for task in self._tasks:
                task.cancel()
            await self._end_response()
            if message["type"] != "http.disconnect":
                await _drain(receive)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _envelope(self, raw: bytes) -> None:
        outer = Event.decode(io.BytesIO(raw))
        if outer is None:
            return
        if not outer.message.payload:  # the signed empty frame that ends the input stream
            return
        inner = Event.decode(io.BytesIO(outer.message.payload))
        if inner is None or inner.message.headers.get(":event-type") != "chunk":
            return
        body = json.loads(inner.message.payload)
        await self._input(json.loads(base64.b64decode(body["bytes"])))

    async def _input(self, message: dict[str, Any]) -> None:
        (name, body), *_ = message["event"].items()
        if name == "contentStart":
            self.log.events.append(f"contentStart:{body.get('type')}:{body.get('role')}")
            kind = body.get("type")
            if kind == "AUDIO":
                problem = audio_configuration_problem(body.get("audioInputConfiguration"))
                if problem:
                    await self._refuse(f"audioInputConfiguration: {problem}")
                    return
                self.rate = int(body["audioInputConfiguration"]["sampleRateHertz"])
                self.log.audio_rate = self.rate
            elif kind == "TOOL":
                # The result belongs to the toolUse named in its configuration, whatever the content is called.
                tool_use_id = (body.get("toolResultInputConfiguration") or {}).get("toolUseId")
                if not tool_use_id:
                    await self._refuse("a TOOL content needs toolResultInputConfiguration.toolUseId")
                    return
                self._tool_contents[str(body.get("contentName"))] = str(tool_use_id)
            self._content_role = str(body.get("role"))
            self._content_interactive = bool(body.get("interactive"))
            return
        self.log.events.append(name)
        if name == "promptStart":
            self.prompt_name = str(body["promptName"])
            self.log.voice_id = str(body.get("audioOutputConfiguration", {}).get("voiceId", ""))
            problem = audio_configuration_problem(body.get("audioOutputConfiguration"))
            if problem:
                await self._refuse(f"audioOutputConfiguration: {problem}")
                return
            self.output_rate = int(body["audioOutputConfiguration"]["sampleRateHertz"])
            self.log.output_rate = self.output_rate
            tools = body.get("toolConfiguration", {}).get("tools", [])
            self.log.tools = [t["toolSpec"]["name"] for t in tools]
        elif name == "textInput":
            if self._content_role == "SYSTEM":
                self.log.system_prompt = str(body["content"])
            elif self._content_role == "USER" and self._content_interactive:
                # Cross-modal input: a caller turn as text, answered like a spoken one.
                self.log.text_turns.append(str(body["content"]))
                self._start_answer(spoken=False)
            else:
                self.log.history.append((self._content_role.lower(), str(body["content"])))
        elif name == "audioInput":
            await self._audio(base64.b64decode(body["content"]))
        elif name == "toolResult":
            content_name = str(body.get("contentName"))
            tool_use_id = self._tool_contents.get(content_name)
            future = self.tool_results.get(tool_use_id or "")
            if future is None:
                await self._refuse(f"toolResult {content_name!r} answers no toolUse of this session")
                return
            self.log.tool_results[str(tool_use_id)] = str(body["content"])
            if not future.done():
                future.set_result(str(body["content"]))
        elif name == "sessionEnd":
            self.log.closed_cleanly = True

    async def _audio(self, pcm: bytes) -> None:
        self.log.audio_bytes += len(pcm)
        self.log.audio_event_bytes.append(len(pcm))
        data = self._pending + pcm
        frame = self.rate * FRAME_MS // 1000 * 2
        whole = len(data) - len(data) % frame
        self._pending = data[whole:]
        for start in range(0, whole, frame):
            voiced = rms(data[start : start + frame]) >= VOICE_RMS
            if voiced:
                self.voiced_ms += FRAME_MS
                self.quiet_ms = 0
                if self.speaking and self.voiced_ms >= 3 * FRAME_MS:
                    self.barge_in.set()
                if not self.in_turn and self.voiced_ms >= 2 * FRAME_MS:
                    self.in_turn = True
            else:
                self.quiet_ms += FRAME_MS
                if self.quiet_ms >= FRAME_MS * 2:
                    self.voiced_ms = 0
                if self.in_turn and self.quiet_ms >= self.server.scenario.silence_ms and not self.speaking:
                    self.in_turn = False
                    self._start_answer(spoken=True)

    def _start_answer(self, *, spoken: bool) -> None:
        if self.speaking or self.stalled:
            return
        taken = self._take_turn()
        if taken is not None:
            self.speaking = True
            self.barge_in.clear()
            self._spawn(self._answer(*taken, spoken=spoken))

    # ------------------------------------------------------------------------------- output
    async def _emit(self, name: str, body: dict[str, Any]) -> None:
        payload = json.dumps({"event": {name: body}}).encode()
        message = EventMessage(
            headers={":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"},
            payload=json.dumps({"bytes": base64.b64encode(payload).decode()}).encode(),
        )
        await self._write(message.encode())

    async def _exception(self, kind: str, text: str) -> None:
        message = EventMessage(
            headers={":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"},
            payload=json.dumps({"message": text}).encode(),
        )
        await self._write(message.encode())
        # The response ends once the client has closed its side (see `run`); nothing more is sent.
        self.finished = True

    async def _refuse(self, problem: str) -> None:
        """Answer an input event Nova Sonic would reject the way it does: a validationException, then the end."""
        self.log.refusal = problem
        await self._exception("validationException", problem)

    async def _write(self, data: bytes) -> None:
        async with self._send_lock:
            if self.finished or self._ended or self.stalled:
                return
            if self.server.observer is not None:
                self.server.observer.written(self.log.number)
            await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def _end_response(self) -> None:
        async with self._send_lock:
            if self._ended:
                return
            self._ended = True
            with contextlib.suppress(Exception):
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    def _ids(self) -> dict[str, str]:
        return {"sessionId": f"standin-{self.log.number}", "promptName": self.prompt_name, "completionId": "c1"}

    async def _content(
        self, role: str, kind: str, stage: str | None, events: list[tuple[str, dict[str, Any]]], stop: str
    ) -> None:
        content_id = str(uuid.uuid4())
        start: dict[str, Any] = {**self._ids(), "contentId": content_id, "type": kind, "role": role}
        if stage is not None:
            start["additionalModelFields"] = json.dumps({"generationStage": stage})
        await self._emit("contentStart", start)
        for name, body in events:
            await self._emit(name, {**self._ids(), "contentId": content_id, "role": role, **body})
        await self._emit(
            "contentEnd", {**self._ids(), "contentId": content_id, "type": kind, "role": role, "stopReason": stop}
        )

    async def _answer(self, number: int, turn: Turn, *, spoken: bool = True) -> None:
        scenario = self.server.scenario
        try:
            await self._emit("completionStart", self._ids())
            if spoken:  # text input is not transcribed back
                await self._content("USER", "TEXT", "FINAL", [("textOutput", {"content": turn.heard})], "END_TURN")
            self.usage[0] += max(1, len(turn.heard) // 4)
            reply = turn.reply
            if turn.tool is not None:
                tool_use_id = str(uuid.uuid4())
                future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                self.tool_results[tool_use_id] = future
                await self._content(
                    "TOOL",
                    "TOOL",
                    None,
                    [
                        (
                            "toolUse",
                            {
                                "toolUseId": tool_use_id,
                                "toolName": turn.tool.name,
                                "content": json.dumps(turn.tool.arguments),
                            },
                        )
                    ],
                    "TOOL_USE",
                )
                if self.server.fault_due("tls_close", number, scenario.close_during_tool_on_turns):
                    self.log.faults.append(f"tls_close:{number}")
                    await self.server.cut_connections(reset=False)
                    return
                try:
                    result = await asyncio.wait_for(future, scenario.tool_wait_seconds)
                except TimeoutError:
                    self.log.faults.append(f"tool_timeout:{number}")
                    self.server.put_back(number)
                    raise
                reply = reply.replace("{tool_result}", result).replace("{tool_summary}", tool_summary(result))
            await self._content(
                "ASSISTANT", "TEXT", "SPECULATIVE", [("textOutput", {"content": reply})], "PARTIAL_TURN"
            )
            interrupted = await self._speak(turn.reply_seconds, number)
            if interrupted is None:  # a fault ended the stream mid-reply
                return
            spoken_text = reply if not interrupted else reply.split(".")[0]
            if interrupted:
                self.log.interrupted += 1
            await self._content(
                "ASSISTANT",
                "TEXT",
                "FINAL",
                [("textOutput", {"content": spoken_text})],
                "INTERRUPTED" if interrupted else "END_TURN",
            )
            self.usage[1] += max(1, len(reply) // 4)
            self.usage[2] += int(turn.reply_seconds * 25)
            await self._emit(
                "usageEvent",
                {
                    **self._ids(),
                    "details": {
                        "total": {
                            "input": {"speechTokens": self.usage[0], "textTokens": 0},
                            "output": {"speechTokens": self.usage[2], "textTokens": self.usage[1]},
                        }
                    },
                    "totalInputTokens": self.usage[0],
                    "totalOutputTokens": self.usage[1] + self.usage[2],
                    "totalTokens": sum(self.usage),
                },
            )
            await self._emit("completionEnd", {**self._ids(), "stopReason": "END_TURN"})
            self.log.turns_answered += 1
            if scenario.fail_after_turns is not None and self.log.turns_answered >= scenario.fail_after_turns:
                await self._exception("modelStreamErrorException", "The stand-in's scripted failure")
        except TimeoutError:
            await self._exception("validationException", "Timed out waiting for the tool result")
        finally:
            self.speaking = False

    async def _speak(self, seconds: float, number: int) -> bool | None:
        """Send the reply audio in 100 ms chunks, faster than real time; True if the caller barged in, None if a
        fault (a stall, a reset) stopped the stream halfway through."""
        content_id = str(uuid.uuid4())
        await self._emit(
            "contentStart",
            {
                **self._ids(),
                "contentId": content_id,
                "type": "AUDIO",
                "role": "ASSISTANT",
                "additionalModelFields": json.dumps({"generationStage": "FINAL"}),
            },
        )
        audio = tone(self.output_rate, seconds)
        chunk = self.output_rate // 10 * 2
        interrupted = False
        scenario = self.server.scenario
        halfway = len(audio) // 2
        for start in range(0, len(audio), chunk):
            if self.barge_in.is_set():
                interrupted = True
                break
            if start >= halfway and self.server.fault_due("stall", number, scenario.stall_on_turns):
                self.log.faults.append(f"stall:{number}")
                self.stalled = True  # silent from now on, with no error and the connection open
                return None
            if start >= halfway and self.server.fault_due("reset", number, scenario.reset_on_turns):
                self.log.faults.append(f"reset:{number}")
                await self.server.cut_connections(reset=True)
                return None
            content = base64.b64encode(audio[start : start + chunk]).decode()
            if start == 0:
                self.log.reply_audio_at.append(time.monotonic())
            await self._emit(
                "audioOutput", {**self._ids(), "contentId": content_id, "role": "ASSISTANT", "content": content}
            )
            await asyncio.sleep(0.1 / self.server.scenario.speed)
        if interrupted:
            await self._emit(
                "textOutput",
                {**self._ids(), "contentId": content_id, "role": "ASSISTANT", "content": '{ "interrupted" : true }'},
            )
        await self._emit(
            "contentEnd",
            {
                **self._ids(),
                "contentId": content_id,
                "type": "AUDIO",
                "role": "ASSISTANT",
                "stopReason": "INTERRUPTED" if interrupted else "PARTIAL_TURN",
            },
        )
        return interrupted

    async def _expire(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        while self.speaking:  # the real service cuts mid-reply too, but the stand-in keeps tests readable
            await asyncio.sleep(0.01)
        await self._exception("validationException", "The session exceeded its maximum duration (stand-in)")


class _Relay:
    """A TCP relay in front of the stand-in's server, so tests can break the connections the SDK holds: reset them
    (RST, as a dropped network path does) or close them (the TLS connection ends with no reply, as when a load
    balancer or the service closes an idle or failing connection). TLS stays end to end, through the relay."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.cuts = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.close()
            return
        link = (writer, upstream_writer)
        self._links.add(link)
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            self._links.discard(link)
            for side in link:
                side.close()

    async def cut(self, *, reset: bool) -> None:
        self.cuts += 1
        for client, upstream in list(self._links):
            if reset:
                sock = client.get_extra_info("socket")
                if sock is not None:  # linger 0: the close sends RST instead of FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.transport.abort()
                upstream.transport.abort()
            else:
                client.close()
                upstream.close()

    async def close(self) -> None:
        await self.cut(reset=False)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), DRAIN_SECONDS)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
        while data := await source.read(65_536):
            sink.write(data)
            await sink.drain()
    with contextlib.suppress(Exception):
        sink.close()


# ------------------------------------------------------------------------------ its own process
async def serve_until_stdin_closes(scenario: Scenario, report: Path | None) -> None:
    """Serve `scenario` until standard input closes (the parent process is done with it), printing one JSON
    line first (`endpoint`, `ca_file`); then write every session's log to `report` as JSON."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_tls_shutdown)
    async with SonicStandIn(scenario) as sonic:
        print(json.dumps({"endpoint": sonic.endpoint, "ca_file": str(sonic.ca_file)}), flush=True)
        await loop.run_in_executor(None, sys.stdin.read)
        if report is not None:
            report.write_text(json.dumps([dataclasses.asdict(log) for log in sonic.sessions]))


def _quiet_tls_shutdown(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A client that closes its TLS connection while the server still writes makes hypercorn's connection task
    # fail with an SSLError; that is how calls end here, not a fault worth a traceback.
    if isinstance(context.get("exception"), ssl.SSLError):
        return
    loop.default_exception_handler(context)


def main(argv: list[str] | None = None) -> None:
    """`python -m oratio_local.sonic_standin --scenario FILE [--report FILE]`: the stand-in in a process of its
    own (the voice bench runs it so its work is not counted as the bridge's)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--scenario", type=Path, required=True, help="a Scenario as JSON")
    parser.add_argument("--report", type=Path, help="where to write the sessions' logs (JSON) at the end")
    args = parser.parse_args(argv)
    scenario = Scenario.model_validate_json(args.scenario.read_text())
    asyncio.run(serve_until_stdin_closes(scenario, args.report))


if __name__ == "__main__":
    main()
