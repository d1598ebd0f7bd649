"""TenantStack: one per `tenants/<id>.yaml`. Reads like a table of contents of a tenant's deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from oratio.config import TenantConfig
from oratio.domain.call_routing import RoutingProfile
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, LEASE_INDEX, NUMBERS, TENANT_STATE, USAGE
from oratio.vendors.service import UPLOAD_PREFIX
from stacks.constructs.agent_runtime import TenantAgentRuntime
from stacks.constructs.call_events import CallEventProcessor
from stacks.constructs.call_reconciler import CallSlotReconciler
from stacks.constructs.connect import ConnectCenter
from stacks.constructs.connect_voice import ConnectVoice
from stacks.constructs.data_tables import PlatformTableRefs
from stacks.constructs.knowledge import TenantKnowledge
from stacks.constructs.knowledge_documents import TenantDocuments
from stacks.constructs.knowledge_ingestion import KnowledgeIngestion
from stacks.constructs.lambda_function import OratioFunction
from stacks.constructs.messaging_channels import MessagingChannels
from stacks.constructs.number_claims import NumberClaims
from stacks.constructs.observability import TenantObservability
from stacks.constructs.storage import publish_tenant_parameters
from stacks.constructs.voice_bridge import VoiceBridge
from stacks.names import PROJECT, Outputs, vendor_api_role_name

ROOT = Path(__file__).resolve().parents[1]


class TenantStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        tenants_dir: Path = ROOT / "tenants",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Oratio tenant {tenant.tenant_id}: Connect, voice, messaging, knowledge",
            **kwargs,
        )
        self.tenant = tenant
        Tags.of(self).add("project", PROJECT)
        Tags.of(self).add("tenant", tenant.tenant_id)

        tables = PlatformTableRefs(self, "PlatformTables")
        self.call_router = self._call_router(tenant, tables)
        self.knowledge = TenantKnowledge(self, "Knowledge", tenant=tenant)
        # The tenant file's knowledge sources, uploaded as tenant-wide documents and ingested at deploy.
        self.tenant_documents = TenantDocuments(
            self, "TenantDocuments", tenant=tenant, tenants_dir=tenants_dir, knowledge=self.knowledge
        )
        self.agent = TenantAgentRuntime(self, "Agent", tenant=tenant, tables=tables, knowledge=self.knowledge)
        # The AI conversation on the Connect number: Lex bots (Nova Sonic / cascaded), code hook, turn worker.
        self.voice = ConnectVoice(self, "Voice", tenant=tenant, tables=tables, agent=self.agent)
        self.connect = ConnectCenter(
            self,
            "Connect",
            tenant=tenant,
            call_router=self.call_router.function,
            flows_dir=ROOT / "contact_flows",
            extra_flow_values=self.voice.flow_values(),
        )
        self.voice.integrate_with(self.connect)
        # The platform's number registry: the Connect number and the tenant file's bridge numbers are this tenant's.
        self.numbers = NumberClaims(
            self, "Numbers", tenant=tenant, tables=tables, connect_number=self.connect.phone_number.attr_address
        )
        self.call_events = CallEventProcessor(
            self, "CallEvents", tenant=tenant, instance_arn=self.connect.instance.attr_arn, tables=tables
        )
        # Slots whose lease ran out (their call's end event was lost): closed as abandoned, on a schedule.
        self.call_reconciler = CallSlotReconciler(self, "CallReconciler", tenant=tenant, tables=tables)
        # Uploads under uploads/ start ingestion jobs; a schedule records their results on the documents.
        self.knowledge_ingestion = KnowledgeIngestion(
            self, "KnowledgeIngestion", tenant=tenant, knowledge=self.knowledge, tables=tables
        )
        # Media-stream telephony (Twilio, Vonage): the Nova Sonic bridge runtime and the call webhook.
        self.voice_bridge = VoiceBridge(
            self,
            "VoiceBridge",
            tenant=tenant,
            tables=tables,
            agent=self.agent,
            connect_phone_number=self.connect.phone_number.attr_address,
        )
        # WhatsApp, Instagram, Messenger and X: the signed webhook, the FIFO queue and the worker answering it.
        self.messaging = MessagingChannels(
            self,
            "Messaging",
            tenant=tenant,
            tables=tables,
            agent=self.agent,
            sms_origination_arn=tenant.connect.sms.phone_number_arn if tenant.connect.sms else None,
        )
        self._vendor_api_access(tenant)
        # Dashboards and alarms; every function of the tenant publishes its metrics in the tenant's namespace.
        self.observability = TenantObservability(
            self,
            "Observability",
            tenant=tenant,
            dead_letter_queues={
                "CallEvents": self.call_events.dead_letters,
                "KnowledgeIngestion": self.knowledge_ingestion.dead_letters,
            },
            channel_dead_letters=self.messaging.dead_letters,
        )
        for function in self.node.find_all():
            if isinstance(function, OratioFunction):
                function.function.add_environment("POWERTOOLS_METRICS_NAMESPACE", self.observability.namespace)
        # The router may look up only the number this tenant claimed.
        tables.grant_items(
            self.call_router.function,
            AGENTS,
            ["Query"],
            [self.connect.phone_number.attr_address],
            index="by_phone_number",
        )

    def _vendor_api_access(self, tenant: TenantConfig) -> None:
        """What the platform's vendor API needs from this tenant: its limits, and presigned uploads of knowledge
        documents into this tenant's bucket (only under uploads/, only by the vendor API's role)."""
        publish_tenant_parameters(self, tenant.tenant_id, {"limits/max-agents": str(tenant.limits.max_agents)})
        vendor_api_role = self.format_arn(
            service="iam", region="", resource="role", resource_name=vendor_api_role_name(self.region)
        )
        self.knowledge.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="VendorApiPresignedUploads",
                principals=[iam.ArnPrincipal(vendor_api_role)],
                actions=["s3:PutObject"],
                resources=[self.knowledge.bucket.arn_for_objects(f"{UPLOAD_PREFIX}/*")],
            )
        )

    def _call_router(self, tenant: TenantConfig, tables: PlatformTableRefs) -> OratioFunction:
        router = OratioFunction(
            self,
            "CallRouter",
            handler_folder="call_router",
            service_name="call_router",
            description=f"Routes {tenant.tenant_id}'s inbound contacts: agent, hours, limits",
            # Connect waits at most 8 s for a synchronous Lambda; answer well inside it.
            timeout_seconds=5,
            environment={
                **tables.environment(AGENTS, CONVERSATIONS, TENANT_STATE, USAGE, NUMBERS, AGENT_DEFINITIONS),
                "ORATIO_ROUTING_PROFILE": RoutingProfile.from_tenant(tenant).to_env(),
            },
        )
        tid = tenant.tenant_id
        # Item access is limited to keys that start with this tenant's id (isolation in IAM too).
        tables.grant_items(router.function, AGENTS, ["GetItem"], [tid])
        # UpdateItem and Query: when the tenant looks full, close sessions whose lease ran out (summing their
        # turns' costs) before turning the caller away.
        tables.grant_items(router.function, CONVERSATIONS, ["GetItem", "PutItem", "UpdateItem", "Query"], [f"{tid}#*"])
        tables.grant_items(router.function, CONVERSATIONS, ["Query"], [tid], index=LEASE_INDEX)
        tables.grant_items(router.function, TENANT_STATE, ["GetItem", "UpdateItem"], [tid])
        # The budget check: the tenant's month (GetItem), then the agent's own share -- its month row and its
        # live definition's budget -- in one BatchGetItem.
        tables.grant_items(router.function, USAGE, ["GetItem", "BatchGetItem"], [tid])
        tables.grant_items(router.function, AGENT_DEFINITIONS, ["BatchGetItem"], [f"{tid}#*"])
        # Whether this tenant owns the dialed number: only the tenant's own items of the number registry.
        tables.grant_items(router.function, NUMBERS, ["GetItem"], [tid])
        CfnOutput(self, Outputs.CALL_ROUTER_ARN, value=router.function.function_arn)
        return router
