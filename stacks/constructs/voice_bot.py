"""The tenant's conversational bots for Amazon Connect: Lex V2, one bot per speech rung, from one definition.

- speech-to-speech: the locale's `UnifiedSpeechSettings.SpeechFoundationModel` is Nova Sonic (model ARN and
  the tenant's Nova Sonic voice), with Lex's audio filler playing while the code hook works;
- cascaded: the same intents on a standard locale, Lex's neural speech recognition and a Polly voice (the
  tenant's default tier) — the rung the flow steps down to when speech-to-speech fails.

A Lex locale id exists once per bot and its speech model is part of the locale, so the two rungs are two
bots; everything else (intents, code hook, alias, permissions) is built by the same code. Each bot has a
numbered version (re-created whenever the definition changes, so the alias never serves a stale build)
and a `live` alias whose code hook is the `voice_turn` Lambda; the test alias gets the same hook.

Intents: `SpeakToPerson` (sample utterances: a caller asking for a human is transferred even when the
agent is down) and `FallbackIntent` (everything else: the agent answers). Both are fulfilled by the code hook.

`integrate_with(connect)` makes the aliases usable by the tenant's Connect instance: an integration
association per alias (IntegrationType LEX_BOT) and a Lex resource policy that lets only that instance,
in this account, start conversations with the alias.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lex as lex
from constructs import Construct

from oratio.config import TenantConfig
from oratio.connect_voice.service import CONVERSE_INTENT, SPEAK_TO_PERSON_INTENT
from stacks.nag import acknowledge

ALIAS_NAME = "live"
TEST_ALIAS_ID = "TSTALIASID"  # the alias Lex creates with every bot, for the console's test window
CODE_HOOK_INTERFACE_VERSION = "1.0"
NLU_CONFIDENCE_THRESHOLD = 0.4  # below this Lex picks FallbackIntent: the agent answers
IDLE_SESSION_TTL_SECONDS = 600
SPEECH_MODEL_PREFERENCE = "Neural"  # Lex's newer speech recognition model for the cascaded rung
# What a caller says to ask for a person, by language (Lex needs at least one intent with utterances).
PERSON_UTTERANCES: dict[str, tuple[str, ...]] = {
    "en": (
        "I want to talk to a person",
        "Can I speak to a human",
        "Let me talk to someone",
        "Representative",
        "Agent please",
        "Operator",
        "I need a real person",
        "Connect me to customer service",
        "Transfer me to a live agent",
        "Talk to a human",
    ),
    "es": (
        "Quiero hablar con una persona",
        "Puedo hablar con un humano",
        "Comuníqueme con un agente",
        "Representante",
        "Operador",
        "Necesito hablar con alguien",
        "Páseme con servicio al cliente",
        "Quiero un agente en vivo",
    ),
}
LEX_ACTIONS_FOR_CONNECT = ["lex:RecognizeText", "lex:StartConversation"]


class VoiceBotError(ValueError):
    """The tenant's voice settings cannot make a bot; the message names the setting and the fix."""


@dataclass(frozen=True)
class BotDeployment:
    """One rung's bot, its version and its live alias."""

    mode: str
    bot: lex.CfnBot
    version: lex.CfnBotVersion
    alias: lex.CfnBotAlias

    @property
    def alias_arn(self) -> str:
        return self.alias.attr_arn


def bot_name(tenant_id: str, mode: str) -> str:
    return f"oratio-{tenant_id}-{'s2s' if mode == 'speech_to_speech' else 'cascaded'}"


def sonic_model_arn(stack: Stack, model_id: str) -> str:
    return f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{model_id}"


