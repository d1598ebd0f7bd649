"""The vendor API's AgentCreator routes: submit an SOP for an agent, follow the job, retry it from the failed stage.
Approving the candidate is the versions API's publish (`version_routes`), which calls `record_approval`.

`POST .../sop` is the one operation whose body need not be JSON: the SOP as `text/plain` or `text/markdown`, or
JSON `{"sop": "..."}`. The gate asks `body_policy` what a path takes before it refuses a media type or a size;
API Gateway passes text bodies base64-encoded (the REST API lists them as binary media types), so non-UTF-8
bytes reach `decode_sop` as sent instead of being replaced on the way.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oratio.agent_creator.jobs import JOB_ID_PATTERN, MAX_SOP_BYTES, SOP_TEXT_MEDIA_TYPES
from oratio.creator_launch import ARTIFACT_BUCKET_ENV_VAR, CREATOR_JOBS_TABLE_ENV_VAR
from oratio.domain.agents import AGENT_ID_PATTERN
from oratio.vendors.api.context import BASE, SECURITY, AgentId, RouteContext
from oratio.vendors.api.responses import ok
from oratio.vendors.creator import CreatorJobAccepted, CreatorJobDetail, CreatorService
from oratio.vendors.errors import InvalidSop

CREATOR_RUNTIME_ARN_ENV_VAR = "ORATIO_AGENT_CREATOR_RUNTIME_ARN"
MAX_SOP_BYTES_ENV_VAR = "ORATIO_MAX_SOP_BYTES"

JSON_MEDIA_TYPE = "application/json"
SOP_MEDIA_TYPES = (*SOP_TEXT_MEDIA_TYPES, JSON_MEDIA_TYPE)
# JSON escaping can make each byte of the SOP six characters (\u00XX): the gate lets such a body through and the
# route measures the SOP itself after parsing.
JSON_ESCAPE_FACTOR = 6
SOP_PATH = re.compile(rf"^{BASE}/agents/{AGENT_ID_PATTERN.strip('^$')}/sop$")
SOP_OPERATION = f"{BASE}/agents/{{agent_id}}/sop"

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the AgentCreator job's id")]


class CreatorApiSettings(BaseModel):
    """The AgentCreator routes' environment (set by the vendor API construct); read on first use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime_arn: str = Field(min_length=1, description="the AgentCreator runtime the jobs are launched on")
    jobs_table: str = Field(min_length=1)
    artifact_bucket: str = Field(min_length=1, description="where the SOP and large stage outputs are kept")
    max_sop_bytes: int = Field(default=MAX_SOP_BYTES, gt=0, le=MAX_SOP_BYTES)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> CreatorApiSettings:
        env = os.environ if environ is None else environ
        values = {
            "runtime_arn": env.get(CREATOR_RUNTIME_ARN_ENV_VAR),
            "jobs_table": env.get(CREATOR_JOBS_TABLE_ENV_VAR),
            "artifact_bucket": env.get(ARTIFACT_BUCKET_ENV_VAR),
            "max_sop_bytes": env.get(MAX_SOP_BYTES_ENV_VAR),
        }
        return cls.model_validate({k: v for k, v in values.items() if v is not None})


class SopSubmission(BaseModel):
    """`POST .../sop` as JSON: the SOP's text."""

    model_config = ConfigDict(extra="forbid")

    sop: str = Field(description="the SOP as text or Markdown (at most 256 KiB of UTF-8)")


@dataclass(frozen=True)
class BodyPolicy:
    media_types: tuple[str, ...]
    max_bytes: int


def body_policy(method: str, path: str, max_sop_bytes: int = MAX_SOP_BYTES) -> BodyPolicy | None:
    """What the gate lets through for an operation whose body is not the API's usual JSON (None: the usual)."""
    if method == "POST" and SOP_PATH.match(path):
        return BodyPolicy(SOP_MEDIA_TYPES, max_sop_bytes * JSON_ESCAPE_FACTOR)
    return None


