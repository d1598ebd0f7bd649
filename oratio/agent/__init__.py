"""The tenant agent's core: the invocation contract, model routing, the turn loop over Bedrock
Converse, tools, memory and workflow roles. Runs on AgentCore Runtime (agentcore/tenant_agent)."""
