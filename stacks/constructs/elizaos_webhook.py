"""The platform's ElizaOS webhook: one function behind `POST /api/v1/webhooks/elizaos` on the vendor API's REST API.

A vendor's ElizaOS agent signs each request with the vendor's own webhook secret (set through
`PUT /api/v1/webhooks/elizaos/secret`); the function checks that signature before it reads the message, then runs
the same messaging turn as the tenant's social channels against the vendor's agent runtime. It is platform-wide
(one route for every vendor), so its grants are on the platform tables and on every tenant's published parameters,
agent runtimes and ElizaOS secrets; the vendor id in the signed headers picks which.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from oratio.tables import AGENTS, CONVERSATIONS, TENANT_STATE, TableSpec
from oratio.vendors.settings import TENANT_PARAMETER_PREFIX_ENV_VAR
from stacks.constructs.agent_runtime import runtime_name
from stacks.constructs.connect_voice import AGENT_CLIENT_SOURCES
from stacks.constructs.data_tables import PlatformTables
from stacks.constructs.lambda_function import OratioFunction
from stacks.constructs.storage import runtime_secrets_arn
from stacks.constructs.vendor_api import TENANT_PARAMETER_PREFIX, VendorApi
from stacks.nag import acknowledge, nag_arn

ROUTE = ("webhooks", "elizaos")
TIMEOUT_SECONDS = 28  # API Gateway's integration limit is 29 s; an agent turn fits well inside it
# agents: the agent's lifecycle status; conversations: the session and the transcript; tenant state: the
# inbound ledger (replays of a signed request are answered once) and the session's live-call slot.
TABLE_ACTIONS: dict[TableSpec, tuple[str, ...]] = {
    AGENTS: ("GetItem",),
    CONVERSATIONS: ("GetItem", "PutItem", "UpdateItem"),
    TENANT_STATE: ("GetItem", "PutItem", "UpdateItem", "DeleteItem"),
}


class ElizaWebhook(Construct):
    """Public attributes: `function` (the OratioFunction)."""

    def __init__(self, scope: Construct, construct_id: str, *, tables: PlatformTables, api: VendorApi) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function = OratioFunction(
            self,
            "Handler",
            handler_folder="elizaos_webhook",
            service_name="elizaos_webhook",
            description="Signed ElizaOS webhook: a vendor's ElizaOS agent talks to the vendor's Oratio agent",
            timeout_seconds=TIMEOUT_SECONDS,
            extra_sources=AGENT_CLIENT_SOURCES,
            environment={
                **{spec.env_var: tables.tables[spec.key].table_name for spec in TABLE_ACTIONS},
                TENANT_PARAMETER_PREFIX_ENV_VAR: TENANT_PARAMETER_PREFIX,
            },
        )
        role = self.function.role
        for spec, actions in TABLE_ACTIONS.items():
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[f"dynamodb:{a}" for a in actions], resources=[tables.tables[spec.key].table_arn]
                )
            )
        parameters = stack.format_arn(
            service="ssm", resource="parameter", resource_name=TENANT_PARAMETER_PREFIX.lstrip("/") + "/*"
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadTenantsPublishedAgents", actions=["ssm:GetParameters"], resources=[parameters])
        )
        secrets = runtime_secrets_arn(self, "*", "elizaos")
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadVendorsWebhookSecrets", actions=["secretsmanager:GetSecretValue"], resources=[secrets]
            )
        )
        runtimes = [
            stack.format_arn(service="bedrock-agentcore", resource="runtime", resource_name=name)
            for name in (runtime_name("*"), runtime_name("*") + "/runtime-endpoint/*")
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeTenantAgents", actions=["bedrock-agentcore:InvokeAgentRuntime"], resources=runtimes
            )
        )
        for arn, why in (
            (parameters, "Each vendor's tenant stack publishes its agent runtime and channel profile under "
             "/oratio/tenants/<vendor>/; the webhook serves every vendor and reads the signed caller's."),
            (secrets, "One webhook secret per vendor, created at run time under oratio/<vendor>/elizaos/ by the vendor "
             "API; read only after the signed vendor id names it (and Secrets Manager appends a suffix)."),
            *((a, "Agent runtimes are per tenant and named oratio_<tenant>; the webhook invokes the signed caller's "
               "own runtime, known from its published parameters at run time.") for a in runtimes),
        ):  # fmt: skip
            acknowledge(role, "IAM5", why, applies_to="Resource::" + nag_arn(self, arn))
        api.add_signed_route(ROUTE, "POST", self.function.function)
