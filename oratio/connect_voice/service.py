"""The Connect voice use cases behind the `voice_turn` Lambda: one Lex code-hook turn, and the contact flow's
actions around the bot (`prepare` the call, `pickup` a reply that was still being worked on, `bot_failed`).

Never silent, never dead air:
- every code-hook turn answers within the tenant's silence budget: the agent turn runs in a worker that
  the code hook waits for until `VoiceProfile.deadline_seconds`; if it is not done, the caller hears the
  holding message at once and the flow picks the reply up (`pickup`), saying "still on it" while it waits;
- anything that fails moves the call one rung down: speech-to-speech → cascaded speech → a person, with
  the conversation summary, the reason and the lead score as contact attributes for the agent's whisper.

Lifecycle: each code-hook turn reads the agent's status afresh (beside the breaker snapshot, so it adds no wait):
a paused agent's caller hears the agent's paused line and goes to the human queue, a stopped or deleted agent's
caller hears its closing line and the call ends, within one turn; the change is recorded with the call.

Persistence: the agent records its own turns, transitions and escalation decisions keyed by the ContactId
(its session id). This path records what only it knows, with the same records: turns the agent never saw
(caller not understood, asked for a person, agent unreachable), handoffs it decided, breaker changes,
speech-mode changes ("routing") and the voice-tier escalation as applied to the call. A failed write is
logged, never allowed to break the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from oratio.agent.contracts import MAX_INPUT_CHARS, CustomerIdentity, InvocationRequest, UserMessage
from oratio.agent.ports import (
    AgentEventRecord,
    BudgetLedger,
    ConversationRecorder,
    TurnRecord,
    WorkflowStateStore,
)
from oratio.agent_definitions.source import DefinitionSource
from oratio.agent_definitions.versions import LiveAgent
from oratio.config.catalog import load_model_catalog
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import Channel
from oratio.connect_voice import lex
from oratio.connect_voice.lex import LexCodeHookEvent
from oratio.connect_voice.outcome import TurnJob, TurnOutcome, failed_outcome
from oratio.connect_voice.policy import (
    Handover,
    Reaction,
    ReactionKind,
    decide_escalation,
    lead_attributes,
    react,
    summarize_transcript,
    understood,
    whisper_text,
)
from oratio.connect_voice.ports import TranscriptSource, TurnMailbox, TurnWorker, TurnWorkerError
from oratio.connect_voice.profile import TEXT_REPLY_WAIT_SECONDS, VoiceProfile
from oratio.connect_voice.state import NEXT_STEP, CallState, NextStep, SpeechMode
from oratio.domain.agents import AgentStatus
from oratio.domain.call_slots import CallLeases, renewed_until
from oratio.domain.circuit_breaker import (
    Admission,
    BreakerChange,
    BreakerRecord,
    BreakerState,
    CircuitBreakers,
    Dependency,
)
from oratio.metering import Charge, Meter, record_charges

logger = logging.getLogger(__name__)

# Intents of the tenant's bot (stacks/constructs/voice_bot.py builds them).
CONVERSE_INTENT = "FallbackIntent"  # free speech: everything the agent answers
SPEAK_TO_PERSON_INTENT = "SpeakToPerson"
# Extra keys of the flow actions' answers.
SONIC_VOICE = "sonic_voice"  # the Nova Sonic voice, passed back to Lex as the speaker-model override
SILENCE_PROMPT = "silence_prompt"  # said when the caller stays silent in the bot
HANDOFF_PROMPT = "handoff_prompt"  # said before a transfer the flow decides on its own (loops run out)
CLOSED_PROMPT = "closed_prompt"  # said when a transfer finds the human team closed
# How often `pickup` looks for the reply while the caller waits.
PICKUP_POLL_SECONDS = 0.1
# The least the code hook waits for the worker, even when its own start-up ate the deadline.
MIN_WAIT_SECONDS = 0.05
VOICE_PATH_ROLE = ""  # turns recorded by this path have no workflow role
# The degradation ladder, top down, and the breaker guarding each speech rung.
LADDER = (SpeechMode.SPEECH_TO_SPEECH, SpeechMode.CASCADED, SpeechMode.HUMAN)
SPEECH_DEPENDENCY = {
    SpeechMode.SPEECH_TO_SPEECH: Dependency.SPEECH_TO_SPEECH,
    SpeechMode.CASCADED: Dependency.CASCADED_SPEECH,
}

EventKind = Literal["transition", "escalation", "routing", "breaker", "handoff", "end_call", "lifecycle"]
# Who a web chat's customer may be, as the vendor API passes it (contact attribute `customer`).
WEB_CHAT_IDENTITY_KINDS = frozenset({"email", "phone", "chat"})


class VoiceObserver(Protocol):
    """Where the voice path reports what operators watch (the handler turns it into CloudWatch metrics)."""

    def turn_latency(self, agent_ms: float, platform_ms: float) -> None:
        """One answered turn: the agent's own time, and the rest of the code hook's."""
        ...

    def event(self, kind: str, detail: Mapping[str, Any]) -> None:
        """A recorded call event (breaker change, speech-mode change, handoff, escalation)."""
        ...


class _Unobserved:
    def turn_latency(self, agent_ms: float, platform_ms: float) -> None:
        return None

    def event(self, kind: str, detail: Mapping[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class FlowCall:
    """A contact flow's Invoke Lambda call, as the voice actions need it."""

    contact_id: str
    caller: str | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)


