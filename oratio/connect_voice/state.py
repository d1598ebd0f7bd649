"""What travels with a call between the contact flow, the Lex bot and the code hook: a flat string map.

The flow passes contact attributes into the bot as Lex session attributes when it (re)enters the
conversation; the code hook reads and updates them every turn; when the bot hands the call back, the flow
copies them to contact attributes and branches on `next_step`. Flow actions answered by the same Lambda
return the same keys. Every output key is always present (empty when unused), because a flow that copies
`$.Lex.SessionAttributes.<key>` must find the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SpeechMode(StrEnum):
    """Which rung of the degradation ladder the call is on."""

    SPEECH_TO_SPEECH = "speech_to_speech"
    CASCADED = "cascaded"
    HUMAN = "human"
    TEXT = "text"  # a chat contact (web chat or SMS): the same bot and code hook, in writing


class NextStep(StrEnum):
    """What the contact flow does when the bot (or a flow action) hands the call back."""

    CONVERSE = "converse"  # (re)enter the bot, opening with `prompt`
    AWAIT_REPLY = "await_reply"  # the agent is still working: pick its reply up (flow action "pickup")
    SET_VOICE = "set_voice"  # apply `tts_voice` / `tts_engine` (a new voice tier), then converse
    TRANSFER = "transfer"  # warm transfer to the human queue with the handoff attributes
    END = "end"  # say `prompt` (if any) and hang up


# Keys set by the contact flow when it enters the bot.
CONTACT_ID = "contact_id"
CALLER = "caller"
AGENT_ID = "agent_id"
SPEECH_MODE = "speech_mode"
VOICE_TIER = "voice_tier"
CHANNEL = "channel"  # voice, chat or sms (the call router's answer)
CUSTOMER = "customer"  # a web chat's customer identity key ("email:…", "phone:…"), set by the vendor API
# Keys the code hook keeps between turns of one bot conversation.
UNCLEAR_TURNS = "unclear_turns"
FAILED_TURNS = "failed_turns"
HOLDING_ROUNDS = "holding_rounds"
# Keys the flow copies to contact attributes when the bot hands the call back.
NEXT_STEP = "next_step"
PROMPT = "prompt"
PENDING_TURN = "pending_turn"
TTS_VOICE = "tts_voice"
TTS_ENGINE = "tts_engine"
HANDOFF_REASON = "handoff_reason"
HANDOFF_SUMMARY = "handoff_summary"
HANDOFF_WHISPER = "handoff_whisper"
LEAD_SCORE = "lead_score"
LEAD_SIGNALS = "lead_signals"
OUTPUT_KEYS = (
    NEXT_STEP,
    PROMPT,
    PENDING_TURN,
    VOICE_TIER,
    TTS_VOICE,
    TTS_ENGINE,
    HANDOFF_REASON,
    HANDOFF_SUMMARY,
    HANDOFF_WHISPER,
    LEAD_SCORE,
    LEAD_SIGNALS,
    HOLDING_ROUNDS,
)


# Every key this path reads or writes; anything else in a session is carried through untouched.
OWN_KEYS = frozenset(
    {
        CONTACT_ID,
        CALLER,
        AGENT_ID,
        SPEECH_MODE,
        VOICE_TIER,
        CHANNEL,
        CUSTOMER,
        UNCLEAR_TURNS,
        FAILED_TURNS,
        *OUTPUT_KEYS,
    }
)
TEXT_CHANNELS = frozenset({"chat", "sms"})


def _count(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


class CallState(BaseModel):
    """A call's voice state, parsed leniently from a string map (a bad counter reads as zero)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    contact_id: str = Field(min_length=1, max_length=256)
    caller: str | None = None
    agent_id: str = "default"
    speech_mode: SpeechMode = SpeechMode.CASCADED
    voice_tier: str = ""
    channel: str = "voice"
    customer: str = ""
    unclear_turns: int = 0
    failed_turns: int = 0
    holding_rounds: int = 0
    next_step: NextStep = NextStep.CONVERSE
    prompt: str = ""
    pending_turn: str = ""
    tts_voice: str = ""
    tts_engine: str = ""
    handoff_reason: str = ""
    handoff_summary: str = ""
    handoff_whisper: str = ""
    lead_score: str = ""
    lead_signals: str = ""
    carried: dict[str, str] = Field(
        default_factory=dict,
        description="keys this path does not own (e.g. Lex's x-amz-lex:* settings such as the Nova Sonic voice "
        "override): handed back unchanged, because a Lex response's session attributes replace the session's",
    )

    @property
    def is_text(self) -> bool:
        """A chat or SMS contact: written turns, no voices, no speech rungs."""
        return self.channel in TEXT_CHANNELS

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, str], *, contact_id: str, default_tier: str) -> CallState:
        """Read the map the flow or Lex passed; `contact_id` is used when the map does not carry one."""
        mode = attributes.get(SPEECH_MODE, "")
        return cls(
            contact_id=attributes.get(CONTACT_ID) or contact_id,
            caller=attributes.get(CALLER) or None,
            agent_id=attributes.get(AGENT_ID) or "default",
            speech_mode=SpeechMode(mode) if mode in SpeechMode._value2member_map_ else SpeechMode.CASCADED,
            voice_tier=attributes.get(VOICE_TIER) or default_tier,
            channel=channel if (channel := attributes.get(CHANNEL, "")) in TEXT_CHANNELS else "voice",
            customer=attributes.get(CUSTOMER, ""),
            unclear_turns=_count(attributes.get(UNCLEAR_TURNS)),
            failed_turns=_count(attributes.get(FAILED_TURNS)),
            holding_rounds=_count(attributes.get(HOLDING_ROUNDS)),
            pending_turn=attributes.get(PENDING_TURN, ""),
            carried={k: v for k, v in attributes.items() if k not in OWN_KEYS},
        )

    def to_attributes(self, *, carry: bool = True) -> dict[str, str]:
        """The flat string map to hand back (every output key present; with `carry`, the keys it does not own)."""
        return {
            **(self.carried if carry else {}),
            CONTACT_ID: self.contact_id,
            CALLER: self.caller or "",
            AGENT_ID: self.agent_id,
            SPEECH_MODE: self.speech_mode.value,
            VOICE_TIER: self.voice_tier,
            CHANNEL: self.channel,
            CUSTOMER: self.customer,
            UNCLEAR_TURNS: str(self.unclear_turns),
            FAILED_TURNS: str(self.failed_turns),
            HOLDING_ROUNDS: str(self.holding_rounds),
            NEXT_STEP: self.next_step.value,
            PROMPT: self.prompt,
            PENDING_TURN: self.pending_turn,
            TTS_VOICE: self.tts_voice,
            TTS_ENGINE: self.tts_engine,
            HANDOFF_REASON: self.handoff_reason,
            HANDOFF_SUMMARY: self.handoff_summary,
            HANDOFF_WHISPER: self.handoff_whisper,
            LEAD_SCORE: self.lead_score,
            LEAD_SIGNALS: self.lead_signals,
        }
