"""Meta's Graph API for the three Meta channels: sending a text reply and the one cheap call that verifies a
linked account's credentials.

- WhatsApp Cloud API: `POST /{version}/{phone-number-id}/messages` with `messaging_product: whatsapp`,
  `to` = the customer's `wa_id`, `type: text`; verify with
  `GET /{phone-number-id}?fields=display_phone_number,verified_name`.
- Messenger: the Send API, `POST /{version}/{page-id}/messages` with `recipient.id` = the PSID,
  `messaging_type: RESPONSE`; verify with `GET /{page-id}?fields=id,name`.
- Instagram (Messenger API for Instagram): `POST /{version}/{page-id}/messages` with `recipient.id` = the IGSID,
  sent as the Facebook Page linked to the Instagram account; verify with `GET /{ig-account-id}?fields=id,username`.

Every call carries the access token as a Bearer header and `appsecret_proof` (HMAC-SHA256 of the token keyed with
the app secret), which Meta checks when the app requires it. Errors come back as `{"error": {message, type, code,
error_subcode, fbtrace_id}}`: 429, 5xx and Meta's throttling codes are retryable (with the wait the usage headers
name); anything else is refused for good.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.delivery import retry_after_seconds
from oratio.channels.ports import PlatformError, PlatformRefused, SentMessage, VerifiedAccount
from oratio.config.tenant import Channel

# Graph API error codes that mean "too many calls, slow down" (application, user, page, Messenger and WhatsApp
# throughput limits), sent with HTTP 400 as often as with 429.
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80006, 80007, 130429, 131048, 131056})
MAX_ERROR_CHARS = 300


class GraphSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    base_url: str = "https://graph.facebook.com"
    version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    timeout_seconds: float = Field(default=10.0, gt=0)


def appsecret_proof(app_secret: str, access_token: str) -> str:
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


class MetaGraphClient:
    """`PlatformClient` for WhatsApp, Messenger or Instagram over one shared `httpx.AsyncClient`."""

    def __init__(self, channel: Channel, http: httpx.AsyncClient, settings: GraphSettings | None = None) -> None:
        if channel not in (Channel.WHATSAPP, Channel.FACEBOOK, Channel.INSTAGRAM):
            raise ValueError(f"{channel.value} is not a Meta channel")
        self.channel = channel
        self._http = http
        self.settings = settings or GraphSettings()

    async def send_text(
        self, secret: ChannelSecret, account_id: str, account: AccountCredentials, recipient_id: str, text: str
    ) -> SentMessage:
        if self.channel is Channel.WHATSAPP:
            path = f"{account_id}/messages"
            body: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": recipient_id,
                "type": "text",
                "text": {"preview_url": False, "body": text},
            }
        else:
            sender = account.page_id if self.channel is Channel.INSTAGRAM and account.page_id else account_id
            path = f"{sender}/messages"
            body = {"recipient": {"id": recipient_id}, "messaging_type": "RESPONSE", "message": {"text": text}}
        data = await self._call("POST", path, secret, account, json=body)
        if self.channel is Channel.WHATSAPP:
            messages = data.get("messages") or [{}]
            return SentMessage(str(messages[0].get("id")) if messages[0].get("id") else None)
        return SentMessage(str(data["message_id"]) if data.get("message_id") else None)

    async def verify(self, secret: ChannelSecret, account_id: str, account: AccountCredentials) -> VerifiedAccount:
        fields = {
            Channel.WHATSAPP: "display_phone_number,verified_name",
            Channel.FACEBOOK: "id,name",
            Channel.INSTAGRAM: "id,username",
        }[self.channel]
        data = await self._call("GET", account_id, secret, account, params={"fields": fields}, verifying=True)
        display = data.get("display_phone_number") or data.get("name") or data.get("username") or ""
        if self.channel is Channel.INSTAGRAM and account.page_id:
            # The replies go out as the linked Page: its token must be able to read that Page too.
            await self._call("GET", account.page_id, secret, account, params={"fields": "id,name"}, verifying=True)
        name = data.get("verified_name")
        return VerifiedAccount(account_id, f"{display} ({name})" if name else str(display))

    async def _call(
        self,
        method: str,
        path: str,
        secret: ChannelSecret,
        account: AccountCredentials,
        *,
        verifying: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        token = account.access_token.get_secret_value()
        params = dict(kwargs.pop("params", {}))
        if secret.app_secret is not None:
            params["appsecret_proof"] = appsecret_proof(secret.app_secret.get_secret_value(), token)
        url = f"{self.settings.base_url}/{self.settings.version}/{path}"
        try:
            response = await self._http.request(
                method,
                url,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.settings.timeout_seconds,
                **kwargs,
            )
        except httpx.HTTPError as e:
            raise PlatformError(f"Meta Graph API unreachable ({type(e).__name__})", retryable=True) from e
        data = _json(response)
        if response.status_code < 400:
            return data
        raise _error(response, data, verifying=verifying)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error(response: httpx.Response, data: dict[str, Any], *, verifying: bool) -> PlatformError:
    raw = data.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    code = error.get("code")
    message = str(error.get("message") or f"HTTP {response.status_code}")[:MAX_ERROR_CHARS]
    detail = f"Meta refused: {message} (code {code}, HTTP {response.status_code})"
    status = response.status_code
    throttled = status == 429 or code in THROTTLING_CODES
    if status >= 500 or throttled:
        return PlatformError(detail, status=status, retryable=True, retry_after=retry_after_seconds(response.headers))
    return PlatformRefused(detail, status=status) if verifying else PlatformError(detail, status=status)
