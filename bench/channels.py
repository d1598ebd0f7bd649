"""Messaging channel figures: how fast the webhook acknowledges a signed delivery, and how many messages per second
go through the local queue and the worker.

- Acknowledge latency: the real channel webhook `lambda_handler` (Powertools resolver, signature check, parse,
  enqueue) on function URL events carrying signed WhatsApp deliveries, one new message each; the secret is in
  memory and the queue is the in-memory FIFO queue, so the SQS round trip (a few ms in region) is not included.
- Throughput: signed deliveries taken by the webhook's use case into the in-memory FIFO queue (100 conversations),
  drained in batches of ten by the messaging worker — ledger, binding, lifecycle gate, the agent, the send API —
  with the agent a stub (the channel layer's own cost) and then the in-process tenant agent (scripted model,
  in-memory stores). Single worker, one event loop; model and network time excluded.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from bench.stats import report, report_value, time_calls
from oratio.adapters.memory import InMemoryCallSessionStore
from oratio.adapters.memory_agent import InMemoryConversationRecorder
from oratio.agent.contracts import InvocationRequest, ReplyEvent, TextChunk, TurnComplete
from oratio.channels.adapters.memory import (
    EngineAgentInvoker,
    InMemoryChannelBindings,
    InMemoryChannelSecrets,
    InMemoryFifoQueue,
    InMemoryMessageLedger,
    LocalPlatform,
)
from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.intake import WebhookIntake
from oratio.channels.ports import AgentInvoker
from oratio.channels.turns import ChannelProfile, MessagingTurns
from oratio.channels.worker import MessagingWorker
from oratio.config import load_tenant_file
from oratio.config.tenant import Channel
from oratio.domain.agents import Agent, AgentStatus
from oratio_local.channel_events import WHATSAPP_PHONE_NUMBER_ID, body_of, meta_signed_headers, whatsapp_message
from oratio_local.events import function_url_event, lambda_context
from oratio_local.lambdas import load_handler

ROOT = Path(__file__).resolve().parents[1]
TENANT = load_tenant_file(ROOT / "tenants" / "cozy-comfort.yaml")
APP_SECRET = "bench-meta-app-secret"  # noqa: S105 - nothing real
AGENT_ID = "agt-front-desk"
CONVERSATIONS = 100


def _now() -> datetime:
    return datetime.now(UTC)


async def _secrets() -> InMemoryChannelSecrets:
    secrets = InMemoryChannelSecrets()
    account = AccountCredentials(agent_id=AGENT_ID, access_token=SecretStr("bench-token"))
    secret = ChannelSecret(
        channel=Channel.WHATSAPP,
        app_secret=SecretStr(APP_SECRET),
        verify_token=SecretStr("bench-verify"),
        accounts={WHATSAPP_PHONE_NUMBER_ID: account},
    )
    await secrets.put(TENANT.tenant_id, secret)
    return secrets


def _signed(i: int) -> tuple[bytes, dict[str, str]]:
    """A WhatsApp delivery of message `i` from one of CONVERSATIONS customers, signed as Meta signs it."""
    sender = f"1650555{i % CONVERSATIONS:04d}"
    payload = whatsapp_message(sender, text="Do you have queen duvets?", message_id=f"wamid.bench{i}")
    body = body_of(payload)
    return body, meta_signed_headers(body, APP_SECRET)


# ------------------------------------------------------------------------------------- acknowledge
def acknowledge_samples(iterations: int) -> tuple[list[float], int]:
    queue = InMemoryFifoQueue(_now)
    intake = WebhookIntake(TENANT.tenant_id, secrets=asyncio.run(_secrets()), queue=queue, clock=_now)
    handler = load_handler("channel_webhook")
    handler.build_intake = lambda: intake  # type: ignore[attr-defined]  # loaded from a file path
    context = lambda_context("channel_webhook")
    events = iter(
        [
            function_url_event("POST", "/whatsapp", body=body.decode(), headers=headers)
            for body, headers in map(_signed, range(iterations + 50))
        ]
    )
    sink = io.StringIO()

    def one_delivery() -> None:
        with redirect_stdout(sink):
            answer = handler.lambda_handler(next(events), context)
        sink.seek(0)
        sink.truncate()
        assert answer["statusCode"] == 200, answer

    samples = time_calls(one_delivery, iterations)
    return samples, len(queue)


# -------------------------------------------------------------------------------------- throughput
class StubAgent:
    """Answers at once: what remains is the channel layer's own work."""

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        yield TextChunk(text="Yes, we have queen duvets in grey and white.")
        yield TurnComplete(session_id=session_id, model_id=None, routing_reason="stub", role="support",
                           qualification_score=0.0)  # fmt: skip


class Agents:
    def __init__(self) -> None:
        self._agent = Agent(
            vendor_id=TENANT.tenant_id,
            agent_id=AGENT_ID,
            name="Front desk",
            status=AgentStatus.ACTIVE,
            created_at=_now(),
            updated_at=_now(),
        )

    def get_agent(self, vendor_id: str, agent_id: str) -> Agent | None:
        return self._agent if agent_id == AGENT_ID else None


def _scripted_engine(messages: int) -> AgentInvoker:
    from bench.agent import _engine
    from oratio.adapters.scripted_model import ScriptedModel, Step, stop, text, usage

    reply: list[Step] = [text("Yes, we have queen duvets in grey and white.", pieces=3), stop(), usage(900, 20)]
    return EngineAgentInvoker(_engine(ScriptedModel([reply] * messages)))


async def _throughput(messages: int, agent: AgentInvoker) -> tuple[float, int]:
    secrets = await _secrets()
    queue = InMemoryFifoQueue(_now)
    intake = WebhookIntake(TENANT.tenant_id, secrets=secrets, queue=queue, clock=_now)
    bindings = InMemoryChannelBindings()
    await bindings.bind(TENANT.tenant_id, Channel.WHATSAPP, WHATSAPP_PHONE_NUMBER_ID, AGENT_ID)
    recorder = InMemoryConversationRecorder()
    platform = LocalPlatform(Channel.WHATSAPP)
    turns = MessagingTurns(ChannelProfile.from_tenant(TENANT), agent=agent, recorder=recorder, linking=None, clock=_now)
    worker = MessagingWorker(
        turns,
        agents=Agents(),
        bindings=bindings,
        secrets=secrets,
        ledger=InMemoryMessageLedger(),
        platforms={Channel.WHATSAPP: platform},
        recorder=recorder,
        sessions=InMemoryCallSessionStore(),
        clock=_now,
    )
    deliveries = [_signed(i) for i in range(messages)]
    start = time.perf_counter()
    for body, headers in deliveries:
        await intake.receive(Channel.WHATSAPP, body, headers)
    while batch := queue.receive(10):
        for queued in batch:
            await worker.process(queued)
    elapsed = time.perf_counter() - start
    return messages / elapsed, len(platform.sent)


def run(iterations: int = 2_000, messages: int = 2_000) -> None:
    print("messaging channels")
    samples, queued = acknowledge_samples(iterations)
    assert queued == iterations + 50
    report(f"webhook acknowledge, signed WhatsApp ({iterations})", samples)
    rate, sent = asyncio.run(_throughput(messages, StubAgent()))
    assert sent == messages
    report_value(f"messages/s through queue + worker, agent stubbed ({messages})", rate, "msg/s")
    agent_messages = messages // 4
    rate, sent = asyncio.run(_throughput(agent_messages, _scripted_engine(agent_messages)))
    assert sent == agent_messages
    report_value(f"messages/s with the tenant agent in process ({agent_messages})", rate, "msg/s")
