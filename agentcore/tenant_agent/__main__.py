"""Starts the tenant agent's HTTP server: `python -m agentcore.tenant_agent` locally, and `main.py` (this
file, copied to the root of the code asset) on AgentCore Runtime.

Local runs: `ORATIO_LOCAL_MODE=1 ORATIO_TENANT_ID=cozy-comfort python -m agentcore.tenant_agent` serves
on 127.0.0.1:8080 (`ORATIO_AGENT_PORT` changes the port). The deployed runtime sets
`ORATIO_AGENT_HOST=0.0.0.0`, the address AgentCore Runtime reaches the agent on.
"""

from __future__ import annotations

if __name__ == "__main__":
    from oratio.tracing import configure_from_environment

    # On AgentCore (OTEL_* set by the runtime) this starts ADOT, as `opentelemetry-instrument` would.
    configure_from_environment()
    from agentcore.tenant_agent.app import serve

    serve()
