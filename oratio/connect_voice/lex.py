"""The Amazon Lex V2 code hook wire format: the event Lex sends the Lambda and the response it expects.

Shapes per the Lex V2 developer guide ("AWS Lambda input event format for Lex V2", "AWS Lambda response
format for Lex V2", "Common structures"). Lex adds fields without changing `messageVersion`, so unknown
keys are ignored. `transcriptionConfidence` arrives as a number (some events carry it as a string); both
are read. Session attributes are a string map both ways.

The response builders produce the two dialog actions the voice path uses: `ElicitIntent` (say the reply and
listen for the caller's next utterance; Lex requires a message for it) and `Close` (end the bot
conversation so the contact flow takes over; the intent must be given with a final state).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Lex V2 rejects a message longer than this (API `Message.content`: 1 to 1000 characters).
MAX_MESSAGE_CHARS = 1_000


class _Lex(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class LexBot(_Lex):
    id: str
    name: str
    locale_id: str = Field(alias="localeId")
    version: str
    alias_id: str | None = Field(default=None, alias="aliasId")
    alias_name: str | None = Field(default=None, alias="aliasName")


class LexIntent(_Lex):
    name: str
    state: str | None = None
    confirmation_state: str | None = Field(default=None, alias="confirmationState")


class LexSessionState(_Lex):
    session_attributes: dict[str, str] = Field(default_factory=dict, alias="sessionAttributes")
    intent: LexIntent | None = None
    originating_request_id: str | None = Field(default=None, alias="originatingRequestId")

    @field_validator("session_attributes", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class LexTranscription(_Lex):
    transcription: str = ""
    confidence: float | None = Field(default=None, alias="transcriptionConfidence", ge=0, le=1)


class LexCodeHookEvent(_Lex):
    """What Lex V2 sends the code hook Lambda for one turn."""

    message_version: str = Field(alias="messageVersion")
    invocation_source: Literal["DialogCodeHook", "FulfillmentCodeHook"] = Field(alias="invocationSource")
    input_mode: Literal["DTMF", "Speech", "Text"] = Field(alias="inputMode")
    response_content_type: str | None = Field(default=None, alias="responseContentType")
    session_id: str = Field(min_length=1, alias="sessionId")
    input_transcript: str = Field(default="", alias="inputTranscript")
    invocation_label: str | None = Field(default=None, alias="invocationLabel")
    bot: LexBot
    session_state: LexSessionState = Field(alias="sessionState")
    transcriptions: list[LexTranscription] = Field(default_factory=list)
    request_attributes: dict[str, str] | None = Field(default=None, alias="requestAttributes")

    @property
    def intent_name(self) -> str | None:
        return self.session_state.intent.name if self.session_state.intent else None

    @property
    def caller_text(self) -> str:
        """What the caller said, as Lex transcribed it (or typed / keyed it)."""
        text = self.input_transcript.strip()
        if not text and self.transcriptions:
            text = self.transcriptions[0].transcription.strip()
        return text

    @property
    def transcription_confidence(self) -> float | None:
        """Lex's confidence in its best transcription of spoken input; None when not spoken or not given."""
        if self.input_mode != "Speech" or not self.transcriptions:
            return None
        return self.transcriptions[0].confidence


def _message(text: str) -> dict[str, str]:
    return {"contentType": "PlainText", "content": fit_message(text)}


def fit_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` within Lex's message limit, cut after the last whole sentence (or word) that fits."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    for mark in (". ", "? ", "! "):
        cut = head.rfind(mark)
        if cut > limit // 2:
            return head[: cut + 1]
    return head.rsplit(" ", 1)[0] + "…"


def elicit_intent(message: str, attributes: dict[str, str]) -> dict[str, Any]:
    """Say `message` and listen for the caller's next utterance (the conversation stays in the bot)."""
    return {
        "sessionState": {"sessionAttributes": dict(attributes), "dialogAction": {"type": "ElicitIntent"}},
        "messages": [_message(message)],
    }


def close(
    intent_name: str,
    attributes: dict[str, str],
    message: str | None = None,
    state: Literal["Fulfilled", "Failed"] = "Fulfilled",
) -> dict[str, Any]:
    """End the bot conversation (after `message`, if any) and hand the call back to the contact flow."""
    response: dict[str, Any] = {
        "sessionState": {
            "sessionAttributes": dict(attributes),
            "dialogAction": {"type": "Close"},
            "intent": {"name": intent_name, "state": state},
        }
    }
    if message:
        response["messages"] = [_message(message)]
    return response
