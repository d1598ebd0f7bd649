"""Plain decisions of the Connect voice path, without I/O: whether the caller was understood, what to do with
an agent turn's outcome, whether a tier escalation is applied, and what a human taking over is told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from oratio.agent.contracts import TierEscalation
from oratio.agent.ports import TurnRecord, WorkflowState
from oratio.agent.workflow import ESCALATION_TRIGGER
from oratio.config.tenant import ConnectVoiceSettings
from oratio.connect_voice.outcome import TurnOutcome
from oratio.connect_voice.state import SpeechMode

SUMMARY_CHARS = 300
WHISPER_CHARS = 450


class ReactionKind(StrEnum):
    REPLY = "reply"  # say it and keep listening
    END = "end"  # say it and hang up
    HANDOFF = "handoff"  # say it and transfer to a person
    SET_VOICE = "set_voice"  # change the voice tier, then say it


@dataclass(frozen=True, slots=True)
class Handover:
    """Why a person takes over, and what they should know (empty summary: build one from the transcript)."""

    reason: str
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Reaction:
    kind: ReactionKind
    text: str
    handover: Handover | None = None


def understood(text: str, confidence: float | None, settings: ConnectVoiceSettings) -> bool:
    """Whether the transcription is worth sending to the agent (empty or low-confidence speech is not)."""
    if not text.strip():
        return False
    return confidence is None or confidence >= settings.min_transcription_confidence


def react(outcome: TurnOutcome, failed_turns: int, settings: ConnectVoiceSettings) -> tuple[Reaction, int]:
    """What the caller hears after an agent turn, and the call's count of failed turns in a row.

    A failed turn gets an apology and another try, until `max_failed_turns` in a row hand the call to a
    person. A handoff or end-of-call signal from the agent wins over further conversation.
    """
    if outcome.status == "failed":
        failed_turns += 1
        if failed_turns >= settings.max_failed_turns:
            reason = f"assistant unavailable ({outcome.error or 'error'})"
            return Reaction(ReactionKind.HANDOFF, settings.handoff_message, Handover(reason)), failed_turns
        return Reaction(ReactionKind.REPLY, settings.trouble_message), failed_turns
    text = outcome.reply_text.strip()
    if outcome.handoff is not None:
        handover = Handover(outcome.handoff.reason, outcome.handoff.summary)
        return Reaction(ReactionKind.HANDOFF, text or settings.handoff_message, handover), 0
    if outcome.end_call is not None:
        return Reaction(ReactionKind.END, text), 0
    if not text:
        return Reaction(ReactionKind.REPLY, settings.trouble_message), 0
    return Reaction(ReactionKind.REPLY, text), 0


@dataclass(frozen=True, slots=True)
class EscalationDecision:
    """A voice-tier escalation as recorded with the call: from, to, trigger, score, cost, budget check."""

    from_tier: str
    to_tier: str
    trigger: str
    qualification_score: float
    cost_impact_usd: float
    month_to_date_usd: float | None
    monthly_budget_usd: float
    budget_check_passed: bool
    applied: bool
    audible: bool
    speech_mode: SpeechMode

    def detail(self, contact_id: str) -> dict[str, Any]:
        return {
            "stage": "voice",
            "call": contact_id,
            "from_tier": self.from_tier,
            "to_tier": self.to_tier,
            "trigger": self.trigger,
            "qualification_score": self.qualification_score,
            "cost_impact_usd": self.cost_impact_usd,
            "month_to_date_usd": None if self.month_to_date_usd is None else round(self.month_to_date_usd, 6),
            "monthly_budget_usd": self.monthly_budget_usd,
            "budget_check_passed": self.budget_check_passed,
            "applied": self.applied,
            "speech_mode": self.speech_mode.value,
        }


def decide_escalation(
    signal: TierEscalation,
    *,
    current_tier: str,
    known_tiers: Sequence[str],
    speech_mode: SpeechMode,
    month_to_date_usd: float | None,
    monthly_budget_usd: float,
    step_down_at: float = 1.0,
) -> EscalationDecision:
    """Apply the agent's escalation signal for the rest of the call only if the month's budget still covers
    its estimated cost now, below the budget's step-down line (the agent checked at its turn; spend may have
    moved since) and the tier exists.
    An unknown month-to-date spend (the ledger could not be read) fails the check: never overspend.

    In speech-to-speech mode Nova Sonic speaks, so the tier is recorded on the call (it is the voice of any
    Polly-rendered speech if the call degrades to cascaded) but there is nothing to hear change; cascaded
    calls switch voice at once.
    """
    cost = max(0.0, signal.estimated_extra_cost_usd)
    # Spend past the step-down line stays on the standard tier: the escalation must fit below it.
    passed = month_to_date_usd is not None and month_to_date_usd + cost <= monthly_budget_usd * step_down_at
    applied = passed and signal.to_tier in known_tiers and signal.to_tier != current_tier
    return EscalationDecision(
        from_tier=current_tier,
        to_tier=signal.to_tier,
        trigger=ESCALATION_TRIGGER,
        qualification_score=signal.qualification_score,
        cost_impact_usd=cost,
        month_to_date_usd=month_to_date_usd,
        monthly_budget_usd=monthly_budget_usd,
        budget_check_passed=passed,
        applied=applied,
        audible=applied and speech_mode is SpeechMode.CASCADED,
        speech_mode=speech_mode,
    )


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rsplit(" ", 1)[0] + "…"


def summarize_transcript(turns: Sequence[TurnRecord], limit: int = SUMMARY_CHARS) -> str:
    """A short summary for the person taking over: what the caller asked (newest kept), then the last reply."""
    asks = [_shorten(t.user_text, limit // 3) for t in turns if t.user_text and t.user_text.strip()]
    replies = [t.reply_text for t in turns if t.reply_text.strip()]
    reply = f" Assistant last said: {_shorten(replies[-1], limit // 3)}" if replies else ""
    while asks:
        asked = " / ".join(asks)
        text = "Caller asked: " + asked + ("" if asked.endswith((".", "?", "!", "…")) else ".") + reply
        if len(text) <= limit or len(asks) == 1:
            return text[:limit]
        asks.pop(0)
    return reply.strip()[:limit] or "No conversation yet: the caller was transferred before speaking to the assistant."


def lead_attributes(state: WorkflowState | None) -> tuple[str, str]:
    """The lead score ("0.00" to "1.00") and its signals/products ("budget, timeline; products: duvets")."""
    if state is None:
        return "", ""
    signals = [str(s) for s in state.lead.get("signals", ())]
    products = [str(p) for p in state.lead.get("products", ())]
    text = ", ".join(signals)
    if products:
        text += ("; " if text else "") + "products: " + ", ".join(products)
    return f"{state.qualification_score:.2f}", text


def whisper_text(business_name: str, reason: str, summary: str, lead_score: str, lead_signals: str) -> str:
    """What the agent hears before the caller is connected (the agent whisper flow speaks it)."""
    parts = [f"{business_name} assistant transfer. Reason: {reason}.", summary]
    if lead_score:
        parts.append(f"Lead score {lead_score}" + (f" ({lead_signals})." if lead_signals else "."))
    return _shorten(" ".join(p for p in parts if p), WHISPER_CHARS)
