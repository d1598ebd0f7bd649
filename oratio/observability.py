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
TRACED_MODULES = ("botocore",)

logger = Logger()
# Only botocore is patched (every AWS call traced): the default patches every library X-Ray knows, which imports
# httpx, requests, aiohttp and the rest into every function just to patch them.
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
if metrics.namespace is None:
    # Outside the Lambda factory's environment (local mode, tests) metrics still need a namespace to flush.
    metrics.namespace = DEFAULT_METRICS_NAMESPACE

__all__ = ["DEFAULT_METRICS_NAMESPACE", "TRACED_MODULES", "logger", "metrics", "tracer"]
