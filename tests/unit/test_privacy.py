"""PII redaction: the corpus of utterances with known PII (precision and recall), the Luhn check on card
numbers, tenant identifiers, caller numbers masked in logs, and transcripts stored redacted."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from oratio.adapters.memory_agent import InMemoryConversationRecorder
from oratio.agent.ports import TurnRecord
from oratio.config.tenant import IdentifierPattern
from oratio.observability import RedactingFormatter
from oratio.privacy import Redactor, luhn_valid, mask_number
from oratio.transcripts import RedactingRecorder

CORPUS = Path(__file__).resolve().parents[1] / "data" / "pii_corpus.yaml"


def corpus() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    return loaded


def score(redactor: Redactor, utterances: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) over (kind, exact text) spans."""
    tp = fp = fn = 0
    for utterance in utterances:
        text = utterance["text"]
        found = {(f.kind, text[f.start : f.end]) for f in redactor.find(text)}
        expected = {(p["kind"], p["value"]) for p in utterance["pii"]}
        tp, fp, fn = tp + len(found & expected), fp + len(found - expected), fn + len(expected - found)
    return tp, fp, fn


def test_the_corpus_has_at_least_fifty_utterances_of_every_kind() -> None:
    utterances = corpus()["utterances"]
    assert len(utterances) >= 50
    kinds = {p["kind"] for u in utterances for p in u["pii"]}
    assert kinds == {"PHONE", "EMAIL", "CARD", "ORDER_NUMBER", "MEMBERSHIP"}
    assert sum(not u["pii"] for u in utterances) >= 15  # utterances without PII test precision


def test_precision_and_recall_on_the_corpus_are_at_least_ninety_percent() -> None:
    data = corpus()
    redactor = Redactor([IdentifierPattern.model_validate(i) for i in data["identifiers"]])
    tp, fp, fn = score(redactor, data["utterances"])
    assert tp / (tp + fp) >= 0.9
    assert tp / (tp + fn) >= 0.9


def test_a_sixteen_digit_number_failing_the_luhn_check_is_not_a_card() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    redactor = Redactor()
    assert redactor.redact("card 4111 1111 1111 1111").text == "card [CARD]"
    assert redactor.redact("reference 4111 1111 1111 1112").text == "reference 4111 1111 1111 1112"


def test_identifiers_named_in_the_tenant_file_are_redacted_with_their_name() -> None:
    redactor = Redactor([IdentifierPattern(name="order_number", pattern=r"\bCC-\d{6}\b")])
    assert redactor.redact("where is CC-123456?").text == "where is [ORDER_NUMBER]?"
    assert Redactor().redact("where is CC-123456?").text == "where is CC-123456?"


def test_a_bad_identifier_pattern_is_refused_naming_the_problem() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        IdentifierPattern(name="account", pattern="(unclosed")
    with pytest.raises(ValueError, match="matches the empty string"):
        IdentifierPattern(name="account", pattern=r"\d*")


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+15551234567", "********4567"), ("(415) 555-2671", "(***) ***-2671"), ("123", "***"), (None, None)],
)
def test_caller_numbers_are_masked_to_the_last_four_digits(number: str | None, masked: str | None) -> None:
    assert mask_number(number) == masked


def test_the_shared_logger_masks_caller_numbers_and_redacts_pii_in_every_field() -> None:
    record = logging.LogRecord("oratio", logging.INFO, __file__, 1, "caller said mail me at jo@example.com", None, None)
    record.caller = "+15551234567"
    record.detail = {"summary": "call 212-555-0187", "score": 0.7}
    line = json.loads(RedactingFormatter().format(record))
    assert line["message"] == "caller said mail me at [EMAIL]"
    assert line["caller"] == "********4567"
    assert line["detail"] == {"summary": "call [PHONE]", "score": 0.7}


def test_stored_transcripts_are_redacted_and_raw_text_only_sealed_when_the_tenant_opts_in() -> None:
    class Vault:
        def __init__(self) -> None:
            self.sealed: list[str] = []

        async def seal(self, tenant_id: str, session_id: str, text: str) -> str:
            self.sealed.append(text)
            return "sealed:" + str(len(self.sealed))

    turn = TurnRecord(
        tenant_id="cozy-comfort",
        session_id="call-1",
        agent_id="front-desk",
        channel="voice",
        sequence=1,
        user_text="my number is 212-555-0187 and card 4242 4242 4242 4242",
        reply_text="Thanks, I noted 212-555-0187.",
        model_id="nova-lite",
        routing_reason="simple",
        role="greeter",
        at=datetime(2026, 11, 3, tzinfo=UTC),
    )
    inner = InMemoryConversationRecorder()
    asyncio.run(RedactingRecorder(inner, Redactor()).record_turn(turn))
    [stored] = inner.turns("cozy-comfort", "call-1")
    assert stored.user_text == "my number is [PHONE] and card [CARD]"
    assert stored.reply_text == "Thanks, I noted [PHONE]."
    assert stored.raw_text_sealed is None  # not opted in: the raw text is nowhere

    vault, opted_in = Vault(), InMemoryConversationRecorder()
    asyncio.run(RedactingRecorder(opted_in, Redactor(), vault).record_turn(turn))
    [kept] = opted_in.turns("cozy-comfort", "call-1")
    assert kept.user_text == stored.user_text
    assert kept.raw_text_sealed == "sealed:1"
    assert json.loads(vault.sealed[0])["user_text"] == turn.user_text


def test_digits_inside_ids_and_codes_are_not_taken_for_phone_numbers() -> None:
    redactor = Redactor()
    request_id = "bd3952bf-a123-4567-a398-8bf443897de7"
    assert redactor.redact(f"request {request_id}").text == f"request {request_id}"
    assert redactor.redact("tracking 1Z999AA10123456784").text == "tracking 1Z999AA10123456784"
