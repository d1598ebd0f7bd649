"""AgentCore Memory as the agent's short-term session memory (`SessionMemory` port).

Each conversation turn is one `create_event` with one conversational payload (USER or ASSISTANT), the
turn's time as the event time, and its channel and exact time in the event metadata. `recent_turns`
pages through `list_events` and returns the newest `limit` turns in chronological order.

The order in which ListEvents returns events is not documented; the AgentCore SDK's own converters read
it newest first, while moto returns oldest first. So the adapter sorts what it reads by time itself and
stops paging early only when a page is visibly newest first.

Actor and session ids must match AgentCore's patterns (no "+", "#" or spaces): ids that do not are
rewritten to a readable, pattern-safe form with a short hash of the original, so distinct ids stay
distinct. boto3 blocks, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.adapters.memory_agent import actor_or_anonymous
from oratio.agent.ports import ConversationTurn

# A turn waits on memory before the model is called: fail fast and let the turn go on without history.
CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"mode": "standard", "max_attempts": 3})
PAGE_SIZE = 100  # ListEvents' maximum
MAX_PAGES = 20  # 2,000 events: far beyond any one session; a bound so a runaway session cannot stall a turn
MAX_TEXT_CHARS = 100_000  # CreateEvent's limit on conversational text

_ACTOR_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_/]*(?::[a-zA-Z0-9\-_/]+)*[a-zA-Z0-9\-_/]*")
_SESSION_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*")
_METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s._:/=+@-]{1,128}")
_ACTOR_MAX, _SESSION_MAX = 255, 100
_ROLES: dict[str, Literal["user", "assistant"]] = {"USER": "user", "ASSISTANT": "assistant"}
_UNAVAILABLE_CODES = frozenset(
    {"ThrottledException", "ThrottlingException", "ServiceException", "RetryableConflictException"}
)


class SessionMemoryError(Exception):
    """An AgentCore Memory call failed; the message names the operation, never the conversation."""


class SessionMemoryUnavailableError(SessionMemoryError):
    """Memory could not be reached in time or throttled us; the turn may go on without history."""


class SessionMemoryNotFoundError(SessionMemoryError):
    """The configured memory does not exist (wrong id in the environment or not deployed)."""


class SessionMemoryAccessDeniedError(SessionMemoryError):
    """The runtime's role may not use this memory."""


class SessionMemoryRequestError(SessionMemoryError):
    """AgentCore rejected the request itself (validation); retrying it will not help."""


def _translate(error: ClientError | BotoCoreError, operation: str) -> SessionMemoryError:
    where = f"AgentCore Memory {operation}"
    if isinstance(error, BotoCoreError):
        return SessionMemoryUnavailableError(f"{where}: {type(error).__name__}")
    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    if code == "ResourceNotFoundException":
        return SessionMemoryNotFoundError(f"{where}: memory not found")
    if code in {"AccessDeniedException", "UnrecognizedClientException"}:
        return SessionMemoryAccessDeniedError(f"{where}: access denied ({code})")
    if code in _UNAVAILABLE_CODES or code.endswith("ServerException"):
        return SessionMemoryUnavailableError(f"{where}: {code}")
    if code in {"ValidationException", "InvalidInputException"}:
        return SessionMemoryRequestError(f"{where}: {code}")
    return SessionMemoryError(f"{where}: {code}")


def _safe_id(value: str, pattern: re.Pattern[str], max_length: int, allowed: str) -> str:
    if len(value) <= max_length and pattern.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:12]
    readable = re.sub(f"[^{allowed}]+", "_", value).strip("_-/:") or "id"
    if not readable[0].isalnum():
        readable = "x" + readable
    return f"{readable[: max_length - len(digest) - 1]}-{digest}"


def memory_actor_id(actor_id: str | None) -> str:
    """The AgentCore actor id of a customer key ("phone:+1555…" → "phone:1555…-<hash>"), or "anonymous"."""
    return _safe_id(actor_or_anonymous(actor_id), _ACTOR_PATTERN, _ACTOR_MAX, r"a-zA-Z0-9\-_/:")


