"""A call on the tenant's Amazon Connect number, played locally the way the inbound flow plays it.

What is real: the `voice_turn` Lambda handler (Lex code hook and the flow's voice actions) with its
DynamoDB adapters against moto, the turn worker's runner, and the tenant agent's runtime app on
127.0.0.1 reached through its typed HTTP client. What is emulated: Amazon Connect and Lex themselves — this
module sends the real-shaped events the flow and the bot would send, picks the intent a Lex NLU would
pick, and the worker runs in process instead of as its own Lambda.

One of the turns is slowed down on purpose (the agent's reply is held back longer than the caller's
silence budget) to show the holding reply and the pickup.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oratio.config import TenantConfig
from oratio.tables import CONVERSATIONS, TENANT_STATE, USAGE

CONTACT_ID = "5fb2c1a4-7d0e-4e1b-9a43-0c0a11c0ffee"
CALLER = "+15551234567"
SLOW_LINE = "Do you ship to Canada?"


@dataclass(frozen=True)
class Step:
    """One line of the call as the caller (or the human agent) experiences it."""

    who: str
    text: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _SlowOnce:
    """The local agent client, holding one chosen reply back past the caller's silence budget."""

    def __init__(self, agent: Any, slow_text: str, delay_seconds: float) -> None:
        self._agent = agent
        self._slow_text = slow_text
        self._delay = delay_seconds

    async def invoke(self, request: Any, session_id: str) -> AsyncIterator[Any]:
        if getattr(request.input, "text", None) == self._slow_text:
            await asyncio.sleep(self._delay)
        async for event in self._agent.invoke(request, session_id):
            yield event


