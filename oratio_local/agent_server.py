"""Serves the tenant agent's runtime app on 127.0.0.1 (never 0.0.0.0) on a port the OS picks, in a
background thread: what the demo and the tests talk to in place of AgentCore Runtime."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

STARTUP_POLLS = 500
POLL_SECONDS = 0.01


@contextmanager
def serve_on_loopback(app: ASGIApp) -> Iterator[str]:
    """Run `app` with uvicorn until the block ends; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="oratio-agent", daemon=True)
    thread.start()
    for _ in range(STARTUP_POLLS):
        if server.started:
            break
        threading.Event().wait(POLL_SECONDS)
    if not server.started:
        server.should_exit = True
        raise RuntimeError("the tenant agent did not start on 127.0.0.1")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
