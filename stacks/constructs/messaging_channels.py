"""The tenant's social messaging channels (WhatsApp, Instagram, Messenger, X): the signed webhook behind a Lambda
function URL, the SQS FIFO queue (message group = conversation, deduplication id = platform message id) with its
dead-letter queue, and the worker that answers from the queue through the tenant agent and the platforms' send
APIs.

Why a function URL and not an API Gateway route: Meta and X cannot authenticate to AWS (no SigV4, no Cognito);
they sign their requests, and the webhook checks that signature with the tenant's own platform secret before it
reads anything. A function URL per tenant gives each tenant its own endpoint and a role that can read only its own
secrets and send only to its own queue, with no stage, authorizer or extra hop to pay in acknowledgement latency;
what API Gateway would add (throttling, WAF) the function bounds with reserved concurrency.

Credentials live in Secrets Manager per tenant and channel (`oratio/<tenant>/channels/<channel>`), written by the
vendor API when a vendor links an account; this stack only grants reading them.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from oratio.channels.idle import IDLE_EVENT_DETAIL_TYPE, IDLE_EVENT_SOURCE
from oratio.channels.settings import (
    AGENT_QUALIFIER_ENV_VAR,
    AGENT_RUNTIME_ARN_ENV_VAR,
    EMAIL_FROM_ENV_VAR,
    PROFILE_ENV_VAR,
    QUEUE_URL_ENV_VAR,
    SMS_ORIGINATION_ENV_VAR,
    TENANT_ID_ENV_VAR,
    WORKER_TABLES,
)
from oratio.channels.turns import ChannelProfile
from oratio.channels.worker import WorkerSettings
from oratio.config import TenantConfig
from oratio.tables import AGENTS, CONVERSATIONS, CUSTOMER_CONTEXT, IDLE_INDEX, TENANT_STATE
from stacks.constructs.agent_runtime import ENDPOINT_NAME, TenantAgentRuntime
from stacks.constructs.connect_voice import AGENT_CLIENT_SOURCES
from stacks.constructs.data_tables import PlatformTableRefs
from stacks.constructs.lambda_function import OratioFunction
from stacks.constructs.storage import dead_letter_queue, publish_tenant_parameters, runtime_secrets_arn
from stacks.nag import acknowledge, nag_arn
from stacks.names import Outputs

WEBHOOK_TIMEOUT_SECONDS = 10  # Meta and X want their 200 within a few seconds: verify, parse, queue
# Bounds what a flood of (even unsigned) requests can cost: each is refused in milliseconds, so this many
# concurrent executions take thousands of deliveries per second.
WEBHOOK_CONCURRENCY = 50
# The worker runs one agent turn and sends its reply with the platform's retries: the turn deadline, the send
# budget, and room for a cold start.
WORKER_EXTRA_SECONDS = 15
BATCH_SIZE = 10  # FIFO event source mappings take at most ten records
MAX_RECEIVE_COUNT = 5  # then the dead-letter queue
# A customer message nobody could answer for a day is better answered by a person from the dead-letter queue.
MESSAGE_RETENTION = Duration.days(1)
# AWS's rule for SQS event sources: the queue's visibility timeout at least six times the function's timeout.
VISIBILITY_FACTOR = 6
# The idle-conversation sweep: EventBridge's finest rate; a conversation's end is seen within a minute of it.
IDLE_SWEEP_EVERY = Duration.minutes(1)
IDLE_SWEEP_TIMEOUT_SECONDS = 50  # under the rate, so two runs rarely overlap (they may: every step is conditional)


class MessagingChannels(Construct):
    """Public attributes: `queue`, `dead_letters`, `webhook`, `worker`, `idle_sweep` (OratioFunctions),
    `webhook_url`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        tables: PlatformTableRefs,
        agent: TenantAgentRuntime,
        sms_origination_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        tid = tenant.tenant_id
        secrets = runtime_secrets_arn(self, tid, "channels")

        worker_timeout = int(tenant.agent.turn_deadline_seconds + WorkerSettings().retry.budget_seconds) + (
            WORKER_EXTRA_SECONDS
        )
        self.dead_letters = dead_letter_queue(
            self, "DeadLetters", holds="customer messages the channel worker could not answer", fifo=True
        )
        self.queue = sqs.Queue(
            self,
            "Inbound",
            fifo=True,
            # High-throughput FIFO: ordering and deduplication per message group (one conversation each).
            deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP,
            fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
            content_based_deduplication=False,  # the webhook sets the platform message id as deduplication id
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=MESSAGE_RETENTION,
            visibility_timeout=Duration.seconds(worker_timeout * VISIBILITY_FACTOR),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVE_COUNT, queue=self.dead_letters),
        )

        self.webhook = OratioFunction(
            self,
            "Webhook",
            handler_folder="channel_webhook",
            service_name="channel_webhook",
            description=f"Signed WhatsApp, Instagram, Messenger and X webhooks of {tid}: verify, queue, acknowledge",
            timeout_seconds=WEBHOOK_TIMEOUT_SECONDS,
            environment={TENANT_ID_ENV_VAR: tid, QUEUE_URL_ENV_VAR: self.queue.queue_url},
        )
        assert isinstance(self.webhook.function.node.default_child, lambda_.CfnFunction)
        self.webhook.function.node.default_child.reserved_concurrent_executions = WEBHOOK_CONCURRENCY
        self.queue.grant_send_messages(self.webhook.function)
        self._read_secrets(self.webhook, secrets)
        url = self.webhook.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        self.webhook_url = url.url

        self.worker = OratioFunction(
            self,
            "Worker",
            handler_folder="channel_worker",
            service_name="channel_worker",
            description=f"Answers {tid}'s queued social messages: the tenant agent, then the platform's send API",
            timeout_seconds=worker_timeout,
            extra_sources=AGENT_CLIENT_SOURCES,
            environment=self._worker_environment(tenant, tables, agent, sms_origination_arn),
        )
        self.worker.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=BATCH_SIZE, report_batch_item_failures=True)
        )
        self._read_secrets(self.worker, secrets)
        self._allow_worker(tid, tenant, tables, agent, sms_origination_arn)
        self.idle_sweep = self._idle_sweep(tid, tables)

        publish_tenant_parameters(
            self,
            tid,
            {
                "channels/webhook-url": self.webhook_url,
                # The platform's ElizaOS webhook answers as this tenant's text channels do.
                "channels/profile": ChannelProfile.from_tenant(tenant).model_dump_json(),
            },
        )
        CfnOutput(stack, Outputs.CHANNEL_WEBHOOK_URL, value=self.webhook_url)

    def _worker_environment(
        self,
        tenant: TenantConfig,
        tables: PlatformTableRefs,
        agent: TenantAgentRuntime,
        sms_origination_arn: str | None,
    ) -> dict[str, str]:
        environment = {
            **tables.environment(*WORKER_TABLES),
            PROFILE_ENV_VAR: ChannelProfile.from_tenant(tenant).model_dump_json(),
            QUEUE_URL_ENV_VAR: self.queue.queue_url,
            AGENT_RUNTIME_ARN_ENV_VAR: agent.runtime_arn,
            AGENT_QUALIFIER_ENV_VAR: ENDPOINT_NAME,
        }
        if sms_origination_arn:
            environment[SMS_ORIGINATION_ENV_VAR] = sms_origination_arn
        if tenant.customers.verification_email_from:
            environment[EMAIL_FROM_ENV_VAR] = tenant.customers.verification_email_from
        return environment

    def _idle_sweep(self, tid: str, tables: PlatformTableRefs) -> OratioFunction:
        """Once a minute: a `Conversation Idle` event for each conversation quiet for the tenant's idle timeout
        (the worker marks each answered conversation's deadline; `oratio.channels.idle` says why a sweep)."""
        sweep = OratioFunction(
            self,
            "IdleSweep",
            handler_folder="conversation_idle",
            service_name="conversation_idle",
            description=f"Publishes {tid}'s messaging conversations that went idle, for their post-call analysis",
            timeout_seconds=IDLE_SWEEP_TIMEOUT_SECONDS,
            environment={**tables.environment(CONVERSATIONS), TENANT_ID_ENV_VAR: tid},
        )
        rule = events.Rule(
            self,
            "IdleSweepSchedule",
            description=f"Sweep {tid}'s messaging conversations for idle ones every minute",
            schedule=events.Schedule.rate(IDLE_SWEEP_EVERY),
        )
        # No retries: the next run does the same work, and a retry would overlap it.
        rule.add_target(targets.LambdaFunction(sweep.function, retry_attempts=0, max_event_age=IDLE_SWEEP_EVERY))
        tables.grant_items(sweep.function, CONVERSATIONS, ["Query"], [f"{tid}#idle#*"], index=IDLE_INDEX)
        # Hold and settle a conversation: conditional updates of its SESSION item's idle attributes.
        tables.grant_items(sweep.function, CONVERSATIONS, ["UpdateItem"], [f"{tid}#*"])
        stack = Stack.of(self)
        sweep.role.add_to_policy(
            iam.PolicyStatement(
                sid="PublishIdleConversationEvents",
                actions=["events:PutEvents"],
                resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
                conditions={
                    "StringEquals": {"events:source": IDLE_EVENT_SOURCE, "events:detail-type": IDLE_EVENT_DETAIL_TYPE}
                },
            )
        )
        return sweep

    @staticmethod
    def _read_secrets(function: OratioFunction, secrets_arn: str) -> None:
        function.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadThisTenantsChannelCredentials",
                actions=["secretsmanager:GetSecretValue"],
                resources=[secrets_arn],
            )
        )
        acknowledge(
            function.role,
            "IAM5",
            "Channel credentials are written at run time by the vendor API, one secret per channel, under "
            "oratio/<tenant>/channels/: the wildcard covers this tenant's channels (and Secrets Manager's suffix).",
            applies_to="Resource::" + nag_arn(function, secrets_arn),
        )

    def _allow_worker(
        self,
        tid: str,
        tenant: TenantConfig,
        tables: PlatformTableRefs,
        agent: TenantAgentRuntime,
        sms_origination_arn: str | None,
    ) -> None:
        function = self.worker.function
        self.worker.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeTheTenantAgent",
                actions=["bedrock-agentcore:InvokeAgentRuntime"],
                resources=[agent.runtime_arn, agent.endpoint_arn],
            )
        )
        # A platform that asks for a long wait: the record is kept invisible that long (its group waits behind it).
        self.worker.role.add_to_policy(
            iam.PolicyStatement(
                sid="DeferRecordsThePlatformAsksToWaitFor",
                actions=["sqs:ChangeMessageVisibility"],
                resources=[self.queue.queue_arn],
            )
        )
        tables.grant_items(function, AGENTS, ["GetItem"], [tid])
        tables.grant_items(function, CONVERSATIONS, ["GetItem", "PutItem", "UpdateItem"], [f"{tid}#*"])
        # Channel bindings, the inbound ledger (and, for the session store's uncounted put, nothing else).
        tables.grant_items(function, TENANT_STATE, ["GetItem", "PutItem", "UpdateItem", "DeleteItem"], [tid])
        # Customer profiles, links and pending claims (transactions are authorized per item action).
        tables.grant_items(
            function,
            CUSTOMER_CONTEXT,
            ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "ConditionCheckItem"],
            [f"{tid}#*"],
        )
        if sms_origination_arn:
            self.worker.role.add_to_policy(
                iam.PolicyStatement(
                    sid="SendIdentityCodesBySms",
                    actions=["sms-voice:SendTextMessage"],
                    resources=[sms_origination_arn],
                )
            )
        email = tenant.customers.verification_email_from
        if email:
            stack = Stack.of(self)
            domain = email.split("@", 1)[1]
            self.worker.role.add_to_policy(
                iam.PolicyStatement(
                    sid="SendIdentityCodesByEmail",
                    actions=["ses:SendEmail"],
                    resources=[
                        stack.format_arn(
                            service="ses",
                            resource="identity",
                            resource_name=name,
                            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                        )
                        for name in (email, domain)
                    ],
                )
            )
