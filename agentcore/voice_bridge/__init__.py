"""The voice bridge's AgentCore Runtime app: one media-stream call per WebSocket session on `/ws`."""
