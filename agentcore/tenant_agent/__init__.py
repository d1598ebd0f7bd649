"""The tenant agent on AgentCore Runtime: the `BedrockAgentCoreApp` entrypoint (`app`), the composition of
its engine (`wiring`), and the typed client every channel uses to call it (`client`).

Run it locally with `python -m agentcore.tenant_agent` (local adapters, 127.0.0.1).
"""
