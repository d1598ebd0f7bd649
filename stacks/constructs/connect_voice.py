"""The Connect voice path of a tenant: the `voice_turn` Lambda (Lex code hook and the flow's voice actions),
the `voice_agent_turn` worker that runs agent turns to completion, and the Lex bots (speech-to-speech and
cascaded) the inbound flow converses through.

`flow_values()` gives the contact flow templates their placeholders; `integrate_with(connect)` lets the
tenant's Connect instance invoke the code hook and talk to the bots (and only that instance).
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from oratio.config import TenantConfig
from oratio.connect_voice.profile import (
    AGENT_BREAKER_ENV_VAR,
    AGENT_QUALIFIER_ENV_VAR,
    AGENT_RUNTIME_ARN_ENV_VAR,
    TENANT_ID_ENV_VAR,
    VOICE_PROFILE_ENV_VAR,
    WORKER_FUNCTION_ENV_VAR,
    VoiceProfile,
)
from oratio.tables import CONVERSATIONS, TENANT_STATE, USAGE
from stacks.constructs.agent_runtime import ENDPOINT_NAME, TenantAgentRuntime
from stacks.constructs.connect import ConnectCenter
from stacks.constructs.data_tables import PlatformTableRefs, grant_definition_reads
from stacks.constructs.lambda_function import OratioFunction
from stacks.constructs.voice_bot import VoiceBots

# The code hook answers within the caller's silence budget (a few seconds); Lex allows a code hook 30 s and
# Connect's Invoke Lambda block 8 s, so 10 s leaves room for a slow cold start without ever being the limit
# the caller feels.
CODE_HOOK_TIMEOUT_SECONDS = 10
# Latency matters on every turn: Lambda gives CPU in proportion to memory.
CODE_HOOK_MEMORY_MB = 1024
# The worker outlives the agent's own turn deadline, plus time to store the outcome.
WORKER_EXTRA_SECONDS = 20
# The tenant agent's typed client, which the worker bundles beside the core package.
AGENT_CLIENT_SOURCES = (
    "agentcore/__init__.py",
    "agentcore/tenant_agent/__init__.py",
    "agentcore/tenant_agent/client.py",
)


class ConnectVoice(Construct):
    """Public attributes: `code_hook` and `worker` (OratioFunction), `bots` (VoiceBots), `profile`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        tables: PlatformTableRefs,
        agent: TenantAgentRuntime,
    ) -> None:
        super().__init__(scope, construct_id)
        tid = tenant.tenant_id
        self.profile = VoiceProfile.from_tenant(tenant)

        self.worker = OratioFunction(
            self,
            "AgentTurn",
            handler_folder="voice_agent_turn",
            service_name="voice_agent_turn",
            description=f"Runs {tid}'s agent turns for Connect calls to completion",
            timeout_seconds=int(tenant.agent.turn_deadline_seconds) + WORKER_EXTRA_SECONDS,
            extra_sources=AGENT_CLIENT_SOURCES,
            environment={
                **tables.environment(CONVERSATIONS, TENANT_STATE),
                TENANT_ID_ENV_VAR: tid,
                AGENT_RUNTIME_ARN_ENV_VAR: agent.runtime_arn,
                AGENT_QUALIFIER_ENV_VAR: ENDPOINT_NAME,
                AGENT_BREAKER_ENV_VAR: tenant.voice.connect.breaker.model_dump_json(),
            },
        )
        self.worker.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeTheTenantAgent",
                actions=["bedrock-agentcore:InvokeAgentRuntime"],
                resources=[agent.runtime_arn, agent.endpoint_arn],
            )
        )
        # Item access limited to this tenant's keys: the call's partition, and its breaker records.
        tables.grant_items(self.worker.function, CONVERSATIONS, ["PutItem", "UpdateItem"], [f"{tid}#*"])
        tables.grant_items(self.worker.function, TENANT_STATE, ["GetItem", "PutItem", "Query"], [tid])

        self.code_hook = OratioFunction(
            self,
            "Turn",
            handler_folder="voice_turn",
            service_name="voice_turn",
            description=f"Lex code hook and contact flow voice actions of {tid}'s Connect calls",
            timeout_seconds=CODE_HOOK_TIMEOUT_SECONDS,
            memory_size=CODE_HOOK_MEMORY_MB,
            environment={
                **tables.environment(CONVERSATIONS, TENANT_STATE, USAGE),
                VOICE_PROFILE_ENV_VAR: self.profile.to_env(),
                WORKER_FUNCTION_ENV_VAR: self.worker.function.function_name,
            },
        )
        # Each turn reads the routed agent's status and definition (its lines, its voice).
        for name, value in grant_definition_reads(tables, self.code_hook.function, tid).items():
            self.code_hook.function.add_environment(name, value)
        self.code_hook.role.add_to_policy(
            iam.PolicyStatement(
                sid="RunAgentTurns",
                actions=["lambda:InvokeFunction"],
                resources=[self.worker.function.function_arn],
            )
        )
        tables.grant_items(
            self.code_hook.function, CONVERSATIONS, ["GetItem", "PutItem", "UpdateItem", "Query"], [f"{tid}#*"]
        )
        tables.grant_items(self.code_hook.function, TENANT_STATE, ["GetItem", "PutItem", "Query"], [tid])
        # The budget check reads the month; the Lex, Polly and Sonic-estimate charges are marker put + ADDs.
        tables.grant_items(self.code_hook.function, USAGE, ["GetItem", "PutItem", "UpdateItem"], [tid])

        self.bots = VoiceBots(self, "Bots", tenant=tenant, code_hook=self.code_hook.function)

    def flow_values(self) -> dict[str, str]:
        """Placeholders of `contact_flows/*.json` this construct supplies."""
        return {
            "VoiceTurnFunctionArn": self.code_hook.function.function_arn,
            "SonicBotAliasArn": self.bots.sonic,
            "CascadedBotAliasArn": self.bots.cascaded,
        }

    def integrate_with(self, connect: ConnectCenter) -> None:
        """Let the tenant's instance invoke the code hook from its flows and converse with the bots."""
        connect.integrate_lambda(self.code_hook.function, "VoiceTurn")
        for association in self.bots.integrate_with(connect.instance.attr_arn):
            for flow in connect.flows.values():
                flow.node.add_dependency(association)
