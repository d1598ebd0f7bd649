"""Presigned WebSocket URLs for a session of the voice bridge's AgentCore runtime (`/ws`).

AgentCore accepts a WebSocket whose URL carries SigV4 query authentication for the `bedrock-agentcore`
service: `wss://bedrock-agentcore.<region>.amazonaws.com/runtimes/<url-encoded runtime ARN>/ws` with the
endpoint as `qualifier` and the session id as `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`, then signed,
valid for at most 300 s. The `bedrock-agentcore` SDK's `AgentCoreRuntimeClient.generate_presigned_url`
builds the same URL, but that SDK (Starlette, uvicorn, ...) is not in the Lambda layer, so this signs with
botocore's `SigV4QueryAuth`, which the Lambda runtime ships. Signing is local: no network call.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote, urlencode

import botocore.session
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest

SERVICE = "bedrock-agentcore"
SESSION_PARAMETER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
MAX_EXPIRES_SECONDS = 300
# AgentCore runtime session ids are 33 to 256 characters long.
MIN_SESSION_ID_CHARS = 33
MAX_SESSION_ID_CHARS = 256


class PresignError(RuntimeError):
    """A session URL cannot be signed (no credentials, or a bad runtime ARN or session id)."""


def session_id_for(call_id: str) -> str:
    """The call id as an AgentCore session id: ids shorter than 33 characters get a suffix derived from the
    id itself, so the same call always maps to the same session."""
    call_id = call_id.strip()
    if not call_id or len(call_id) > MAX_SESSION_ID_CHARS:
        raise PresignError(f"a session id must be 1 to {MAX_SESSION_ID_CHARS} characters long")
    if len(call_id) >= MIN_SESSION_ID_CHARS:
        return call_id
    return f"{call_id}-{hashlib.sha256(call_id.encode()).hexdigest()[:32]}"


class AgentCoreWebSocketPresigner:
    """Signs session URLs for one runtime endpoint with the caller's credentials (the Lambda's role)."""

    def __init__(
        self,
        runtime_arn: str,
        *,
        qualifier: str,
        expires_seconds: int = MAX_EXPIRES_SECONDS,
        credentials: Any | None = None,
    ) -> None:
        parts = runtime_arn.split(":")
        if len(parts) < 6 or parts[2] != SERVICE or not parts[5].startswith("runtime/"):
            raise PresignError(
                "runtime_arn must be an AgentCore runtime ARN (arn:aws:bedrock-agentcore:...:runtime/...)"
            )
        if not 1 <= expires_seconds <= MAX_EXPIRES_SECONDS:
            raise PresignError(f"a presigned session URL may live 1 to {MAX_EXPIRES_SECONDS} seconds")
        self.runtime_arn = runtime_arn
        self.region = parts[3]
        self.qualifier = qualifier
        self.expires_seconds = expires_seconds
        self._credentials = credentials

    @property
    def host(self) -> str:
        suffix = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        return f"{SERVICE}.{self.region}.{suffix}"

    def _frozen_credentials(self) -> Any:
        credentials = self._credentials or botocore.session.get_session().get_credentials()
        if credentials is None:
            raise PresignError("no AWS credentials to sign the session URL with")
        return credentials.get_frozen_credentials()

    def url(self, call_id: str) -> str:
        """A `wss://` URL that opens the runtime session named after `call_id`."""
        query = urlencode({"qualifier": self.qualifier, SESSION_PARAMETER: session_id_for(call_id)})
        https = f"https://{self.host}/runtimes/{quote(self.runtime_arn, safe='')}/ws?{query}"
        request = AWSRequest(method="GET", url=https, headers={"host": self.host})
        SigV4QueryAuth(self._frozen_credentials(), SERVICE, self.region, expires=self.expires_seconds).add_auth(request)
        return str(request.url).replace("https://", "wss://", 1)
