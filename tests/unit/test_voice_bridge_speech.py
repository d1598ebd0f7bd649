"""The speech stage against scripted speech sessions: a stream that goes quiet while a reply is due is failed
over with the caller's turn carried, a tool that runs long is not mistaken for a stall, and a background task
that fails is logged with the call's id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from oratio.voice_bridge.config import BridgeSettings, SonicSettings
from oratio.voice_bridge.frames import AgentAudio, Direction, Frame, Start, ToolCallFrame, Transcript, TurnEnd
from oratio.voice_bridge.pipeline import FrameProcessor, Pipeline
from oratio.voice_bridge.ports import HistoryLine
from oratio.voice_bridge.processors import SpeechStage

CALL_ID = "call-0001"
STALL = 0.2


class ScriptedSession:
    """A speech session that sends what it is given (`emit`), and remembers what the bridge sent it."""

    kind = "sonic"

    def __init__(self, *frames: Frame, close_error: Exception | None = None, answer: str = "") -> None:
        self._out: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.answer = answer
        for frame in frames:
            self._out.put_nowait(frame)
        self.close_error = close_error
        self.texts: list[str] = []
        self.closed = False
        self._audio = 0

    @property
    def audio_bytes_sent(self) -> int:
        return self._audio

    def emit(self, frame: Frame) -> None:
        self._out.put_nowait(frame)

    async def send_audio(self, pcm: bytes) -> None:
        self._audio += len(pcm)

    async def send_tool_result(self, tool_use_id: str, content: dict[str, object]) -> None:
        return None

    async def send_text(self, text: str) -> None:
        self.texts.append(text)
        if self.answer:
            for frame in (AgentAudio(b"\1\0" * 800, 8_000), Transcript("assistant", self.answer, final=True)):
                self.emit(frame)
            self.emit(TurnEnd("END_TURN"))

    async def frames(self) -> AsyncIterator[Frame]:
        while (frame := await self._out.get()) is not None:
            yield frame

    async def close(self) -> None:
        self.closed = True
        self._out.put_nowait(None)
        if self.close_error is not None:
            raise self.close_error


class Sessions:
    """A factory handing out the scripted sessions in order, noting the history each was opened with."""

    kind = "sonic"

    def __init__(self, *sessions: ScriptedSession) -> None:
        self._sessions = list(sessions)
        self.histories: list[list[HistoryLine]] = []

    async def open(self, system_prompt: str, history: list[HistoryLine], tools: Any) -> ScriptedSession:
        self.histories.append(list(history))
        return self._sessions.pop(0)


class Heard(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Frame] = []

    async def process(self, frame: Frame, direction: Direction) -> None:
        self.frames.append(frame)


def settings(**sonic: Any) -> BridgeSettings:
    return BridgeSettings(
        tenant_id="cozy-comfort",
        agent_id="front-desk",
        system_prompt="You are a phone assistant.",
        sonic=SonicSettings(**{"stall_timeout_seconds": STALL, **sonic}),
    )


async def apology() -> bytes:
    return b"\0\0" * 160


async def start(stage: SpeechStage) -> tuple[Pipeline, Heard]:
    heard = Heard()
    pipeline = Pipeline([stage, heard])
    await pipeline.start()
    await pipeline.queue_frame(Start(CALL_ID, CALL_ID, 8_000, "l16"))
    return pipeline, heard


def test_a_session_silent_while_a_reply_is_due_is_failed_over_with_the_callers_turn_carried() -> None:
    async def scenario() -> None:
        quiet = ScriptedSession(Transcript("user", "Do you ship to Canada?", final=True))
        fresh = ScriptedSession(answer="Yes, in five to seven days.")
        sessions = Sessions(quiet, fresh)
        stage = SpeechStage(settings(), [sessions], apology)
        pipeline, heard = await start(stage)
        await asyncio.sleep(STALL * 3)
        assert stage.stalls == 1
        assert stage.session is fresh
        assert fresh.texts == ["Do you ship to Canada?"]
        replies = [f.text for f in heard.frames if isinstance(f, Transcript) and f.role == "assistant"]
        assert replies == ["Yes, in five to seven days."]
        assert sessions.histories[1] == []  # the carried line is sent once, as the caller's words
        assert quiet.closed
        await pipeline.stop()

    asyncio.run(scenario())


def test_a_session_that_finished_its_reply_may_stay_quiet() -> None:
    async def scenario() -> None:
        session = ScriptedSession(
            Transcript("user", "Hi", final=True),
            AgentAudio(b"\1\0" * 800, 8_000),
            Transcript("assistant", "Hello!", final=True),
            TurnEnd("END_TURN"),
        )
        stage = SpeechStage(settings(), [Sessions(session)], apology)
        pipeline, _ = await start(stage)
        await asyncio.sleep(STALL * 3)  # the caller thinks; nothing is due from the agent
        assert (stage.stalls, stage.session) == (0, session)
        await pipeline.stop()

    asyncio.run(scenario())


def test_a_tool_that_runs_longer_than_the_stall_timeout_is_not_a_stall() -> None:
    async def scenario() -> None:
        session = ScriptedSession(
            Transcript("user", "Where is my order?", final=True), ToolCallFrame("t1", "order_status", {})
        )
        stage = SpeechStage(settings(), [Sessions(session)], apology)
        pipeline, _ = await start(stage)
        await asyncio.sleep(STALL * 3)  # the tool is still running: Sonic is waiting for it, not stalled
        assert (stage.stalls, stage.session) == (0, session)
        await pipeline.stop()

    asyncio.run(scenario())


def test_a_failing_background_task_is_logged_with_the_call_id(caplog: pytest.LogCaptureFixture) -> None:
    # Given a session that breaks when it is closed, and a renewal due at the first turn boundary
    async def scenario() -> None:
        broken = ScriptedSession(close_error=RuntimeError("the stream broke while closing"))
        stage = SpeechStage(
            settings(renew_after_seconds=0.01, force_renew_after_seconds=30),
            [Sessions(broken, ScriptedSession())],
            apology,
        )
        pipeline, _ = await start(stage)
        await asyncio.sleep(0.05)  # past renew_after_seconds: the next turn boundary renews the session
        broken.emit(Transcript("assistant", "Hello!", final=True))
        broken.emit(TurnEnd("END_TURN"))
        await asyncio.sleep(0.1)  # the renewal closes the old session in a task of its own, which fails
        assert stage.renewals == 1
        await pipeline.stop()

    with caplog.at_level(logging.ERROR, logger="oratio.voice_bridge.processors"):
        asyncio.run(scenario())
    (failed,) = [r for r in caplog.records if r.getMessage() == "voice_bridge.task_failed"]
    assert (failed.call_id, failed.task) == (CALL_ID, "speech-close-old")  # type: ignore[attr-defined]
    assert failed.exc_info is not None


class HangingSession(ScriptedSession):
    """A session whose stream no longer takes anything: closing it never completes on its own."""

    async def close(self) -> None:
        self.closed = True
        await asyncio.Event().wait()


def test_a_session_that_cannot_be_closed_does_not_keep_the_call_open() -> None:
    async def scenario() -> None:
        stuck = HangingSession(Transcript("user", "Hello?", final=True))
        stage = SpeechStage(settings(close_timeout_seconds=0.1, stall_timeout_seconds=30), [Sessions(stuck)], apology)
        pipeline, _ = await start(stage)
        # When the caller hangs up, the call's end waits for the close only so long
        await asyncio.wait_for(pipeline.stop(), timeout=5)
        assert stuck.closed

    asyncio.run(scenario())
