"""Amazon Lex V2, emulated from the bot's own definition in the synthesized template: the caller's words are
matched to an intent (an exact sample utterance, then the closest sample utterance above the locale's NLU
threshold, else `FallbackIntent`), the code hook gets the Lex V2 event shape, and its answer is applied as Lex
applies it: `ElicitIntent` says the messages and listens again, `Close` says them and hands the session
attributes back to the flow. What it is not: speech recognition or a trained NLU model — matching is on words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from oratio.replay.deployment import BotSpec
from oratio.replay.flow import BotOutcome, Contact, LambdaFailed, Step
from oratio_local.events import lex_code_hook_event

FALLBACK_INTENT = "FallbackIntent"
# Lex V2's default for how long it waits for the caller to start speaking (x-amz-lex:audio:start-timeout-ms).
START_TIMEOUT_SECONDS = 4.0
DEFAULT_TRANSCRIPTION_CONFIDENCE = 0.95
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class CallerInput:
    """One thing the caller does while a bot listens."""

    kind: Literal["say", "dtmf", "silence", "hang_up"]
    text: str = ""
    confidence: float = DEFAULT_TRANSCRIPTION_CONFIDENCE
    seconds: float = 0.0


class Caller(Protocol):
    def next_input(self) -> CallerInput: ...


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def interpret(bot: BotSpec, text: str) -> tuple[str, float | None]:
    """The intent Lex would pick for `text`, with an NLU confidence (None for FallbackIntent).

    An utterance equal to a sample utterance (ignoring case and punctuation) scores 1.0; otherwise the score is
    the word overlap (Jaccard) with the closest sample utterance. Below the locale's threshold: FallbackIntent.
    """
    spoken = _words(text)
    best_intent, best = FALLBACK_INTENT, 0.0
    for intent in bot.intents:
        for utterance in intent.utterances:
            sample = _words(utterance)
            if not sample:
                continue
            if sample == spoken:
                return intent.name, 1.0
            union = set(sample) | set(spoken)
            score = len(set(sample) & set(spoken)) / len(union) if union else 0.0
            if score > best:
                best_intent, best = intent.name, score
    if best < bot.nlu_threshold:
        return FALLBACK_INTENT, None
    return best_intent, round(best, 2)


CodeHook = Callable[[str, dict[str, Any]], Any]


@dataclass
class LexEmulator:
    """One bot conversation at a time, for one contact."""

    bot: BotSpec
    code_hook: CodeHook
    caller: Caller
    emit: Callable[[Step], None]
    advance: Callable[[float], None]
    available: bool = True
    flow: str = ""
    request_ids: Callable[[], str] = lambda: "00000000-0000-4000-8000-000000000000"

    def converse(self, prompt: str, contact: Contact, session_attributes: Mapping[str, str]) -> BotOutcome:
        if not self.available:
            self.emit(Step("error", self.flow, self.bot.bot_name, f"the bot {self.bot.bot_name} is unavailable"))
            return BotOutcome("error")
        if prompt:
            self.emit(Step("say", self.flow, self.bot.bot_name, prompt, {"by": "bot"}))
        session = dict(session_attributes)
        while True:
            heard = self.caller.next_input()
            if heard.kind == "hang_up":
                return BotOutcome("hung_up")
            if heard.kind == "silence":
                self.advance(heard.seconds)
                if heard.seconds >= START_TIMEOUT_SECONDS:
                    return BotOutcome("timeout", session_attributes=session)
                continue
            mode = "DTMF" if heard.kind == "dtmf" else "Speech"
            intent, nlu = interpret(self.bot, heard.text) if mode == "Speech" else (FALLBACK_INTENT, None)
            confidences = {"nlu_confidence": nlu, "transcription_confidence": heard.confidence}
            self.emit(Step("nlu", self.flow, self.bot.bot_name, intent, confidences))
            if self.bot.code_hook_arn is None:
                return BotOutcome("ok", intent=intent, session_attributes=session)
            event = lex_code_hook_event(
                heard.text,
                session_id=contact.contact_id,
                intent=intent,
                confidence=heard.confidence if mode == "Speech" else None,
                input_mode=mode,
                session_attributes=session,
                locale_id=self.bot.locale_id,
                bot_name=self.bot.bot_name,
                bot_id=self.bot.bot_id,
                alias_id=self.bot.alias_id,
                alias_name=self.bot.alias_name,
                bot_version=self.bot.version,
                nlu_confidence=nlu,
                request_id=self.request_ids(),
            )
            try:
                response = self.code_hook(self.bot.code_hook_arn, event)
            except LambdaFailed as e:  # Lex cannot fulfil the turn: the flow's bot block takes its error branch
                self.emit(Step("error", self.flow, self.bot.bot_name, f"code hook failed: {e}"))
                return BotOutcome("error")
            state = response.get("sessionState", {}) if isinstance(response, Mapping) else {}
            session = {str(k): str(v) for k, v in (state.get("sessionAttributes") or {}).items()}
            for message in response.get("messages") or []:
                if message.get("content"):
                    self.emit(Step("say", self.flow, self.bot.bot_name, str(message["content"]), {"by": "bot"}))
            action = (state.get("dialogAction") or {}).get("type")
            if action == "ElicitIntent":
                continue
            if action == "Close":
                closed = str((state.get("intent") or {}).get("name") or intent)
                return BotOutcome("ok", intent=closed, session_attributes=session)
            self.emit(Step("error", self.flow, self.bot.bot_name, f"dialog action {action!r} is not emulated"))
            return BotOutcome("error")
