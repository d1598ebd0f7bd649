"""OpenTelemetry spans of the code that runs on AgentCore Runtime (the tenant agent, the voice bridge), which
AgentCore's observability collects through the AWS Distro for OpenTelemetry (ADOT): a turn, each model call,
each tool, persistence — every span carrying the session id (the ContactId on Connect calls).

Only the OpenTelemetry API is used here: without a configured SDK (tests, local runs) spans are no-ops. On
AgentCore the runtime sets the OTEL_* environment and `configure_from_environment()` starts ADOT's
auto-instrumentation (the same thing `opentelemetry-instrument` does) when the distro is installed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

logger = logging.getLogger(__name__)

TRACER_NAME = "oratio"

# ADOT (aws-opentelemetry-distro 0.21) loads every instrumentation it ships at start-up — Django, Kafka, MySQL,
# Celery and some forty more — checking each one's dependencies against the installed packages and importing
# those whose library is present. The runtimes call AWS through botocore, serve through Starlette (the
# AgentCore app) and make HTTP calls with httpx (business tools, messaging channels); spans and log
# correlation need only these. The rest are disabled unless the runtime's environment sets
# OTEL_PYTHON_DISABLED_INSTRUMENTATIONS itself (`bench bridge_first_call` shows the start-up this saves).
DISABLED_INSTRUMENTATIONS_ENV = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
INSTRUMENTATIONS_NOT_USED = (
    "aio-pika,aiobotocore,aiohttp-client,aiokafka,aiopg,asyncpg,aws-lambda,aws_crewai,aws_langchain,"
    "aws_llama-index,aws_mcp,aws_openai_agents,boto3,cassandra,celery,confluent_kafka,django,falcon,fastapi,"
    "flask,grpc_aio_client,grpc_aio_server,grpc_client,grpc_server,httpx2,jinja2,kafka,mysql,mysqlclient,pika,"
    "psycopg2,pymemcache,pymongo,pymysql,pyramid,redis,remoulade,requests,sqlalchemy,sqlite3,system_metrics,"
    "tornado,tortoiseorm,urllib,urllib3"
)
SESSION_ID = "session.id"  # the attribute AgentCore's observability groups sessions by
CONTACT_ID = "oratio.contact_id"


def tracer() -> trace.Tracer:
    """The tracer of the current provider (looked up each time, so a provider set later is used)."""
    return trace.get_tracer(TRACER_NAME)


def session_attributes(*, session_id: str, tenant_id: str, agent_id: str | None, channel: str | None) -> dict[str, str]:
    attributes = {SESSION_ID: session_id, CONTACT_ID: session_id, "oratio.tenant_id": tenant_id}
    if agent_id:
        attributes["oratio.agent_id"] = agent_id
    if channel:
        attributes["oratio.channel"] = channel
    return attributes


def start_child(parent: Span | None, name: str, attributes: Mapping[str, Any], start_time: int | None = None) -> Span:
    """A span under `parent` (explicit parent: async generators cannot hold a current span across yields)."""
    context = trace.set_span_in_context(parent) if parent is not None else None
    return tracer().start_span(name, context=context, attributes=dict(attributes), start_time=start_time)


def end_span(span: Span, *, error: str | None = None, end_time: int | None = None) -> None:
    if error:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=end_time)


def configure_from_environment(environ: Mapping[str, str] | None = None) -> bool:
    """Start ADOT's auto-instrumentation on AgentCore (OTEL_* set by the runtime, distro installed), with the
    instrumentations Oratio does not use disabled (`INSTRUMENTATIONS_NOT_USED`, unless the environment names
    its own); True if it started. A missing distro or environment leaves the no-op API in place."""
    env = os.environ if environ is None else environ
    if not any(key.startswith("OTEL_") for key in env):
        return False
    try:
        from opentelemetry.instrumentation.auto_instrumentation import initialize
    except ImportError:
        logger.info("aws-opentelemetry-distro not installed; spans are not exported")
        return False
    os.environ.setdefault(DISABLED_INSTRUMENTATIONS_ENV, INSTRUMENTATIONS_NOT_USED)
    initialize()
    return True