class VoiceBots(Construct):
    """The Lex V2 bots of a tenant's Connect number, with the code hook wired and invocable only by Lex.

    Public attributes: `role`, `deployments` (by speech mode), `sonic` and `cascaded` (the alias ARNs the
    contact flow enters; `sonic` is the cascaded one when the tenant runs cascaded only).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, tenant: TenantConfig, code_hook: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        self._tenant = tenant
        self._code_hook = code_hook
        language = tenant.voice.language.split("-")[0]
        if language not in PERSON_UTTERANCES:
            raise VoiceBotError(
                f"tenant {tenant.tenant_id}: voice.language {tenant.voice.language!r} has no 'speak to a person' "
                f"utterances; add them to PERSON_UTTERANCES in stacks/constructs/voice_bot.py"
            )
        self._utterances = PERSON_UTTERANCES[language]
        stack = Stack.of(self)
        self.role = self._bot_role(stack)
        modes = ["cascaded"]
        if tenant.voice.connect.speech_mode == "speech_to_speech":
            modes.insert(0, "speech_to_speech")
            # InvokeModelWithBidirectionalStream (Nova Sonic) is authorized by the bedrock:InvokeModel action.
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="NovaSonicSpeechToSpeech",
                    actions=["bedrock:InvokeModel"],
                    resources=[sonic_model_arn(stack, tenant.voice.connect.sonic_model_id)],
                )
            )
        self.deployments = {mode: self._deploy(stack, mode) for mode in modes}
        self.cascaded = self.deployments["cascaded"].alias_arn
        self.sonic = self.deployments.get("speech_to_speech", self.deployments["cascaded"]).alias_arn

    # ------------------------------------------------------------------------------------ the bot
    def _bot_role(self, stack: Stack) -> iam.Role:
        role = iam.Role(
            self,
            "BotRole",
            description=f"Role of {self._tenant.tenant_id}'s Lex bots (speech synthesis, Nova Sonic)",
            assumed_by=iam.ServicePrincipal(
                "lexv2.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
        )
        role.add_to_policy(iam.PolicyStatement(sid="PollyVoices", actions=["polly:SynthesizeSpeech"], resources=["*"]))
        acknowledge(
            role,
            "IAM5",
            "polly:SynthesizeSpeech has no resource-level permissions (Polly voices are not resources), so the "
            "bot's speech synthesis needs Resource '*'; its Bedrock access is scoped to the Nova Sonic model.",
            applies_to="Resource::*",
        )
        return role

    def _locale(self, mode: str) -> tuple[lex.CfnBot.BotLocaleProperty, dict[str, Any]]:
        """The locale of one rung, and a plain description of it (its hash names the bot version)."""
        voice, connect = self._tenant.voice, self._tenant.voice.connect
        tier = voice.tiers[voice.default_tier]
        fulfilled_by_code_hook = lex.CfnBot.FulfillmentCodeHookSettingProperty(enabled=True)
        intents = [
            lex.CfnBot.IntentProperty(
                name=SPEAK_TO_PERSON_INTENT,
                description="The caller asks for a human: transferred even when the agent is unavailable",
                sample_utterances=[lex.CfnBot.SampleUtteranceProperty(utterance=u) for u in self._utterances],
                fulfillment_code_hook=fulfilled_by_code_hook,
            ),
            lex.CfnBot.IntentProperty(
                name=CONVERSE_INTENT,
                description="Everything else the caller says: answered by the tenant agent through the code hook",
                parent_intent_signature="AMAZON.FallbackIntent",
                fulfillment_code_hook=fulfilled_by_code_hook,
            ),
        ]
        described: dict[str, Any] = {
            "locale": voice.lex_locale_id,
            "intents": [SPEAK_TO_PERSON_INTENT, CONVERSE_INTENT, list(self._utterances)],
            "threshold": NLU_CONFIDENCE_THRESHOLD,
        }
        speech: dict[str, Any] = {}
        if mode == "speech_to_speech":
            speech["unified_speech_settings"] = lex.CfnBot.UnifiedSpeechSettingsProperty(
                speech_foundation_model=lex.CfnBot.SpeechFoundationModelProperty(
                    model_arn=sonic_model_arn(Stack.of(self), connect.sonic_model_id), voice_id=voice.voice_id
                )
            )
            described["sonic"] = [connect.sonic_model_id, voice.voice_id]
            if connect.audio_filler != "none":
                speech["audio_filler_settings"] = lex.CfnBot.AudioFillerSettingsProperty(
                    enabled=True,
                    audio_type=connect.audio_filler,
                    start_delay_in_milliseconds=connect.audio_filler_delay_ms,
                )
                described["filler"] = [connect.audio_filler, connect.audio_filler_delay_ms]
        else:
            speech["voice_settings"] = lex.CfnBot.VoiceSettingsProperty(voice_id=tier.voice_id, engine=tier.engine)
            speech["speech_recognition_settings"] = lex.CfnBot.SpeechRecognitionSettingsProperty(
                speech_model_preference=SPEECH_MODEL_PREFERENCE
            )
            described["polly"] = [tier.voice_id, tier.engine, SPEECH_MODEL_PREFERENCE]
        locale = lex.CfnBot.BotLocaleProperty(
            locale_id=voice.lex_locale_id,
            description=f"{self._tenant.business.name} callers ({mode.replace('_', ' ')})",
            nlu_confidence_threshold=NLU_CONFIDENCE_THRESHOLD,
            intents=intents,
            **speech,
        )
        return locale, described

    def _alias_locale_settings(self) -> list[lex.CfnBot.BotAliasLocaleSettingsItemProperty]:
        return [
            lex.CfnBot.BotAliasLocaleSettingsItemProperty(
                locale_id=self._tenant.voice.lex_locale_id,
                bot_alias_locale_setting=lex.CfnBot.BotAliasLocaleSettingsProperty(
                    enabled=True,
                    code_hook_specification=lex.CfnBot.CodeHookSpecificationProperty(
                        lambda_code_hook=lex.CfnBot.LambdaCodeHookProperty(
                            code_hook_interface_version=CODE_HOOK_INTERFACE_VERSION,
                            lambda_arn=self._code_hook.function_arn,
                        )
                    ),
                ),
            )
        ]

    def _deploy(self, stack: Stack, mode: str) -> BotDeployment:
        prefix = "Sonic" if mode == "speech_to_speech" else "Cascaded"
        tid = self._tenant.tenant_id
        locale, described = self._locale(mode)
        bot = lex.CfnBot(
            self,
            f"{prefix}Bot",
            name=bot_name(tid, mode),
            description=f"{self._tenant.business.name} voice agent on Amazon Connect ({mode.replace('_', ' ')})",
            role_arn=self.role.role_arn,
            data_privacy={"ChildDirected": False},
            idle_session_ttl_in_seconds=IDLE_SESSION_TTL_SECONDS,
            auto_build_bot_locales=True,
            bot_locales=[locale],
            test_bot_alias_settings=lex.CfnBot.TestBotAliasSettingsProperty(
                bot_alias_locale_settings=self._alias_locale_settings(),
                sentiment_analysis_settings={"DetectSentiment": False},
            ),
        )
        # The role's policy must exist before Lex builds a locale that synthesizes speech or calls Bedrock.
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            bot.node.add_dependency(policy)
        digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:8]
        version = lex.CfnBotVersion(
            self,
            f"{prefix}Version{digest}",
            bot_id=bot.attr_id,
            description=f"{mode} definition {digest}",
            bot_version_locale_specification=[
                lex.CfnBotVersion.BotVersionLocaleSpecificationProperty(
                    locale_id=self._tenant.voice.lex_locale_id,
                    bot_version_locale_details=lex.CfnBotVersion.BotVersionLocaleDetailsProperty(
                        source_bot_version="DRAFT"
                    ),
                )
            ],
        )
        alias = lex.CfnBotAlias(
            self,
            f"{prefix}Alias",
            bot_id=bot.attr_id,
            bot_alias_name=ALIAS_NAME,
            bot_version=version.attr_bot_version,
            description=f"What {tid}'s Connect flow talks to ({mode.replace('_', ' ')})",
            bot_alias_locale_settings=[
                lex.CfnBotAlias.BotAliasLocaleSettingsItemProperty(
                    locale_id=self._tenant.voice.lex_locale_id,
                    bot_alias_locale_setting=lex.CfnBotAlias.BotAliasLocaleSettingsProperty(
                        enabled=True,
                        code_hook_specification=lex.CfnBotAlias.CodeHookSpecificationProperty(
                            lambda_code_hook=lex.CfnBotAlias.LambdaCodeHookProperty(
                                code_hook_interface_version=CODE_HOOK_INTERFACE_VERSION,
                                lambda_arn=self._code_hook.function_arn,
                            )
                        ),
                    ),
                )
            ],
            sentiment_analysis_settings={"DetectSentiment": False},
        )
        # Only this bot's aliases may invoke the code hook (confused-deputy guard on the source ARN).
        test_alias_arn = stack.format_arn(
            service="lex", resource="bot-alias", resource_name=f"{bot.attr_id}/{TEST_ALIAS_ID}"
        )
        for suffix, source in (("Live", alias.attr_arn), ("Test", test_alias_arn)):
            lambda_.CfnPermission(
                self,
                f"{prefix}{suffix}InvokesCodeHook",
                action="lambda:InvokeFunction",
                function_name=self._code_hook.function_arn,
                principal="lex.amazonaws.com",
                source_arn=source,
                source_account=stack.account,
            )
        return BotDeployment(mode, bot, version, alias)

    # ---------------------------------------------------------------------------------- Connect
    def integrate_with(self, instance_arn: str) -> list[Any]:
        """Associate every alias with the Connect instance and let only that instance talk to it.

        Returns the association resources (the contact flows that enter the bots depend on them).
        """
        from aws_cdk import aws_connect as connect

        stack = Stack.of(self)
        associations = []
        for mode, deployment in self.deployments.items():
            prefix = "Sonic" if mode == "speech_to_speech" else "Cascaded"
            lex.CfnResourcePolicy(
                self,
                f"{prefix}AliasPolicy",
                resource_arn=deployment.alias_arn,
                policy={
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ConnectInstanceOnly",
                            "Effect": "Allow",
                            "Principal": {"Service": "connect.amazonaws.com"},
                            "Action": LEX_ACTIONS_FOR_CONNECT,
                            "Resource": deployment.alias_arn,
                            "Condition": {
                                "StringEquals": {"AWS:SourceAccount": stack.account},
                                "ArnEquals": {"AWS:SourceArn": instance_arn},
                            },
                        }
                    ],
                },
            )
            associations.append(
                connect.CfnIntegrationAssociation(
                    self,
                    f"{prefix}Integration",
                    instance_id=instance_arn,
                    integration_type="LEX_BOT",
                    integration_arn=deployment.alias_arn,
                )
            )
        return associations
