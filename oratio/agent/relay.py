"""A tool call relayed by a channel that runs its own model (Nova Sonic on the voice bridge): no model call, the
agent's own tools and permission rules, a typed result whatever happens, and a turn record of it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from oratio.agent.contracts import InvocationRequest, ReplyEvent, ToolRequest, ToolResultEvent, TurnComplete
from oratio.agent.kit import AgentKit
from oratio.agent.ports import ConversationRecorder, TurnRecord, WorkflowStateStore
from oratio.agent.resilience import Deadline, DeadlineExceeded
from oratio.agent.tools.base import ToolCall, ToolContext, ToolResult, ToolStatus
from oratio.agent.turn import Outcome

logger = logging.getLogger(__name__)

RELAYED = "relayed tool call"
NOT_TAKING_CONVERSATIONS = "the agent is not taking conversations now"


async def _safe[T](awaitable: Awaitable[T]) -> T | None:
    try:
        return await awaitable
    except Exception:
        logger.exception("agent store call failed")
        return None


async def relay_tool(
    request: InvocationRequest,
    tool: ToolRequest,
    session_id: str,
    kit: AgentKit,
    *,
    allowed: bool,
    recorder: ConversationRecorder,
    workflow_states: WorkflowStateStore,
    clock: Callable[[], datetime],
) -> AsyncIterator[ReplyEvent]:
    """Run one relayed tool call with the agent's tools (`denied` when the agent takes no conversations now)."""
    loop = asyncio.get_running_loop()
    started, at = loop.time(), clock()
    context = ToolContext(
        tenant_id=request.tenant_id,
        agent_id=request.agent_id,
        session_id=session_id,
        channel=request.channel.value,
        customer_key=request.customer.key if request.customer else None,
    )
    call = ToolCall(tool_use_id=tool.tool_use_id, name=tool.name, arguments=dict(tool.arguments))
    deadline = Deadline(kit.definition.models.turn_deadline_seconds, loop.time)
    outcome: Outcome = "ok"
    error: str | None = None
    if not allowed:
        result = ToolResult(
            tool_use_id=tool.tool_use_id, name=tool.name, status="denied", error=NOT_TAKING_CONVERSATIONS
        )
    else:
        try:
            result = (await deadline.run(kit.tools.run_all([call], context)))[0]
        except Exception as e:  # the runner promises not to raise; a broken one still gets a typed answer
            logger.exception("relayed tool failed", extra={"tool": tool.name, "session_id": session_id})
            status: ToolStatus = "timeout" if isinstance(e, DeadlineExceeded) else "error"
            result = ToolResult(tool_use_id=tool.tool_use_id, name=tool.name, status=status, error=status)
            outcome, error = "failed", type(e).__name__
    content = result.content if result.status == "ok" else {"error": result.error or result.status}
    yield ToolResultEvent(tool_use_id=tool.tool_use_id, status=result.status, content=content)
    state = await _safe(workflow_states.get(request.tenant_id, session_id))
    state = state or kit.workflow.initial_state()
    sequence = await _safe(recorder.next_sequence(request.tenant_id, session_id))
    latency_ms = round((loop.time() - started) * 1000, 1)
    record = TurnRecord(
        tenant_id=request.tenant_id,
        session_id=session_id,
        agent_id=request.agent_id,
        channel=request.channel.value,
        sequence=sequence or 0,
        user_text=None,
        reply_text="",
        model_id=None,
        routing_reason=RELAYED,
        role=state.role,
        latency_ms=latency_ms,
        tools=(tool.name,),
        outcome=outcome,
        error=error,
        definition_version=kit.definition.version,
        at=at,
    )
    await _safe(recorder.record_turn(record))
    yield TurnComplete(
        session_id=session_id,
        model_id=None,
        routing_reason=RELAYED,
        role=state.role,
        qualification_score=state.qualification_score,
        latency_ms=latency_ms,
        definition_version=kit.definition.version,
    )
