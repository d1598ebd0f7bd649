"""The vendor console served locally, as CloudFront serves it in the platform: the built console (`console/dist`),
its `config.json`, and the vendor API under the same origin (`/api/*`), on 127.0.0.1.

Behind `/api/*` is the vendor API Lambda handler, in process (the same one the API tests drive), reached through a
local authorizer that does what API Gateway's Cognito authorizer does: a missing or invalid ID token answers the
gateway's 401, a valid one puts its claims in the proxy event. Three stand-ins, each honest about what it is:

- `/cognito/`: `CognitoStandIn`, the vendor pool's SRP + TOTP sign-in over Cognito's wire protocol; the console's
  `config.json` points its Cognito client there (`cognitoEndpoint`, which the deployed config never carries);
- `/local-s3/<bucket>`: S3's presigned-POST endpoint for knowledge uploads (the API's presigned POST is addressed
  here instead of S3): it checks the form carries the signed policy's key, content type and size range, stores
  the object in (moto) S3 and tells the ingestion coordinator, as S3's event notification does;
- the ingestion schedule: each poll of a document list first runs the coordinator's tick, with `LocalIngestionJobs`
  standing in for Bedrock's ingestion-job API.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from oratio.console_security import content_security_policy
from oratio.vendors.ingestion import (
    DocumentIngestionState,
    DocumentOutcome,
    IngestionCoordinator,
    IngestionJob,
    IngestionJobNotFound,
    JobStatus,
    UploadedObject,
)
from oratio_local.cognito_standin import CognitoError, CognitoStandIn
from oratio_local.events import api_gateway_event, lambda_context

ROOT = Path(__file__).resolve().parents[1]
CONSOLE_DIST = ROOT / "console" / "dist"
API_PREFIX = "/api/"
COGNITO_PATH = "/cognito/"
S3_PREFIX = "/local-s3/"
PUBLIC_GETS = frozenset({"/api/v1/health", "/api/v1/openapi.json"})
# API Gateway's UNAUTHORIZED gateway response, as stacks/constructs/vendor_api.py configures it.
UNAUTHORIZED = {"error": "unauthenticated", "message": "a valid vendor token is required (Authorization header)"}
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
INTERNAL_ERROR = json.dumps({"error": "internal_error", "message": "the local console server failed"}).encode()
logger = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class LocalIngestionJobs:
    """Bedrock's ingestion-job API for the local mode: a job scans every document of the bucket (as a data source
    sync does), is in progress the first `looks_to_finish - 1` times it is looked at and complete after; a document
    is indexed unless its file holds no text (only whitespace), which fails with that reason."""

    def __init__(
        self, list_keys: Callable[[], list[str]], read_object: Callable[[str], bytes], *, looks_to_finish: int = 2
    ) -> None:
        self._list = list_keys
        self._read = read_object
        self._looks_to_finish = looks_to_finish
        self._jobs: dict[str, IngestionJob] = {}
        self._looks: dict[str, int] = {}

    def start(self, client_token: str, description: str) -> IngestionJob:
        job = IngestionJob(job_id=uuid.uuid4().hex[:10].upper(), status=JobStatus.STARTING)
        self._jobs[job.job_id] = job
        return job

    def get(self, job_id: str) -> IngestionJob:
        if job_id not in self._jobs:
            raise IngestionJobNotFound(job_id)
        self._looks[job_id] = self._looks.get(job_id, 0) + 1
        if self._looks[job_id] < self._looks_to_finish:
            running = self._jobs[job_id].model_copy(update={"status": JobStatus.IN_PROGRESS})
            self._jobs[job_id] = running
            return running
        keys = self._list()
        failed = sum(1 for key in keys if not self._read(key).strip())
        finished = self._jobs[job_id].model_copy(
            update={"status": JobStatus.COMPLETE, "documents_scanned": len(keys), "documents_failed": failed}
        )
        self._jobs[job_id] = finished
        return finished

    def document_outcomes(self, s3_keys: Sequence[str]) -> dict[str, DocumentOutcome]:
        outcomes = {}
        for key in s3_keys:
            text = self._read(key)
            outcomes[key] = (
                DocumentOutcome(DocumentIngestionState.INDEXED)
                if text.strip()
                else DocumentOutcome(DocumentIngestionState.FAILED, "the file has no text to index")
            )
        return outcomes


@dataclass
class LocalKnowledge:
    """The tenant's knowledge bucket (moto S3) and its ingestion coordinator."""

    bucket: str
    s3: Any
    coordinator: IngestionCoordinator
    _sequence: int = field(default=0)

    def stored(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        self._sequence += 1
        sequencer = format(self._sequence, "018X")
        self.coordinator.on_uploads([UploadedObject(key=key, size_bytes=len(body), sequencer=sequencer)])

    def tick(self) -> None:
        self.coordinator.on_tick()


class ConsoleServer:
    """Serves the console, its config and the vendor API on 127.0.0.1 (a free port unless `port` is given)."""

    def __init__(
        self,
        handler: LambdaHandler,
        cognito: CognitoStandIn,
        *,
        knowledge: dict[str, LocalKnowledge] | None = None,
        dist: Path = CONSOLE_DIST,
        port: int = 0,
        region: str = "us-east-1",
    ) -> None:
        if not (dist / "index.html").is_file():
            raise FileNotFoundError(f"the console is not built ({dist / 'index.html'} is missing): run `make setup`")
        self.handler = handler
        self.cognito = cognito
        self.knowledge = knowledge or {}
        self.dist = dist.resolve()
        self.region = region
        # One request at a time reaches the handler and moto (as one Lambda container would serve them).
        self.lock = threading.Lock()
        self.fail_next: dict[str, tuple[int, dict[str, Any]]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def config(self) -> dict[str, str]:
        return {
            "apiBaseUrl": self.url,
            "userPoolId": self.cognito.user_pool_id,
            "userPoolClientId": self.cognito.client_id,
            "region": self.region,
            "cognitoEndpoint": self.url + COGNITO_PATH,
        }

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, name="console-server", daemon=True)
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ the API behind the local authorizer
    def call_api(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Any:
        token = headers.get("authorization", "")
        claims = self.cognito.verify_id_token(token) if token else None
        if claims is None and not (method == "GET" and path in PUBLIC_GETS):
            return HTTPStatus.UNAUTHORIZED, {"Content-Type": "application/json"}, json.dumps(UNAUTHORIZED).encode()
        forced = self.fail_next.pop(f"{method} {path}", None)
        if forced is not None:  # a scripted failure (tests: what the console shows when the API fails)
            status, payload = forced
            return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()
        event = api_gateway_event(
            method,
            path,
            raw_body=body.decode("utf-8", errors="replace") if body else None,
            vendor_id=None,
            headers={k.title(): v for k, v in headers.items() if k not in {"host", "content-length"}},
            query=query or None,
        )
        event["requestContext"]["authorizer"] = {"claims": {k: str(v) for k, v in (claims or {}).items()}}
        with self.lock:
            if method == "GET" and path.endswith("/knowledge"):
                for knowledge in self.knowledge.values():  # the ingestion schedule's tick
                    knowledge.tick()
            response = self.handler(event, lambda_context("oratio-vendor-api"))
        text = response.get("body") or ""
        raw = base64.b64decode(text) if response.get("isBase64Encoded") else text.encode()
        out_headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
        if method == "POST" and path.endswith("/knowledge") and response["statusCode"] < 300:
            raw = self._address_uploads_here(raw)
        return response["statusCode"], out_headers, raw

    def _address_uploads_here(self, raw: bytes) -> bytes:
        """The API's presigned POST, addressed to the local S3 stand-in instead of S3 (an endpoint override)."""
        payload = json.loads(raw)
        bucket = str(urlsplit(payload["upload"]["url"]).hostname).split(".s3.")[0]
        payload["upload"]["url"] = f"{self.url}{S3_PREFIX}{bucket}"
        return json.dumps(payload).encode()

    # ------------------------------------------------------------------ S3's presigned POST
    def post_object(self, bucket: str, content_type: str, body: bytes) -> tuple[int, bytes]:
        knowledge = self.knowledge.get(bucket)
        if knowledge is None:
            return HTTPStatus.NOT_FOUND, _s3_error("NoSuchBucket", "The specified bucket does not exist")
        form = _parse_form(content_type, body)
        if form is None or "file" not in form or "policy" not in form or "key" not in form:
            return HTTPStatus.BAD_REQUEST, _s3_error("InvalidArgument", "POST requires key, policy and a file field")
        policy = json.loads(base64.b64decode(form["policy"][0]))
        problem = _policy_problem(policy, bucket, form)
        if problem is not None:
            return HTTPStatus.FORBIDDEN if problem[0] == "AccessDenied" else HTTPStatus.BAD_REQUEST, _s3_error(*problem)
        key = form["key"][0].decode()
        with self.lock:
            knowledge.stored(key, form["file"][0], form["Content-Type"][0].decode())
        return HTTPStatus.NO_CONTENT, b""


def _s3_error(code: str, message: str) -> bytes:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


def _parse_form(content_type: str, body: bytes) -> dict[str, list[bytes]] | None:
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, list[bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields.setdefault(name, []).append(payload if isinstance(payload, bytes) else b"")
    return fields


def _policy_problem(policy: dict[str, Any], bucket: str, form: dict[str, list[bytes]]) -> tuple[str, str] | None:
    """What S3 would refuse in this POST against its signed policy's conditions (bucket, key, content type, size)."""
    size = len(form["file"][0])
    for condition in policy.get("conditions", []):
        if isinstance(condition, dict):
            for name, expected in condition.items():
                actual = bucket if name == "bucket" else form.get(name, [b""])[0].decode()
                if actual != expected:
                    return "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {name}"
        elif isinstance(condition, list) and condition and condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if size < low:
                return "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
            if size > high:
                return "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
    return None


def _handler_class(server: ConsoleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests and `make console` print what matters

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_UPLOAD_BYTES:
                raise ValueError("request too large")
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
            body = self._body()
            if path.startswith(API_PREFIX):
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out, raw = server.call_api(self.command, path, query, headers, body)
                self._send(status, out, raw)
            elif path == COGNITO_PATH and self.command == "POST":
                self._cognito(body)
            elif path.startswith(S3_PREFIX) and self.command == "POST":
                status, raw = server.post_object(
                    path.removeprefix(S3_PREFIX).strip("/"), self.headers.get("Content-Type", ""), body
                )
                self._send(status, {"Content-Type": "application/xml"} if raw else {}, raw)
            elif self.command in {"GET", "HEAD"}:
                self._static(path)
            else:
                self._send(HTTPStatus.METHOD_NOT_ALLOWED, {"Content-Type": "text/plain"}, b"method not allowed")

        def _cognito(self, body: bytes) -> None:
            target = self.headers.get("X-Amz-Target", "")
            try:
                answer = server.cognito.handle(target, json.loads(body or b"{}"))
                status = HTTPStatus.OK
            except CognitoError as e:
                answer, status = {"__type": e.kind, "message": e.message}, HTTPStatus.BAD_REQUEST
            except ValueError:
                answer = {"__type": "SerializationException", "message": "body is not JSON"}
                status = HTTPStatus.BAD_REQUEST
            self._send(status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(answer).encode())

        def _static(self, path: str) -> None:
            if path == "/config.json":
                self._send(HTTPStatus.OK, {"Content-Type": "application/json"}, json.dumps(server.config()).encode())
                return
            target = (server.dist / (path.lstrip("/") or "index.html")).resolve()
            if not target.is_relative_to(server.dist) or not target.is_file():
                self._send(HTTPStatus.NOT_FOUND, {"Content-Type": "text/plain"}, b"not found")
                return
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, {"Content-Type": kind, **SECURITY_HEADERS}, target.read_bytes())

        def _safely(self) -> None:
            try:
                self._dispatch()
            except Exception:  # a bug here must answer, not hang the browser
                logger.exception("console server failed on %s %s", self.command, self.path)
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"Content-Type": "application/json"}, INTERNAL_ERROR)

        def do_GET(self) -> None:
            self._safely()

        def do_HEAD(self) -> None:
            self._safely()

        def do_POST(self) -> None:
            self._safely()

        def do_PUT(self) -> None:
            self._safely()

        def do_DELETE(self) -> None:
            self._safely()

    return Handler


# The platform's CSP, locally (the same policy, less the hosts it has no need of here): the console must run
# under it (the browser tests would see a violation).
SECURITY_HEADERS = {
    "Content-Security-Policy": content_security_policy(media_sources=["'self'", "blob:"], upgrade_insecure=False),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