def play_connect_call(tenant: TenantConfig, tenants_dir: Path, client: Any) -> tuple[list[Step], list[str]]:
    """Play one call against the DynamoDB `client` points at (moto in the demo); returns what was said and
    what was stored with the call (by ContactId)."""
    from agentcore.tenant_agent import app as runtime
    from agentcore.tenant_agent.client import HttpAgentClient
    from agentcore.tenant_agent.wiring import ENV_LOCAL_MODE, ENV_TENANT_ID, ENV_TENANTS_DIR
    from oratio.adapters.dynamodb_agent import (
        DynamoDBBudgetLedger,
        DynamoDBConversationRecorder,
        DynamoDBWorkflowStateStore,
    )
    from oratio.adapters.dynamodb_breaker import DynamoDBBreakerStore
    from oratio.adapters.dynamodb_voice import DynamoDBTurnMailbox
    from oratio.connect_voice.profile import VoiceProfile
    from oratio.connect_voice.service import ConnectVoice
    from oratio.connect_voice.worker import AgentTurnRunner, InProcessTurnWorker
    from oratio.domain.circuit_breaker import BreakerPolicy, CircuitBreakers
    from oratio_local.agent_server import serve_on_loopback
    from oratio_local.dynamodb import create_tables
    from oratio_local.events import connect_voice_action_event, lambda_context, lex_code_hook_event
    from oratio_local.lambdas import load_handler

    os.environ.update({ENV_LOCAL_MODE: "1", ENV_TENANT_ID: tenant.tenant_id, ENV_TENANTS_DIR: str(tenants_dir)})
    profile = VoiceProfile.from_tenant(tenant)
    steps: list[Step] = []
    with serve_on_loopback(runtime.app) as base_url:
        names = create_tables(client)
        recorder = DynamoDBConversationRecorder(names[CONVERSATIONS.key], client=client)
        mailbox = DynamoDBTurnMailbox(names[CONVERSATIONS.key], client=client)
        breakers = CircuitBreakers(
            tenant.tenant_id,
            DynamoDBBreakerStore(names[TENANT_STATE.key], client=client),
            BreakerPolicy(profile.connect.breaker),
            clock=_utc_now,
        )
        agent = _SlowOnce(HttpAgentClient(base_url), SLOW_LINE, profile.deadline_seconds + 0.5)
        runner = AgentTurnRunner(agent=agent, mailbox=mailbox, breakers=breakers, recorder=recorder, clock=_utc_now)
        voice = ConnectVoice(
            profile,
            breakers=breakers,
            worker=InProcessTurnWorker(runner),
            mailbox=mailbox,
            recorder=recorder,
            transcripts=recorder,
            budget=DynamoDBBudgetLedger(names[USAGE.key], conversations_table=names[CONVERSATIONS.key], client=client),
            workflow_states=DynamoDBWorkflowStateStore(names[CONVERSATIONS.key], client=client),
            clock=_utc_now,
        )
        handler = load_handler("voice_turn")
        handler.build_voice = lambda: voice  # type: ignore[attr-defined]  # module loaded from a file path
        context = lambda_context("voice_turn")

        def invoke(event: dict[str, Any]) -> dict[str, Any]:
            with redirect_stdout(io.StringIO()):  # the handler's EMF metrics belong to CloudWatch
                answer: dict[str, Any] = handler.lambda_handler(event, context)
            return answer

        attributes = invoke(connect_voice_action_event("prepare", contact_id=CONTACT_ID, caller=CALLER))
        voices = (
            f"Set voice {attributes['tts_voice']} ({attributes['tts_engine']}), Nova Sonic {attributes['sonic_voice']}"
        )
        steps.append(Step("flow", f"prepare: {attributes['speech_mode']}; {voices}"))
        steps.append(Step("assistant", attributes["prompt"]))
        session = {key: attributes[key] for key in ("speech_mode", "voice_tier")} | {
            "contact_id": CONTACT_ID,
            "caller": CALLER,
            "agent_id": "front-desk",
        }
        for line, intent in (
            ("Hi, I'm looking for a new comforter for my queen bed.", "FallbackIntent"),
            (SLOW_LINE, "FallbackIntent"),
            ("mmm hrrm", "FallbackIntent"),
            ("Can I talk to a person, please?", "FallbackIntent"),
        ):
            confidence = 0.21 if line == "mmm hrrm" else 0.93
            steps.append(Step("caller", f"{line}   [Lex: {intent}, confidence {confidence}]"))
            event = lex_code_hook_event(line, session_id=CONTACT_ID, intent=intent, confidence=confidence,
                                        session_attributes=session)  # fmt: skip
            response = invoke(event)
            session = response["sessionState"]["sessionAttributes"]
            said = " ".join(m["content"] for m in response.get("messages", []))
            action = response["sessionState"]["dialogAction"]["type"]
            steps.append(Step("assistant", f"{said}   [{action}, next: {session['next_step']}]"))
            if session["next_step"] == "await_reply":
                picked = invoke(connect_voice_action_event("pickup", contact_id=CONTACT_ID, attributes=session))
                steps.append(Step("flow", f"pickup: next {picked['next_step']}"))
                steps.append(Step("assistant", picked["prompt"]))
                session = {**session, **{k: picked[k] for k in ("next_step", "pending_turn", "prompt")}}
            if session["next_step"] == "transfer":
                steps.append(
                    Step("flow", f"transfer to {tenant.connect.queue_name}; reason: {session['handoff_reason']}")
                )
                steps.append(Step("whisper to the human agent", session["handoff_whisper"]))
                break
        stored = _stored(client, names[CONVERSATIONS.key], tenant.tenant_id)
    return steps, stored


def _stored(client: Any, table: str, tenant_id: str) -> list[str]:
    items = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{tenant_id}#{CONTACT_ID}"}},
    )["Items"]
    rows = []
    for item in items:
        sk = item["sk"]["S"]
        if sk.startswith("TURN#"):
            rows.append(f"{sk}: {item.get('routing_reason', {}).get('S', '')} ({item['outcome']['S']})")
        elif sk.startswith("EVENT#"):
            rows.append(f"EVENT {item['kind']['S']}: {item['detail']['M'].get('reason', {}).get('S', '')}")
        elif sk.startswith("VOICE#"):
            rows.append(f"VOICE# turn outcome ({item['status']['S']}), picked up after the holding reply")
    return rows


def print_connect_call(steps: list[Step], stored: list[str]) -> None:
    for step in steps:
        print(f"  {step.who + ':':<28} {step.text}")
    print(f"\n  stored with contact {CONTACT_ID} by the voice path (conversations table, moto):")
    for row in stored:
        print(f"    {row}")
    print("  (the agent's own turns sit in its local in-memory stores here; deployed, they share this partition)")
