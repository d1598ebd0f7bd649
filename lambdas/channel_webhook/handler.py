"""Social channel webhook Lambda (behind a Lambda function URL): Meta (WhatsApp Cloud API, Messenger, Instagram)
and X (Account Activity API) deliver the tenant's customers' messages here.

Thin edge: the path names the channel; `WebhookIntake` checks the platform's signature before anything of the
body is read, parses, queues the events on the tenant's FIFO queue and the platform gets its 200 at once (the
worker answers). A missing signature answers 401, a wrong one 403 (nothing processed, `ChannelWebhookRejected`
counted); a signed delivery that is not the platform's JSON 400; a queue or secret hiccup 503, so the platform
delivers again (the FIFO deduplication id and the worker's ledger make the repeat harmless).

- `GET  /whatsapp|/facebook|/instagram`: Meta's subscription check (`hub.challenge` when `hub.verify_token` is ours)
- `POST /whatsapp|/facebook|/instagram`: a signed delivery (`X-Hub-Signature-256`)
- `GET  /x`: X's Challenge-Response Check (`crc_token` → `response_token`)
- `POST /x`: a signed delivery (`x-twitter-webhooks-signature`)

The event is parsed first as a function URL request (`oratio.lambda_events`): anything else is answered 400. An
item of a signed delivery that is not the platform's shape is skipped and counted as ignored; the rest is queued.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from oratio.channels.adapters.aws import QueueUnavailableError, SecretsManagerChannelSecrets, SqsFifoQueue
from oratio.channels.intake import MissingSignature, WebhookIntake
from oratio.channels.meta import DeliveryError
from oratio.channels.ports import SecretUnavailableError
from oratio.channels.settings import (
    OTHER_WEBHOOK_PATH,
    WEBHOOK_REJECTED_METRIC,
    WebhookSettings,
    rejected_path_label,
)
from oratio.channels.signatures import SignatureError
from oratio.config.tenant import Channel
from oratio.lambda_events import FunctionUrlRequest, decoded_body, field_problems
from oratio.observability import lambda_entry, logger, metrics
from oratio.ports import Clock, SystemClock

META_PATHS = {"/whatsapp": Channel.WHATSAPP, "/facebook": Channel.FACEBOOK, "/instagram": Channel.INSTAGRAM}

# The webhook's clock. Tests replace it before the first invocation.
clock: Clock = SystemClock()


@cache
def build_intake() -> WebhookIntake:
    """The use case with Secrets Manager and SQS, built once per container (a failure is retried next time)."""
    settings = WebhookSettings.from_environ()
    return WebhookIntake(
        settings.tenant_id,
        secrets=SecretsManagerChannelSecrets(),
        queue=SqsFifoQueue(settings.queue_url),
        clock=clock.now,
    )


@cache
def _runner() -> asyncio.Runner:
    return asyncio.Runner()  # one event loop per container


def run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    return _runner().run(coroutine)


app = LambdaFunctionUrlResolver()


def _body() -> bytes:
    """The delivery as the platform sent it (the signature is over these bytes); a body the function URL marked as
    base64 that is not is refused before anything else."""
    raw = app.current_event.raw_event
    try:
        return decoded_body(raw.get("body"), bool(raw.get("isBase64Encoded")))
    except ValueError as e:
        raise DeliveryError(str(e)) from None


def _query() -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


def _channel() -> Channel:
    return META_PATHS[app.current_event.path]


def _text(status: HTTPStatus, body: str) -> Response[str]:
    return Response(status_code=status, content_type=content_types.TEXT_PLAIN, body=body)


def _accepted(channel: Channel, queued: int, echoes: int, ignored: int) -> Response[str]:
    with single_metric(
        name="ChannelEventsQueued", unit=MetricUnit.Count, value=queued, namespace=metrics.namespace
    ) as m:
        m.add_dimension(name="channel", value=channel.value)
    logger.info(
        "delivery queued", extra={"channel": channel.value, "queued": queued, "echoes": echoes, "ignored": ignored}
    )
    return _text(HTTPStatus.OK, "EVENT_RECEIVED")


@app.get("/whatsapp")
@app.get("/facebook")
@app.get("/instagram")
def meta_subscription() -> Response[str]:
    return _text(HTTPStatus.OK, run(build_intake().meta_subscription(_channel(), _query())))


@app.post("/whatsapp")
@app.post("/facebook")
@app.post("/instagram")
def meta_delivery() -> Response[str]:
    ack = run(build_intake().receive(_channel(), _body(), app.current_event.headers))
    return _accepted(ack.channel, ack.queued, ack.echoes, ack.ignored)


@app.get("/x")
def x_crc() -> Response[str]:
    answer = run(build_intake().x_crc(_query()))
    return Response(status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=json.dumps(answer))


@app.post("/x")
def x_delivery() -> Response[str]:
    ack = run(build_intake().receive(Channel.X, _body(), app.current_event.headers))
    return _accepted(ack.channel, ack.queued, ack.echoes, ack.ignored)


def _rejected(status: HTTPStatus, error: Exception) -> Response[str]:
    path = app.current_event.path
    with single_metric(name=WEBHOOK_REJECTED_METRIC, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as m:
        m.add_dimension(name="path", value=rejected_path_label(path))
    logger.warning("channel webhook refused", extra={"status": status.value, "problem": str(error), "path": path})
    return _text(status, status.phrase)


@app.exception_handler(SignatureError)  # type: ignore[untyped-decorator]
def _unsigned(error: SignatureError) -> Response[str]:
    return _rejected(HTTPStatus.UNAUTHORIZED if isinstance(error, MissingSignature) else HTTPStatus.FORBIDDEN, error)


@app.exception_handler(DeliveryError)  # type: ignore[untyped-decorator]
def _malformed(error: DeliveryError) -> Response[str]:
    logger.warning("signed delivery not understood", extra={"problem": str(error)})
    return _text(HTTPStatus.BAD_REQUEST, str(error))


@app.exception_handler(QueueUnavailableError)  # type: ignore[untyped-decorator]
@app.exception_handler(SecretUnavailableError)  # type: ignore[untyped-decorator]
def _unavailable(error: Exception) -> Response[str]:
    logger.exception("channel webhook could not take the delivery")
    metrics.add_metric(name="ChannelWebhookUnavailable", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=HTTPStatus.SERVICE_UNAVAILABLE,
        content_type=content_types.TEXT_PLAIN,
        body="try again",
        headers={"Retry-After": "5"},
    )


@app.not_found
def _no_route(_: Exception) -> Response[str]:
    return _text(HTTPStatus.NOT_FOUND, "Not Found")


def _not_a_request(error: ValidationError) -> dict[str, Any]:
    with single_metric(name=WEBHOOK_REJECTED_METRIC, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as m:
        m.add_dimension(name="path", value=OTHER_WEBHOOK_PATH)
    logger.warning("not a function URL request", extra={"problems": field_problems(error)})
    return {
        "statusCode": HTTPStatus.BAD_REQUEST,
        "headers": {"Content-Type": content_types.TEXT_PLAIN},
        "body": "not a Lambda function URL request",
    }


@lambda_entry(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        FunctionUrlRequest.model_validate(event)
    except ValidationError as e:
        return _not_a_request(e)
    return app.resolve(event, context)
