"""The tenant's voice bridge for media-stream telephony: a second AgentCore runtime (the WebSocket session
service of `agentcore/voice_bridge`, one call per session on `/ws`) with its endpoint, and the telephony
webhook Lambda behind a function URL that tells Twilio and Vonage what to do with a call.

The runtime is deployed like the tenant agent's (`agent_runtime.py`: zip code asset, no Docker, the
`CfnRuntime` resource rather than the L2), from its own dependency folder that `scripts/bootstrap.sh`
vendors into `build/agentcore/voice_bridge_deps` (the Nova Sonic and Transcribe streaming SDKs on top of the
agent's). Its role may do exactly what a call needs: the bidirectional stream of the one Nova Sonic model
(authorized as `bedrock:InvokeModel` on that model only), InvokeAgentRuntime on this tenant's agent
endpoint, Transcribe streaming and Polly for the cascaded fallback, and DynamoDB writes under this tenant's
keys.

The webhook is exposed with a Lambda function URL (auth NONE): Twilio and Vonage cannot sign with SigV4,
and the function verifies each request's provider signature itself before anything else (a function URL
needs no API Gateway stage, authorizer or extra hop for two routes). The provider secrets live in Secrets
Manager, created here with a generated placeholder that the engineer replaces after deploy (README).
"""

from __future__ import annotations

import hashlib

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from agentcore.tenant_agent import wiring as agent_wiring
from agentcore.voice_bridge import wiring
from oratio.config import TenantConfig
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR, RoutingProfile
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, LEASE_INDEX, NUMBERS, TENANT_STATE, USAGE
from oratio.voice_bridge.config import SonicSettings
from oratio.voice_bridge.webhooks import (
    ENV_BRIDGE_QUALIFIER,
    ENV_BRIDGE_RUNTIME_ARN,
    ENV_CONNECT_NUMBER,
    ENV_LANGUAGE,
    ENV_SAY_VOICE,
    ENV_TWILIO_SECRET,
    ENV_VONAGE_SECRET,
)
from stacks.constructs.agent_runtime import (
    ENDPOINT_NAME,
    ROOT,
    TenantAgentRuntime,
    foundation_model_arn,
    runtime_execution_role,
    stage_runtime_code,
    zip_code_runtime,
)
from stacks.constructs.data_tables import PlatformTableRefs, grant_definition_reads
from stacks.constructs.lambda_function import OratioFunction
from stacks.constructs.storage import publish_tenant_parameters
from stacks.nag import acknowledge
from stacks.names import PROJECT, Outputs
from stacks.staging import StagedAsset

DEPS_DIR = ROOT / "build" / "agentcore" / "voice_bridge_deps"
ASSET_DIR = ROOT / "build" / "agentcore" / "voice_bridge"
MAX_RUNTIME_NAME = 48  # AgentCore runtime names: letters, digits, underscores, 48 at most
SONIC_MODEL_ID = SonicSettings().model_id
# Twilio speaks Amazon Polly voices as "Polly.<Voice>[-Neural|-Generative]".
_TWILIO_ENGINE_SUFFIX = {"standard": "", "neural": "-Neural", "long-form": "-Neural", "generative": "-Generative"}


def bridge_runtime_name(tenant_id: str) -> str:
    """`oratio_voice_<tenant>`; a long tenant id keeps a hash of itself so names stay unique and ≤ 48."""
    name = f"{PROJECT}_voice_{tenant_id.replace('-', '_')}"
    if len(name) <= MAX_RUNTIME_NAME:
        return name
    digest = hashlib.sha256(tenant_id.encode()).hexdigest()[:8]
    return f"{name[: MAX_RUNTIME_NAME - 9]}_{digest}"


def stage_bridge_code() -> StagedAsset:
    """The bridge's code asset: its vendored deps, `agentcore.voice_bridge` with the agent client it uses
    (`agentcore.tenant_agent`), the `oratio` core, and `main.py`."""
    return stage_runtime_code(
        packages=("tenant_agent", "voice_bridge"), entry_package="voice_bridge", deps_dir=DEPS_DIR, asset_dir=ASSET_DIR
    )


def twilio_say_voice(tenant: TenantConfig) -> str:
    tier = tenant.voice.tiers[tenant.voice.default_tier]
    return f"Polly.{tier.voice_id}{_TWILIO_ENGINE_SUFFIX[tier.engine]}"


