"""X API v2 for the X channel: sending a direct message and the one cheap call that verifies a linked account.

- Send: `POST https://api.x.com/2/dm_conversations/with/{participant_id}/messages` with `{"text": …}`, as the
  subscribed account (OAuth 1.0a user context: the app's consumer key and secret and the account's access token
  and secret, signed HMAC-SHA1 with `oauthlib`; a JSON body is not part of the signature).
- Verify: `GET https://api.x.com/2/users/me` with the same credentials; its `data.id` must be the account linked.

429 is retried after `x-rate-limit-reset` (epoch seconds), 5xx with backoff; other errors are refused for good.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from oauthlib.oauth1 import Client as OAuth1Client
from pydantic import BaseModel, ConfigDict, Field

from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.delivery import retry_after_seconds
from oratio.channels.ports import PlatformError, PlatformRefused, SentMessage, VerifiedAccount

MAX_ERROR_CHARS = 300


class XApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    base_url: str = "https://api.x.com"
    timeout_seconds: float = Field(default=10.0, gt=0)


class XApiClient:
    """`PlatformClient` for X direct messages over one shared `httpx.AsyncClient`."""

    def __init__(self, http: httpx.AsyncClient, settings: XApiSettings | None = None) -> None:
        self._http = http
        self.settings = settings or XApiSettings()

    async def send_text(
        self, secret: ChannelSecret, account_id: str, account: AccountCredentials, recipient_id: str, text: str
    ) -> SentMessage:
        data = await self._call(
            "POST", f"/2/dm_conversations/with/{recipient_id}/messages", secret, account, body={"text": text}
        )
        event = (data.get("data") or {}).get("dm_event_id")
        return SentMessage(str(event) if event else None)

    async def verify(self, secret: ChannelSecret, account_id: str, account: AccountCredentials) -> VerifiedAccount:
        data = await self._call("GET", "/2/users/me", secret, account, verifying=True)
        user = data.get("data") or {}
        if str(user.get("id")) != account_id:
            raise PlatformRefused(
                f"X says these tokens belong to @{user.get('username')} (user id {user.get('id')}), not user id "
                f"{account_id}; send the access token of the account you link"
            )
        return VerifiedAccount(account_id, f"@{user.get('username')}")

    async def _call(
        self,
        method: str,
        path: str,
        secret: ChannelSecret,
        account: AccountCredentials,
        *,
        body: dict[str, Any] | None = None,
        verifying: bool = False,
    ) -> dict[str, Any]:
        if secret.consumer_key is None or secret.consumer_secret is None or account.access_token_secret is None:
            raise PlatformRefused("the X credentials need consumer_key, consumer_secret and access_token_secret")
        url = f"{self.settings.base_url}{path}"
        signer = OAuth1Client(
            secret.consumer_key,
            client_secret=secret.consumer_secret.get_secret_value(),
            resource_owner_key=account.access_token.get_secret_value(),
            resource_owner_secret=account.access_token_secret.get_secret_value(),
        )
        # As requests-oauthlib does for a non-form body: the signature covers the URL and the OAuth parameters.
        _, headers, _ = signer.sign(url, http_method=method)
        content = json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method, url, headers=headers, content=content, timeout=self.settings.timeout_seconds
            )
        except httpx.HTTPError as e:
            raise PlatformError(f"X API unreachable ({type(e).__name__})", retryable=True) from e
        try:
            data = response.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        if response.status_code < 400:
            return data
        title = data.get("title") or data.get("detail") or (data.get("errors") or [{}])[0].get("message")
        status = response.status_code
        detail = f"X refused: {str(title or f'HTTP {status}')[:MAX_ERROR_CHARS]} (HTTP {status})"
        if status == 429 or status >= 500:
            raise PlatformError(
                detail, status=status, retryable=True, retry_after=retry_after_seconds(response.headers)
            )
        raise PlatformRefused(detail, status=status) if verifying else PlatformError(detail, status=status)
