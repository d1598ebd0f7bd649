"""Platform credentials of a tenant's channel, as Secrets Manager holds them: one secret per tenant and channel,
named `oratio/<tenant>/channels/<channel>`, never in the tenant file, never in a log line (`SecretStr` hides
the values in every repr).

A secret holds the app-level keys the webhook needs to check signatures (Meta: the app secret and the verify
token; X: the consumer key and secret) and, per linked account, what the worker needs to reply from it (Meta:
the access token, and for Instagram the Facebook Page that sends; X: the OAuth 1.0a access token and secret).
One Meta app (or X app) per tenant and channel: each linked account of that channel must belong to it.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from oratio.config.tenant import Channel

SECRET_PREFIX = "oratio"  # noqa: S105 - a name prefix (stacks.names.PROJECT), the stacks grant access on it


def secret_name(tenant_id: str, channel: Channel) -> str:
    """The Secrets Manager name of a tenant's channel credentials (IAM scopes on `oratio/<tenant>/channels/*`)."""
    return f"{SECRET_PREFIX}/{tenant_id}/channels/{channel.value}"


class _Secret(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AccountCredentials(_Secret):
    """What replying from one linked account takes."""

    agent_id: str = Field(description="the agent the account answers for")
    access_token: SecretStr = Field(description="Meta: system user or Page access token; X: OAuth 1.0a access token")
    access_token_secret: SecretStr | None = Field(default=None, description="X only")
    page_id: str | None = Field(default=None, description="Instagram: the Facebook Page the messages are sent as")


class ChannelSecret(_Secret):
    """The whole secret of one tenant and channel."""

    channel: Channel
    app_secret: SecretStr | None = Field(default=None, description="Meta: signs webhooks and appsecret_proof")
    verify_token: SecretStr | None = Field(default=None, description="Meta: the subscription verify token")
    consumer_key: str | None = Field(default=None, description="X: the app's API key")
    consumer_secret: SecretStr | None = Field(default=None, description="X: signs webhooks, CRC and OAuth 1.0a")
    accounts: dict[str, AccountCredentials] = Field(default_factory=dict)

    def to_json(self) -> str:
        """The secret string to store (values in clear: this goes only to Secrets Manager)."""

        def clear(value: object) -> object:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, dict):
                return {k: clear(v) for k, v in value.items()}
            return value

        return json.dumps(clear(self.model_dump(mode="python", exclude_none=True)), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ChannelSecret:
        return cls.model_validate_json(text)

    def signing_key(self) -> str | None:
        """The key webhook signatures are checked with: the Meta app secret or the X consumer secret."""
        key = self.consumer_secret if self.channel is Channel.X else self.app_secret
        return key.get_secret_value() if key is not None else None
