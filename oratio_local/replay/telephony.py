"""The telephony front doors of a replay: a Twilio or Vonage call enters through the tenant's telephony webhook
Lambda exactly as the provider sends it (Twilio's form, signed with Twilio's own `RequestValidator`; Vonage's
answer callback, signed as Vonage signs it: an HS256 JWT whose `payload_hash` is the SHA-256 of the parameters'
`JSON.stringify`), and the replay does what the provider would do with the answer: speak a `<Say>`/`talk`,
`<Dial>` the tenant's Connect number (the call then runs the inbound contact flow), or stream the call's audio
into the `wss://` URL of an NCCO `connect` (the voice bridge).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree

from oratio_local.events import function_url_event

# What a replay deployment's provider accounts hold: the webhook reads them from Secrets Manager (on moto).
TWILIO_AUTH_TOKEN = "replay-twilio-auth-token-0123456789abcdef"  # noqa: S105 - a local stand-in's secret
VONAGE_SIGNATURE_SECRET = "replay-vonage-signature-secret-0123456789"  # noqa: S105 - a local stand-in's secret
WEBHOOK_HOST = "replay-telephony.lambda-url.us-east-1.on.aws"  # the function URL's host (Twilio signs it)
SECRET_VARIABLES = {
    "twilio": ("ORATIO_TWILIO_AUTH_TOKEN_SECRET", TWILIO_AUTH_TOKEN),
    "vonage": ("ORATIO_VONAGE_SIGNATURE_SECRET", VONAGE_SIGNATURE_SECRET),
}


class TelephonyAnswerError(RuntimeError):
    """The webhook answered something the provider could not act on (an error status, an unreadable body)."""


@dataclass
class ProviderInstruction:
    """What the provider was told to do with the call, in order."""

    said: list[str] = field(default_factory=list)  # <Say> / talk texts
    dial: str | None = None  # <Dial> number (E.164) / NCCO connect to a phone
    dial_caller_id: str | None = None  # <Dial callerId>: the number the dialled party sees (else the caller's own)
    stream_url: str | None = None  # NCCO connect websocket uri
    stream_headers: dict[str, str] = field(default_factory=dict)
    hang_up: bool = False


def twilio_request(call_sid: str, dialed: str, caller: str) -> dict[str, Any]:
    """Twilio's voice webhook request for an inbound call, signed with the account's auth token."""
    from twilio.request_validator import RequestValidator

    params = {
        "AccountSid": "AC" + hashlib.sha256(b"replay").hexdigest()[:32],
        "CallSid": call_sid,
        "To": dialed,
        "From": caller,
        "Direction": "inbound",
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
    }
    url = f"https://{WEBHOOK_HOST}/twilio/voice"
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params)
    return function_url_event(
        "POST",
        "/twilio/voice",
        host=WEBHOOK_HOST,
        body=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


def vonage_request(call_uuid: str, dialed: str, caller: str) -> dict[str, Any]:
    """Vonage's answer callback (GET) for an inbound call, signed as Vonage signs callbacks."""
    import jwt

    params = {
        "to": dialed.lstrip("+"),
        "from": caller.lstrip("+"),
        "uuid": call_uuid,
        "conversation_uuid": f"CON-{call_uuid}",
        "region_url": "https://api-us-3.vonage.com",
    }
    stringified = json.dumps(params, separators=(",", ":"), ensure_ascii=False)  # JavaScript's JSON.stringify
    claims = {
        "iat": int(time.time()),  # the webhook checks the token's age against the real clock
        "jti": str(uuid.uuid5(uuid.NAMESPACE_URL, f"vonage/{call_uuid}")),
        "iss": "Vonage",
        "api_key": "replay",
        "application_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "vonage/replay-application")),
        "payload_hash": hashlib.sha256(stringified.encode()).hexdigest(),
    }
    token = jwt.encode(claims, VONAGE_SIGNATURE_SECRET, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    return function_url_event("GET", "/vonage/answer", host=WEBHOOK_HOST, query=urlencode(params), headers=headers)


def _checked(response: Mapping[str, Any]) -> str:
    status = int(response.get("statusCode", 0))
    if status != 200:
        raise TelephonyAnswerError(f"the telephony webhook answered {status}: {str(response.get('body'))[:200]}")
    return str(response.get("body") or "")


def read_twiml(response: Mapping[str, Any]) -> ProviderInstruction:
    """What Twilio does with the webhook's TwiML: the verbs this platform answers with, in order."""
    try:
        root = ElementTree.fromstring(_checked(response))  # noqa: S314 - our own handler's output
    except ElementTree.ParseError as e:
        raise TelephonyAnswerError(f"the telephony webhook's TwiML does not parse: {e}") from e
    instruction = ProviderInstruction()
    for verb in root:
        if verb.tag == "Say":
            instruction.said.append(verb.text or "")
        elif verb.tag == "Dial":
            instruction.dial = (verb.text or "").strip()
            instruction.dial_caller_id = verb.get("callerId")
        elif verb.tag == "Hangup":
            instruction.hang_up = True
        else:
            raise TelephonyAnswerError(f"the replay does not act on the TwiML verb <{verb.tag}>")
    return instruction


def read_ncco(response: Mapping[str, Any]) -> ProviderInstruction:
    """What Vonage does with the webhook's NCCO: talk actions, then a connect (websocket or phone)."""
    try:
        actions = json.loads(_checked(response))
    except ValueError as e:
        raise TelephonyAnswerError("the telephony webhook's NCCO is not JSON") from e
    instruction = ProviderInstruction()
    for action in actions:
        kind = action.get("action")
        if kind == "talk":
            instruction.said.append(str(action.get("text", "")))
        elif kind == "connect":
            (endpoint,) = action["endpoint"]
            if endpoint.get("type") == "websocket":
                instruction.stream_url = str(endpoint["uri"])
                instruction.stream_headers = {k: str(v) for k, v in endpoint.get("headers", {}).items()}
            elif endpoint.get("type") == "phone":
                instruction.dial = "+" + str(endpoint["number"]).lstrip("+")
        else:
            raise TelephonyAnswerError(f"the replay does not act on the NCCO action {kind!r}")
    instruction.hang_up = instruction.stream_url is None and instruction.dial is None
    return instruction


def stream_session(url: str) -> tuple[str, str]:
    """The AgentCore runtime ARN and session id a presigned bridge URL is for (what AgentCore would route on)."""
    from urllib.parse import unquote

    parts = urlsplit(url)
    if parts.scheme != "wss" or not parts.path.startswith("/runtimes/") or not parts.path.endswith("/ws"):
        raise TelephonyAnswerError(f"the NCCO streams to {parts.scheme}://{parts.netloc}{parts.path}, not a runtime")
    arn = unquote(parts.path.removeprefix("/runtimes/").removesuffix("/ws"))
    query = parse_qs(parts.query)
    if "X-Amz-Signature" not in query:
        raise TelephonyAnswerError("the bridge session URL is not presigned (AgentCore would refuse it)")
    return arn, query.get("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", [""])[0]
