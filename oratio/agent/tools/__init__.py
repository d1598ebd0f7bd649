"""Tools the tenant agent can call: built-ins (knowledge search, transfer, end call) and the tenant's
HTTPS business tools, run in parallel by `ToolExecutor` with timeouts and typed results."""
