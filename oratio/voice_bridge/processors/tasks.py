"""Background tasks the call's processors own: spawned under a name, their failures logged with the call's id,
cancelled together when the call stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger("oratio.voice_bridge.processors")


class BackgroundTasks:
    """One processor's background tasks. A task that fails is logged at once with the call id and the task's
    name (an exception no one awaits would otherwise surface, if ever, only when the task is garbage-collected)."""

    def __init__(self, owner: str, call_id: Callable[[], str]) -> None:
        self.owner = owner
        self._call_id = call_id
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failures = 0

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.failures += 1
            logger.error(
                "voice_bridge.task_failed",
                exc_info=error,
                extra={"call_id": self._call_id(), "task": task.get_name(), "processor": self.owner},
            )

    def cancel_all(self) -> None:
        """Cancel every task but the one running this (a task may end the call it belongs to)."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def stop(self) -> None:
        """Cancel every task and wait for them to end."""
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
