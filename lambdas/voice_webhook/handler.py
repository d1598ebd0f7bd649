"""Telephony call webhook Lambda (behind a Lambda function URL): Twilio and Vonage ask it what to do with an
inbound call to a number the tenant holds with them.

Thin edge: verify the provider's signature (secrets from Secrets Manager, read on first use and cached),
parse the call, let `CallWebhook` run the call router's checks, answer in the provider's format.

- `POST /twilio/voice`: TwiML. Route `agent` → `<Dial callerId=caller>` the tenant's Amazon Connect number,
  leaving a hand-off by which Connect's router takes the call over for the same agent and slot
  (`oratio.domain.dial_through`), so the caller reaches the AI agent on the Connect path: Twilio's
  `<Stream url>` takes no query string, so it cannot carry the presigned session URL the bridge's AgentCore
  runtime needs, and no relay is deployed (see `oratio/voice_bridge/webhooks.py`). Closed / paused /
  unavailable → `<Say>` the tenant's message, `<Hangup/>`.
- `GET|POST /vonage/answer`: an NCCO. Route `agent` → `connect` the call's audio (L16 16 kHz) to a presigned
  `wss://` URL of a session of the tenant's voice bridge runtime (SigV4 query auth, 300 s, session = call
  uuid). Other routes → `talk` the message; the call ends when the NCCO does.
- `GET|POST /vonage/event`: closes the call's session (and frees its slot) when Vonage reports it over.

A Twilio request whose signature does not verify gets 403 and nothing else. A Vonage request gets 401 when
its token is missing, wrong, expired, already used (its `jti`, remembered in tenant_state across containers)
or signs other query parameters (GET) or another body (POST) than the request's.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, ValidationError

from oratio.adapters.agentcore_websocket import AgentCoreWebSocketPresigner
from oratio.adapters.dynamodb import RouterSettings, dynamodb_call_router, dynamodb_client
from oratio.adapters.dynamodb_dial_through import DynamoDBDialThroughs
from oratio.adapters.dynamodb_webhook import DynamoDBTokenReplayCache
from oratio.config.tenant import E164_PATTERN
from oratio.lambda_events import FunctionUrlRequest
from oratio.observability import lambda_entry, logger, metrics
from oratio.ports import Clock, SystemClock
from oratio.voice_bridge.webhooks import (
    ENV_BRIDGE_QUALIFIER,
    ENV_BRIDGE_RUNTIME_ARN,
    ENV_CONNECT_NUMBER,
    ENV_LANGUAGE,
    ENV_SAY_VOICE,
    ENV_TWILIO_SECRET,
    ENV_VONAGE_SECRET,
    CallWebhook,
    SignatureError,
    TokenError,
    WebhookError,
    twilio_call,
    verify_twilio,
    verify_vonage,
    vonage_body_payload,
    vonage_call,
    vonage_query_payload,
)

SECRET_MAX_AGE_SECONDS = 300  # a rotated provider secret is picked up within five minutes
XML = "text/xml"
# Twilio's voice webhook sends a few dozen form fields; more is not Twilio.
MAX_FORM_FIELDS = 200

# The webhook's clock. Tests replace it before the first invocation.
clock: Clock = SystemClock()


class WebhookSettings(RouterSettings):
    """The webhook's environment: the call router's, plus the bridge and the providers'. Read on first
    invocation, not at import."""

    bridge_runtime_arn: str = Field(min_length=1)
    bridge_qualifier: str = Field(min_length=1)
    connect_number: str = Field(pattern=E164_PATTERN)
    twilio_secret: str = Field(min_length=1)
    vonage_secret: str = Field(min_length=1)
    say_voice: str = Field(min_length=1)
    language: str = Field(min_length=2)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings:
        env = os.environ if environ is None else environ
        return cls.model_validate(
            {
                **cls.environ_values(env),
                "bridge_runtime_arn": env.get(ENV_BRIDGE_RUNTIME_ARN),
                "bridge_qualifier": env.get(ENV_BRIDGE_QUALIFIER),
                "connect_number": env.get(ENV_CONNECT_NUMBER),
                "twilio_secret": env.get(ENV_TWILIO_SECRET),
                "vonage_secret": env.get(ENV_VONAGE_SECRET),
                "say_voice": env.get(ENV_SAY_VOICE),
                "language": env.get(ENV_LANGUAGE),
            }
        )


@cache
def settings() -> WebhookSettings:
    return WebhookSettings.from_environ()


@cache
def build_webhook() -> CallWebhook:
    """The use case with DynamoDB adapters and the bridge presigner, built once per container."""
    config = settings()
    client = dynamodb_client()
    # Connect's router takes over the Twilio calls this one dials through; this one only hands them off.
    router, sessions = dynamodb_call_router(config, clock, client=client, takes_dial_throughs=False)
    presigner = AgentCoreWebSocketPresigner(config.bridge_runtime_arn, qualifier=config.bridge_qualifier)
    return CallWebhook(
        router,
        sessions,
        clock,
        presigner.url,
        connect_number=config.connect_number,
        say_voice=config.say_voice,
        language=config.language,
        dial_throughs=DynamoDBDialThroughs(config.tenant_state_table, sessions, client=client),
    )


@cache
def replay_cache() -> DynamoDBTokenReplayCache:
    """The Vonage tokens already accepted, shared by every container through the tenant_state table."""
    return DynamoDBTokenReplayCache(settings().tenant_state_table, client=dynamodb_client())


def _secret(name: str) -> str:
    # Powertools caches the value for max_age: one Secrets Manager call per container and five minutes.
    return str(parameters.get_secret(name, max_age=SECRET_MAX_AGE_SECONDS))


app = LambdaFunctionUrlResolver()


def _body() -> bytes:
    """The request body as the provider sent it (function URLs base64-encode bodies that are not text)."""
    raw = app.current_event.raw_event
    body = raw.get("body") or ""
    if not raw.get("isBase64Encoded"):
        return str(body).encode()
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise WebhookError("the request body is not valid base64") from e


def _form() -> list[tuple[str, str]]:
    """Twilio's form fields; a body that is not UTF-8 form data is refused before anything else reads it."""
    try:
        text = _body().decode("utf-8")
    except UnicodeDecodeError as e:
        raise WebhookError("the request body is not UTF-8 form data (application/x-www-form-urlencoded)") from e
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as e:
        raise WebhookError(f"the request body has more than {MAX_FORM_FIELDS} form fields") from e


