"""Social channel worker Lambda: answers what the webhook queued, from the tenant's SQS FIFO queue.

Thin edge: each record's body is a `QueuedEvent`; `MessagingWorker.process` answers it (the agent turn through the
tenant agent's typed client, the reply through the platform's send API). Records are processed in order per
conversation (Powertools' FIFO batch processor: a failed record fails the rest of its message group in the batch,
other conversations go on). A `RetryLater` puts the record back for the wait the platform asked for (its
visibility timeout, up to SQS's 12 h); other failures are retried by SQS and end in the dead-letter queue after
`maxReceiveCount`. A body that is not a queued event is logged, counted and dropped (it can never succeed).

The batch is parsed first (`oratio.lambda_events`): an event that is no SQS batch, or a record without a message
id to report it by, raises `InvalidChannelBatchError` (Lambda retries the batch as a whole, the only answer SQS
can act on); a record whose envelope is not SQS's (no receipt handle, no message group) is that record's failure,
and its group's records after it wait with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from agentcore.tenant_agent.client import AgentCoreAgentClient
from oratio.adapters.dynamodb import DynamoDBAgentDirectory, DynamoDBCallSessionStore, dynamodb_client
from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder, DynamoDBCustomerContextStore
from oratio.channels.adapters.aws import (
    DynamoDBChannelBindings,
    DynamoDBMessageLedger,
    SecretsManagerChannelSecrets,
    SqsFifoQueue,
)
from oratio.channels.adapters.idle_aws import DynamoDBIdleIndex
from oratio.channels.adapters.meta_graph import MetaGraphClient
from oratio.channels.adapters.x_api import XApiClient
from oratio.channels.models import QueuedEvent
from oratio.channels.ports import PlatformClient
from oratio.channels.settings import WorkerEnvironment
from oratio.channels.turns import MessagingTurns
from oratio.channels.worker import MessagingWorker, RetryLater
from oratio.config.tenant import Channel
from oratio.customers.adapters.dynamodb import DynamoDBClaimStore
from oratio.customers.adapters.senders import EmailCodeSender, SmsCodeSender
from oratio.customers.linking import IdentityLinking
from oratio.customers.ports import CodeSender
from oratio.lambda_events import SqsBatch, SqsFifoRecord, field_problems
from oratio.observability import lambda_entry, logger, metrics


class InvalidChannelBatchError(ValueError):
    """The event is no SQS batch the worker can answer record by record (the log names the fields)."""


class MalformedChannelRecord(ValueError):
    """A record whose envelope is not SQS's: reported as that record's failure (SQS retries, then dead-letters)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@cache
def environment() -> WorkerEnvironment:
    return WorkerEnvironment.from_environ()


@cache
def _runner() -> asyncio.Runner:
    return asyncio.Runner()  # one event loop per container: the HTTP client below lives on it


def run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    return _runner().run(coroutine)


async def _build() -> MessagingWorker:
    import httpx  # the layer's; imported on first use, not at cold import

    env = environment()
    client = dynamodb_client()
    recorder = DynamoDBConversationRecorder(env.conversations_table, client=client)
    senders: dict[str, CodeSender] = {}
    if env.sms_origination_identity:
        senders["phone"] = SmsCodeSender(env.sms_origination_identity)
    if env.verification_email_from:
        senders["email"] = EmailCodeSender(env.verification_email_from)
    linking = IdentityLinking(
        links=DynamoDBCustomerContextStore(env.customer_context_table, client=client),
        claims=DynamoDBClaimStore(env.customer_context_table, client=client),
        senders=senders,
        clock=_utc_now,
    )
    turns = MessagingTurns(
        env.profile,
        agent=AgentCoreAgentClient(env.agent_runtime_arn, env.agent_qualifier),
        recorder=recorder,
        linking=linking,
        clock=_utc_now,
    )
    http = httpx.AsyncClient()
    platforms: dict[Channel, PlatformClient] = {
        channel: MetaGraphClient(channel, http) for channel in (Channel.WHATSAPP, Channel.FACEBOOK, Channel.INSTAGRAM)
    }
    platforms[Channel.X] = XApiClient(http)
    return MessagingWorker(
        turns,
        agents=DynamoDBAgentDirectory(env.agents_table, client=client),
        bindings=DynamoDBChannelBindings(env.tenant_state_table, client=client),
        secrets=SecretsManagerChannelSecrets(),
        ledger=DynamoDBMessageLedger(env.tenant_state_table, client=client),
        platforms=platforms,
        recorder=recorder,
        sessions=DynamoDBCallSessionStore(env.conversations_table, env.tenant_state_table, client=client),
        clock=_utc_now,
        idle=DynamoDBIdleIndex(env.conversations_table, client=client),
    )


