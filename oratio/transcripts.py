"""Stored transcripts carry only redacted text: `RedactingRecorder` wraps any `ConversationRecorder` and
replaces PII in every turn's lines and every event's text before it is written. Where the tenant opts in
(`privacy.store_raw_text`), the raw lines are kept too, sealed with the tenant's own KMS key (`TextVault`),
never in clear.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from oratio.agent.ports import AgentEventRecord, ConversationRecorder, TurnRecord
from oratio.privacy import Redactor

logger = logging.getLogger(__name__)


class TextVault(Protocol):
    """Encrypts raw text with the tenant's key; the result is opaque (base64 ciphertext)."""

    async def seal(self, tenant_id: str, session_id: str, text: str) -> str: ...


class RedactingRecorder:
    """A `ConversationRecorder` (and transcript source) that stores redacted text only."""

    def __init__(self, inner: Any, redactor: Redactor, vault: TextVault | None = None) -> None:
        self._inner: ConversationRecorder = inner
        self._source = inner
        self._redactor = redactor
        self._vault = vault

    async def next_sequence(self, tenant_id: str, session_id: str) -> int:
        return await self._inner.next_sequence(tenant_id, session_id)

    async def record_turn(self, turn: TurnRecord) -> None:
        user = self._redactor.redact(turn.user_text) if turn.user_text else None
        reply = self._redactor.redact(turn.reply_text)
        update: dict[str, Any] = {"user_text": user.text if user else None, "reply_text": reply.text}
        if self._vault is not None and ((user and user.changed) or reply.changed):
            raw = json.dumps({"user_text": turn.user_text, "reply_text": turn.reply_text})
            update["raw_text_sealed"] = await self._vault.seal(turn.tenant_id, turn.session_id, raw)
        await self._inner.record_turn(turn.model_copy(update=update))

    async def record_event(self, event: AgentEventRecord) -> None:
        await self._inner.record_event(event.model_copy(update={"detail": self._redact_value(event.detail)}))

    async def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]:
        turns: list[TurnRecord] = await self._source.turns(tenant_id, session_id)
        return turns

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redactor.redact(value).text
        if isinstance(value, Mapping):
            return {k: self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_value(v) for v in value]
        return value