def _public_url() -> str:
    """The URL the provider requested, exactly (Twilio signs it): host, path and query string."""
    event = app.current_event
    raw = event.raw_event
    host = event.headers.get("host") or event.request_context.domain_name
    query = raw.get("rawQueryString") or ""
    return f"https://{host}{raw.get('rawPath', '/')}" + (f"?{query}" if query else "")


def _signed_vonage_params() -> dict[str, Any]:
    """Vonage's fields, once its token verifies against them: the query string on GET (from the raw query,
    which keeps the parameters' order that the payload hash depends on), the JSON body on POST."""
    body = _body()
    if app.current_event.http_method.upper() == "POST" and body:
        params = vonage_body_payload(body)
    else:
        params = vonage_query_payload(app.current_event.raw_event.get("rawQueryString") or "")
    verify_vonage(
        app.current_event.headers.get("authorization"),
        _secret(settings().vonage_secret),
        params,
        now=time.time(),
        tenant_id=settings().routing_profile.tenant_id,
        replays=replay_cache(),
    )
    return params


@app.post("/twilio/voice")
def twilio_voice() -> Response[str]:
    params = _form()
    verify_twilio(
        _secret(settings().twilio_secret),
        _public_url(),
        params,
        app.current_event.headers.get("x-twilio-signature"),
    )
    decision, twiml = build_webhook().twilio(twilio_call(dict(params)))
    _count("twilio", decision.route.value)
    return Response(status_code=HTTPStatus.OK, content_type=XML, body=twiml)


@app.route("/vonage/answer", method=["GET", "POST"])
def vonage_answer() -> Response[str]:
    decision, ncco = build_webhook().vonage(vonage_call(_signed_vonage_params()))
    _count("vonage", decision.route.value)
    return Response(status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=json.dumps(ncco))


@app.route("/vonage/event", method=["GET", "POST"])
def vonage_event() -> Response[str]:
    closed = build_webhook().vonage_event(_signed_vonage_params())
    return Response(
        status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=json.dumps({"closed": closed})
    )


def _count(provider: str, route: str) -> None:
    metrics.add_metric(name="TelephonyCallsAnswered", unit=MetricUnit.Count, value=1)
    logger.info("telephony call answered", extra={"provider": provider, "route": route})


@app.exception_handler(SignatureError)  # type: ignore[untyped-decorator]
def _forbidden(error: SignatureError) -> Response[str]:
    metrics.add_metric(name="TelephonyWebhookSignatureRejected", unit=MetricUnit.Count, value=1)
    logger.warning("telephony webhook refused: bad signature", extra={"problem": str(error)})
    return Response(status_code=HTTPStatus.FORBIDDEN, content_type=content_types.TEXT_PLAIN, body="Forbidden")


@app.exception_handler(TokenError)  # type: ignore[untyped-decorator]
def _unauthorized(error: TokenError) -> Response[str]:
    metrics.add_metric(name="TelephonyWebhookSignatureRejected", unit=MetricUnit.Count, value=1)
    logger.warning("telephony webhook refused: bad token", extra={"problem": str(error)})
    return Response(
        status_code=HTTPStatus.UNAUTHORIZED,
        content_type=content_types.TEXT_PLAIN,
        body="Unauthorized",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


@app.exception_handler(WebhookError)  # type: ignore[untyped-decorator]
def _bad_request(error: WebhookError) -> Response[str]:
    logger.warning("telephony webhook refused: bad request", extra={"problem": str(error)})
    return Response(status_code=HTTPStatus.BAD_REQUEST, content_type=content_types.TEXT_PLAIN, body=str(error))


@lambda_entry(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        FunctionUrlRequest.model_validate(event)
    except ValidationError as e:
        logger.warning(
            "not a function URL request", extra={"problems": [".".join(map(str, p["loc"])) for p in e.errors()]}
        )
        return {
            "statusCode": HTTPStatus.BAD_REQUEST,
            "headers": {"Content-Type": content_types.TEXT_PLAIN},
            "body": "not a Lambda function URL request",
        }
    return app.resolve(event, context)
