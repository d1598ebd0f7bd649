"""Starts the voice bridge's WebSocket server: `main.py` (this file, copied to the root of the code asset) on
AgentCore Runtime, where `/ws` carries one call per session; `python -m agentcore.voice_bridge` locally
(the deployed wiring then needs the environment the stack sets; `make demo` wires a local call instead)."""

from __future__ import annotations

if __name__ == "__main__":
    from oratio.tracing import configure_from_environment

    # On AgentCore (OTEL_* set by the runtime) this starts ADOT, as `opentelemetry-instrument` would.
    configure_from_environment()
    from agentcore.voice_bridge.app import serve

    serve()