class ConnectVoice:
    """The voice path of one tenant on Amazon Connect."""

    def __init__(
        self,
        profile: VoiceProfile,
        *,
        breakers: CircuitBreakers,
        worker: TurnWorker,
        mailbox: TurnMailbox,
        recorder: ConversationRecorder,
        transcripts: TranscriptSource,
        budget: BudgetLedger,
        workflow_states: WorkflowStateStore,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        new_turn_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        poll_seconds: float = PICKUP_POLL_SECONDS,
        leases: CallLeases | None = None,
        meter: Meter | None = None,
        observer: VoiceObserver | None = None,
        agents: DefinitionSource | None = None,
    ) -> None:
        self.profile = profile
        self._agents = agents
        self._observer = observer or _Unobserved()
        self._meter = meter or Meter(load_price_catalog(), load_model_catalog())
        self.settings = profile.connect
        self.breakers = breakers
        self._worker = worker
        self._mailbox = mailbox
        self._recorder = recorder
        self._transcripts = transcripts
        self._budget = budget
        self._workflow_states = workflow_states
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._new_turn_id = new_turn_id
        self._poll_seconds = poll_seconds
        self._leases = leases

    # ------------------------------------------------------------------------------------ code hook
    async def lex_turn(self, event: LexCodeHookEvent) -> dict[str, Any]:
        """Answer one Lex V2 code-hook invocation within the silence budget, and meter what it used; the turn
        proves the call alive, so its slot lease is renewed meanwhile."""
        contact_id = self._state(event.session_state.session_attributes, event.session_id).contact_id
        response: dict[str, Any]
        response, _ = await asyncio.gather(self._lex_turn(event), self._keep_slot(contact_id))
        await self._held_for_transfer(contact_id, response["sessionState"]["sessionAttributes"])
        await self._meter_lex_turn(event, response)
        return response

    async def _meter_lex_turn(self, event: LexCodeHookEvent, response: Mapping[str, Any]) -> None:
        """One Lex speech request, and the reply's speech: Nova Sonic (estimated from the words: Connect reports
        no tokens) on speech-to-speech, Polly characters on cascaded."""
        attributes = response.get("sessionState", {}).get("sessionAttributes", {})
        said = " ".join(str(m.get("content", "")) for m in response.get("messages", []))
        mode = attributes.get("speech_mode", "")
        charges = [self._meter.lex_speech_requests(1)]
        if mode == SpeechMode.SPEECH_TO_SPEECH.value:
            charges.append(self._meter.sonic_from_words(event.caller_text, said, self.settings.sonic_model_id))
        elif mode == SpeechMode.CASCADED.value and said:
            charges.append(self._meter.polly_characters(attributes.get("tts_engine") or "neural", said))
        await self._spend(charges, event.session_id, attributes.get("agent_id") or None)

    async def _spend(self, charges: list[Charge], contact_id: str, agent_id: str | None) -> None:
        try:
            await record_charges(
                self._budget,
                charges,
                tenant_id=self.profile.tenant_id,
                at=self._clock(),
                agent_id=agent_id,
                session_id=contact_id,
            )
        except Exception:
            logger.exception("metering the voice turn failed", extra={"contact_id": contact_id})

    async def _lex_turn(self, event: LexCodeHookEvent) -> dict[str, Any]:
        started = self._monotonic()
        state = self._state(event.session_state.session_attributes, event.session_id)
        intent = event.intent_name or CONVERSE_INTENT
        records, agent = await asyncio.gather(self._snapshot(state), self._agent(state, fresh=True))
        await self._confirm_speech_mode(state, records)
        text = event.caller_text
        if agent is not None and not agent.takes_conversations:
            return await self._lex_reaction(
                state, intent, await self._lifecycle(state, agent, text or None), decided=True
            )

        if intent == SPEAK_TO_PERSON_INTENT:
            reason = "caller asked for a person"
            response = await self._lex_reaction(state, intent, self._handoff(reason), decided=True)
            await self._record_own_turn(state, text, self.settings.handoff_message, reason)
            return response

        if not understood(text, event.transcription_confidence, self.settings):
            return await self._lex_unclear(state, intent, text, event.transcription_confidence)
        state.unclear_turns = 0

        admission, change = await self._admit(Dependency.AGENT, records)
        await self._record_breaker(state, change)
        if not admission.allowed:
            reason = "assistant unavailable (circuit open)"
            response = await self._lex_reaction(state, intent, self._handoff(reason), decided=True)
            await self._record_own_turn(state, text, self.settings.handoff_message, reason, outcome="fallback")
            return response

        wait = max(MIN_WAIT_SECONDS, self._reply_wait(state) - (self._monotonic() - started))
        job = self._job(state, text)
        outcome = await self._run(state, job, text, wait)
        if outcome is None:
            # Too slow for the caller's patience: say so now; the worker finishes and `pickup` collects it.
            state.pending_turn = job.turn_id
            state.holding_rounds = 0
            state.next_step = NextStep.AWAIT_REPLY
            return lex.close(intent, state.to_attributes(), message=self.settings.holding_message)
        agent_ms = outcome.done.latency_ms if outcome.done else outcome.duration_ms
        self._observer.turn_latency(agent_ms, max(0.0, (self._monotonic() - started) * 1000 - agent_ms))
        reaction = await self._react(state, outcome)
        return await self._lex_reaction(state, intent, reaction, decided=outcome.handoff is None)

    async def _lex_unclear(self, state: CallState, intent: str, text: str, confidence: float | None) -> dict[str, Any]:
        state.unclear_turns += 1
        why = "nothing was heard" if not text.strip() else f"transcription confidence {confidence:.2f}"
        if state.unclear_turns > self.settings.max_unclear_turns:
            reason = f"caller could not be understood ({why})"
            # The summary is built from the turns before this one: the person needs the context, not the noise.
            response = await self._lex_reaction(state, intent, self._handoff(reason), decided=True)
            await self._record_own_turn(state, text or None, self.settings.handoff_message, reason, "fallback")
            return response
        await self._record_own_turn(state, text or None, self.settings.unclear_message, why, "fallback")
        return await self._lex_reaction(state, intent, Reaction(ReactionKind.REPLY, self.settings.unclear_message))

    async def _lex_reaction(
        self, state: CallState, intent: str, reaction: Reaction, *, decided: bool = False
    ) -> dict[str, Any]:
        """The Lex response for a reaction: keep listening, or close the bot with the flow's next step."""
        if reaction.kind is ReactionKind.SET_VOICE and state.is_text:
            reaction = Reaction(ReactionKind.REPLY, reaction.text)  # a tier has no voice to change in a chat
        if reaction.kind is ReactionKind.REPLY:
            state.next_step, state.prompt = NextStep.CONVERSE, reaction.text
            return lex.elicit_intent(reaction.text, state.to_attributes())
        if reaction.kind is ReactionKind.SET_VOICE:
            # The flow applies the new voice, then re-enters the bot opening with the reply.
            self._set_tier_voice(state)
            state.next_step, state.prompt = NextStep.SET_VOICE, reaction.text
            return lex.close(intent, state.to_attributes())
        if reaction.kind is ReactionKind.END:
            state.next_step, state.prompt = NextStep.END, ""
            return lex.close(intent, state.to_attributes(), message=reaction.text or None)
        await self._prepare_handoff(state, reaction, decided=decided)
        state.prompt = ""
        return lex.close(intent, state.to_attributes(), message=reaction.text)

    # ---------------------------------------------------------------------------------- flow actions
    async def prepare(self, call: FlowCall) -> dict[str, str]:
        """At the start of an agent-routed call: choose the top rung that works, and the voices to set (a chat or
        SMS contact converses in text: the greeting, no voices)."""
        answer, _ = await asyncio.gather(self._prepare(call), self._keep_slot(call.contact_id))
        return await self._held_for_transfer(call.contact_id, answer)

    async def _prepare(self, call: FlowCall) -> dict[str, str]:
        state = self._state(call.attributes, call.contact_id)
        state.caller = call.caller or state.caller
        state.voice_tier = self.profile.default_tier
        records, agent = await asyncio.gather(self._snapshot(state), self._agent(state, fresh=True))
        if agent is not None and not agent.takes_conversations:
            return await self._flow_reaction(state, await self._lifecycle(state, agent, None), True)
        overrides = agent.overrides() if agent is not None else None
        if self.breakers.state(records, Dependency.AGENT) is BreakerState.OPEN:
            state.speech_mode = SpeechMode.HUMAN
            return await self._flow_reaction(state, self._handoff("assistant unavailable (circuit open)"), True)
        if state.is_text:  # a chat or SMS: the bot in writing, no speech rung to choose
            state.speech_mode = SpeechMode.TEXT
            state.next_step, state.prompt = NextStep.CONVERSE, self.profile.agent_lines(overrides).greeting
            return self._flow_answer(state)
        mode = await self._choose_mode(state, records, self._top_mode())
        if mode is not self._top_mode():
            await self._record_routing(state, self._top_mode(), mode, "breaker open at call start")
        state.speech_mode = mode
        if mode is SpeechMode.HUMAN:
            return await self._flow_reaction(state, self._handoff("speech services unavailable"), True)
        self._set_mode_voice(state)
        state.next_step, state.prompt = NextStep.CONVERSE, self.profile.agent_lines(overrides).greeting
        return self._flow_answer(state, self.profile.agent_voice(overrides))

    async def pickup(self, call: FlowCall) -> dict[str, str]:
        """While the caller waits after a holding reply: the agent's reply if it is ready within the silence
        budget, else "still on it" (and a person after `max_holding_rounds` of those)."""
        answer, _ = await asyncio.gather(self._pickup(call), self._keep_slot(call.contact_id))
        return await self._held_for_transfer(call.contact_id, answer)

    async def _pickup(self, call: FlowCall) -> dict[str, str]:
        started = self._monotonic()
        state = self._state(call.attributes, call.contact_id)
        turn_id = state.pending_turn
        if not turn_id:
            return await self._flow_reaction(state, self._handoff("no reply was pending"), True)
        outcome: TurnOutcome | None = None
        while True:
            outcome = await self._read_mailbox(state, turn_id)
            left = self.profile.deadline_seconds - (self._monotonic() - started)
            if outcome is not None or left <= 0:
                break
            await self._sleep(min(self._poll_seconds, left))
        if outcome is not None:
            state.pending_turn, state.holding_rounds = "", 0
            reaction = await self._react(state, outcome)
            return await self._flow_reaction(state, reaction, outcome.handoff is None)
        state.holding_rounds += 1
        if state.holding_rounds > self.settings.max_holding_rounds:
            # Tell the mailbox the caller stops waiting; a reply that landed meanwhile is said after all, and one
            # that lands later is recorded by the worker as missed.
            landed = await self._give_up(state, turn_id)
            state.pending_turn, state.holding_rounds = "", 0
            if landed is not None:
                reaction = await self._react(state, landed)
                return await self._flow_reaction(state, reaction, landed.handoff is None)
            return await self._flow_reaction(state, self._handoff("assistant took too long to answer"), True)
        state.next_step, state.prompt = NextStep.AWAIT_REPLY, self.settings.still_working_message
        # The flow says "still on it" itself, in the call's Polly voice.
        polly = self._meter.polly_characters(state.tts_engine or "neural", state.prompt)
        await self._spend([polly], state.contact_id, state.agent_id or None)
        return self._flow_answer(state)

    async def bot_failed(self, call: FlowCall) -> dict[str, str]:
        """The flow's bot block took its error branch: count it against that rung and step down one."""
        return await self._held_for_transfer(call.contact_id, await self._bot_failed(call))

    async def _bot_failed(self, call: FlowCall) -> dict[str, str]:
        state = self._state(call.attributes, call.contact_id)
        failed = state.speech_mode
        dependency = SPEECH_DEPENDENCY.get(failed)
        if dependency is not None:
            change = await self._safe_breaker_failure(dependency, "bot error in the contact flow")
            await self._record_breaker(state, change)
        records = await self._snapshot(state)
        below = LADDER[min(LADDER.index(failed) + 1, len(LADDER) - 1)]
        mode = await self._choose_mode(state, records, below)
        await self._record_routing(state, failed, mode, f"{failed.value} bot error")
        state.speech_mode = mode
        if mode is SpeechMode.HUMAN:
            return await self._flow_reaction(state, self._handoff("speech services unavailable"), True)
        self._set_mode_voice(state)
        state.next_step, state.prompt = NextStep.CONVERSE, self.settings.trouble_message
        return self._flow_answer(state)

    async def _flow_reaction(self, state: CallState, reaction: Reaction, decided: bool) -> dict[str, str]:
        """A reaction as flow-action attributes; the flow speaks `prompt` itself on these paths."""
        state.prompt = reaction.text
        if reaction.kind is ReactionKind.REPLY:
            state.next_step = NextStep.CONVERSE
        elif reaction.kind is ReactionKind.SET_VOICE:
            self._set_tier_voice(state)
            state.next_step = NextStep.SET_VOICE
        elif reaction.kind is ReactionKind.END:
            state.next_step = NextStep.END
        else:
            await self._prepare_handoff(state, reaction, decided=decided)
        return self._flow_answer(state)

    def _flow_answer(self, state: CallState, sonic_voice: str | None = None) -> dict[str, str]:
        # Contact attributes are the flow's own: only this path's keys go back.
        return {
            **state.to_attributes(carry=False),
            SONIC_VOICE: sonic_voice or self.profile.sonic_voice_id,
            SILENCE_PROMPT: self.settings.silence_message,
            HANDOFF_PROMPT: self.settings.handoff_message,
            CLOSED_PROMPT: self.profile.closed_message,
        }

    # ------------------------------------------------------------------------------ shared reactions
    async def _react(self, state: CallState, outcome: TurnOutcome) -> Reaction:
        reaction, state.failed_turns = react(outcome, state.failed_turns, self.settings)
        if outcome.status == "ok" and outcome.escalation is not None:
            audible = await self._escalate(state, outcome)
            if audible and reaction.kind is ReactionKind.REPLY:
                reaction = Reaction(ReactionKind.SET_VOICE, reaction.text)
        return reaction

    async def _escalate(self, state: CallState, outcome: TurnOutcome) -> bool:
        """Apply (or refuse) the agent's tier escalation within budget and record it with the call."""
        assert outcome.escalation is not None
        month_to_date: float | None
        try:
            month_to_date = await self._budget.month_to_date_usd(self.profile.tenant_id, self._clock())
        except Exception:
            logger.exception("budget read failed; escalation refused", extra={"contact_id": state.contact_id})
            month_to_date = None
        decision = decide_escalation(
            outcome.escalation,
            current_tier=state.voice_tier,
            known_tiers=tuple(self.profile.tiers),
            speech_mode=state.speech_mode,
            month_to_date_usd=month_to_date,
            monthly_budget_usd=self.profile.monthly_budget_usd,
            step_down_at=self.profile.budget_step_down_at,
        )
        if decision.applied:
            state.voice_tier = decision.to_tier
        await self._record_event(state, "escalation", decision.detail(state.contact_id))
        return decision.audible

    def _handoff(self, reason: str) -> Reaction:
        return Reaction(ReactionKind.HANDOFF, self.settings.handoff_message, Handover(reason))

    async def _prepare_handoff(self, state: CallState, reaction: Reaction, *, decided: bool) -> None:
        """Fill the transfer attributes the human agent sees: reason, summary, lead, and the whisper."""
        handover = reaction.handover or Handover("handoff")
        summary = handover.summary or await self._transcript_summary(state)
        score, signals = lead_attributes(await self._workflow_state(state))
        state.next_step = NextStep.TRANSFER
        state.handoff_reason = handover.reason
        state.handoff_summary = summary
        state.lead_score, state.lead_signals = score, signals
        state.handoff_whisper = whisper_text(self.profile.business_name, handover.reason, summary, score, signals)
        if not self.profile.tiers.get(state.voice_tier):
            state.voice_tier = self.profile.default_tier
        self._set_mode_voice(state)
        if decided:  # the agent records the handoffs it asked for itself
            await self._record_event(state, "handoff", {"reason": handover.reason, "source": "connect_voice"})

    # -------------------------------------------------------------------------------------- lifecycle
    async def _agent(self, state: CallState, *, fresh: bool) -> LiveAgent | None:
        """The agent the call was routed to, now (None without a definition source, or when it cannot be read:
        the call goes on, and the agent's own check stays as a backstop)."""
        if self._agents is None:
            return None
        try:
            return await self._agents.live(self.profile.tenant_id, state.agent_id, max_age_seconds=0 if fresh else None)
        except Exception:
            logger.exception("agent status read failed", extra={"contact_id": state.contact_id})
            return None

    async def _lifecycle(self, state: CallState, agent: LiveAgent, caller_text: str | None) -> Reaction:
        """The agent stopped taking conversations: its paused line and a person, or its closing line and the end."""
        lines = self.profile.agent_lines(agent.overrides())
        status = agent.status.value if agent.status is not None else "not_found"
        paused = agent.status is AgentStatus.PAUSED
        reason = f"agent {status.replace('_', ' ')}"
        detail = {"status": status, "action": "handoff" if paused else "end", "version": agent.version}
        await self._record_event(state, "lifecycle", {**detail, "source": "connect_voice"})
        reaction = (
            Reaction(ReactionKind.HANDOFF, lines.paused_line, Handover(reason))
            if paused
            else Reaction(ReactionKind.END, lines.closing_line)
        )
        await self._record_own_turn(state, caller_text, reaction.text, reason)
        return reaction

    # ------------------------------------------------------------------------------------ helpers
    async def _keep_slot(self, contact_id: str, *, until_bound: bool = False) -> None:
        """Renew the call's live-call slot lease: each turn shows the call is alive. A call handed to a person
        has no more turns, so its lease is held to the longest call (the disconnect event frees it). A failure
        is logged and left to the next turn: the lease outlasts a few lost renewals."""
        if self._leases is None:
            return
        now = self._clock()
        until = None if until_bound else renewed_until(self.profile.call_slots, now)
        try:
            await self._leases.renew(self.profile.tenant_id, contact_id, now, until)
        except Exception:
            logger.exception("call slot lease renewal failed", extra={"contact_id": contact_id})

    async def _held_for_transfer[T: Mapping[str, str]](self, contact_id: str, answer: T) -> T:
        if answer.get(NEXT_STEP) == NextStep.TRANSFER.value:
            await self._keep_slot(contact_id, until_bound=True)
        return answer

    def _state(self, attributes: Mapping[str, str], contact_id: str) -> CallState:
        state = CallState.from_attributes(attributes, contact_id=contact_id, default_tier=self.profile.default_tier)
        state.next_step, state.prompt = NextStep.CONVERSE, ""
        return state

    def _top_mode(self) -> SpeechMode:
        return SpeechMode(self.settings.speech_mode)

    async def _choose_mode(
        self, state: CallState, records: dict[str, BreakerRecord], highest: SpeechMode
    ) -> SpeechMode:
        """The highest rung at or below `highest` whose breaker admits the call (taking a half-open trial)."""
        for mode in LADDER[LADDER.index(highest) :]:
            if mode is SpeechMode.HUMAN:
                break
            admission, change = await self._admit(SPEECH_DEPENDENCY[mode], records)
            await self._record_breaker(state, change)
            if admission.allowed:
                return mode
        return SpeechMode.HUMAN

    def _set_mode_voice(self, state: CallState) -> None:
        """The Set voice values for the call's rung: Nova Sonic's companion voice, or the tier's Polly voice."""
        if state.speech_mode is SpeechMode.SPEECH_TO_SPEECH and self.profile.sonic_prompt_voice:
            state.tts_voice, state.tts_engine = self.profile.sonic_prompt_voice, "Generative"
        else:
            self._set_tier_voice(state)

    def _set_tier_voice(self, state: CallState) -> None:
        tier = self.profile.tier(state.voice_tier)
        state.tts_voice, state.tts_engine = tier.voice_id, self.profile.tts_engine(state.voice_tier)

    def _reply_wait(self, state: CallState) -> float:
        """How long the code hook waits for the agent: the caller's silence budget, or a chat's typing wait."""
        return TEXT_REPLY_WAIT_SECONDS if state.is_text else self.profile.deadline_seconds

    @staticmethod
    def _customer(state: CallState) -> CustomerIdentity | None:
        """A caller and an SMS sender by their number; a web chat's customer as the vendor API named them."""
        if state.channel == "chat":
            kind, _, value = state.customer.partition(":")
            if kind in WEB_CHAT_IDENTITY_KINDS and value:
                return CustomerIdentity(kind=kind, value=value)  # type: ignore[arg-type]
            return None
        if not state.caller:
            return None
        return CustomerIdentity(kind="sms" if state.channel == "sms" else "phone", value=state.caller)

    def _job(self, state: CallState, text: str) -> TurnJob:
        request = InvocationRequest(
            tenant_id=self.profile.tenant_id,
            agent_id=state.agent_id,
            channel=Channel(state.channel),
            customer=self._customer(state),
            session_id=state.contact_id,
            input=UserMessage(text=text[:MAX_INPUT_CHARS]),
        )
        return TurnJob(
            turn_id=self._new_turn_id(),
            contact_id=state.contact_id,
            request=request,
            submitted_at=self._clock(),
        )

    async def _run(self, state: CallState, job: TurnJob, text: str, wait: float) -> TurnOutcome | None:
        try:
            return await self._worker.run(job, wait)
        except TurnWorkerError as e:
            kind = type(e.__cause__ or e).__name__
            logger.warning("turn worker failed", extra={"error": kind, "contact_id": state.contact_id})
            await self._record_breaker(state, await self._safe_breaker_failure(Dependency.AGENT, kind))
            await self._record_own_turn(state, text, "", f"agent not reached ({kind})", "failed")
            return failed_outcome(job.turn_id, kind, finished_at=self._clock())

    async def _admit(
        self, dependency: Dependency, records: dict[str, BreakerRecord]
    ) -> tuple[Admission, BreakerChange | None]:
        try:
            return await self.breakers.admit(dependency, records)
        except Exception:
            # The breaker store is down: let the call try (the dependency itself will say if it is broken).
            logger.exception("breaker admission failed; admitting", extra={"dependency": dependency.value})
            return Admission(True, BreakerState.CLOSED), None

    async def _snapshot(self, state: CallState) -> dict[str, BreakerRecord]:
        try:
            return await self.breakers.snapshot()
        except Exception:
            logger.exception("breaker read failed; treating breakers as closed", extra={"contact_id": state.contact_id})
            return {}

    async def _confirm_speech_mode(self, state: CallState, records: dict[str, BreakerRecord]) -> None:
        """A turn reaching the code hook proves the call's speech rung works: close its breaker if it was not."""
        dependency = SPEECH_DEPENDENCY.get(state.speech_mode)
        record = records.get(dependency.value) if dependency else None
        if dependency is None or record is None or (record.state is BreakerState.CLOSED and record.failures == 0):
            return
        try:
            change = await self.breakers.record_success(dependency, records)
        except Exception:
            logger.exception("breaker update failed", extra={"contact_id": state.contact_id})
            return
        await self._record_breaker(state, change)

    async def _safe_breaker_failure(self, dependency: Dependency, error: str) -> BreakerChange | None:
        try:
            return await self.breakers.record_failure(dependency, error)
        except Exception:
            logger.exception("breaker update failed", extra={"dependency": dependency.value})
            return None

    async def _read_mailbox(self, state: CallState, turn_id: str) -> TurnOutcome | None:
        try:
            return await self._mailbox.get(self.profile.tenant_id, state.contact_id, turn_id)
        except Exception:
            logger.exception("turn mailbox read failed", extra={"contact_id": state.contact_id})
            return None

    async def _give_up(self, state: CallState, turn_id: str) -> TurnOutcome | None:
        try:
            return await self._mailbox.give_up(self.profile.tenant_id, state.contact_id, turn_id)
        except Exception:
            logger.exception("turn mailbox give-up failed", extra={"contact_id": state.contact_id})
            return None

    async def _transcript_summary(self, state: CallState) -> str:
        try:
            turns = await self._transcripts.turns(self.profile.tenant_id, state.contact_id)
        except Exception:
            logger.exception("transcript read failed", extra={"contact_id": state.contact_id})
            turns = []
        return summarize_transcript(turns)

    async def _workflow_state(self, state: CallState) -> Any:
        try:
            return await self._workflow_states.get(self.profile.tenant_id, state.contact_id)
        except Exception:
            logger.exception("workflow state read failed", extra={"contact_id": state.contact_id})
            return None

    async def _record_routing(self, state: CallState, before: SpeechMode, after: SpeechMode, trigger: str) -> None:
        detail = {"what": "speech_mode", "from": before.value, "to": after.value, "trigger": trigger}
        await self._record_event(state, "routing", detail)

    async def _record_breaker(self, state: CallState, change: BreakerChange | None) -> None:
        if change is not None:
            await self._record_event(state, "breaker", change.detail())

    async def _record_event(self, state: CallState, kind: EventKind, detail: dict[str, Any]) -> None:
        event = AgentEventRecord(
            tenant_id=self.profile.tenant_id, session_id=state.contact_id, kind=kind, at=self._clock(), detail=detail
        )
        self._observer.event(kind, detail)
        try:
            await self._recorder.record_event(event)
        except Exception:
            logger.exception("recording a voice event failed", extra={"kind": kind, "contact_id": state.contact_id})

    async def _record_own_turn(
        self,
        state: CallState,
        user_text: str | None,
        reply: str,
        reason: str,
        outcome: Literal["ok", "fallback", "failed"] = "ok",
    ) -> None:
        """A turn this path answered itself (the agent never saw it), so the transcript stays complete."""
        try:
            sequence = await self._recorder.next_sequence(self.profile.tenant_id, state.contact_id)
            await self._recorder.record_turn(
                TurnRecord(
                    tenant_id=self.profile.tenant_id,
                    session_id=state.contact_id,
                    agent_id=state.agent_id,
                    channel=state.channel,
                    sequence=sequence,
                    user_text=user_text or None,
                    reply_text=reply,
                    model_id=None,
                    routing_reason=reason,
                    role=VOICE_PATH_ROLE,
                    outcome=outcome,
                    at=self._clock(),
                )
            )
        except Exception:
            logger.exception("recording a voice turn failed", extra={"contact_id": state.contact_id})
