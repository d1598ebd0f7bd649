"""The environment of the two channel Lambdas (the webhook and the worker): the variable names the CDK construct
sets and the handlers read (one definition for both), validated on first invocation, not at import."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, Json

from oratio.channels.turns import ChannelProfile
from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.tables import AGENTS, CONVERSATIONS, CUSTOMER_CONTEXT, TENANT_STATE, table_settings

TENANT_ID_ENV_VAR = "ORATIO_TENANT_ID"
QUEUE_URL_ENV_VAR = "ORATIO_CHANNEL_QUEUE_URL"
PROFILE_ENV_VAR = "ORATIO_CHANNEL_PROFILE"
AGENT_RUNTIME_ARN_ENV_VAR = "ORATIO_AGENT_RUNTIME_ARN"
AGENT_QUALIFIER_ENV_VAR = "ORATIO_AGENT_QUALIFIER"
SMS_ORIGINATION_ENV_VAR = "ORATIO_SMS_ORIGINATION_IDENTITY"
EMAIL_FROM_ENV_VAR = "ORATIO_VERIFICATION_EMAIL_FROM"
WORKER_TABLES = (AGENTS, CONVERSATIONS, TENANT_STATE, CUSTOMER_CONTEXT)

# The webhook's refusals metric and its `path` dimension's values (bounded: any other path counts as "other"),
# shared by the handler that counts them and the alarm that sums them.
WEBHOOK_REJECTED_METRIC = "ChannelWebhookRejected"
WEBHOOK_PATHS = ("/whatsapp", "/facebook", "/instagram", "/x")
OTHER_WEBHOOK_PATH = "other"


def rejected_path_label(path: str) -> str:
    """The `path` dimension of a refused delivery."""
    return path if path in WEBHOOK_PATHS else OTHER_WEBHOOK_PATH


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    queue_url: str = Field(min_length=1)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings:
        env = os.environ if environ is None else environ
        return cls.model_validate({"tenant_id": env.get(TENANT_ID_ENV_VAR), "queue_url": env.get(QUEUE_URL_ENV_VAR)})


class WorkerEnvironment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    profile: Json[ChannelProfile]
    queue_url: str = Field(min_length=1)
    agents_table: str = Field(min_length=1)
    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    customer_context_table: str = Field(min_length=1)
    agent_runtime_arn: str = Field(min_length=1)
    agent_qualifier: str = Field(min_length=1)
    sms_origination_identity: str | None = None
    verification_email_from: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WorkerEnvironment:
        env = os.environ if environ is None else environ
        values = {
            "profile": env.get(PROFILE_ENV_VAR),
            "queue_url": env.get(QUEUE_URL_ENV_VAR),
            **table_settings(env, AGENTS, CONVERSATIONS, TENANT_STATE, CUSTOMER_CONTEXT),
            "agent_runtime_arn": env.get(AGENT_RUNTIME_ARN_ENV_VAR),
            "agent_qualifier": env.get(AGENT_QUALIFIER_ENV_VAR),
            "sms_origination_identity": env.get(SMS_ORIGINATION_ENV_VAR) or None,
            "verification_email_from": env.get(EMAIL_FROM_ENV_VAR) or None,
        }
        return cls.model_validate(values)
