"""Local stand-ins for Meta's Graph API and X's API v2, served in process as an `httpx.MockTransport`: what the
channel adapters' real HTTP calls reach in tests, the demo and the benchmarks (nothing leaves the machine).

They check what the real platforms check — the Bearer token of the account and Meta's `appsecret_proof` (HMAC-SHA256
of the token with the app secret), X's OAuth 1.0a HMAC-SHA1 signature (verified with `oauthlib`'s server side) — and
answer in the platforms' documented shapes: `{"messaging_product", "contacts", "messages": [{"id"}]}` for a WhatsApp
send, `{"recipient_id", "message_id"}` for Messenger and Instagram, `{"data": {"dm_conversation_id", "dm_event_id"}}`
for an X DM, and Meta's `{"error": {message, type, code, fbtrace_id}}` / X's problem JSON when they refuse. Failures
(429 with the rate-limit headers, 5xx) can be scripted per call.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

GRAPH_HOST = "graph.facebook.com"
X_HOST = "api.x.com"


@dataclass
class MetaAccount:
    """One account the fake Graph API knows: its token, its app's secret and what a GET of it answers."""

    token: str
    app_secret: str
    fields: dict[str, Any]


@dataclass
class XAccount:
    user_id: str
    username: str
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str


@dataclass
class Sent:
    host: str
    path: str
    body: dict[str, Any]


@dataclass
class FakePlatforms:
    """Meta and X as one transport. `fail_next(status, headers)` scripts the next send's failure."""

    meta: dict[str, MetaAccount] = field(default_factory=dict)  # by account id (phone number id, page, IG id)
    x: dict[str, XAccount] = field(default_factory=dict)  # by access token
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _failures: deque[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail_next(self, status: int, headers: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> None:
        self._failures.append((status, headers or {}, body or {}))

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        self.calls.append((request.method, url.path))
        if request.method == "POST" and self._failures:
            status, headers, body = self._failures.popleft()
            return httpx.Response(status, headers=headers, json=body or _meta_error("Temporary failure", 2))
        if url.hostname == GRAPH_HOST:
            return self._graph(request, url.path, dict(parse_qsl(url.query)))
        if url.hostname == X_HOST:
            return self._x(request, url.path)
        return httpx.Response(404, json={"error": "unknown host"})

    # -------------------------------------------------------------------------------------- Meta
    def _graph(self, request: httpx.Request, path: str, query: dict[str, str]) -> httpx.Response:
        parts = path.strip("/").split("/")  # v21.0 / <id> [/ messages]
        if len(parts) < 2:
            return httpx.Response(400, json=_meta_error("Unsupported request", 100))
        account = self.meta.get(parts[1])
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if account is None:
            return httpx.Response(
                400, json=_meta_error(f"Unsupported get request. Object with ID '{parts[1]}' does not exist", 100, 33)
            )
        if token != account.token:
            return httpx.Response(401, json=_meta_error("Invalid OAuth access token - Cannot parse access token", 190))
        proof = hmac.new(account.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if query.get("appsecret_proof") != proof:
            return httpx.Response(400, json=_meta_error("Invalid appsecret_proof provided in the API argument", 100))
        if request.method == "GET" and len(parts) == 2:
            return httpx.Response(200, json={"id": parts[1], **account.fields})
        if request.method == "POST" and parts[2:] == ["messages"]:
            body = json.loads(request.content)
            self.sent.append(Sent(GRAPH_HOST, path, body))
            mid = next(self._ids)
            if body.get("messaging_product") == "whatsapp":
                return httpx.Response(
                    200,
                    json={
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                        "messages": [{"id": f"wamid.local{mid}"}],
                    },
                )
            return httpx.Response(200, json={"recipient_id": body["recipient"]["id"], "message_id": f"m_local{mid}"})
        return httpx.Response(400, json=_meta_error("Unsupported request", 100))

    # ----------------------------------------------------------------------------------------- X
    def _x(self, request: httpx.Request, path: str) -> httpx.Response:
        account = self._x_account(request)
        if account is None:
            return httpx.Response(
                401, json={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
            )
        if request.method == "GET" and path == "/2/users/me":
            return httpx.Response(
                200, json={"data": {"id": account.user_id, "name": "Cozy", "username": account.username}}
            )
        if request.method == "POST" and path.startswith("/2/dm_conversations/with/") and path.endswith("/messages"):
            body = json.loads(request.content)
            self.sent.append(Sent(X_HOST, path, body))
            event = next(self._ids)
            return httpx.Response(
                201, json={"data": {"dm_conversation_id": f"{account.user_id}-1", "dm_event_id": str(event)}}
            )
        return httpx.Response(404, json={"title": "Not Found Error", "status": 404})

    def _x_account(self, request: httpx.Request) -> XAccount | None:
        """The account whose OAuth 1.0a signature on the request verifies, or None."""
        header = request.headers.get("authorization", "")
        params = dict(
            oauth_signature.collect_parameters(headers={"Authorization": header}, exclude_oauth_signature=False)
        )
        account = self.x.get(str(params.get("oauth_token", "")))
        if account is None or params.get("oauth_consumer_key") != account.consumer_key:
            return None
        oauth = OAuthRequest(str(request.url), http_method=request.method, headers={"Authorization": header})
        oauth.params = [(k, v) for k, v in params.items() if k != "oauth_signature"]
        oauth.signature = str(params.get("oauth_signature", ""))
        verified = oauth_signature.verify_hmac_sha1(
            oauth, client_secret=account.consumer_secret, resource_owner_secret=account.access_token_secret
        )
        return account if verified else None


def _meta_error(message: str, code: int, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}
