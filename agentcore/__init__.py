"""Code that runs on Amazon Bedrock AgentCore Runtime (the tenant agent), and the client that calls it."""