_worker: list[MessagingWorker] = []


def build_worker() -> MessagingWorker:
    """The worker with its AWS and HTTP adapters, built once per container on the container's event loop."""
    if not _worker:
        _worker.append(run(_build()))
    return _worker[0]


@cache
def _queue() -> SqsFifoQueue:
    return SqsFifoQueue(environment().queue_url)


def _defer(receipt_handle: str, seconds: float) -> None:
    """Keep the record invisible for the platform's wait (its conversation waits behind it)."""
    try:
        _queue().defer(receipt_handle, seconds)
    except Exception:  # the queue's own visibility timeout still brings it back
        logger.exception("could not defer the record")


def handle_record(record: SQSRecord) -> None:
    try:
        envelope = SqsFifoRecord.model_validate(record.raw_event)
    except ValidationError as e:
        logger.error("queue record is not an SQS FIFO record", extra={"problems": field_problems(e)})
        metrics.add_metric(name="ChannelRecordsMalformed", unit=MetricUnit.Count, value=1)
        raise MalformedChannelRecord("the record is not an SQS FIFO record") from None
    try:
        queued = QueuedEvent.model_validate_json(envelope.body)
    except ValidationError as e:
        logger.error("queued message is not a channel event; dropped", extra={"problems": field_problems(e)})
        metrics.add_metric(name="ChannelEventsMalformed", unit=MetricUnit.Count, value=1)
        return
    try:
        processed = run(build_worker().process(queued))
    except RetryLater as e:
        logger.warning("channel event deferred", extra={"reason": e.reason, "delay_s": round(e.delay_seconds)})
        _defer(envelope.receipt_handle, e.delay_seconds)
        raise
    with single_metric(name="ChannelEvents", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as m:
        m.add_dimension(name="outcome", value=processed.outcome.value)
    logger.info(
        "channel event processed",
        extra={
            "channel": queued.event.channel.value,
            "outcome": processed.outcome.value,
            "session_id": processed.session_id,
        },
    )


processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# A batch whose every record failed is reported record by record too (not as a function error), so a record the
# platform asked to wait for keeps the visibility it was given.
processor.raise_on_entire_batch_failure = False


def _walkable(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record as Powertools' FIFO processor walks it: it reads `attributes.MessageGroupId` (as a set member)
    before the record handler runs, so attributes that are not an object with a string group are left out here
    (the record then fails its own parse, alone)."""
    attributes = record.get("attributes", {})
    if isinstance(attributes, Mapping) and isinstance(attributes.get("MessageGroupId", ""), str):
        return record
    return {k: v for k, v in record.items() if k != "attributes"}


@lambda_entry()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        SqsBatch.model_validate(event)
    except ValidationError as e:
        metrics.add_metric(name="ChannelBatchesRejected", unit=MetricUnit.Count, value=1)
        logger.error("event is not an SQS batch of reportable records", extra={"problems": field_problems(e)})
        raise InvalidChannelBatchError("event is not an SQS batch of reportable records") from None
    batch = {**event, "Records": [_walkable(record) for record in event["Records"]]}
    response = process_partial_response(event=batch, record_handler=handle_record, processor=processor, context=context)
    return dict(response)
