"""A tenant's messaging channels on local AWS (moto, in process): the real webhook and worker Lambda handlers, the
tenant's SQS FIFO queue, its channel secrets in Secrets Manager and its tables in DynamoDB; the platforms' HTTP APIs
are `oratio_local.platforms.FakePlatforms` and the tenant agent runs in process. Used by the demo, the benchmarks and
the integration tests, so all three drive the same handlers the same way.

`deliver` posts a signed platform delivery to the webhook handler as a function URL event; `drain` receives what the
queue holds and runs the worker handler on it as the SQS event source mapping would (in batches of up to ten, FIFO
attributes included), deleting what succeeded and leaving failures for SQS to redeliver.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

import boto3
import httpx
from pydantic import SecretStr

from oratio.adapters.dynamodb import DynamoDBAgentDirectory, DynamoDBCallSessionStore
from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder, DynamoDBCustomerContextStore
from oratio.agent.ports import TurnEngine
from oratio.channels.adapters.aws import (
    DynamoDBChannelBindings,
    DynamoDBMessageLedger,
    SecretsManagerChannelSecrets,
)
from oratio.channels.adapters.idle_aws import DynamoDBIdleIndex
from oratio.channels.adapters.memory import EngineAgentInvoker
from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.settings import QUEUE_URL_ENV_VAR, TENANT_ID_ENV_VAR
from oratio.channels.turns import ChannelProfile, MessagingTurns
from oratio.channels.worker import MessagingWorker
from oratio.config import TenantConfig
from oratio.config.tenant import Channel
from oratio.customers.adapters.dynamodb import DynamoDBClaimStore
from oratio.customers.adapters.memory import OutboxCodeSender
from oratio.customers.linking import IdentityLinking
from oratio.tables import AGENTS, CONVERSATIONS, CUSTOMER_CONTEXT, TENANT_STATE
from oratio_local.channel_events import body_of, meta_signed_headers, x_signed_headers
from oratio_local.events import function_url_event, lambda_context
from oratio_local.lambdas import load_handler
from oratio_local.platforms import FakePlatforms

REGION = "us-east-1"
META_PATHS = {
    Channel.WHATSAPP: "/whatsapp",
    Channel.FACEBOOK: "/facebook",
    Channel.INSTAGRAM: "/instagram",
    Channel.X: "/x",
}
# The local platforms' keys (nothing real): what a vendor would link through the vendor API.
APP_SECRET = "local-meta-app-secret-0123456789"  # noqa: S105
VERIFY_TOKEN = "local-verify-token-42"  # noqa: S105
CONSUMER_SECRET = "local-x-consumer-secret-0123456789"  # noqa: S105


@dataclass
class Drained:
    processed: int = 0
    failed: int = 0
    batches: list[dict[str, Any]] = field(default_factory=list)


class LocalChannels:
    """The tenant's webhook, queue and worker, over whatever DynamoDB `dynamodb` points at (moto)."""

    def __init__(
        self,
        tenant: TenantConfig,
        dynamodb: Any,
        tables: dict[str, str],
        engine: TurnEngine,
        *,
        clock: Any,
        platforms: FakePlatforms | None = None,
    ) -> None:
        self.tenant = tenant
        self.platforms = platforms or FakePlatforms()
        self.codes = OutboxCodeSender()
        self._sqs = boto3.client("sqs", region_name=REGION)
        dead = self._sqs.create_queue(QueueName=f"{tenant.tenant_id}-dead.fifo", Attributes={"FifoQueue": "true"})
        dead_arn = self._sqs.get_queue_attributes(QueueUrl=dead["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]
        self.queue_url = self._sqs.create_queue(
            QueueName=f"{tenant.tenant_id}-inbound.fifo",
            Attributes={
                "FifoQueue": "true",
                "DeduplicationScope": "messageGroup",
                "FifoThroughputLimit": "perMessageGroupId",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn["QueueArn"], "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        os.environ[TENANT_ID_ENV_VAR] = tenant.tenant_id
        os.environ[QUEUE_URL_ENV_VAR] = self.queue_url
        self.secrets = SecretsManagerChannelSecrets(max_age_seconds=0)
        self.bindings = DynamoDBChannelBindings(tables[TENANT_STATE.key], client=dynamodb)
        recorder = DynamoDBConversationRecorder(tables[CONVERSATIONS.key], client=dynamodb)
        contexts = DynamoDBCustomerContextStore(tables[CUSTOMER_CONTEXT.key], client=dynamodb)
        linking = IdentityLinking(
            links=contexts,
            claims=DynamoDBClaimStore(tables[CUSTOMER_CONTEXT.key], client=dynamodb),
            senders={"phone": self.codes, "email": self.codes},
            clock=clock,
        )
        turns = MessagingTurns(
            ChannelProfile.from_tenant(tenant),
            agent=EngineAgentInvoker(engine),
            recorder=recorder,
            linking=linking,
            clock=clock,
        )
        from oratio.vendors.api.channel_routes import platform_clients

        self._http = httpx.AsyncClient(transport=self.platforms.transport())
        self.worker = MessagingWorker(
            turns,
            agents=DynamoDBAgentDirectory(tables[AGENTS.key], client=dynamodb),
            bindings=self.bindings,
            secrets=self.secrets,
            ledger=DynamoDBMessageLedger(tables[TENANT_STATE.key], client=dynamodb),
            platforms=platform_clients(self._http),
            recorder=recorder,
            sessions=DynamoDBCallSessionStore(tables[CONVERSATIONS.key], tables[TENANT_STATE.key], client=dynamodb),
            clock=clock,
            idle=DynamoDBIdleIndex(tables[CONVERSATIONS.key], client=dynamodb),
        )
        self.webhook: ModuleType = load_handler("channel_webhook")
        self.webhook.clock = _Clock(clock)  # type: ignore[attr-defined]
        self.worker_handler: ModuleType = load_handler("channel_worker")
        self.worker_handler.build_worker = lambda: self.worker  # type: ignore[attr-defined]

    # ----------------------------------------------------------------------------------- linking
    def link(self, channel: Channel, account_id: str, agent_id: str, token: str, *, page_id: str | None = None) -> None:
        """What `PUT /api/v1/agents/{agent_id}/channels/{channel}` leaves behind: the secret and the binding."""
        import asyncio

        account = AccountCredentials(
            agent_id=agent_id,
            access_token=SecretStr(token),
            access_token_secret=SecretStr(f"{token}-secret") if channel is Channel.X else None,
            page_id=page_id,
        )
        secret = ChannelSecret(
            channel=channel,
            app_secret=SecretStr(APP_SECRET) if channel is not Channel.X else None,
            verify_token=SecretStr(VERIFY_TOKEN) if channel is not Channel.X else None,
            consumer_key="local-x-consumer-key" if channel is Channel.X else None,
            consumer_secret=SecretStr(CONSUMER_SECRET) if channel is Channel.X else None,
            accounts={account_id: account},
        )
        asyncio.run(self.secrets.put(self.tenant.tenant_id, secret))
        asyncio.run(self.bindings.bind(self.tenant.tenant_id, channel, account_id, agent_id))

    # ------------------------------------------------------------------------------------ webhook
    def deliver(
        self, channel: Channel, payload: dict[str, Any], *, sign: bool = True, secret: str | None = None
    ) -> dict[str, Any]:
        """POST a delivery to the webhook, signed as the platform signs it (unless `sign` is False)."""
        body = body_of(payload)
        if not sign:
            headers = {"Content-Type": "application/json"}
        elif channel is Channel.X:
            headers = x_signed_headers(body, secret or CONSUMER_SECRET)
        else:
            headers = meta_signed_headers(body, secret or APP_SECRET)
        event = function_url_event("POST", META_PATHS[channel], body=body.decode(), headers=headers)
        with redirect_stdout(io.StringIO()):  # EMF metrics belong to CloudWatch
            response: dict[str, Any] = self.webhook.lambda_handler(event, lambda_context("channel_webhook"))
        return response

    def get(self, channel: Channel, query: str) -> dict[str, Any]:
        event = function_url_event("GET", META_PATHS[channel], query=query)
        with redirect_stdout(io.StringIO()):
            response: dict[str, Any] = self.webhook.lambda_handler(event, lambda_context("channel_webhook"))
        return response

    # ------------------------------------------------------------------------------------- worker
    def drain(self, *, max_batches: int = 20) -> Drained:
        """Run the worker on what the queue holds, as the event source mapping does."""
        drained = Drained()
        for _ in range(max_batches):
            received = self._sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=30
            ).get("Messages", [])
            if not received:
                break
            event = {"Records": [_record(m, self.queue_url) for m in received]}
            with redirect_stdout(io.StringIO()):
                result = self.worker_handler.lambda_handler(event, lambda_context("channel_worker"))
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            drained.batches.append(result)
            for message in received:
                if message["MessageId"] in failed:
                    drained.failed += 1
                else:
                    drained.processed += 1
                    self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if failed:
                break  # what failed is back on the queue after its visibility timeout
        return drained

    def queued(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


class _Clock:
    def __init__(self, now: Any) -> None:
        self._now = now

    def now(self) -> datetime:
        value: datetime = self._now()
        return value


def _record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """A received SQS message as the Lambda event source mapping hands it over."""
    _, _, host, account, name = queue_url.split("/", 4)
    region = host.split(".")[1] if host.startswith("sqs.") else REGION
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{region}:{account}:{name}",
        "awsRegion": region,
    }


def local_engine(
    tenant: TenantConfig, tenants_dir: Any, dynamodb: Any, tables: dict[str, str]
) -> tuple[TurnEngine, Any]:
    """The tenant agent in process with its stores on (local) DynamoDB, so every channel shares the customer's
    profile: the rule-based model stand-in and the lexical retriever (see the README's local-mode table); the
    model keeps each request, which shows what the agent was told about the customer."""
    from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger, DynamoDBWorkflowStateStore
    from oratio.adapters.memory_agent import InMemorySessionMemory
    from oratio.agent.engine import TenantAgent
    from oratio.agent.tools.executor import ToolExecutor
    from oratio.agent.workflow import RoleWorkflow
    from oratio.agent_definitions.dynamodb import DynamoDBDefinitionReader
    from oratio.agent_definitions.source import CachedDefinitionSource, SourceSettings
    from oratio.config import load_model_catalog
    from oratio.tables import AGENT_DEFINITIONS, AGENTS, USAGE
    from oratio_local.knowledge import LexicalRetriever
    from oratio_local.rule_model import RuleBasedModel

    model = RuleBasedModel()
    retriever, http = LexicalRetriever.from_tenant(tenant, tenants_dir), httpx.AsyncClient()
    engine = TenantAgent(
        tenant=tenant,
        catalog=load_model_catalog(),
        model=model,
        tools=lambda definition: ToolExecutor.from_definition(definition, retriever=retriever, http_client=http),
        memory=InMemorySessionMemory(),
        contexts=DynamoDBCustomerContextStore(tables[CUSTOMER_CONTEXT.key], client=dynamodb),
        recorder=DynamoDBConversationRecorder(tables[CONVERSATIONS.key], client=dynamodb),
        budget=DynamoDBBudgetLedger(tables[USAGE.key], client=dynamodb),
        workflow=RoleWorkflow.from_definition,
        workflow_states=DynamoDBWorkflowStateStore(tables[CONVERSATIONS.key], client=dynamodb),
        # Each turn runs on the live definition (and status) of the agent it names, as the vendor API wrote them.
        definitions=CachedDefinitionSource(
            DynamoDBDefinitionReader(tables[AGENTS.key], tables[AGENT_DEFINITIONS.key], client=dynamodb),
            SourceSettings(),
        ),
    )
    return engine, model
