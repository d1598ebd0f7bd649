"""The telephony providers' call webhooks, as plain logic: who is calling (parsed from the provider's
request), is the request really from the provider (its signature), and what the provider is told to do
with the call (TwiML for Twilio, an NCCO for Vonage) once the call router has decided.

Twilio signs with `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the account's auth token, over the full
URL Twilio requested followed by every POST parameter's name and value, sorted by name. Vonage signs
callbacks with a JWT (HS256, keyed with the account's signature secret) in `Authorization: Bearer`, whose
`payload_hash` claim is the SHA-256 of the request's payload in Vonage's canonical form (`vonage_payload_hash`),
and whose `jti` is accepted once (`TokenReplayCache`).

Why Twilio does not stream into the bridge: Twilio's `<Stream url>` must be a bare `wss://` URL (no query
string; parameters go in `<Parameter>` elements), while AgentCore authenticates a WebSocket either by a
SigV4-presigned URL (query string) or by SigV4/OAuth headers that Twilio cannot add. So a presigned session
URL cannot be handed to Twilio. Until a relay exists (it would have to be a long-running WebSocket service
outside Lambda and AgentCore's own authentication), a Twilio call that the router accepts is `<Dial>`ed to
the tenant's Amazon Connect number: the caller reaches the same AI agent on the Connect path. Vonage's NCCO
`connect` takes any `wss://` URI, so Vonage calls stream straight into the bridge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from oratio.domain.call_routing import Route, RouteReason, RoutingDecision
from oratio.domain.calls import CallRouter, CloseOutcome, InboundCall
from oratio.domain.dial_through import DialThrough

if TYPE_CHECKING:
    from oratio.domain.dial_through import DialThroughs
    from oratio.ports import CallSessionStore, Clock

logger = logging.getLogger(__name__)

# The webhook Lambda's environment: `stacks/constructs/voice_bridge.py` writes it, the handler reads it.
ENV_BRIDGE_RUNTIME_ARN = "ORATIO_VOICE_BRIDGE_RUNTIME_ARN"
ENV_BRIDGE_QUALIFIER = "ORATIO_VOICE_BRIDGE_QUALIFIER"
ENV_CONNECT_NUMBER = "ORATIO_CONNECT_PHONE_NUMBER"
ENV_TWILIO_SECRET = "ORATIO_TWILIO_AUTH_TOKEN_SECRET"  # noqa: S105 - names the variable holding the secret's ARN
ENV_VONAGE_SECRET = "ORATIO_VONAGE_SIGNATURE_SECRET"  # noqa: S105 - names the variable holding the secret's ARN
ENV_SAY_VOICE = "ORATIO_SAY_VOICE"
ENV_LANGUAGE = "ORATIO_VOICE_LANGUAGE"
VONAGE_CONTENT_TYPE = "audio/l16;rate=16000"
# A signed Vonage callback older (or newer) than this is refused: it may be a replay.
VONAGE_MAX_TOKEN_AGE_SECONDS = 300
MAX_CALL_ID_CHARS = 256  # as a Connect ContactId: the call session's key
_DIGITS = re.compile(r"^\+?[1-9]\d{1,14}$")


class WebhookError(ValueError):
    """A webhook request this service must refuse; the message says what is wrong (never a secret)."""


class SignatureError(WebhookError):
    """The request is not signed by the provider (missing, malformed or wrong signature)."""


class TokenError(SignatureError):
    """The request's bearer token (Vonage's signed JWT) is missing, wrong, expired, replayed or does not
    match the request: the caller is not authenticated (HTTP 401)."""


class ProviderCall(BaseModel):
    """An inbound call as a telephony provider announces it (`ProviderCall.of` refuses a bad one as a
    `WebhookError` naming the provider's field)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    provider: Literal["twilio", "vonage"]
    call_id: str = Field(min_length=1, max_length=MAX_CALL_ID_CHARS)
    dialed_number: str
    caller_number: str | None = None

    @classmethod
    def of(cls, provider: Literal["twilio", "vonage"], names: Mapping[str, str], **fields: Any) -> ProviderCall:
        """Validate a call; `names` maps each field to the provider's name for it, for the error message."""
        try:
            return cls(provider=provider, **fields)
        except ValidationError as e:
            problems = [f"{names.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" for err in e.errors()]
            raise WebhookError(
                f"the {provider.title()} request is not a call we can take ({'; '.join(problems)})"
            ) from e

    def inbound(self) -> InboundCall:
        """The call as the call router takes it (the same checks as a Connect contact)."""
        return InboundCall(
            contact_id=self.call_id,
            channel="voice",
            dialed_number=self.dialed_number,
            caller_number=self.caller_number,
        )


def e164(number: str, *, field: str) -> str:
    """`number` in E.164 ("+" and digits): Vonage sends numbers without the plus."""
    cleaned = number.strip().replace(" ", "")
    if not _DIGITS.match(cleaned):
        raise WebhookError(f"{field} {number[:32]!r} is not a phone number in E.164 form")
    return cleaned if cleaned.startswith("+") else f"+{cleaned}"


def _caller(number: str | None) -> str | None:
    # Withheld or anonymous callers come as "anonymous", "Restricted", "" ...: not an error, just unknown.
    if not number:
        return None
    try:
        return e164(number, field="caller")
    except WebhookError:
        return None


# ------------------------------------------------------------------------------------------- Twilio
def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    data = url + "".join(f"{name}{value}" for name, value in sorted(params, key=lambda p: p[0]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> None:
    if not signature:
        raise SignatureError("the X-Twilio-Signature header is missing")
    expected = twilio_signature(auth_token, url, params)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("the X-Twilio-Signature does not match this URL and these parameters")


def twilio_call(params: Mapping[str, str]) -> ProviderCall:
    """Twilio's voice webhook form: `CallSid`, `To` (the dialed number), `From` (the caller)."""
    missing = [name for name in ("CallSid", "To") if not params.get(name)]
    if missing:
        raise WebhookError(f"the Twilio request lacks {', '.join(missing)}")
    return ProviderCall.of(
        "twilio",
        {"call_id": "CallSid", "dialed_number": "To", "caller_number": "From"},
        call_id=params["CallSid"],
        dialed_number=e164(params["To"], field="To"),
        caller_number=_caller(params.get("From")),
    )


def twiml_answer(
    decision: RoutingDecision, *, connect_number: str, voice: str, language: str, caller_id: str | None = None
) -> str:
    """TwiML for the router's decision: the agent route dials the tenant's Amazon Connect number (see the
    module docstring for why not a media stream), and so does the human route; both present the caller's own
    number (`callerId`, which Twilio allows as the calling number) so Connect's router finds the hand-off. Every
    other route speaks its message and hangs up."""
    if decision.route in (Route.AGENT, Route.HUMAN):
        # Human (the budget is spent): Connect's router, given the hand-off, answers with the same decision, so its
        # flow says the budget message and queues the caller; saying it here too would say it twice.
        dial_attributes = f" callerId={quoteattr(caller_id)}" if caller_id else ""
        body = f"<Dial{dial_attributes}>{escape(connect_number)}</Dial>"
    else:
        body = f"<Say voice={quoteattr(voice)} language={quoteattr(language)}>{escape(decision.message)}</Say><Hangup/>"
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


# ------------------------------------------------------------------------------------------- Vonage
# Vonage's scheme for signed Voice API callbacks, from "How do I verify that the Voice API Webhook request and
# its payload has not been tampered during transit?" (Vonage API Support, article 19033783342876,
# https://api.support.vonage.com/hc/en-us/articles/19033783342876) and "Decoding signed webhooks"
# (https://developer.vonage.com/en/getting-started/concepts/webhooks#decoding-signed-webhooks): the JWT is
# HS256 with the signature secret; `payload_hash` is the SHA-256 of an object built from the query
# parameters (GET) or the request body (POST), its properties in the parameters' order, serialized as JSON
# with no whitespace (JavaScript's `JSON.stringify`).
class TokenReplayCache(Protocol):
    """Remembers the signed tokens already accepted, across every container of the webhook."""

    def first_use(self, tenant_id: str, token_id: str, *, now: int, valid_until: int) -> bool:
        """Record `token_id` as used until `valid_until` (epoch seconds); False if it was already used and
        is still remembered at `now`."""
        ...


def _b64url(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as e:
        raise TokenError("the Vonage token is not valid base64url") from e


def vonage_query_payload(raw_query: str) -> dict[str, str]:
    """A GET callback's payload: its query parameters, decoded, in the order Vonage sent them."""
    return dict(parse_qsl(raw_query, keep_blank_values=True))


def vonage_body_payload(body: bytes) -> dict[str, Any]:
    """A POST callback's payload: its JSON body as an object (properties kept in order)."""
    try:
        data = from_json(body)  # refuses nesting past its recursion limit (json.loads would crash)
    except ValueError as e:
        raise WebhookError("the Vonage request body is not JSON") from e
    if not isinstance(data, dict):
        raise WebhookError("the Vonage request body is not a JSON object")
    return data


def vonage_payload_hash(payload: Mapping[str, Any]) -> str:
    """The `payload_hash` Vonage signs for this payload: SHA-256 (hex) of its whitespace-free JSON, with
    non-ASCII characters as they are (as `JSON.stringify` writes them). Strings and integers come out exactly
    as JavaScript writes them; a float too, except in exponent notation (1e-07 against 1e-7), which Voice API
    callbacks do not use (their numbers such as `duration` and `rate` are sent as strings)."""
    canonical = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_vonage(
    authorization: str | None,
    secret: str,
    payload: Mapping[str, Any],
    *,
    now: float,
    tenant_id: str,
    replays: TokenReplayCache,
) -> dict[str, Any]:
    """Check a signed Vonage callback (HS256 JWT in `Authorization: Bearer`) against its payload (the
    query parameters of a GET, the body of a POST), accept its token once, and return its claims."""
    claims = _vonage_claims(authorization, secret)
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or abs(now - issued) > VONAGE_MAX_TOKEN_AGE_SECONDS:
        raise TokenError("the Vonage token is expired or not yet valid")
    expires = claims.get("exp")
    if isinstance(expires, int | float) and now > expires:
        raise TokenError("the Vonage token is expired")
    payload_hash = claims.get("payload_hash")
    if not isinstance(payload_hash, str) or not payload_hash:
        raise TokenError("the Vonage token has no payload_hash: turn signed callbacks on for the application")
    if not hmac.compare_digest(payload_hash, vonage_payload_hash(payload)):
        raise TokenError("the request's parameters or body do not match the token's payload_hash")
    token_id = claims.get("jti")
    if not isinstance(token_id, str) or not token_id:
        raise TokenError("the Vonage token has no jti, so a replay of it could not be told apart")
    valid_until = issued + VONAGE_MAX_TOKEN_AGE_SECONDS
    if isinstance(expires, int | float):
        valid_until = min(valid_until, expires)
    if not replays.first_use(tenant_id, token_id, now=int(now), valid_until=math.ceil(valid_until)):
        raise TokenError("the Vonage token was already used: a replayed request")
    return claims


def _vonage_claims(authorization: str | None, secret: str) -> dict[str, Any]:
    """The claims of a Vonage token whose HS256 signature matches `secret`."""
    if not authorization or not authorization.startswith("Bearer "):
        raise TokenError("the Authorization header with Vonage's signed token is missing")
    token = authorization.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("the Vonage token is not a JWT")
    header_b64, claims_b64, signature_b64 = parts
    try:
        # pydantic-core's parser refuses nesting past its recursion limit (json.loads would exhaust the stack).
        header = from_json(_b64url(header_b64))
        claims = from_json(_b64url(claims_b64))
    except ValueError as e:
        raise TokenError("the Vonage token is not readable JSON") from e
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("the Vonage token must be signed with HS256")
    expected = hmac.new(secret.encode(), f"{header_b64}.{claims_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64url(signature_b64)):
        raise TokenError("the Vonage token's signature does not match the signature secret")
    if not isinstance(claims, dict):
        raise TokenError("the Vonage token's claims are not an object")
    return claims


def vonage_call(params: Mapping[str, Any]) -> ProviderCall:
    """Vonage's answer webhook (query or JSON body): `uuid`, `to` (the dialed number), `from` (the caller)."""
    missing = [name for name in ("uuid", "to") if not params.get(name)]
    if missing:
        raise WebhookError(f"the Vonage request lacks {', '.join(missing)}")
    return ProviderCall.of(
        "vonage",
        {"call_id": "uuid", "dialed_number": "to", "caller_number": "from"},
        call_id=str(params["uuid"]),
        dialed_number=e164(str(params["to"]), field="to"),
        caller_number=_caller(str(params.get("from") or "")),
    )


def ncco_answer(
    decision: RoutingDecision,
    call: ProviderCall,
    *,
    stream_url: str | None,
    language: str,
    connect_number: str | None = None,
) -> list[dict[str, Any]]:
    """The NCCO for the router's decision: the agent route connects the call's audio (L16 16 kHz) to the
    bridge's presigned session URL, with the call's parameters as the first message's headers; every other
    route speaks its message (the call ends when the NCCO runs out)."""
    if decision.route is Route.AGENT and stream_url:
        headers = {"call_uuid": call.call_id, "agent_id": decision.agent_id or "", "voice_tier": decision.voice_tier}
        if call.caller_number:
            headers["caller"] = call.caller_number
        return [
            {
                "action": "connect",
                "endpoint": [
                    {
                        "type": "websocket",
                        "uri": stream_url,
                        "content-type": VONAGE_CONTENT_TYPE,
                        "headers": headers,
                    }
                ],
            }
        ]
    talk = {"action": "talk", "text": decision.message, "language": language}
    if decision.route is Route.HUMAN and connect_number:
        # The budget is spent: say so, then Connect's own router puts the caller in the human queue.
        return [talk, {"action": "connect", "endpoint": [{"type": "phone", "number": connect_number.lstrip("+")}]}]
    return [talk]


# ------------------------------------------------------------------------------------------ use case
# Vonage call statuses after which the call is over (its event webhook reports them).
VONAGE_FINAL_STATUSES = frozenset({"completed", "busy", "cancelled", "failed", "rejected", "timeout", "unanswered"})
FORWARDED_TO_CONNECT = "forwarded_to_connect"


class CallWebhook:
    """Answers a provider's call webhook after the call router's checks (agent status, hours, limits: the
    same `CallRouter` the Connect path uses, so a media-stream call holds a slot like any other call).

    `presign(call_id)` gives the bridge session URL for a Vonage call. A Twilio call that is not
    dialled through to Amazon Connect has its session closed as soon as it is answered. One that is (the agent
    or human route) keeps it open, slot and all, and leaves a hand-off (`oratio.domain.dial_through`) by which
    Connect's router takes the call over, for the same agent, without counting it again. A Vonage call's session
    is closed when its event webhook reports a final status.
    """

    def __init__(
        self,
        router: CallRouter,
        sessions: CallSessionStore,
        clock: Clock,
        presign: Callable[[str], str],
        *,
        connect_number: str,
        say_voice: str,
        language: str,
        dial_throughs: DialThroughs,
    ) -> None:
        self._router = router
        self._dial_throughs = dial_throughs
        self._sessions = sessions
        self._clock = clock
        self._presign = presign
        self.connect_number = connect_number
        self.say_voice = say_voice
        self.language = language

    @property
    def tenant_id(self) -> str:
        return self._router.profile.tenant_id

    def _route(self, call: ProviderCall) -> RoutingDecision:
        try:
            return self._router.route(call.inbound())
        except Exception:  # the data layer or a bug: the caller still hears the tenant's unavailable message
            logger.exception("call webhook: routing failed", extra={"provider": call.provider})
        try:  # and the contact is still recorded, like every contact the router answers
            return self._router.record_failure(call.inbound(), RouteReason.INTERNAL_ERROR)
        except Exception:
            logger.exception("call webhook: recording the failed contact failed", extra={"provider": call.provider})
            return RoutingDecision.failure(RouteReason.INTERNAL_ERROR, self._router.profile)

    def _close(self, call_id: str, outcome: str) -> bool:
        """Close the call's session; True if this close ended it (False: already closed, unknown, or failed)."""
        try:
            result = self._sessions.close(self.tenant_id, call_id, self._clock.now(), outcome=outcome)
        except Exception:  # a stuck slot is freed when its lease runs out; the caller must not wait on it
            logger.exception("call webhook: closing the session failed", extra={"outcome": outcome})
            return False
        return result.outcome is CloseOutcome.CLOSED

    def twilio(self, call: ProviderCall) -> tuple[RoutingDecision, str]:
        decision = self._route(call)
        if decision.route in (Route.AGENT, Route.HUMAN):
            decision = self._dial_through(call, decision)
        if decision.route not in (Route.AGENT, Route.HUMAN):
            self._close(call.call_id, decision.reason.value)
        twiml = twiml_answer(
            decision,
            connect_number=self.connect_number,
            voice=self.say_voice,
            language=self.language,
            caller_id=call.caller_number,
        )
        return decision, twiml

    def _dial_through(self, call: ProviderCall, decision: RoutingDecision) -> RoutingDecision:
        """Leave the hand-off by which Connect's router takes the call over (its session stays open for it); the
        unavailable answer when there can be none: Connect could not tell a withheld caller's call apart."""
        reason = RouteReason.DIAL_THROUGH_UNAVAILABLE
        if call.caller_number is not None:
            now = self._clock.now()
            hand_off = DialThrough.of(
                decision,
                self._router.profile,
                caller_number=call.caller_number,
                connect_number=self.connect_number,
                provider_call_id=call.call_id,
                now=now,
            )
            try:
                if self._dial_throughs.hand_off(hand_off, now):
                    return decision
                logger.warning("call webhook: this caller's previous call is still being dialled through")
            except Exception:
                logger.exception("call webhook: recording the dial-through failed")
                reason = RouteReason.DATA_UNAVAILABLE
        else:
            logger.info("call webhook: a withheld caller cannot be dialled through to Connect")
        return RoutingDecision.failure(reason, self._router.profile)

    def vonage(self, call: ProviderCall) -> tuple[RoutingDecision, list[dict[str, Any]]]:
        decision = self._route(call)
        stream_url: str | None = None
        if decision.route is Route.AGENT:
            try:
                stream_url = self._presign(call.call_id)
            except Exception:
                logger.exception("call webhook: the bridge session URL could not be signed")
                decision = RoutingDecision.failure(RouteReason.MISCONFIGURED, self._router.profile)
                self._close(call.call_id, decision.reason.value)
        if decision.route is Route.HUMAN:
            self._close(call.call_id, FORWARDED_TO_CONNECT)
        answer = ncco_answer(
            decision, call, stream_url=stream_url, language=self.language, connect_number=self.connect_number
        )
        return decision, answer

    def vonage_event(self, params: Mapping[str, Any]) -> bool:
        """Close the call's session when Vonage reports it over; True only for the event that closed it (a
        redelivered event, or one after the bridge closed the call, is False)."""
        status, call_id = str(params.get("status", "")), str(params.get("uuid", ""))
        if status not in VONAGE_FINAL_STATUSES or not call_id:
            return False
        if len(call_id) > MAX_CALL_ID_CHARS:
            raise WebhookError(f"the Vonage uuid is longer than {MAX_CALL_ID_CHARS} characters")
        return self._close(call_id, f"vonage_{status}")
