"""The tenant agent's turn engine: one customer input in, a stream of reply events out.

Why our own loop over Bedrock Converse rather than Strands Agents (or another agent framework)? The loop
itself is small; what matters is around it, and each of these needs a hook a framework either lacks or
hides:

- per-turn model routing within the tenant's budget: each turn (and each re-route) picks the cheapest
  model that can do the job and that the turn's and the month's budget still allow;
- a circuit breaker per model, with fallback to the next eligible model, said in the routing reason;
- where cache points go: after the static system prompt and after the tool definitions, only for
  models that support them, and never in a field a model rejects (Nova refuses one among the tools);
- voice: text is cut into sentences as it streams so speech starts early, spoken acknowledgements cover
  tool calls and extended thinking, and thinking text is never spoken, emitted or logged;
- tools run through our `ToolRunner`, which gives every call a typed result and its own timeout;
- the whole turn has a deadline, and when it passes (or no model is left) the caller still hears a
  polite fallback line while the input and what went wrong are persisted;
- tests replay recorded Converse event streams through `ScriptedModel`, because the engine speaks
  Converse's own shapes through `ModelPort`.

Strands is also not among our dependencies; this keeps the runtime bundle to boto3 and pydantic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.chunking import DEFAULT_MAX_CHARS, SentenceChunker
from oratio.agent.contracts import (
    Acknowledgement,
    EndCall,
    Handoff,
    InvocationRequest,
    ReplyEvent,
    RoleTransition,
    TextChunk,
    TierEscalation,
    ToolActivity,
    ToolRequest,
    ToolResultEvent,
    TurnComplete,
)
from oratio.agent.ports import (
    AgentEventRecord,
    BudgetLedger,
    ConversationRecorder,
    ConversationSummary,
    ConversationTurn,
    CustomerContext,
    CustomerContextStore,
    ModelError,
    ModelPort,
    ModelUnavailableError,
    SessionMemory,
    ToolRunner,
    TurnRecord,
    Workflow,
    WorkflowState,
    WorkflowStateStore,
    WorkflowUpdate,
)
from oratio.agent.prompt import PromptBuilder, PromptSettings
from oratio.agent.resilience import (
    BreakerBoard,
    BreakerSettings,
    BreakerState,
    Deadline,
    DeadlineExceeded,
    RetryPolicy,
    retry_async,
)
from oratio.agent.routing import ModelDecision, ModelSelector, RoutingSettings, ToolHint, TurnContext
from oratio.agent.tools.base import ToolCall, ToolContext, ToolResult, ToolStatus
from oratio.config.catalog import ModelCatalog, ModelEntry
from oratio.config.tenant import TenantConfig

logger = logging.getLogger(__name__)

Emit = Callable[[ReplyEvent], None]
EventKind = Literal["transition", "escalation", "routing", "breaker", "handoff", "end_call"]


class EngineSettings(BaseModel):
    """Limits and spoken lines of the turn engine (tenant settings such as the deadline come from TenantConfig)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerSettings = BreakerSettings()
    routing: RoutingSettings = RoutingSettings()
    prompt: PromptSettings = PromptSettings()
    max_model_rounds: int = Field(default=5, ge=1, description="model calls per turn (tool round trips + 1)")
    max_model_switches: int = Field(default=2, ge=0, description="re-routes to another model after failures")
    chunk_max_chars: int = Field(default=DEFAULT_MAX_CHARS, ge=20)
    deadline_seconds: float | None = Field(default=None, gt=0, description="None: agent.turn_deadline_seconds")
    persist_timeout_seconds: float = Field(default=5.0, gt=0)
    recent_conversations_kept: int = Field(default=10, ge=1)
    summary_chars: int = Field(default=300, ge=40)
    fallback_text_voice: str = "Sorry, I'm having trouble right now — let me get someone to help you."
    fallback_text: str = (
        "Sorry, I'm having trouble right now. Please try again in a moment, or ask for a person and we'll help."
    )
    handoff_on_voice_fallback: bool = True  # the voice fallback line promises a person; keep the promise
    tools_ack: str = "Let me check that for you."
    thinking_ack: str = "Let me think about that for a moment."


