"""Real-shaped AWS events and Lambda contexts shared by every test layer (defined once, in the local
mode package, so the demo and the tests feed handlers the same shapes)."""

from oratio_local.events import (
    CONNECT_INSTANCE_ARN,
    FakeLambdaContext,
    connect_contact_event,
    connect_contact_flow_event,
    connect_voice_action_event,
    lambda_context,
    lex_code_hook_event,
)

__all__ = [
    "CONNECT_INSTANCE_ARN",
    "FakeLambdaContext",
    "connect_contact_event",
    "connect_contact_flow_event",
    "connect_voice_action_event",
    "lambda_context",
    "lex_code_hook_event",
]
