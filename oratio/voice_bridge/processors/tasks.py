"""Background tasks the call's processors own: spawned under a name, cancelled together when the call stops."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def spawn(tasks: set[asyncio.Task[Any]], coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    """Start `coro` as a task kept in `tasks` until it is done."""
    task = asyncio.create_task(coro, name=name)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def cancel(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel every task in `tasks` and wait for them to end."""
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
