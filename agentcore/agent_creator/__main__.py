"""Starts the AgentCreator runtime's HTTP server: `python -m agentcore.agent_creator` locally, and `main.py` (this
file, copied to the root of the code asset) on AgentCore Runtime.

Local runs: `ORATIO_LOCAL_MODE=1 python -m agentcore.agent_creator` serves on 127.0.0.1:8081
(`ORATIO_AGENT_CREATOR_PORT` changes the port). The deployed runtime sets `ORATIO_AGENT_CREATOR_HOST=0.0.0.0`
and port 8080, where AgentCore Runtime reaches it.
"""

from __future__ import annotations

if __name__ == "__main__":
    from oratio.tracing import configure_from_environment

    configure_from_environment()
    from agentcore.agent_creator.app import serve

    serve()