class NoModelAvailableError(Exception):
    """No allowed model is eligible, healthy and affordable for this turn."""


class ToolRoundLimitError(Exception):
    """The model kept asking for tools past `max_model_rounds`."""


@dataclass
class _Turn:
    """Everything one turn accumulates, so a fallback can still persist what happened."""

    request: InvocationRequest
    session_id: str
    at: datetime
    started: float
    user_text: str
    sequence: int | None = None
    history: list[ConversationTurn] = field(default_factory=list)
    customer: CustomerContext | None = None
    state: WorkflowState | None = None
    month_to_date_usd: float = 0.0
    texts: list[str] = field(default_factory=list)
    model_id: str | None = None
    routing_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_by_model: dict[str, float] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)
    finale: list[Handoff | EndCall] = field(default_factory=list)
    events: list[AgentEventRecord] = field(default_factory=list)
    outcome: Literal["ok", "fallback", "failed"] = "ok"
    error: str | None = None

    @property
    def fell_back(self) -> bool:
        return self.outcome != "ok"

    @property
    def cost_usd(self) -> float:
        return sum(self.cost_by_model.values())

    @property
    def reply_text(self) -> str:
        return " ".join(self.texts)

    def add_usage(self, model: ModelEntry, usage: dict[str, Any]) -> None:
        read = int(usage.get("cacheReadInputTokens", 0))
        write = int(usage.get("cacheWriteInputTokens", 0))
        tokens_in, tokens_out = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
        self.input_tokens += tokens_in
        self.output_tokens += tokens_out
        self.cache_read_tokens += read
        self.cache_write_tokens += write
        cost = model.usage_cost_usd(tokens_in, tokens_out, read, write)
        self.cost_by_model[model.id] = self.cost_by_model.get(model.id, 0.0) + cost


@dataclass
class _Round:
    """One model call's outcome: what to append to the conversation and whether tools were asked for."""

    stop_reason: str | None = None
    content: list[dict[str, Any]] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    malformed: list[ToolResult] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    spoke: bool = False


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _none() -> None:
    return None


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters (with an ellipsis when cut)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rsplit(" ", 1)[0] + "…"


