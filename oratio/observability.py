"""Shared Powertools logger, tracer and metrics: every handler imports these and decorates the same way.

    @logger.inject_lambda_context(correlation_id_path=...)
    @tracer.capture_lambda_handler
    @metrics.log_metrics(capture_cold_start_metric=True)
    def lambda_handler(event, context): ...

Powertools reads its own settings (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, log level) from
the environment the Lambda factory sets; this module reads nothing else.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

DEFAULT_METRICS_NAMESPACE = "Oratio"

logger = Logger()
tracer = Tracer()
metrics = Metrics()
if metrics.namespace is None:
    # Outside the Lambda factory's environment (local mode, tests) metrics still need a namespace to flush.
    metrics.namespace = DEFAULT_METRICS_NAMESPACE

__all__ = ["DEFAULT_METRICS_NAMESPACE", "logger", "metrics", "tracer"]
