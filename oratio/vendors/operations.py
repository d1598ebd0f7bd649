"""The vendor API's operations use cases: usage by agent, day or category; one conversation's cost breakdown,
post-call analysis and recording link; the audit log of the vendor's own writes.

Plain Python over the ports below; every method takes the caller's vendor id first and reads only its keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.metering import ESTIMATED_SUFFIX
from oratio.vendors.errors import NotFound
from oratio.vendors.ports import ConversationReader

GroupBy = Literal["agent", "day", "category"]
MAX_USAGE_DAYS = 366


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


# ------------------------------------------------------------------------------------------- views
class UsageLine(_View):
    key: str = Field(description="the agent id, the day (YYYY-MM-DD) or the category, per group_by")
    usd: float


class UsageReport(_View):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    group_by: GroupBy
    currency: Literal["USD"] = "USD"
    total_usd: float
    lines: list[UsageLine]


class CostLine(_View):
    category: str
    item: str = Field(description="ends in _estimated when the amount is our estimate, not a measured quantity")
    usd: float
    estimated: bool


class ConversationCosts(_View):
    conversation_id: str
    total_usd: float
    lines: list[CostLine]


class RecordingLink(_View):
    url: str
    expires_at: AwareDatetime


class AuditEntry(_View):
    """Who did what, when, from where, and the version before and after."""

    at: AwareDatetime
    request_id: str
    actor: str = Field(description="the Cognito user (sub) or the AgentCreator job")
    action: str = Field(description='e.g. "PUT /api/v1/agents/{agent_id}" or "agentcreator.approve"')
    resource: str
    source_ip: str | None = None
    status: int
    before_version: int | None = None
    after_version: int | None = None


class AuditPage(_View):
    items: list[AuditEntry]
    next_token: str | None = Field(default=None, description="pass as `next_token` for older entries")


# ------------------------------------------------------------------------------------------- ports
class UsageRows(Protocol):
    def day_rows(self, vendor_id: str, start: date, end: date) -> list[tuple[str, str, str, float]]:
        """(day, kind, name, usd) for each day row in the range: kind is total, category or agent."""
        ...


class ConversationCostLines(Protocol):
    def lines(self, tenant_id: str, contact_id: str) -> dict[str, float]:
        """The conversation's breakdown: "<category>#<item>" → USD."""
        ...


class RecordingSigner(Protocol):
    def recording_url(
        self, vendor_id: str, conversation_id: str, started_at: datetime, expires_seconds: int
    ) -> str | None:
        """A presigned GET of the call's recording, or None when there is none."""
        ...


class AuditLog(Protocol):
    def append(self, vendor_id: str, entry: AuditEntry) -> None:
        """Add an entry; never replaces one."""
        ...

    def entries(self, vendor_id: str, limit: int, next_token: str | None) -> tuple[list[AuditEntry], str | None]:
        """The vendor's entries, newest first."""
        ...


class AnalysisReader(Protocol):
    def analysis(self, tenant_id: str, contact_id: str) -> dict[str, Any] | None: ...


# --------------------------------------------------------------------------------------- use cases
class OperationsService:
    def __init__(
        self,
        *,
        usage: UsageRows,
        costs: ConversationCostLines,
        conversations: ConversationReader,
        audit: AuditLog,
        analyses: AnalysisReader,
        recordings: RecordingSigner | None,
        clock: Callable[[], datetime],
        recording_url_seconds: int = 900,
    ) -> None:
        self._usage = usage
        self._costs = costs
        self._conversations = conversations
        self._audit = audit
        self._analyses = analyses
        self._recordings = recordings
        self._clock = clock
        self._recording_url_seconds = recording_url_seconds

    @staticmethod
    def range_problem(start: date, end: date) -> str | None:
        """Why `from`..`to` is not a range the usage endpoint answers, or None."""
        if end < start:
            return f"'to' ({end}) is before 'from' ({start}); swap them"
        if (end - start).days >= MAX_USAGE_DAYS:
            return f"the range is more than {MAX_USAGE_DAYS} days; ask for a year at most"
        return None

    def usage(self, vendor_id: str, start: date, end: date, group_by: GroupBy) -> UsageReport:
        """Spend from `start` to `end` (inclusive, UTC days; `range_problem` checked first) grouped as asked."""
        wanted = {"agent": "agent", "day": "total", "category": "category"}[group_by]
        sums: dict[str, float] = defaultdict(float)
        total = 0.0
        for day, kind, name, usd in self._usage.day_rows(vendor_id, start, end):
            if kind == "total":
                total += usd
            if kind == wanted:
                sums[day if group_by == "day" else name] += usd
        lines = [UsageLine(key=key, usd=round(usd, 6)) for key, usd in sorted(sums.items())]
        return UsageReport(start=start, end=end, group_by=group_by, total_usd=round(total, 6), lines=lines)

    def _conversation(self, vendor_id: str, agent_id: str, conversation_id: str) -> Any:
        session = self._conversations.get(vendor_id, conversation_id)
        if session is None or session.agent_id != agent_id:
            raise NotFound("conversation", conversation_id)
        return session

    def conversation_costs(self, vendor_id: str, agent_id: str, conversation_id: str) -> ConversationCosts:
        self._conversation(vendor_id, agent_id, conversation_id)
        lines = [
            CostLine(category=category, item=item, usd=round(usd, 8), estimated=item.endswith(ESTIMATED_SUFFIX))
            for key, usd in sorted(self._costs.lines(vendor_id, conversation_id).items())
            for category, _, item in (key.partition("#"),)
        ]
        return ConversationCosts(
            conversation_id=conversation_id, total_usd=round(sum(line.usd for line in lines), 8), lines=lines
        )

    def analysis(self, vendor_id: str, agent_id: str, conversation_id: str) -> dict[str, Any]:
        self._conversation(vendor_id, agent_id, conversation_id)
        found = self._analyses.analysis(vendor_id, conversation_id)
        if found is None:
            raise NotFound("analysis of conversation", conversation_id)
        return found

    def recording(self, vendor_id: str, agent_id: str, conversation_id: str) -> RecordingLink:
        session = self._conversation(vendor_id, agent_id, conversation_id)
        url = (
            self._recordings.recording_url(vendor_id, conversation_id, session.started_at, self._recording_url_seconds)
            if self._recordings is not None
            else None
        )
        if url is None:
            raise NotFound("recording of conversation", conversation_id)
        expires = self._clock() + timedelta(seconds=self._recording_url_seconds)
        return RecordingLink(url=url, expires_at=expires)

    def audit(self, vendor_id: str, limit: int, next_token: str | None) -> AuditPage:
        items, token = self._audit.entries(vendor_id, limit, next_token)
        return AuditPage(items=items, next_token=token)

    def record(self, vendor_id: str, entry: AuditEntry) -> None:
        self._audit.append(vendor_id, entry)
