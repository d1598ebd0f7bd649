"""PlatformStack: once per account and region. Shared tables, artifact store, platform parameters."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack, Tags
from constructs import Construct

from stacks.constructs.agent_creator_runtime import AgentCreatorRuntime
from stacks.constructs.artifacts import ArtifactStore
from stacks.constructs.console_hosting import ConsoleHosting
from stacks.constructs.data_tables import PlatformTables
from stacks.constructs.elizaos_webhook import ElizaWebhook
from stacks.constructs.observability import PlatformObservability
from stacks.constructs.vendor_api import VendorApi
from stacks.names import PROJECT

# CDK context (cdk.json or -c) with the e-mail addresses the platform's alarms go to.
ALARM_EMAILS_CONTEXT_KEY = "oratio:platformAlarmEmails"


class PlatformStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Oratio platform: shared data and artifacts", **kwargs)
        Tags.of(self).add("project", PROJECT)
        self.data = PlatformTables(self, "Data")
        self.artifacts = ArtifactStore(self, "Artifacts")
        self.vendor_api = VendorApi(self, "VendorApi", tables=self.data)
        self.agent_creator = AgentCreatorRuntime(
            self, "AgentCreator", tables=self.data.tables, artifact_bucket=self.artifacts.bucket
        )
        self.agent_creator.allow_launch(self.vendor_api.handler)
        self.observability = PlatformObservability(
            self,
            "Observability",
            api_name=self.vendor_api.api.rest_api_name,
            stage_name=self.vendor_api.api.deployment_stage.stage_name,
            emails=tuple(self.node.try_get_context(ALARM_EMAILS_CONTEXT_KEY) or ()),
        )
        self.elizaos = ElizaWebhook(self, "ElizaWebhook", tables=self.data, api=self.vendor_api)
        self.console = ConsoleHosting(self, "Console", vendor_api=self.vendor_api)