def sop_bytes(content_type: str, body: str | None, is_base64: bool) -> bytes:
    """The SOP as the vendor sent it, from the request's media type and body."""
    raw = body or ""
    if is_base64:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InvalidSop("the request body is not valid base64; send the SOP as UTF-8 text or Markdown") from e
    else:
        data = raw.encode("utf-8", errors="surrogatepass")
    if content_type != JSON_MEDIA_TYPE:
        return data
    try:
        submission = SopSubmission.model_validate_json(data)
    except ValidationError as e:
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in e.errors(include_url=False)]
        ) from e
    return submission.sop.encode("utf-8", errors="surrogatepass")


def register(app: APIGatewayRestResolver, ctx: RouteContext, creator: Callable[[], CreatorService]) -> None:
    def request_id() -> str:
        return str(app.current_event.request_context.request_id or "unknown")

    @app.post(
        f"{BASE}/agents/<agent_id>/sop",
        summary="Submit an SOP: AgentCreator writes a reviewed, tested candidate version of the agent (202 + job)",
        description=(
            "The body is the SOP as text/plain or text/markdown (UTF-8, at most 256 KiB), or JSON "
            '`{"sop": "..."}`. The job runs in the background: follow it at the Location. The candidate '
            "version it writes goes live only when you publish it (POST .../versions/{version}/publish)."
        ),
        status_code=202,
        responses=ok(202, "Accepted: the job is queued (see Location)", 400, 404),
        security=SECURITY,
        tags=["agent creator"],
    )
    def submit_sop(agent_id: AgentId) -> Response[CreatorJobAccepted]:
        event = app.current_event
        media_type = (event.headers.get("content-type") or JSON_MEDIA_TYPE).split(";")[0].strip().lower()
        sop = sop_bytes(media_type, event.body, bool(event.is_base64_encoded))
        accepted = creator().submit(ctx.vendor_id(), agent_id, sop, ctx.author(), request_id())
        return _accepted(accepted)

    @app.get(
        f"{BASE}/creator-jobs/<job_id>",
        summary="An AgentCreator job: each stage's status and output, the report, the candidate version when written",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["agent creator"],
    )
    def get_creator_job(job_id: JobId) -> CreatorJobDetail:
        return creator().job(ctx.vendor_id(), job_id)

    @app.post(
        f"{BASE}/creator-jobs/<job_id>/retry",
        summary="Retry a failed AgentCreator job from the stage it failed at (earlier stages' outputs are reused)",
        status_code=202,
        responses=ok(202, "Accepted: the job is queued again (see Location)", 404, 409),
        security=SECURITY,
        tags=["agent creator"],
    )
    def retry_creator_job(job_id: JobId) -> Response[CreatorJobAccepted]:
        return _accepted(creator().retry(ctx.vendor_id(), job_id, ctx.author(), request_id()))


def _accepted(accepted: CreatorJobAccepted) -> Response[CreatorJobAccepted]:
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=accepted,
        headers={"Location": accepted.location},
    )


def document(openapi: dict[str, Any], max_sop_bytes: int = MAX_SOP_BYTES) -> None:
    """Describe `POST .../sop`'s body and its 202 in the OpenAPI document (the route reads the body itself,
    because the resolver's validation only parses JSON and forms)."""
    operation = openapi["paths"][SOP_OPERATION]["post"]
    text = {"schema": {"type": "string", "minLength": 1, "maxLength": max_sop_bytes}}
    operation["requestBody"] = {
        "required": True,
        "content": {
            **{media: text for media in SOP_TEXT_MEDIA_TYPES},
            JSON_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/SopSubmission"}},
        },
    }
    openapi.setdefault("components", {}).setdefault("schemas", {})["SopSubmission"] = SopSubmission.model_json_schema()
    location = {"Location": {"description": "the job's path", "schema": {"type": "string"}}}
    for path in (SOP_OPERATION, f"{BASE}/creator-jobs/{{job_id}}/retry"):
        openapi["paths"][path]["post"]["responses"]["202"]["headers"] = location
