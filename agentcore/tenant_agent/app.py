"""The tenant agent's AgentCore Runtime entrypoint: `POST /invocations` runs one turn, `GET /ping` says
whether the agent is idle (Healthy) or working on a turn (HealthyBusy).

A turn is an `InvocationRequest` in and a server-sent-event stream out, one `ReplyEvent` JSON per
`data:` line, `TurnComplete` last. The session comes from the runtime's session header. A payload that
is not a valid request gets a 400 whose `ErrorEvent` names the failing fields; an engine failure
mid-turn becomes an `ErrorEvent` with a message safe to speak, never a broken stream or a stack trace.
The engine is built on the first invocation (`wiring.build_engine`); tests inject their own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp, PingStatus, RequestContext
from pydantic import ValidationError
from starlette.responses import JSONResponse

from agentcore.tenant_agent import wiring
from agentcore.validation import field_problems
from oratio.agent.contracts import ErrorEvent, InvocationRequest, ReplyEvent, TurnComplete
from oratio.agent.ports import TurnEngine

logger = logging.getLogger("oratio.tenant_agent")

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
# AgentCore's InvokeAgentRuntime accepts session ids of 33 to 256 characters; generated ones fit.
GENERATED_SESSION_PREFIX = "oratio-"
FAILED_TURN_MESSAGE = "Sorry, something went wrong on my side. Could you say that again?"
UNAVAILABLE_MESSAGE = "Sorry, I can't help right now. Please try again in a moment."

EngineFactory = Callable[[], TurnEngine]


class _EngineSlot:
    """Holds the engine, built once on first use; a failed build is retried on the next turn."""

    def __init__(self, factory: EngineFactory) -> None:
        self._factory = factory
        self._engine: TurnEngine | None = None
        self._lock = threading.Lock()

    def configure(self, *, engine: TurnEngine | None, factory: EngineFactory | None) -> None:
        with self._lock:
            self._engine = engine
            if factory is not None:
                self._factory = factory

    def get(self) -> TurnEngine:
        with self._lock:
            if self._engine is None:
                self._engine = self._factory()
            return self._engine


class _TurnsInFlight:
    """Counts running turns so /ping can report HealthyBusy while one streams."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self._count += 1

    def leave(self) -> None:
        with self._lock:
            self._count -= 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


app = BedrockAgentCoreApp()
_engine = _EngineSlot(wiring.build_engine)
_turns = _TurnsInFlight()


def set_engine(engine: TurnEngine | None, *, factory: EngineFactory | None = None) -> None:
    """Use `engine` for every turn (tests, local wiring); `None` rebuilds from `factory` on next use."""
    _engine.configure(engine=engine, factory=factory)


def turns_in_flight() -> int:
    return _turns.count


@app.ping
def ping() -> PingStatus:
    return PingStatus.HEALTHY_BUSY if _turns.count else PingStatus.HEALTHY


@app.entrypoint
async def invoke(payload: Any, context: RequestContext) -> JSONResponse | AsyncIterator[dict[str, Any]]:
    """One turn. Returns the event stream (the SDK frames each dict as one SSE `data:` line), or a 400."""
    try:
        request = InvocationRequest.model_validate(payload)
    except ValidationError as e:
        logger.warning("rejected invocation: %s", field_problems(e))
        error = ErrorEvent(code="invalid_request", message=f"Invalid request: {field_problems(e)}")
        return JSONResponse(error.model_dump(mode="json"), status_code=400)
    session_id = context.session_id or request.session_id
    generated = session_id is None
    if session_id is None:
        session_id = f"{GENERATED_SESSION_PREFIX}{uuid.uuid4()}"
    return _turn(request, session_id, generated=generated)


async def _turn(request: InvocationRequest, session_id: str, *, generated: bool) -> AsyncIterator[dict[str, Any]]:
    """The engine's events as JSON-able dicts; always ends with exactly one `TurnComplete`."""
    _turns.enter()
    completed = failed = False
    try:
        if generated:
            # The caller sent no session: TurnComplete.session_id tells it which one to continue with.
            logger.info("no session id from header or payload; generated %s", session_id)
        try:
            engine = await asyncio.to_thread(_engine.get)
        except Exception:
            logger.exception("could not build the tenant agent engine")
            yield ErrorEvent(code="agent_unavailable", message=UNAVAILABLE_MESSAGE).model_dump(mode="json")
            yield _closing_event(session_id, "engine_unavailable")
            return
        try:
            async for event in engine.handle(request, session_id):
                if completed:
                    logger.warning("engine sent %s after TurnComplete; dropped", event.type)
                    continue
                if isinstance(event, TurnComplete):
                    completed = True
                    if event.session_id != session_id:
                        event = event.model_copy(update={"session_id": session_id})
                yield event.model_dump(mode="json")
        except Exception:
            # Never str(e) to the caller: log it here, send something safe to speak.
            logger.exception("turn failed in session %s", session_id)
            if completed:
                return
            failed = True
            yield ErrorEvent(code="turn_failed", message=FAILED_TURN_MESSAGE).model_dump(mode="json")
        if not completed:
            if not failed:
                logger.warning("engine ended session %s's turn without TurnComplete", session_id)
            yield _closing_event(session_id, "turn_failed" if failed else "no_turn_complete")
    finally:
        _turns.leave()


def _closing_event(session_id: str, reason: str) -> dict[str, Any]:
    """The `TurnComplete` the app sends itself when the engine could not: nothing was spent or decided."""
    done: ReplyEvent = TurnComplete(
        session_id=session_id, model_id=None, routing_reason=reason, role="unknown", qualification_score=0.0
    )
    return done.model_dump(mode="json")


def serve(settings: wiring.ServerSettings | None = None) -> None:
    """Run the app with uvicorn on `settings.host` (127.0.0.1 unless the deployment sets 0.0.0.0)."""
    settings = settings or wiring.ServerSettings.from_environ()
    # Always pass the host: the SDK would pick 0.0.0.0 whenever /.dockerenv exists.
    app.run(port=settings.port, host=settings.host)