class TenantAgent:
    """`TurnEngine` for one tenant's agent: routing, Converse streaming, tools, memory and workflow."""

    def __init__(
        self,
        *,
        tenant: TenantConfig,
        catalog: ModelCatalog,
        model: ModelPort,
        tools: ToolRunner,
        memory: SessionMemory,
        contexts: CustomerContextStore,
        recorder: ConversationRecorder,
        budget: BudgetLedger,
        workflow: Workflow,
        workflow_states: WorkflowStateStore,
        clock: Callable[[], datetime] = _utc_now,
        settings: EngineSettings | None = None,
        breakers: BreakerBoard | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.tenant = tenant
        self.settings = settings or EngineSettings()
        self._catalog = catalog
        self._model = model
        self._tools = tools
        self._memory = memory
        self._contexts = contexts
        self._recorder = recorder
        self._budget = budget
        self._workflow = workflow
        self._workflow_states = workflow_states
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self.breakers = breakers or BreakerBoard(self.settings.breaker)
        self.selector = ModelSelector(
            catalog, tenant.agent.allowed_models, tenant.agent.thinking_budget_tokens, self.settings.routing
        )
        self.prompts = PromptBuilder(tenant, self.settings.prompt)

    @property
    def deadline_seconds(self) -> float:
        return self.settings.deadline_seconds or self.tenant.agent.turn_deadline_seconds

    # ----------------------------------------------------------------------------------- the turn
    async def handle(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        """Run one turn; events stream as they happen and `TurnComplete` is always the last one."""
        loop = asyncio.get_running_loop()
        if isinstance(request.input, ToolRequest):
            async for relayed in self._relay_tool(request, request.input, session_id):
                yield relayed
            return
        turn = _Turn(
            request=request,
            session_id=session_id,
            at=self._clock(),
            started=loop.time(),
            user_text=request.input.text,
        )
        # The turn runs in its own task feeding a queue, so the deadline can stop it at any await without
        # a cancellation ever landing in the caller's code between two events.
        queue: asyncio.Queue[ReplyEvent | None] = asyncio.Queue()
        worker = asyncio.create_task(self._run_turn(turn, queue))
        deadline = Deadline(self.deadline_seconds, loop.time)
        try:
            while True:
                next_event: ReplyEvent | None = await deadline.run(queue.get())
                if next_event is None:
                    break
                yield next_event
        except DeadlineExceeded:
            worker.cancel()
            turn.outcome, turn.error = "fallback", DeadlineExceeded.__name__
            logger.warning("turn deadline exceeded", extra={"session_id": session_id, "tenant": self.tenant.tenant_id})
        finally:
            if not worker.done():
                worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

        if turn.fell_back:
            async for event in self._fallback_events(turn):
                yield event
        update = self._advance_workflow(turn)
        for event in self._workflow_events(turn, update):
            yield event
        await self._persist(turn, update)
        state = update.state if update else (turn.state or self._workflow.initial_state())
        yield TurnComplete(
            session_id=session_id,
            model_id=turn.model_id,
            routing_reason=turn.routing_reason,
            role=state.role,
            qualification_score=state.qualification_score,
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            cache_read_tokens=turn.cache_read_tokens,
            cache_write_tokens=turn.cache_write_tokens,
            cost_usd=round(turn.cost_usd, 8),
            latency_ms=round((loop.time() - turn.started) * 1000, 1),
            fallback=turn.fell_back,
        )

    async def _run_turn(self, turn: _Turn, queue: asyncio.Queue[ReplyEvent | None]) -> None:
        """The turn's work; failures become the turn's outcome, never an exception out of the task."""
        try:
            await self._converse(turn, queue.put_nowait)
        except (ModelError, NoModelAvailableError, ToolRoundLimitError) as e:
            turn.outcome, turn.error = "fallback", type(e).__name__
            logger.warning("turn fell back", extra={"error": type(e).__name__, "session_id": turn.session_id})
        except Exception as e:
            turn.outcome, turn.error = "failed", type(e).__name__
            logger.exception("turn failed", extra={"error": type(e).__name__, "session_id": turn.session_id})
        finally:
            queue.put_nowait(None)  # end of the turn's events

    async def _converse(self, turn: _Turn, emit: Emit) -> None:
        request = turn.request
        voice = request.is_voice
        await self._load(turn)
        state = turn.state or self._workflow.initial_state()
        static = self.prompts.static_system_text(request.channel)
        dynamic = self.prompts.dynamic_system_text(
            role=state.role,
            role_instructions=self._workflow.instructions(state.role),
            customer=turn.customer,
            now=turn.at,
        )
        messages = self.prompts.messages(turn.history, turn.user_text)
        tool_specs = self._tools.model_tool_specs()
        context = TurnContext(
            user_text=turn.user_text,
            voice=voice,
            history_turns=len(turn.history),
            estimated_input_tokens=self._estimate_tokens(static, dynamic, messages, tool_specs),
            tools=ToolHint.from_tool_specs(tool_specs, self.settings.routing),
            turn_budget_usd=self.tenant.agent.max_turn_cost_usd,
            tenant_remaining_usd=self.tenant.agent.monthly_budget_usd - turn.month_to_date_usd,
            excluded_models={mid: "circuit open" for mid in self.breakers.open_models()},
        )
        decision = await self._route(turn, context, prefix="")
        if voice and decision.uses_thinking:
            emit(Acknowledgement(text=self.settings.thinking_ack, reason="thinking"))

        chunker = SentenceChunker(self.settings.chunk_max_chars)
        rounds = switches = 0
        acknowledged = False
        while True:
            model = decision.model
            assert model is not None  # _route raises when there is none
            call = self.prompts.request(
                model=model,
                system=self.prompts.system_blocks(static, dynamic, model),
                messages=messages,
                tool_specs=tool_specs,
                voice=voice,
                thinking_budget_tokens=decision.thinking_budget_tokens,
            )
            result = _Round()
            try:
                await self._model_round(call, model, turn, chunker, emit, result)
            except ModelError as e:
                self._breaker_failure(turn, model.id, e)
                if result.spoke or switches >= self.settings.max_model_switches:
                    raise  # the caller already heard part of this answer, or we've tried enough models
                switches += 1
                context = context.model_copy(
                    update={
                        "excluded_models": {**context.excluded_models, model.id: f"failed: {type(e).__name__}"},
                        "require_tools": context.require_tools or rounds > 0,
                    }
                )
                decision = await self._route(turn, context, prefix=f"{model.id} failed ({type(e).__name__}); ")
                if rounds > 0 and decision.uses_thinking:
                    # Earlier assistant turns of this conversation carry no thinking blocks for the new
                    # model, which Anthropic requires alongside tool use: continue without thinking.
                    decision = decision.model_copy(update={"thinking_budget_tokens": 0})
                chunker = SentenceChunker(self.settings.chunk_max_chars)  # drop the failed call's partial text
                continue
            self._breaker_success(turn, model.id)
            turn.model_id = model.id
            turn.add_usage(model, result.usage)
            if result.stop_reason != "tool_use" or not (result.calls or result.malformed):
                break
            rounds += 1
            if rounds >= self.settings.max_model_rounds:
                raise ToolRoundLimitError(f"still asking for tools after {rounds} rounds")
            if voice and not acknowledged and not result.spoke:
                emit(Acknowledgement(text=self.settings.tools_ack, reason="tools"))
                acknowledged = True
            results = await self._run_tools(turn, result, emit)
            messages.append({"role": "assistant", "content": result.content})
            messages.append({"role": "user", "content": [r.for_model() for r in results]})
            context = context.model_copy(update={"require_tools": True})
        # Handoff / end-call come after the model's last words so a transfer never cuts them off.
        for event in turn.finale:
            emit(event)

    async def _load(self, turn: _Turn) -> None:
        request = turn.request
        tenant_id = request.tenant_id
        history, customer, state, spent, sequence = await asyncio.gather(
            self._memory.recent_turns(turn.session_id, self._actor(request), self.settings.prompt.history_turns),
            self._contexts.get(tenant_id, request.customer.key) if request.customer else _none(),
            self._workflow_states.get(tenant_id, turn.session_id),
            self._budget.month_to_date_usd(tenant_id, turn.at),
            self._recorder.next_sequence(tenant_id, turn.session_id),
        )
        turn.history, turn.customer, turn.state = list(history), customer, state
        turn.month_to_date_usd, turn.sequence = spent, sequence

    async def _route(self, turn: _Turn, context: TurnContext, prefix: str) -> ModelDecision:
        decision = self.selector.select(context)
        turn.routing_reason = prefix + decision.reason
        record = AgentEventRecord(
            tenant_id=turn.request.tenant_id,
            session_id=turn.session_id,
            kind="routing",
            at=self._clock(),
            detail={
                "model_id": decision.model.id if decision.model else None,
                "reason": turn.routing_reason,
                "complexity": decision.complexity,
                "thinking_budget_tokens": decision.thinking_budget_tokens,
                "estimated_cost_usd": decision.estimated_cost_usd,
            },
        )
        turn.events.append(record)
        logger.info("model routed", extra={"session_id": turn.session_id, **record.detail})
        if decision.model is None:
            raise NoModelAvailableError(turn.routing_reason)
        return decision

    async def _model_round(
        self,
        request: dict[str, Any],
        model: ModelEntry,
        turn: _Turn,
        chunker: SentenceChunker,
        emit: Emit,
        result: _Round,
    ) -> None:
        """Stream one Converse call: speak text as sentences, collect tool calls, thinking and usage."""

        async def open_stream() -> tuple[dict[str, Any] | None, AsyncIterator[dict[str, Any]]]:
            # Retries are only safe before anything was said, so they cover opening the stream.
            stream = aiter(self._model.converse_stream(request))
            try:
                return await anext(stream), stream
            except StopAsyncIteration:
                return None, stream

        def on_retry(attempt: int, error: ModelError, delay: float) -> None:
            logger.info(
                "model call retried",
                extra={"model_id": model.id, "attempt": attempt, "error": type(error).__name__, "delay_s": delay},
            )

        first, stream = await retry_async(
            open_stream, self.settings.retry, sleep=self._sleep, rand=self._rand, on_retry=on_retry
        )
        if first is None:
            raise ModelUnavailableError("empty response stream")
        blocks: dict[int, dict[str, Any]] = {}

        def speak(sentences: Sequence[str]) -> None:
            for sentence in sentences:
                result.spoke = True
                turn.texts.append(sentence)
                emit(TextChunk(text=sentence))

        event: dict[str, Any] | None = first
        while event is not None:
            if "contentBlockStart" in event:
                start = event["contentBlockStart"]
                tool = start.get("start", {}).get("toolUse")
                if tool:
                    blocks[start["contentBlockIndex"]] = {"kind": "tool", "id": tool["toolUseId"], "name": tool["name"]}
            elif "contentBlockDelta" in event:
                body = event["contentBlockDelta"]
                delta, block = body["delta"], blocks.setdefault(body["contentBlockIndex"], {})
                if "text" in delta:
                    block.setdefault("kind", "text")
                    block["text"] = block.get("text", "") + delta["text"]
                    speak(chunker.feed(delta["text"]))
                elif "toolUse" in delta:
                    block["input"] = block.get("input", "") + delta["toolUse"].get("input", "")
                elif "reasoningContent" in delta:
                    # Thinking is kept only to hand back to the model with tool results; never said or logged.
                    block["kind"] = "reasoning"
                    reasoning = delta["reasoningContent"]
                    block["text"] = block.get("text", "") + reasoning.get("text", "")
                    if "signature" in reasoning:
                        block["signature"] = reasoning["signature"]
                    if "redactedContent" in reasoning:
                        block["redacted"] = reasoning["redactedContent"]
            elif "messageStop" in event:
                result.stop_reason = event["messageStop"].get("stopReason")
            elif "metadata" in event:
                result.usage = event["metadata"].get("usage", {})
            event = await anext(stream, None)
        tail = chunker.flush()
        if tail:
            speak([tail])
        for index in sorted(blocks):
            self._collect_block(blocks[index], result)

    @staticmethod
    def _collect_block(block: dict[str, Any], result: _Round) -> None:
        kind = block.get("kind")
        if kind == "text" and block.get("text", "").strip():
            result.content.append({"text": block["text"]})
        elif kind == "reasoning":
            if "redacted" in block:
                result.content.append({"reasoningContent": {"redactedContent": block["redacted"]}})
            else:
                text = {
                    "text": block.get("text", ""),
                    **({"signature": block["signature"]} if "signature" in block else {}),
                }
                result.content.append({"reasoningContent": {"reasoningText": text}})
        elif kind == "tool":
            raw = block.get("input", "") or "{}"
            try:
                arguments = json.loads(raw)
            except json.JSONDecodeError:
                arguments = None
            if not isinstance(arguments, dict):
                # The toolUse goes back to the model as sent, answered by an error result it can act on.
                result.content.append({"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": {}}})
                result.malformed.append(
                    ToolResult(
                        tool_use_id=block["id"], name=block["name"], status="error", error="malformed tool input"
                    )
                )
                return
            result.content.append({"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": arguments}})
            result.calls.append(ToolCall(tool_use_id=block["id"], name=block["name"], arguments=arguments))

    async def _run_tools(self, turn: _Turn, result: _Round, emit: Emit) -> list[ToolResult]:
        request = turn.request
        context = ToolContext(
            tenant_id=request.tenant_id,
            agent_id=request.agent_id,
            session_id=turn.session_id,
            channel=request.channel.value,
            customer_key=request.customer.key if request.customer else None,
            user_text=turn.user_text,
            conversation_summary=self._conversation_summary(turn),
        )
        ran = await self._tools.run_all(result.calls, context) if result.calls else []
        by_id = {r.tool_use_id: r for r in [*ran, *result.malformed]}
        ordered = [by_id[b["toolUse"]["toolUseId"]] for b in result.content if "toolUse" in b]
        for tool_result in ordered:
            turn.tools.append(tool_result.name)
            emit(ToolActivity(name=tool_result.name, status=tool_result.status, duration_ms=tool_result.duration_ms))
            if tool_result.status == "ok":
                self._note_finale(turn, tool_result)
        return ordered

    def _note_finale(self, turn: _Turn, result: ToolResult) -> None:
        handoff, end_call = result.content.get("handoff"), result.content.get("end_call")
        if isinstance(handoff, dict):
            reason = str(handoff.get("reason") or "customer asked for a person")
            summary = str(handoff.get("summary") or self._conversation_summary(turn))
            turn.finale.append(Handoff(reason=reason, summary=summary))
            turn.events.append(self._event(turn, "handoff", {"reason": reason, "tool": result.name}))
        if isinstance(end_call, dict):
            reason = str(end_call.get("reason") or "conversation finished")
            turn.finale.append(EndCall(reason=reason))
            turn.events.append(self._event(turn, "end_call", {"reason": reason, "tool": result.name}))

    # ---------------------------------------------------------------------------- after the reply
    async def _fallback_events(self, turn: _Turn) -> AsyncIterator[ReplyEvent]:
        voice = turn.request.is_voice
        text = self.settings.fallback_text_voice if voice else self.settings.fallback_text
        turn.texts.append(text)
        yield TextChunk(text=text)
        handoffs = [e for e in turn.finale if isinstance(e, Handoff)]
        if voice and self.settings.handoff_on_voice_fallback and not handoffs:
            summary = self._conversation_summary(turn)
            turn.finale.insert(0, Handoff(reason="assistant unavailable", summary=summary))
            turn.events.append(self._event(turn, "handoff", {"reason": "assistant unavailable"}))
        for event in turn.finale:
            yield event

    def _advance_workflow(self, turn: _Turn) -> WorkflowUpdate | None:
        if turn.fell_back:
            return None  # a fallback says nothing about the lead; the role stays where it was
        state = turn.state or self._workflow.initial_state()
        try:
            return self._workflow.advance(
                state,
                user_text=turn.user_text,
                reply_text=turn.reply_text,
                tools_used=tuple(turn.tools),
                channel=turn.request.channel.value,
                budget_remaining_usd=self.tenant.agent.monthly_budget_usd - turn.month_to_date_usd - turn.cost_usd,
            )
        except Exception:
            logger.exception("workflow advance failed", extra={"session_id": turn.session_id})
            return None

    def _workflow_events(self, turn: _Turn, update: WorkflowUpdate | None) -> list[ReplyEvent]:
        if update is None:
            return []
        events: list[ReplyEvent] = []
        if update.transition is not None:
            from_role, to_role, trigger = update.transition
            events.append(RoleTransition(from_role=from_role, to_role=to_role, trigger=trigger))
            turn.events.append(
                self._event(turn, "transition", {"from_role": from_role, "to_role": to_role, "trigger": trigger})
            )
        if update.escalate_to_tier is not None:
            events.append(
                TierEscalation(
                    to_tier=update.escalate_to_tier,
                    qualification_score=update.state.qualification_score,
                    estimated_extra_cost_usd=update.escalation_cost_usd,
                )
            )
            turn.events.append(
                self._event(
                    turn,
                    "escalation",
                    {
                        "to_tier": update.escalate_to_tier,
                        "qualification_score": update.state.qualification_score,
                        "estimated_extra_cost_usd": update.escalation_cost_usd,
                    },
                )
            )
        elif update.escalation_blocked_by_budget:
            turn.events.append(self._event(turn, "escalation", {"blocked_by_budget": True}))
        return events

    async def _persist(self, turn: _Turn, update: WorkflowUpdate | None) -> None:
        """Save everything the turn produced; each write failing alone is logged, never fatal."""
        request = turn.request
        tenant_id, at = request.tenant_id, turn.at
        if turn.sequence is None:
            try:
                turn.sequence = await self._recorder.next_sequence(tenant_id, turn.session_id)
            except Exception:
                logger.exception("sequence lookup failed", extra={"session_id": turn.session_id})
                turn.sequence = 0
        state = update.state if update else (turn.state or self._workflow.initial_state())
        record = TurnRecord(
            tenant_id=tenant_id,
            session_id=turn.session_id,
            agent_id=request.agent_id,
            channel=request.channel.value,
            sequence=turn.sequence,
            user_text=turn.user_text,
            reply_text=turn.reply_text,
            model_id=turn.model_id,
            routing_reason=turn.routing_reason,
            role=state.role,
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            cache_read_tokens=turn.cache_read_tokens,
            cache_write_tokens=turn.cache_write_tokens,
            cost_usd=turn.cost_usd,
            latency_ms=round((asyncio.get_running_loop().time() - turn.started) * 1000, 1),
            tools=tuple(turn.tools),
            outcome=turn.outcome,
            error=turn.error,
            at=at,
        )
        channel = request.channel.value
        writes: list[tuple[str, Awaitable[None]]] = [
            (
                "memory",
                self._memory.append(
                    turn.session_id,
                    self._actor(request),
                    [
                        ConversationTurn(role="user", text=turn.user_text, at=at, channel=channel),
                        ConversationTurn(role="assistant", text=turn.reply_text, at=self._clock(), channel=channel),
                    ],
                ),
            ),
            *(
                ("budget", self._budget.add(tenant_id, at, "model", mid, usd))
                for mid, usd in turn.cost_by_model.items()
                if usd > 0
            ),
            *(("event", self._recorder.record_event(event)) for event in turn.events),
            ("turn", self._recorder.record_turn(record)),
        ]
        if update is not None:
            writes.append(("workflow", self._workflow_states.save(tenant_id, turn.session_id, update.state)))
        if request.customer is not None:
            writes.append(("customer", self._contexts.save(self._updated_customer(turn, state))))
        await self._gather_writes(turn, writes)

    async def _gather_writes(self, turn: _Turn, writes: list[tuple[str, Awaitable[None]]]) -> None:
        try:
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(w for _, w in writes), return_exceptions=True),
                timeout=self.settings.persist_timeout_seconds,
            )
        except TimeoutError:
            logger.error("turn persistence timed out", extra={"session_id": turn.session_id})
            return
        for (what, _), outcome in zip(writes, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                logger.error(
                    "turn persistence failed",
                    extra={"what": what, "error": type(outcome).__name__, "session_id": turn.session_id},
                    exc_info=outcome,
                )

    def _updated_customer(self, turn: _Turn, state: WorkflowState) -> CustomerContext:
        request = turn.request
        assert request.customer is not None
        current = turn.customer or CustomerContext(tenant_id=request.tenant_id, customer_key=request.customer.key)
        summary = ConversationSummary(
            channel=request.channel.value,
            session_id=turn.session_id,
            at=turn.at,
            summary=self._conversation_summary(turn),
        )
        # One summary per session, newest last: this session's replaces its previous one.
        others = [c for c in current.recent_conversations if c.session_id != turn.session_id]
        recent = sorted((*others, summary), key=lambda c: c.at)[-self.settings.recent_conversations_kept :]
        return current.model_copy(
            update={
                "recent_conversations": tuple(recent),
                "lead": {**current.lead, **state.lead},
                "qualification_score": max(current.qualification_score, state.qualification_score),
                "updated_at": turn.at,
            }
        )

    # --------------------------------------------------------------------------------- relayed tool
    async def _relay_tool(
        self, request: InvocationRequest, tool: ToolRequest, session_id: str
    ) -> AsyncIterator[ReplyEvent]:
        """Run one relayed tool call (e.g. from Nova Sonic): no model call, permission rules in the runner."""
        loop = asyncio.get_running_loop()
        started, at = loop.time(), self._clock()
        context = ToolContext(
            tenant_id=request.tenant_id,
            agent_id=request.agent_id,
            session_id=session_id,
            channel=request.channel.value,
            customer_key=request.customer.key if request.customer else None,
        )
        call = ToolCall(tool_use_id=tool.tool_use_id, name=tool.name, arguments=dict(tool.arguments))
        deadline = Deadline(self.deadline_seconds, loop.time)
        outcome: Literal["ok", "fallback", "failed"] = "ok"
        error: str | None = None
        try:
            results = await deadline.run(self._tools.run_all([call], context))
            result = results[0]
        except Exception as e:  # the runner promises not to raise; a broken one still gets a typed answer
            logger.exception("relayed tool failed", extra={"tool": tool.name, "session_id": session_id})
            status: ToolStatus = "timeout" if isinstance(e, DeadlineExceeded) else "error"
            result = ToolResult(tool_use_id=tool.tool_use_id, name=tool.name, status=status, error=status)
            outcome, error = "failed", type(e).__name__
        content = result.content if result.status == "ok" else {"error": result.error or result.status}
        yield ToolResultEvent(tool_use_id=tool.tool_use_id, status=result.status, content=content)
        state = await self._safe(self._workflow_states.get(request.tenant_id, session_id))
        state = state or self._workflow.initial_state()
        sequence = await self._safe(self._recorder.next_sequence(request.tenant_id, session_id))
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
            routing_reason="relayed tool call",
            role=state.role,
            latency_ms=latency_ms,
            tools=(tool.name,),
            outcome=outcome,
            error=error,
            at=at,
        )
        await self._safe(self._recorder.record_turn(record))
        yield TurnComplete(
            session_id=session_id,
            model_id=None,
            routing_reason="relayed tool call",
            role=state.role,
            qualification_score=state.qualification_score,
            latency_ms=latency_ms,
        )

    # -------------------------------------------------------------------------------------- helpers
    async def _safe[T](self, awaitable: Awaitable[T]) -> T | None:
        try:
            return await awaitable
        except Exception:
            logger.exception("agent store call failed")
            return None

    def _breaker_failure(self, turn: _Turn, model_id: str, error: ModelError) -> None:
        breaker = self.breakers.breaker(model_id)
        changed = breaker.record_failure()
        logger.warning("model call failed", extra={"model_id": model_id, "error": type(error).__name__})
        if changed is not None:
            turn.events.append(
                self._event(
                    turn, "breaker", {"model_id": model_id, "state": changed.value, "error": type(error).__name__}
                )
            )

    def _breaker_success(self, turn: _Turn, model_id: str) -> None:
        if self.breakers.breaker(model_id).record_success() is BreakerState.CLOSED:
            turn.events.append(self._event(turn, "breaker", {"model_id": model_id, "state": BreakerState.CLOSED.value}))

    def _event(self, turn: _Turn, kind: EventKind, detail: dict[str, Any]) -> AgentEventRecord:
        return AgentEventRecord(
            tenant_id=turn.request.tenant_id, session_id=turn.session_id, kind=kind, at=self._clock(), detail=detail
        )

    @staticmethod
    def _actor(request: InvocationRequest) -> str:
        return request.customer.key if request.customer else "anonymous"

    def _conversation_summary(self, turn: _Turn) -> str:
        """A short plain summary for a human taking over (and for the customer's context): what the
        customer asked, newest last, then the agent's last reply; whole words, oldest asks dropped first."""
        asks = [t.text for t in turn.history if t.role == "user"]
        if turn.user_text:
            asks.append(turn.user_text)
        limit = self.settings.summary_chars
        reply = f" Agent last said: {_shorten(turn.reply_text, limit // 3)}" if turn.reply_text else ""
        asks = [_shorten(a, limit // 3) for a in asks]
        while asks:
            text = "Customer asked: " + " / ".join(asks) + "." + reply
            if len(text) <= limit or len(asks) == 1:
                return text[:limit]
            asks.pop(0)
        return reply.strip()[:limit]

    def _estimate_tokens(
        self, static: str, dynamic: str, messages: list[dict[str, Any]], tool_specs: list[dict[str, Any]]
    ) -> int:
        chars = len(static) + len(dynamic) + len(json.dumps(tool_specs))
        chars += sum(len(block.get("text", "")) for message in messages for block in message["content"])
        return int(chars / self.settings.routing.chars_per_token) + 1