class VoiceBridge(Construct):
    """The bridge runtime, its endpoint, and the telephony webhook.

    Public attributes: `role`, `runtime`, `endpoint`, `runtime_arn`, `endpoint_arn`, `webhook`,
    `webhook_url`, `twilio_secret`, `vonage_secret`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        tables: PlatformTableRefs,
        agent: TenantAgentRuntime,
        connect_phone_number: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        tid = tenant.tenant_id
        name = bridge_runtime_name(tid)

        self.role = runtime_execution_role(self, name)
        self._allow_call(stack, tid, tables, agent)
        self.runtime = zip_code_runtime(
            self,
            name=name,
            description=f"{tenant.business.name}'s voice bridge: Nova Sonic for media-stream calls (tenant {tid})",
            role=self.role,
            asset=stage_bridge_code(),
            environment=self._environment(tenant, tables, agent),
        )
        self.endpoint = agentcore.RuntimeEndpoint(
            self,
            "Endpoint",
            endpoint_name=ENDPOINT_NAME,
            agent_runtime_id=self.runtime.attr_agent_runtime_id,
            agent_runtime_version=self.runtime.attr_agent_runtime_version,
            description=f"The version of {tid}'s voice bridge this stack deployed",
        )
        self.runtime_arn = self.runtime.attr_agent_runtime_arn
        self.endpoint_arn = self.endpoint.agent_runtime_endpoint_arn

        self.twilio_secret = self._provider_secret("TwilioAuthToken", tid, "twilio-auth-token", "Twilio auth token")
        self.vonage_secret = self._provider_secret(
            "VonageSignatureSecret", tid, "vonage-signature-secret", "Vonage signature secret"
        )
        self.webhook = self._webhook(tenant, tables, connect_phone_number)
        url = self.webhook.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        self.webhook_url = url.url

        publish_tenant_parameters(
            self,
            tid,
            {
                "voice-bridge/runtime-arn": self.runtime_arn,
                "voice-bridge/endpoint-arn": self.endpoint_arn,
                "voice-bridge/webhook-url": self.webhook_url,
            },
        )
        CfnOutput(stack, Outputs.VOICE_BRIDGE_RUNTIME_ARN, value=self.runtime_arn)
        CfnOutput(stack, Outputs.VOICE_WEBHOOK_URL, value=self.webhook_url)

    # ------------------------------------------------------------------------------------ runtime
    def _environment(
        self, tenant: TenantConfig, tables: PlatformTableRefs, agent: TenantAgentRuntime
    ) -> dict[str, str]:
        return {
            **agent_wiring.split_tenant_config(tenant),
            **tables.environment(AGENTS, AGENT_DEFINITIONS, CONVERSATIONS, USAGE, TENANT_STATE),
            wiring.ENV_AGENT_RUNTIME_ARN: agent.runtime_arn,
            wiring.ENV_AGENT_QUALIFIER: ENDPOINT_NAME,
            wiring.ENV_REGION: Stack.of(self).region,
            wiring.ENV_SONIC_MODEL_ID: SONIC_MODEL_ID,
            # AgentCore Runtime connects to the app on port 8080 of the microVM, not on loopback.
            agent_wiring.ENV_HOST: "0.0.0.0",  # noqa: S104 - the runtime's own network namespace
        }

    def _allow_call(self, stack: Stack, tid: str, tables: PlatformTableRefs, agent: TenantAgentRuntime) -> None:
        # InvokeModelWithBidirectionalStream is authorized as bedrock:InvokeModel (its API reference says so;
        # IAM has no action of its own for it, and cfn-lint rejects one), so "Sonic only" is the resource.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="NovaSonicBidirectionalStream",
                actions=["bedrock:InvokeModel"],
                resources=[foundation_model_arn(stack, SONIC_MODEL_ID, stack.region)],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeTheTenantAgent",
                actions=["bedrock-agentcore:InvokeAgentRuntime"],
                # The call names the runtime and its endpoint (qualifier); both are this tenant's.
                resources=[agent.runtime_arn, agent.endpoint_arn],
            )
        )
        # Transcribe streaming and Polly authorize on the account only (Polly on lexicons, which the bridge
        # does not use): a policy of their own, so its acknowledgement names exactly these two actions.
        speech = iam.Policy(
            self,
            "CascadedSpeech",
            statements=[
                iam.PolicyStatement(
                    sid="TranscribeStreaming", actions=["transcribe:StartStreamTranscription"], resources=["*"]
                ),
                iam.PolicyStatement(sid="PollySpeech", actions=["polly:SynthesizeSpeech"], resources=["*"]),
            ],
        )
        speech.attach_to_role(self.role)
        acknowledge(
            speech,
            "IAM5",
            "transcribe:StartStreamTranscription supports no resource-level permissions, and polly:SynthesizeSpeech "
            "is scoped only by lexicon ARNs (the bridge uses none); both are the cascaded fallback's speech calls.",
            applies_to="Resource::*",
        )
        # What the call recorder and usage ledger write, only under this tenant's keys; GetItem, Query and the
        # counter: the call's session lease is renewed while it streams and closed (with its cost) when it ends.
        tables.grant_items(self.role, CONVERSATIONS, ["GetItem", "PutItem", "UpdateItem", "Query"], [f"{tid}#*"])
        tables.grant_items(self.role, USAGE, ["PutItem", "UpdateItem"], [tid])  # a charge: marker put + ADDs
        tables.grant_items(self.role, TENANT_STATE, ["UpdateItem"], [tid])
        # The routed agent's definition (persona, tools, voice, lines) and its status after each caller turn.
        grant_definition_reads(tables, self.role, tid)

    # ------------------------------------------------------------------------------------ webhook
    def _provider_secret(self, construct_id: str, tid: str, name: str, what: str) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            construct_id,
            secret_name=f"{PROJECT}/{tid}/{name}",
            description=f"{what} for {tid}'s telephony webhook; replace the generated placeholder after deploy",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=40),
        )
        acknowledge(
            secret,
            "SMG4",
            f"The {what} is issued by the provider and rotated in the provider's console; a Lambda rotation "
            "cannot change it there, so the engineer puts each new value (README, voice bridge section).",
        )
        return secret

    def _webhook(self, tenant: TenantConfig, tables: PlatformTableRefs, connect_phone_number: str) -> OratioFunction:
        tid = tenant.tenant_id
        function = OratioFunction(
            self,
            "Webhook",
            handler_folder="voice_webhook",
            service_name="voice_webhook",
            description=f"Answers Twilio/Vonage call webhooks for {tid}: router checks, then TwiML/NCCO",
            # Providers wait about 15 s for an answer; route and sign well inside it.
            timeout_seconds=8,
            environment={
                **tables.environment(AGENTS, CONVERSATIONS, TENANT_STATE, USAGE, NUMBERS, AGENT_DEFINITIONS),
                ROUTING_PROFILE_ENV_VAR: RoutingProfile.from_tenant(tenant).to_env(),
                ENV_BRIDGE_RUNTIME_ARN: self.runtime_arn,
                ENV_BRIDGE_QUALIFIER: ENDPOINT_NAME,
                ENV_CONNECT_NUMBER: connect_phone_number,
                ENV_TWILIO_SECRET: self.twilio_secret.secret_arn,
                ENV_VONAGE_SECRET: self.vonage_secret.secret_arn,
                ENV_SAY_VOICE: twilio_say_voice(tenant),
                ENV_LANGUAGE: tenant.voice.language,
            },
        )
        self.twilio_secret.grant_read(function.function)
        self.vonage_secret.grant_read(function.function)
        # The presigned URL is signed with this role: it must be allowed to open bridge sessions, and only those.
        function.role.add_to_policy(
            iam.PolicyStatement(
                sid="OpenBridgeSessions",
                actions=["bedrock-agentcore:InvokeAgentRuntimeWithWebSocketStream"],
                resources=[self.runtime_arn, self.endpoint_arn],
            )
        )
        # The call router's checks: the agent and its number, the call session and the tenant's slot.
        tables.grant_items(function.function, AGENTS, ["GetItem"], [tid])
        tables.grant_items(
            function.function,
            AGENTS,
            ["Query"],
            # Numbers the operator registers for the tenant later are not in the tenant file, so any E.164 number
            # may be looked up; only index entries of this tenant are read further, and only numbers the registry
            # says this tenant owns are answered at all.
            ["+*"],
            index="by_phone_number",
        )
        # Query: when the tenant looks full, sessions whose slot lease ran out are closed first (with their cost).
        tables.grant_items(
            function.function, CONVERSATIONS, ["GetItem", "PutItem", "UpdateItem", "Query"], [f"{tid}#*"]
        )
        tables.grant_items(function.function, CONVERSATIONS, ["Query"], [tid], index=LEASE_INDEX)
        # The tenant's slot counter, the Vonage tokens already accepted ("webhook-token#<jti>", TTL expires_at) and
        # the hand-offs of Twilio calls dialled through to Connect ("dial-through#...", TTL expires_at): their
        # conditional UpdateItems create their items, so no PutItem is granted.
        tables.grant_items(function.function, TENANT_STATE, ["GetItem", "UpdateItem"], [tid])
        # The budget check: the month's total spend (GetItem), then the agent's own share -- its month row and its
        # live definition's budget -- in one BatchGetItem, as Connect's router checks it.
        tables.grant_items(function.function, USAGE, ["GetItem", "BatchGetItem"], [tid])
        tables.grant_items(function.function, AGENT_DEFINITIONS, ["BatchGetItem"], [f"{tid}#*"])
        tables.grant_items(function.function, NUMBERS, ["GetItem"], [tid])  # does this tenant own the number
        return function
