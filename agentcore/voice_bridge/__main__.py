"""Starts the voice bridge's WebSocket server: `main.py` (this file, copied to the root of the code asset) on
AgentCore Runtime, where `/ws` carries one call per session; `python -m agentcore.voice_bridge` locally
(the deployed wiring then needs the environment the stack sets; `make demo` wires a local call instead)."""

from __future__ import annotations

if __name__ == "__main__":
    from agentcore.voice_bridge.app import serve

    serve()
