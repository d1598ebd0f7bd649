"""The tenant's knowledge ingestion: documents uploaded under `uploads/` in the knowledge bucket start Bedrock
ingestion jobs, and a schedule follows each job and records its result on the documents.

    knowledge bucket ──S3 ObjectCreated (uploads/)──▶ queue ──▶ ingestion function ◀── schedule (rate 2 minutes)
                                                      └── DLQ after repeated failures

S3 notifies a queue rather than the function, so bursts of uploads are batched, a failing message is retried on its
own (partial batch responses) and ends in a dead-letter queue instead of being dropped. The schedule exists because
Bedrock emits no event when a knowledge-base ingestion job ends, and runs one job per data source at a time.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from oratio.config import TenantConfig
from oratio.domain.call_events import TENANT_ID_ENV_VAR
from oratio.tables import KNOWLEDGE_DOCUMENTS, TENANT_STATE
from oratio.vendors.ingestion import DATA_SOURCE_ID_ENV_VAR, KNOWLEDGE_BASE_ID_ENV_VAR, KNOWLEDGE_BUCKET_ENV_VAR
from oratio.vendors.service import UPLOAD_PREFIX
from stacks.constructs.data_tables import PlatformTableRefs
from stacks.constructs.knowledge import TenantKnowledge
from stacks.constructs.lambda_function import OratioFunction
from stacks.constructs.storage import dead_letter_queue
from stacks.nag import acknowledge

FUNCTION_TIMEOUT_SECONDS = 60
# AWS's guidance for SQS event sources: a visibility timeout of at least six times the function timeout, so a
# message is not redelivered while a throttled or retried invocation still holds it.
VISIBILITY_TIMEOUT = Duration.seconds(6 * FUNCTION_TIMEOUT_SECONDS)
MAX_RECEIVE_COUNT = 5  # then the message goes to the dead-letter queue
BATCH_SIZE = 10
BATCHING_WINDOW = Duration.seconds(10)  # gathers a vendor's burst of uploads into one invocation
# Two concurrent invocations at most (the lowest value Lambda accepts): jobs are serialized anyway.
MAX_CONCURRENCY = 2
TICK_RATE = Duration.minutes(2)
UPLOAD_RETENTION = Duration.days(4)
# Bedrock's ingestion actions the function uses, all authorized on the knowledge base.
INGESTION_ACTIONS = ("bedrock:StartIngestionJob", "bedrock:GetIngestionJob", "bedrock:GetKnowledgeBaseDocuments")

# aws-s3's NotificationsResourceHandler.singleton: the one bucket-notifications function of a stack.
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class KnowledgeIngestion(Construct):
    """Upload notifications and a schedule → one ingestion function with a least-privilege role.

    Public attributes: `handler` (the `OratioFunction`), `queue`, `dead_letters`, `schedule`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        knowledge: TenantKnowledge,
        tables: PlatformTableRefs,
    ) -> None:
        super().__init__(scope, construct_id)
        tid = tenant.tenant_id
        self.handler = OratioFunction(
            self,
            "Handler",
            handler_folder="knowledge_ingestion",
            service_name="knowledge_ingestion",
            description=f"Starts and follows {tid}'s knowledge-base ingestion jobs; records document status",
            timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
            environment={
                **tables.environment(KNOWLEDGE_DOCUMENTS, TENANT_STATE),
                TENANT_ID_ENV_VAR: tid,
                KNOWLEDGE_BASE_ID_ENV_VAR: knowledge.knowledge_base.attr_knowledge_base_id,
                DATA_SOURCE_ID_ENV_VAR: knowledge.data_source.attr_data_source_id,
                KNOWLEDGE_BUCKET_ENV_VAR: knowledge.bucket.bucket_name,
            },
        )
        function = self.handler.function

        self.dead_letters = dead_letter_queue(self, "DeadLetters", holds="the knowledge-upload queue's failed messages")
        # SSE-SQS (not KMS): S3 can deliver to it without a key policy grant, and the messages carry object keys
        # and sizes, not document contents.
        self.queue = sqs.Queue(
            self,
            "Uploads",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            retention_period=UPLOAD_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVE_COUNT, queue=self.dead_letters),
        )
        knowledge.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.queue),
            s3.NotificationKeyFilter(prefix=f"{UPLOAD_PREFIX}/"),
        )
        function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=BATCHING_WINDOW,
                report_batch_item_failures=True,
                max_concurrency=MAX_CONCURRENCY,
            )
        )

        self.schedule = events.Rule(
            self,
            "Tick",
            description=f"Follows {tid}'s running knowledge-base ingestion job (Bedrock emits no event when it ends)",
            schedule=events.Schedule.rate(TICK_RATE),
        )
        # A failed tick is not retried, neither by EventBridge nor by Lambda's asynchronous retries: the next one, two
        # minutes later, does the same work. (SQS invocations are synchronous; SQS itself retries those.)
        self.schedule.add_target(targets.LambdaFunction(function, retry_attempts=0))
        function.configure_async_invoke(retry_attempts=0, max_event_age=TICK_RATE)

        self._grant(function, tid, knowledge, tables)
        self._acknowledge_bucket_notifications()

    def _grant(
        self, function: iam.IGrantable, tenant_id: str, knowledge: TenantKnowledge, tables: PlatformTableRefs
    ) -> None:
        function.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="IngestThisTenantsKnowledgeBase",
                actions=list(INGESTION_ACTIONS),
                resources=[knowledge.knowledge_base.attr_knowledge_base_arn],
            )
        )
        # Documents: update only, only under this tenant's keys ("<tenant>#<agent>"); records are the vendor API's.
        tables.grant_items(function, KNOWLEDGE_DOCUMENTS, ["UpdateItem"], [f"{tenant_id}#*"])
        # tenant_state: the "ingestion#…" items of this tenant (IAM can pin the partition key, not the sort key).
        tables.grant_items(function, TENANT_STATE, ["GetItem", "PutItem", "UpdateItem", "DeleteItem"], [tenant_id])

    def _acknowledge_bucket_notifications(self) -> None:
        """The CDK's bucket-notifications custom resource (one handler per stack) sets the bucket's notification
        configuration at deployment; its managed-policy finding is the CDK's own design, acknowledged where it
        arises. (Its s3:PutBucketNotification grant is scoped to the knowledge bucket.)"""
        # Found by the CDK's singleton id, not by walking the stack's children (each visit is two calls into the
        # CDK's process, ~40 per tenant stack).
        handler = Stack.of(self).node.try_find_child(NOTIFICATIONS_HANDLER_ID)
        if handler is None:
            raise LookupError(
                f"the CDK's {NOTIFICATIONS_HANDLER_ID} is not in the stack: aws-cdk-lib changed the id of its "
                "bucket-notifications handler; update NOTIFICATIONS_HANDLER_ID (knowledge_ingestion.py)"
            )
        acknowledge(
            handler,
            "IAM4",
            "The CDK's BucketNotificationsHandler uses AWSLambdaBasicExecutionRole for its own logs; it runs "
            "only during deployments to set the knowledge bucket's notification configuration.",
            applies_to="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
