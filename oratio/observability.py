"""Shared Powertools logger, tracer and metrics, and the one decorator stack every Lambda handler wears:

    @lambda_entry(correlation_id_path="Details.ContactData.ContactId")
    def lambda_handler(event, context): ...

which is, in this order, `logger.inject_lambda_context` (keys of the previous request cleared first), the
correlation id read from the event, `tracer.capture_lambda_handler` and
`metrics.log_metrics(capture_cold_start_metric=True)`.

Keys a handler appends for one request (the vendor's id, a tenant, a contact) would otherwise stay on the
module-level logger for the container's next invocation, so a line logged early in that request would name
the previous request's vendor. `lambda_entry` resets the logger to its default keys at the start of every
invocation; the correlation id is then set from the new event -- only when it is a string of sane length, so
a malformed event (a list, a nested object where the id should be) cannot break every log line.

Powertools reads its own settings (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, log level) from
the environment the Lambda factory sets; this module reads nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import jmespath
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from jmespath.exceptions import JMESPathError

from oratio.privacy import default_redactor, mask_number

DEFAULT_METRICS_NAMESPACE = "Oratio"
MAX_CORRELATION_ID_CHARS = 256
# Log fields that hold a caller's number: masked to the last four digits wherever they appear.
PHONE_FIELDS = frozenset({"caller", "caller_number", "customer_number", "from_number", "phone", "phone_number"})
# Powertools' own fields, never personal data: left as they are (and cheap to skip).
_OWN_FIELDS = frozenset(
    {
        "level",
        "location",
        "timestamp",
        "service",
        "sampling_rate",
        "xray_trace_id",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
    }
)


def redact_log_value(key: str, value: Any) -> Any:
    """A log field as it may be written: caller numbers masked, PII in text replaced by labels."""
    if key in PHONE_FIELDS and isinstance(value, str):
        return mask_number(value)
    if isinstance(value, str):
        return default_redactor().redact(value).text
    if isinstance(value, Mapping):
        return {k: redact_log_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_log_value(key, v) for v in value]
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with every field redacted before it is written: logs never carry a caller's
    number, e-mail or card number (identifiers of a tenant's own are redacted in stored transcripts)."""

    def serialize(self, log: Any) -> str:
        if isinstance(log, dict):
            log = {k: v if k in _OWN_FIELDS else redact_log_value(k, v) for k, v in log.items()}
        return super().serialize(log)


TRACED_MODULES = ("botocore",)

logger = Logger(logger_formatter=RedactingFormatter())
# Only botocore is patched (every AWS call traced): the default patches every library X-Ray knows, which imports
# httpx, requests, aiohttp and the rest into every function just to patch them.
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
if metrics.namespace is None:
    # Outside the Lambda factory's environment (local mode, tests) metrics still need a namespace to flush.
    metrics.namespace = DEFAULT_METRICS_NAMESPACE

Handler = TypeVar("Handler", bound=Callable[..., Any])


def correlation_id(event: Any, path: str) -> str | None:
    """The event's correlation id at a JMESPath `path`, when it is a non-empty string of sane length."""
    if not isinstance(event, Mapping):
        return None
    try:
        value = jmespath.search(path, event)
    except (JMESPathError, TypeError, ValueError):
        return None
    if isinstance(value, str) and 0 < len(value) <= MAX_CORRELATION_ID_CHARS:
        return value
    return None


def lambda_entry(*, correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Wrap a Lambda handler in the shared logger, tracer and metrics decorators, in the one order, with the
    logger's per-request keys cleared at the start of each invocation."""

    def decorate(handler: Handler) -> Handler:
        measured = metrics.log_metrics(capture_cold_start_metric=True)(handler)
        traced = tracer.capture_lambda_handler(measured)

        @functools.wraps(traced)
        def correlated(event: Any, context: Any) -> Any:
            if correlation_id_path is not None:
                logger.set_correlation_id(correlation_id(event, correlation_id_path))
            return traced(event, context)

        return cast(Handler, logger.inject_lambda_context(clear_state=True)(correlated))

    return decorate


__all__ = [
    "DEFAULT_METRICS_NAMESPACE",
    "TRACED_MODULES",
    "correlation_id",
    "lambda_entry",
    "logger",
    "metrics",
    "tracer",
]
