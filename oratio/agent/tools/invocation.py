"""What a running tool may know about its own call, and how it reports a failure the model may see.

`ToolExecutor` sets the tool-use id of each call before the tool starts, so a tool that changes something
outside Oratio can derive an idempotency key from it (a retried call then does not act twice) without the
`Tool.run` signature carrying it.
"""

from __future__ import annotations

from contextvars import ContextVar

_current_tool_use_id: ContextVar[str | None] = ContextVar("oratio_tool_use_id", default=None)


def current_tool_use_id() -> str | None:
    """The `toolUseId` of the call being run in this task, or None outside `ToolExecutor`."""
    return _current_tool_use_id.get()


def set_current_tool_use_id(tool_use_id: str) -> None:
    """Mark the current task as running `tool_use_id` (the executor calls this in each call's own task)."""
    _current_tool_use_id.set(tool_use_id)


class ToolError(Exception):
    """A tool failed in a way it can describe: the message is short, has no secrets and goes to the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.safe_message = message


class ToolTimeoutError(ToolError, TimeoutError):
    """The tool's own dependency did not answer in time; reported to the model as a `timeout` result."""
