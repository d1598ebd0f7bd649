"""The tenant's call-events processor: Amazon Connect's DISCONNECTED contact events, routed by an EventBridge
rule to a Lambda that closes the contact's call session and gives back its concurrent-call slot.

EventBridge invokes the function asynchronously, so two retry layers apply and both end in one dead-letter
queue: the rule target's retry policy covers delivery to Lambda (throttling, permissions), the function's
asynchronous-invocation config covers failures of the function itself.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_destinations as destinations
from constructs import Construct

from oratio.analysis import ANALYSIS_PROFILE_ENV_VAR, AnalysisProfile
from oratio.channels.idle import IDLE_EVENT_DETAIL_TYPE, IDLE_EVENT_SOURCE
from oratio.config import TenantConfig
from oratio.domain.call_events import (
    CONNECT_INSTANCE_ARN_ENV_VAR,
    CONTACT_EVENT_DETAIL_TYPE,
    CONTACT_EVENT_SOURCE,
    DISCONNECTED,
    PHONE_NUMBER_COUNTRY_ENV_VAR,
    PHONE_NUMBER_TYPE_ENV_VAR,
    TENANT_ID_ENV_VAR,
)
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE
from stacks.constructs.agent_runtime import allow_models
from stacks.constructs.data_tables import PlatformTableRefs, grant_definition_reads
from stacks.constructs.lambda_function import OratioFunction
from stacks.constructs.storage import dead_letter_queue

# Delivery from EventBridge to Lambda: retried for a while (Lambda throttling clears in minutes).
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = Duration.hours(6)
# Failures of the function: Lambda's asynchronous retries (at most 2), within the same age.
FUNCTION_RETRY_ATTEMPTS = 2
FUNCTION_MAX_EVENT_AGE = Duration.hours(6)
# One cheap model call on a transcript, plus the reads and writes around it.
ANALYSIS_TIMEOUT_SECONDS = 45


class CallEventProcessor(Construct):
    """Rule (aws.connect contact events, this instance, DISCONNECTED) → function → session store, with a DLQ.

    The function may update only this tenant's items: conversations keys "<tenant_id>#*" and the tenant's
    tenant_state item.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        instance_arn: str,
        tables: PlatformTableRefs,
    ) -> None:
        super().__init__(scope, construct_id)
        tid = tenant.tenant_id
        self.handler = OratioFunction(
            self,
            "Handler",
            handler_folder="call_events",
            service_name="call_events",
            description=f"Closes {tid}'s call sessions when Amazon Connect reports a contact disconnected",
            timeout_seconds=10,
            environment={
                **tables.environment(CONVERSATIONS, TENANT_STATE, USAGE),
                TENANT_ID_ENV_VAR: tid,
                CONNECT_INSTANCE_ARN_ENV_VAR: instance_arn,
                PHONE_NUMBER_COUNTRY_ENV_VAR: tenant.connect.phone_number.country,
                PHONE_NUMBER_TYPE_ENV_VAR: tenant.connect.phone_number.type,
            },
        )
        function = self.handler.function

        self.dead_letters = dead_letter_queue(
            self,
            "DeadLetters",
            holds="failed call events of the rule target and of the function's asynchronous invocations",
        )
        function.configure_async_invoke(
            retry_attempts=FUNCTION_RETRY_ATTEMPTS,
            max_event_age=FUNCTION_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.dead_letters),
        )

        self.rule = events.Rule(
            self,
            "DisconnectedContacts",
            description=f"Amazon Connect DISCONNECTED contact events of {tid}'s instance",
            event_pattern=events.EventPattern(
                source=[CONTACT_EVENT_SOURCE],
                detail_type=[CONTACT_EVENT_DETAIL_TYPE],
                detail={"instanceArn": [instance_arn], "eventType": [DISCONNECTED]},
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                function,
                dead_letter_queue=self.dead_letters,
                retry_attempts=TARGET_RETRY_ATTEMPTS,
                max_event_age=TARGET_MAX_EVENT_AGE,
            )
        )

        # Item access is limited to keys that start with this tenant's id. A transaction needs the item
        # actions it performs (no separate TransactWriteItems permission).
        # The call's COST item (its minutes added, its total read) and its one-time claims (PutItem).
        tables.grant_items(function, CONVERSATIONS, ["GetItem", "UpdateItem", "PutItem"], [f"{tid}#*"])
        tables.grant_items(function, TENANT_STATE, ["UpdateItem"], [tid])
        tables.grant_items(function, USAGE, ["PutItem", "UpdateItem"], [tid])  # a charge: marker put + ADDs

        self.analysis = self._analysis(tenant, instance_arn, tables)

    def _analysis(self, tenant: TenantConfig, instance_arn: str, tables: PlatformTableRefs) -> OratioFunction:
        """The post-call analysis: a second target of the same DISCONNECTED rule (and of messaging idle events),
        with the same retries and dead-letter queue; it may invoke only the tenant's analysis model."""
        tid = tenant.tenant_id
        analysis = OratioFunction(
            self,
            "Analysis",
            handler_folder="post_call_analysis",
            service_name="post_call_analysis",
            description=f"Analyses {tid}'s ended calls and conversations (summary, outcome, sentiment, lead)",
            timeout_seconds=ANALYSIS_TIMEOUT_SECONDS,
            environment={
                **tables.environment(CONVERSATIONS, TENANT_STATE, USAGE),
                **tables.environment(AGENTS, AGENT_DEFINITIONS),  # the agent's lead fields
                CONNECT_INSTANCE_ARN_ENV_VAR: instance_arn,
                ANALYSIS_PROFILE_ENV_VAR: AnalysisProfile.from_tenant(tenant).model_dump_json(exclude_defaults=True),
            },
        )
        # The lead fields come from the agent's live definition: its status and live version, then the version.
        grant_definition_reads(tables, analysis.function, tid)
        analysis.function.configure_async_invoke(
            retry_attempts=FUNCTION_RETRY_ATTEMPTS,
            max_event_age=FUNCTION_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.dead_letters),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                analysis.function,
                dead_letter_queue=self.dead_letters,
                retry_attempts=TARGET_RETRY_ATTEMPTS,
                max_event_age=TARGET_MAX_EVENT_AGE,
            )
        )
        events.Rule(
            self,
            "IdleConversations",
            description=f"Messaging conversations of {tid} that went idle (published by the idle-conversation sweep)",
            event_pattern=events.EventPattern(
                source=[IDLE_EVENT_SOURCE], detail_type=[IDLE_EVENT_DETAIL_TYPE], detail={"tenantId": [tid]}
            ),
        ).add_target(
            targets.LambdaFunction(
                analysis.function,
                dead_letter_queue=self.dead_letters,
                retry_attempts=TARGET_RETRY_ATTEMPTS,
                max_event_age=TARGET_MAX_EVENT_AGE,
            )
        )
        tables.grant_items(
            analysis.function, CONVERSATIONS, ["GetItem", "PutItem", "UpdateItem", "Query"], [f"{tid}#*"]
        )
        tables.grant_items(analysis.function, USAGE, ["GetItem", "PutItem", "UpdateItem"], [tid])
        allow_models(analysis.role, [tenant.operations.analysis_model], sid="InvokeTheAnalysisModel")
        return analysis