def memory_session_id(session_id: str) -> str:
    """The AgentCore session id of a session (runtime session ids are already safe and pass unchanged)."""
    return _safe_id(session_id, _SESSION_PATTERN, _SESSION_MAX, r"a-zA-Z0-9\-_")


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class AgentCoreSessionMemory:
    """`SessionMemory` over the `bedrock-agentcore` data plane (`create_event` / `list_events`)."""

    def __init__(self, memory_id: str, client: Any | None = None) -> None:
        self._memory_id = memory_id
        self._client_instance = client

    @property
    def _client(self) -> Any:
        # Built on first use (in a worker thread), so construction is free and tests can start moto first.
        if self._client_instance is None:
            self._client_instance = boto3.client("bedrock-agentcore", config=CLIENT_CONFIG)
        return self._client_instance

    async def append(self, session_id: str, actor_id: str, turns: list[ConversationTurn]) -> None:
        """Store turns in order, one event each; empty turns are skipped (there is nothing to remember)."""
        if any(t.text.strip() for t in turns):
            await asyncio.to_thread(self._append, memory_session_id(session_id), memory_actor_id(actor_id), turns)

    async def recent_turns(self, session_id: str, actor_id: str, limit: int) -> list[ConversationTurn]:
        """The newest `limit` turns of the session, oldest first."""
        if limit <= 0:
            return []
        return await asyncio.to_thread(
            self._recent_turns, memory_session_id(session_id), memory_actor_id(actor_id), limit
        )

    def _append(self, session_id: str, actor_id: str, turns: list[ConversationTurn]) -> None:
        for turn in turns:
            if not turn.text.strip():
                continue
            metadata = {"at": {"stringValue": _as_utc(turn.at).isoformat()}}
            if _METADATA_VALUE.fullmatch(turn.channel):
                metadata["channel"] = {"stringValue": turn.channel}
            try:
                self._client.create_event(
                    memoryId=self._memory_id,
                    actorId=actor_id,
                    sessionId=session_id,
                    eventTimestamp=turn.at,
                    payload=[
                        {
                            "conversational": {
                                "content": {"text": turn.text[:MAX_TEXT_CHARS]},
                                "role": turn.role.upper(),
                            }
                        }
                    ],
                    metadata=metadata,
                )
            except (ClientError, BotoCoreError) as e:
                raise _translate(e, "create_event") from e

    def _recent_turns(self, session_id: str, actor_id: str, limit: int) -> list[ConversationTurn]:
        collected: list[ConversationTurn] = []
        request: dict[str, Any] = {
            "memoryId": self._memory_id,
            "actorId": actor_id,
            "sessionId": session_id,
            "maxResults": PAGE_SIZE,
            "includePayloads": True,
        }
        for _ in range(MAX_PAGES):
            try:
                response = self._client.list_events(**request)
            except (ClientError, BotoCoreError) as e:
                raise _translate(e, "list_events") from e
            events = response.get("events", [])
            page = [turn for event in events for turn in _turns_of(event)]
            newest_first = len(page) > 1 and page[0].at > page[-1].at
            # Put each page in chronological order first, so equal times keep the order they were written in.
            collected.extend(reversed(page) if newest_first else page)
            token = response.get("nextToken")
            if not token or (newest_first and len(collected) >= limit):
                break
            request["nextToken"] = token
        return sorted(collected, key=lambda t: t.at)[-limit:]


def _turns_of(event: dict[str, Any]) -> list[ConversationTurn]:
    """The user and assistant turns in one event (tool and other payloads are not conversation turns)."""
    metadata = event.get("metadata") or {}
    channel = str(metadata.get("channel", {}).get("stringValue", "unknown"))
    at = _event_time(event, metadata)
    turns: list[ConversationTurn] = []
    for item in event.get("payload", []):
        conversational = item.get("conversational")
        if not conversational or conversational.get("role") not in _ROLES:
            continue
        text = str(conversational.get("content", {}).get("text", ""))
        turns.append(ConversationTurn(role=_ROLES[conversational["role"]], text=text, at=at, channel=channel))
    return turns


def _event_time(event: dict[str, Any], metadata: dict[str, Any]) -> datetime:
    exact = metadata.get("at", {}).get("stringValue")
    if exact:
        try:
            return _as_utc(datetime.fromisoformat(exact))
        except ValueError:
            pass  # written by something else; the event time is good enough
    stamp = event.get("eventTimestamp")
    return _as_utc(stamp) if isinstance(stamp, datetime) else datetime.fromtimestamp(0, UTC)
