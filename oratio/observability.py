"""Shared Powertools logger, tracer and metrics: every handler imports these and decorates the same way.

    @logger.inject_lambda_context(correlation_id_path=...)
    @tracer.capture_lambda_handler
    @metrics.log_metrics(capture_cold_start_metric=True)
    def lambda_handler(event, context): ...

Powertools reads its own settings (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, log level) from
the environment the Lambda factory sets; this module reads nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from oratio.privacy import default_redactor, mask_number

DEFAULT_METRICS_NAMESPACE = "Oratio"
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

__all__ = ["DEFAULT_METRICS_NAMESPACE", "TRACED_MODULES", "logger", "metrics", "tracer"]
