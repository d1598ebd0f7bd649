"""The tenant agent's turn engine: one customer input in, a stream of reply events out, for the agent the request
names.

Every turn starts from that agent's definition (`DefinitionSource.live`: its status and live version, re-checked
every few seconds per container) and runs with the kit built from it (`oratio.agent.kit`): its prompt, tools,
model allowance and budget share, workflow roles, guardrails and knowledge scope. An agent that is paused,
stopped or deleted answers with its paused or closing line and hands over or ends (`oratio.agent.guardrails`).

Why our own loop over Bedrock Converse rather than Strands Agents (or another agent framework)? The loop
itself is small; what matters is around it, and each of these needs a hook a framework either lacks or
hides:

- per-turn model routing within the agent's and the tenant's budget: each turn (and each re-route) picks the
  cheapest model strong enough for what the turn needs;
- a circuit breaker per model, with fallback to the next eligible model, said in the routing reason;
- where cache points go: only where the prefix reaches the model's caching minimum, never in a field a model
  rejects (Nova refuses one among the tools);
- voice: text is cut into sentences as it streams so speech starts early, spoken acknowledgements cover
  tool calls and extended thinking, and thinking text is never spoken, emitted or logged;
- tools run through our `ToolRunner`, which gives every call a typed result and its own timeout;
- the whole turn has a deadline, and when it passes (or no model is left) the caller still hears a
  polite fallback line while the input and what went wrong are persisted;
- tests replay recorded Converse event streams through `ScriptedModel`, because the engine speaks
  Converse's own shapes through `ModelPort`.

The pieces: `turn` (what a turn accumulates), `model_stream` (one streamed Converse call), `persistence`,
`relay` (tool calls relayed by the voice bridge), `kit`, `guardrails`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

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
    TurnComplete,
)
from oratio.agent.guardrails import ModelFreeReply, guardrail_reply, lifecycle_reply
from oratio.agent.kit import AgentKit, AgentKits, ToolFactory, WorkflowFactory
from oratio.agent.model_routing import ModelDecision, RoutingSettings, ToolHint, TurnContext
from oratio.agent.model_stream import Emit, stream_round
from oratio.agent.persistence import PersistSettings, TurnPersister, actor
from oratio.agent.ports import (
    AgentEventRecord,
    BudgetLedger,
    ConversationRecorder,
    CustomerContextStore,
    ModelError,
    ModelPort,
    SessionMemory,
    WorkflowState,
    WorkflowStateStore,
    WorkflowUpdate,
)
from oratio.agent.prompt import PromptSettings
from oratio.agent.relay import relay_tool
from oratio.agent.resilience import (
    BreakerBoard,
    BreakerSettings,
    BreakerState,
    Deadline,
    DeadlineExceeded,
    RetryPolicy,
)
from oratio.agent.tools.base import ToolContext, ToolResult
from oratio.agent.turn import EventKind, ModelRound, Turn, conversation_summary
from oratio.agent_definitions.source import DefinitionSource, DefinitionUnavailableError, TenantDefaultSource
from oratio.agent_definitions.versions import LiveAgent
from oratio.budget import BudgetCheck, BudgetState, check_budget, step_down_models
from oratio.config.catalog import ModelCatalog, ModelEntry
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import TenantConfig
from oratio.domain.agents import AgentStatus
from oratio.metering import Meter
from oratio.tracing import end_span, start_child

logger = logging.getLogger(__name__)


class EngineSettings(BaseModel):
    """Limits and spoken lines of the turn engine (an agent's own limits, such as its deadline, come from its
    definition)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    max_model_rounds: int = Field(default=5, ge=1, description="model calls per turn (tool round trips + 1)")
    max_model_switches: int = Field(default=2, ge=0, description="re-routes to another model after failures")
    chunk_max_chars: int = Field(default=DEFAULT_MAX_CHARS, ge=20)
    deadline_seconds: float | None = Field(default=None, gt=0, description="None: the agent's turn deadline")
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


