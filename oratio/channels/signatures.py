"""Is a webhook request really from the platform? Checked before anything in it is parsed.

- Meta (WhatsApp Cloud API, Messenger, Instagram): the subscription `GET` carries `hub.mode=subscribe`,
  `hub.verify_token` (the token the vendor typed in the app dashboard) and `hub.challenge`, which is echoed
  back; every `POST` carries `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the
  app secret>`.
- X (Account Activity API): the Challenge-Response Check `GET ?crc_token=…` is answered with
  `{"response_token": "sha256=<base64 HMAC-SHA256 of the token, keyed with the consumer secret>"}`; every
  `POST` carries `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256 of the raw body, same key>`.

Comparisons are constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

META_SIGNATURE_HEADER = "x-hub-signature-256"
X_SIGNATURE_HEADER = "x-twitter-webhooks-signature"
SHA256_PREFIX = "sha256="


class SignatureError(ValueError):
    """The request is not signed by the platform (missing, malformed or wrong signature, wrong verify token).
    The message is for logs; never a secret, never the request."""


def _hmac(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


def _equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


# ---------------------------------------------------------------------------------------------- Meta
def meta_signature(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    return SHA256_PREFIX + _hmac(app_secret, body).hex()


def verify_meta_signature(app_secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise SignatureError("the X-Hub-Signature-256 header is missing")
    if not header.startswith(SHA256_PREFIX):
        raise SignatureError("the X-Hub-Signature-256 header is not sha256=<hex>")
    if not _equal(meta_signature(app_secret, body), header.strip().lower()):
        raise SignatureError("the X-Hub-Signature-256 does not match the body")


def meta_challenge(verify_token: str, query: Mapping[str, str]) -> str:
    """The `hub.challenge` to echo when the subscription request carries our verify token; else SignatureError."""
    if query.get("hub.mode") != "subscribe":
        raise SignatureError("hub.mode is not 'subscribe'")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise SignatureError("hub.challenge is missing")
    if not _equal(verify_token, query.get("hub.verify_token") or ""):
        raise SignatureError("hub.verify_token does not match")
    return challenge


# ------------------------------------------------------------------------------------------------- X
def x_signature(consumer_secret: str, message: bytes) -> str:
    """`sha256=<base64 HMAC-SHA256>`: X's CRC response token and its `x-twitter-webhooks-signature`."""
    return SHA256_PREFIX + base64.b64encode(_hmac(consumer_secret, message)).decode()


def x_crc_response(consumer_secret: str, crc_token: str | None) -> dict[str, str]:
    if not crc_token:
        raise SignatureError("crc_token is missing")
    return {"response_token": x_signature(consumer_secret, crc_token.encode())}


def verify_x_signature(consumer_secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise SignatureError("the x-twitter-webhooks-signature header is missing")
    if not _equal(x_signature(consumer_secret, body), header.strip()):
        raise SignatureError("the x-twitter-webhooks-signature does not match the body")