class BudgetExhaustedError(Exception):
    """The tenant's month (or the agent's own share of it) is at its budget: no model is called (the caller gets
    the budget reply)."""


def _worse(first: BudgetCheck, second: BudgetCheck) -> BudgetCheck:
    """The check that allows less: the further state, and at the same state the one with less headroom."""
    order = list(BudgetState)
    if order.index(second.state) != order.index(first.state):
        return max(first, second, key=lambda c: order.index(c.state))
    return second if second.escalation_headroom_usd < first.escalation_headroom_usd else first


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _none() -> None:
    return None


class TenantAgent:
    """`TurnEngine` for a tenant's agents: each turn runs as the agent its request names."""

    def __init__(
        self,
        *,
        tenant: TenantConfig,
        catalog: ModelCatalog,
        model: ModelPort,
        tools: ToolFactory,
        memory: SessionMemory,
        contexts: CustomerContextStore,
        recorder: ConversationRecorder,
        budget: BudgetLedger,
        workflow: WorkflowFactory,
        workflow_states: WorkflowStateStore,
        definitions: DefinitionSource | None = None,
        clock: Callable[[], datetime] = _utc_now,
        settings: EngineSettings | None = None,
        breakers: BreakerBoard | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        meter: Meter | None = None,
    ) -> None:
        self.tenant = tenant
        self.meter = meter or Meter(load_price_catalog(), catalog)
        self._catalog = catalog
        self.settings = settings or EngineSettings()
        self.definitions = definitions or TenantDefaultSource()
        self.kits = AgentKits(
            tenant, catalog, tools=tools, workflow=workflow, routing=self.settings.routing, prompt=self.settings.prompt
        )
        self._model = model
        self._memory = memory
        self._contexts = contexts
        self._recorder = recorder
        self._budget = budget
        self._workflow_states = workflow_states
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self.breakers = breakers or BreakerBoard(self.settings.breaker)
        self._persister = TurnPersister(
            memory=memory,
            contexts=contexts,
            recorder=recorder,
            budget=budget,
            workflow_states=workflow_states,
            clock=clock,
            settings=PersistSettings(
                timeout_seconds=self.settings.persist_timeout_seconds,
                recent_conversations_kept=self.settings.recent_conversations_kept,
            ),
            meter=self.meter,
        )

    def deadline_seconds(self, kit: AgentKit) -> float:
        return self.settings.deadline_seconds or kit.definition.models.turn_deadline_seconds

    # ---------------------------------------------------------------------------------- the agent
    async def _agent(self, request: InvocationRequest) -> tuple[LiveAgent | None, AgentKit]:
        """The agent the request names, and its kit; (None, the tenant's defaults) when it cannot be read."""
        try:
            live = await self.definitions.live(request.tenant_id, request.agent_id, version=request.agent_version)
        except DefinitionUnavailableError:
            logger.exception("agent definition unavailable", extra={"agent_id": request.agent_id})
            return None, self.kits.for_agent(
                LiveAgent(tenant_id=request.tenant_id, agent_id=request.agent_id, status=AgentStatus.ACTIVE)
            )
        return live, self.kits.for_agent(live)

    # ----------------------------------------------------------------------------------- the turn
    async def handle(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        """Run one turn; events stream as they happen and `TurnComplete` is always the last one."""
        loop = asyncio.get_running_loop()
        live, kit = await self._agent(request)
        if isinstance(request.input, ToolRequest):
            allowed = live is not None and (request.agent_version is not None or live.takes_conversations)
            async for relayed in relay_tool(
                request,
                request.input,
                session_id,
                kit,
                allowed=allowed,
                recorder=self._recorder,
                workflow_states=self._workflow_states,
                clock=self._clock,
            ):
                yield relayed
            return
        turn = Turn(
            request=request,
            session_id=session_id,
            at=self._clock(),
            started=loop.time(),
            user_text=request.input.text,
            definition_version=kit.definition.version,
        )
        turn.span = start_child(None, "oratio.turn", turn.trace_attributes)
        # The turn runs in its own task feeding a queue, so the deadline can stop it at any await without
        # a cancellation ever landing in the caller's code between two events.
        queue: asyncio.Queue[ReplyEvent | None] = asyncio.Queue()
        worker = asyncio.create_task(self._run_turn(turn, queue, live, kit))
        deadline = Deadline(self.deadline_seconds(kit), loop.time)
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
        update = self._advance_workflow(turn, kit)
        for event in self._workflow_events(turn, update):
            yield event
        state = update.state if update else (turn.state or kit.workflow.initial_state())
        await self._persister.persist(turn, update, state, self._summary(turn))
        turn.span.set_attributes(
            {"oratio.model_id": turn.model_id or "", "oratio.cost_usd": turn.cost_usd, "oratio.outcome": turn.outcome}
        )
        end_span(turn.span, error=turn.error)
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
            definition_version=turn.definition_version,
        )

    async def _run_turn(
        self, turn: Turn, queue: asyncio.Queue[ReplyEvent | None], live: LiveAgent | None, kit: AgentKit
    ) -> None:
        """The turn's work; failures become the turn's outcome, never an exception out of the task."""
        try:
            if live is None:
                raise DefinitionUnavailableError(turn.request.agent_id)
            await self._converse(turn, queue.put_nowait, live, kit)
        except BudgetExhaustedError:
            turn.outcome, turn.error = "fallback", BudgetExhaustedError.__name__
            logger.warning("turn refused: monthly budget reached", extra={"session_id": turn.session_id})
        except (ModelError, NoModelAvailableError, ToolRoundLimitError, DefinitionUnavailableError) as e:
            turn.outcome, turn.error = "fallback", type(e).__name__
            logger.warning("turn fell back", extra={"error": type(e).__name__, "session_id": turn.session_id})
        except Exception as e:
            turn.outcome, turn.error = "failed", type(e).__name__
            logger.exception("turn failed", extra={"error": type(e).__name__, "session_id": turn.session_id})
        finally:
            queue.put_nowait(None)  # end of the turn's events

    async def _converse(self, turn: Turn, emit: Emit, live: LiveAgent, kit: AgentKit) -> None:
        request = turn.request
        voice = request.is_voice
        await self._load(turn)
        pinned = request.agent_version is not None
        reply = None if pinned else lifecycle_reply(live, kit.definition, self._summary(turn))
        reply = reply or guardrail_reply(turn.user_text, kit.definition, self._summary(turn))
        if reply is not None:
            self._answer_without_model(turn, reply, emit)
            return
        excluded = self._apply_budget(turn, kit)
        state = turn.state or kit.workflow.initial_state()
        static = kit.prompts.static_system_text(request.channel)
        dynamic = kit.prompts.dynamic_system_text(
            role=state.role,
            role_instructions=kit.workflow.instructions(state.role),
            customer=turn.customer,
            now=turn.at,
        )
        messages = kit.prompts.messages(turn.history, turn.user_text)
        tool_specs = kit.tools.model_tool_specs()
        context = TurnContext(
            user_text=turn.user_text,
            voice=voice,
            history_turns=len(turn.history),
            history_chars=sum(len(t.text) for t in turn.history),
            estimated_input_tokens=self._estimate_tokens(kit, static, dynamic, messages, tool_specs),
            tools=ToolHint.from_tool_specs(tool_specs, self.settings.routing),
            turn_budget_usd=kit.definition.models.max_turn_cost_usd,
            tenant_remaining_usd=self._remaining_usd(turn, kit),
            excluded_models={**excluded, **{mid: "circuit open" for mid in self.breakers.open_models()}},
        )
        decision = await self._route(turn, kit, context, prefix="")
        if voice and decision.uses_thinking:
            emit(Acknowledgement(text=self.settings.thinking_ack, reason="thinking"))

        chunker = SentenceChunker(self.settings.chunk_max_chars)
        rounds = switches = 0
        acknowledged = False
        while True:
            model = decision.model
            assert model is not None  # _route raises when there is none
            call = kit.prompts.request(
                model=model,
                system=kit.prompts.system_blocks(static, dynamic, model, tool_specs),
                messages=messages,
                tool_specs=tool_specs,
                voice=voice,
                thinking_budget_tokens=decision.thinking_budget_tokens,
            )
            result = ModelRound()
            try:
                await self._model_call(call, model, turn, chunker, emit, result)
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
                decision = await self._route(turn, kit, context, prefix=f"{model.id} failed ({type(e).__name__}); ")
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
            results = await self._run_tools(turn, kit, result, emit)
            messages.append({"role": "assistant", "content": result.content})
            messages.append({"role": "user", "content": [r.for_model() for r in results]})
            context = context.model_copy(update={"require_tools": True})
        # Handoff / end-call come after the model's last words so a transfer never cuts them off.
        for event in turn.finale:
            emit(event)

    async def _model_call(
        self,
        call: dict[str, Any],
        model: ModelEntry,
        turn: Turn,
        chunker: SentenceChunker,
        emit: Emit,
        result: ModelRound,
    ) -> None:
        """One streamed model call inside its `oratio.model_call` span (model, token usage)."""
        span = start_child(
            turn.span,
            "oratio.model_call",
            {**turn.trace_attributes, "gen_ai.request.model": model.bedrock_model_id, "oratio.model_id": model.id},
        )
        try:
            await stream_round(
                self._model,
                call,
                model,
                turn,
                chunker,
                emit,
                result,
                retry=self.settings.retry,
                sleep=self._sleep,
                rand=self._rand,
            )
        except Exception as e:
            end_span(span, error=type(e).__name__)
            raise
        span.set_attributes(
            {
                "gen_ai.usage.input_tokens": int(result.usage.get("inputTokens", 0)),
                "gen_ai.usage.output_tokens": int(result.usage.get("outputTokens", 0)),
            }
        )
        end_span(span)

    def _apply_budget(self, turn: Turn, kit: AgentKit) -> dict[str, str]:
        """Enforce the budgets before any spend: the tenant's month and the agent's own share of it, whichever
        stands worse. At the budget the turn is refused; past the step-down line, the models a stepped-down turn
        may not use are named."""
        tenant, models = self.tenant, kit.definition.models
        tenant_check = check_budget(turn.month_to_date_usd, tenant.agent.monthly_budget_usd, tenant.budget)
        agent_check = check_budget(turn.agent_month_to_date_usd, models.monthly_budget_usd, tenant.budget)
        turn.budget = _worse(tenant_check, agent_check)
        if turn.budget.state is BudgetState.EXHAUSTED:
            share = "" if turn.budget is tenant_check else f"agent {turn.request.agent_id}'s share: "
            turn.routing_reason = share + turn.budget.describe()
            turn.fallback_reason = "monthly budget reached"
            voice = turn.request.is_voice
            turn.fallback_text = tenant.budget_voice_message if voice else tenant.budget_text_message
            raise BudgetExhaustedError(turn.routing_reason)
        if turn.budget.state is BudgetState.STEP_DOWN:
            keep = step_down_models(tenant.budget, models.allowed_models, self._catalog)
            return {m: "budget step-down" for m in models.allowed_models if m not in keep}
        return {}

    def _answer_without_model(self, turn: Turn, reply: ModelFreeReply, emit: Emit) -> None:
        turn.answered_without_model = True
        turn.routing_reason = reply.reason
        turn.texts.append(reply.text)
        emit(TextChunk(text=reply.text))
        turn.events.append(self._event(turn, reply.kind, reply.detail))
        if isinstance(reply.finale, Handoff):
            turn.events.append(self._event(turn, "handoff", {"reason": reply.finale.reason, "source": reply.kind}))
        elif isinstance(reply.finale, EndCall):
            turn.events.append(self._event(turn, "end_call", {"reason": reply.finale.reason, "source": reply.kind}))
        if reply.finale is not None:
            turn.finale.append(reply.finale)
            emit(reply.finale)

    def _remaining_usd(self, turn: Turn, kit: AgentKit) -> float:
        """What this turn may still spend this month: the tenant's and the agent's own share, whichever is less."""
        tenant_left = self.tenant.agent.monthly_budget_usd - turn.month_to_date_usd
        agent_left = kit.definition.models.monthly_budget_usd - turn.agent_month_to_date_usd
        return min(tenant_left, agent_left)

    def _escalation_headroom_usd(self, turn: Turn, kit: AgentKit) -> float:
        """What a voice-tier escalation may spend: up to the step-down line, never into it (within the agent's
        share too)."""
        if turn.budget is None:
            return self._remaining_usd(turn, kit)
        return min(turn.budget.escalation_headroom_usd, self._remaining_usd(turn, kit))

    async def _load(self, turn: Turn) -> None:
        request = turn.request
        tenant_id = request.tenant_id
        history, customer, state, spent, agent_spent, sequence = await asyncio.gather(
            self._memory.recent_turns(turn.session_id, actor(request), self.settings.prompt.history_turns),
            self._contexts.get(tenant_id, request.customer.key) if request.customer else _none(),
            self._workflow_states.get(tenant_id, turn.session_id),
            self._budget.month_to_date_usd(tenant_id, turn.at),
            self._budget.agent_month_to_date_usd(tenant_id, request.agent_id, turn.at),
            self._recorder.next_sequence(tenant_id, turn.session_id),
        )
        turn.history, turn.customer, turn.state = list(history), customer, state
        turn.month_to_date_usd, turn.agent_month_to_date_usd, turn.sequence = spent, agent_spent, sequence

    async def _route(self, turn: Turn, kit: AgentKit, context: TurnContext, prefix: str) -> ModelDecision:
        decision = kit.selector.select(context)
        turn.routing_reason = prefix + decision.reason
        record = self._event(
            turn,
            "routing",
            {
                "model_id": decision.model.id if decision.model else None,
                "reason": turn.routing_reason,
                "complexity": decision.complexity,
                "strength": decision.strength,
                "thinking_budget_tokens": decision.thinking_budget_tokens,
                "estimated_cost_usd": decision.estimated_cost_usd,
                "definition_version": turn.definition_version,
            },
        )
        turn.events.append(record)
        logger.info("model routed", extra={"session_id": turn.session_id, **record.detail})
        if decision.model is None:
            raise NoModelAvailableError(turn.routing_reason)
        return decision

    async def _run_tools(self, turn: Turn, kit: AgentKit, result: ModelRound, emit: Emit) -> list[ToolResult]:
        request = turn.request
        context = ToolContext(
            tenant_id=request.tenant_id,
            agent_id=request.agent_id,
            session_id=turn.session_id,
            channel=request.channel.value,
            customer_key=request.customer.key if request.customer else None,
            user_text=turn.user_text,
            conversation_summary=self._summary(turn),
        )
        started_ns = time.time_ns()
        ran = await kit.tools.run_all(result.calls, context) if result.calls else []
        for tool_result in [*ran, *result.malformed]:
            span = start_child(
                turn.span,
                f"oratio.tool {tool_result.name}",
                {**turn.trace_attributes, "oratio.tool": tool_result.name, "oratio.tool_status": tool_result.status},
                start_time=started_ns,
            )
            failed = tool_result.status if tool_result.status != "ok" else None
            end_span(span, error=failed, end_time=started_ns + int(tool_result.duration_ms * 1_000_000))
        for call in result.calls:
            if call.name == "knowledge_search" and isinstance(call.arguments.get("query"), str):
                turn.charges.extend(
                    self.meter.knowledge_retrieval(call.arguments["query"], self.tenant.knowledge.embedding_model)
                )
        by_id = {r.tool_use_id: r for r in [*ran, *result.malformed]}
        ordered = [by_id[b["toolUse"]["toolUseId"]] for b in result.content if "toolUse" in b]
        for tool_result in ordered:
            turn.tools.append(tool_result.name)
            emit(ToolActivity(name=tool_result.name, status=tool_result.status, duration_ms=tool_result.duration_ms))
            if tool_result.status == "ok":
                self._note_finale(turn, tool_result)
        return ordered

    def _note_finale(self, turn: Turn, result: ToolResult) -> None:
        handoff, end_call = result.content.get("handoff"), result.content.get("end_call")
        if isinstance(handoff, dict):
            reason = str(handoff.get("reason") or "customer asked for a person")
            summary = str(handoff.get("summary") or self._summary(turn))
            turn.finale.append(Handoff(reason=reason, summary=summary))
            turn.events.append(self._event(turn, "handoff", {"reason": reason, "tool": result.name}))
        if isinstance(end_call, dict):
            reason = str(end_call.get("reason") or "conversation finished")
            turn.finale.append(EndCall(reason=reason))
            turn.events.append(self._event(turn, "end_call", {"reason": reason, "tool": result.name}))

    # ---------------------------------------------------------------------------- after the reply
    async def _fallback_events(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        voice = turn.request.is_voice
        text = turn.fallback_text or (self.settings.fallback_text_voice if voice else self.settings.fallback_text)
        turn.texts.append(text)
        yield TextChunk(text=text)
        handoffs = [e for e in turn.finale if isinstance(e, Handoff)]
        if voice and self.settings.handoff_on_voice_fallback and not handoffs:
            reason = turn.fallback_reason or "assistant unavailable"
            turn.finale.insert(0, Handoff(reason=reason, summary=self._summary(turn)))
            turn.events.append(self._event(turn, "handoff", {"reason": reason}))
        for event in turn.finale:
            yield event

    def _advance_workflow(self, turn: Turn, kit: AgentKit) -> WorkflowUpdate | None:
        if turn.fell_back or turn.answered_without_model:
            return None  # a fallback or a lifecycle/guardrail line says nothing about the lead
        state: WorkflowState = turn.state or kit.workflow.initial_state()
        try:
            return kit.workflow.advance(
                state,
                user_text=turn.user_text,
                reply_text=turn.reply_text,
                tools_used=tuple(turn.tools),
                channel=turn.request.channel.value,
                budget_remaining_usd=self._escalation_headroom_usd(turn, kit) - turn.cost_usd,
            )
        except Exception:
            logger.exception("workflow advance failed", extra={"session_id": turn.session_id})
            return None

    def _workflow_events(self, turn: Turn, update: WorkflowUpdate | None) -> list[ReplyEvent]:
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

    # -------------------------------------------------------------------------------------- helpers
    def _breaker_failure(self, turn: Turn, model_id: str, error: ModelError) -> None:
        breaker = self.breakers.breaker(model_id)
        changed = breaker.record_failure()
        logger.warning("model call failed", extra={"model_id": model_id, "error": type(error).__name__})
        if changed is not None:
            turn.events.append(
                self._event(
                    turn, "breaker", {"model_id": model_id, "state": changed.value, "error": type(error).__name__}
                )
            )

    def _breaker_success(self, turn: Turn, model_id: str) -> None:
        if self.breakers.breaker(model_id).record_success() is BreakerState.CLOSED:
            turn.events.append(self._event(turn, "breaker", {"model_id": model_id, "state": BreakerState.CLOSED.value}))

    def _event(self, turn: Turn, kind: EventKind, detail: dict[str, Any]) -> AgentEventRecord:
        return AgentEventRecord(
            tenant_id=turn.request.tenant_id, session_id=turn.session_id, kind=kind, at=self._clock(), detail=detail
        )

    def _summary(self, turn: Turn) -> str:
        return conversation_summary(turn, self.settings.summary_chars)

    def _estimate_tokens(
        self,
        kit: AgentKit,
        static: str,
        dynamic: str,
        messages: list[dict[str, Any]],
        tool_specs: list[dict[str, Any]],
    ) -> int:
        texts = [static, dynamic, json.dumps(tool_specs)]
        texts += [block.get("text", "") for message in messages for block in message["content"]]
        return kit.prompts.estimate_tokens("".join(texts))
