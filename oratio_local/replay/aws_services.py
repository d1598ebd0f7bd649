"""AWS services moto lacks, answered in process for a replay: Lambda `Invoke` (the function's handler, loaded
from its synthesized code asset, run with its synthesized environment) and AgentCore `InvokeAgentRuntime` (the
tenant agent app on 127.0.0.1). The deployed code calls them exactly as it does in AWS, with boto3: botocore
builds and signs the request, a `before-send` hook (registered ahead of moto's) answers it, and botocore parses
the answer with the service model. Nothing leaves the process but the loopback HTTP call to the agent.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import itertools
import json
import os
import ssl
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

from oratio.replay.deployment import Deployment, FunctionSpec
from oratio_local.events import lambda_context
from oratio_local.replay.clock import VirtualClock, participant

# The requests answered here: moto passes them through (to this hook), so it must never see them inactive.
PASSTHROUGH_URLS = (
    r"https://lambda\.[a-z0-9-]+\.amazonaws\.com/2015-03-31/functions/.+/invocations",
    r"https://bedrock-agentcore\.[a-z0-9-]+\.amazonaws\.com/runtimes/.+/invocations",
)
ANSWERED = ("lambda.Invoke", "bedrock-agentcore.InvokeAgentRuntime")
_loads = itertools.count()
_env_lock = threading.Lock()


class _RawBody(io.BytesIO):
    """What botocore reads a response body from (`stream()` for plain bodies, `read()` for streaming ones)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


class _HandlerOutput(threading.local):
    depth = 0


_in_handler = _HandlerOutput()


class _QuietStdout(io.TextIOBase):
    """stdout that drops what handlers print (their EMF metric lines) on whichever thread they run; a plain
    `redirect_stdout` is process-wide and gets unwound in the wrong order when handlers run on several threads."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def write(self, text: str) -> int:
        return len(text) if _in_handler.depth else self._real.write(text)

    def flush(self) -> None:
        self._real.flush()

    def isatty(self) -> bool:
        return bool(self._real.isatty())


@contextmanager
def quiet_handler() -> Iterator[None]:
    if not isinstance(sys.stdout, _QuietStdout):
        sys.stdout = _QuietStdout(sys.stdout)
    _in_handler.depth += 1
    try:
        yield
    finally:
        _in_handler.depth -= 1


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The one TLS context of the replay's HTTP clients (the agent is plain HTTP on loopback, but httpx makes a
    context per client unless given one, and loading the CA bundle costs ~10 ms each time)."""
    return ssl.create_default_context()


def _response(url: str, status: int, headers: dict[str, str], body: bytes) -> AWSResponse:
    return AWSResponse(url, status, {"Content-Length": str(len(body)), **headers}, _RawBody(body))


@dataclass
class LambdaContainer:
    """One warm container of a function: its handler module, loaded once, invoked many times."""

    spec: FunctionSpec
    module: ModuleType
    prepare: Callable[[ModuleType], None] | None = None

    def invoke(self, event: Any) -> Any:
        with _env_lock:
            os.environ.update(self.spec.environment)
        function = getattr(self.module, self.spec.handler.split(".", 1)[1])
        with quiet_handler(), participant():  # a handler's EMF metrics belong to CloudWatch
            return function(event, lambda_context(self.spec.name))


def load_asset_handler(asset_dir: Path, spec: FunctionSpec) -> ModuleType:
    """Import the handler file from the function's synthesized code asset, as a new Lambda container would."""
    module_name, _ = spec.handler.split(".", 1)
    path = asset_dir / f"{module_name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"{spec.logical_id}: handler {spec.handler!r} not found in its code asset {asset_dir}")
    name = f"replay_{spec.logical_id}_{next(_loads)}"
    loader = importlib.util.spec_from_file_location(name, path)
    if loader is None or loader.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module
    loader.loader.exec_module(module)
    return module


@dataclass
class AgentInvocation:
    """What one `InvokeAgentRuntime` carried and the events the agent streamed back."""

    session_id: str
    request: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LocalServices:
    """The in-process Lambda and AgentCore of one replay (active inside `activate()`)."""

    deployment: Deployment
    assets: Path
    clock: VirtualClock
    agent_url: str
    prepare: Callable[[FunctionSpec, ModuleType], None]
    on_agent_events: Callable[[AgentInvocation], None]
    agent_runtime_arn: str = ""
    _containers: dict[str, LambdaContainer] = field(default_factory=dict)
    _delays: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def container(self, arn_or_name: str) -> LambdaContainer:
        spec = self.deployment.function(arn_or_name)
        with self._lock:
            if spec.logical_id not in self._containers:
                module = load_asset_handler(self.assets / f"asset.{spec.asset_hash}", spec)
                self.prepare(spec, module)
                self._containers[spec.logical_id] = LambdaContainer(spec, module)
            return self._containers[spec.logical_id]

    def delay_next_agent_turn(self, seconds: float) -> None:
        """The next caller turn the agent answers takes `seconds` (on the replay clock)."""
        self._delays.append(seconds)

    # ---------------------------------------------------------------------------------- botocore
    def answer(self, event_name: str, request: Any) -> AWSResponse | None:
        if event_name.endswith("lambda.Invoke"):
            return self._lambda_invoke(request)
        if event_name.endswith("bedrock-agentcore.InvokeAgentRuntime"):
            return self._agent_invoke(request)
        return None

    def _lambda_invoke(self, request: Any) -> AWSResponse:
        path = urlsplit(request.url).path  # /2015-03-31/functions/{FunctionName}/invocations
        name = unquote(path.split("/functions/", 1)[1].rsplit("/invocations", 1)[0])
        headers = {"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"}
        delay = self._delays.pop(0) if self._delays and _is_caller_turn(request.body) else 0.0
        if delay:  # the agent takes this long: the worker starts its turn that much later, on the replay clock
            self.clock.sleep_until(delay)
        with self.clock.busy():
            container = self.container(name)
            try:
                result = container.invoke(json.loads(request.body or b"{}"))
                body = json.dumps(result).encode()
            except Exception as e:  # Lambda reports an unhandled error in the payload, status 200
                headers["X-Amz-Function-Error"] = "Unhandled"
                body = json.dumps(
                    {
                        "errorMessage": str(e),
                        "errorType": type(e).__name__,
                        "stackTrace": traceback.format_exc().splitlines(),
                    }
                ).encode()
        return _response(request.url, 200, headers, body)

    def _agent_invoke(self, request: Any) -> AWSResponse:
        import httpx

        parts = urlsplit(request.url)
        arn = unquote(parts.path.removeprefix("/runtimes/").rsplit("/invocations", 1)[0])
        session = _header(request, "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id")
        if self.agent_runtime_arn and arn != self.agent_runtime_arn:
            body = json.dumps({"message": f"no runtime {arn} in this account"}).encode()
            return _response(request.url, 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, body)
        payload = bytes(request.body or b"")
        invocation = AgentInvocation(session, json.loads(payload or b"{}"))
        with self.clock.busy():
            with httpx.Client(base_url=self.agent_url, timeout=30.0, verify=_tls_context()) as client:
                reply = client.post(
                    "/invocations",
                    content=payload,
                    headers={
                        "Content-Type": "application/json",
                        "Accept": "text/event-stream",
                        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session,
                    },
                )
            for line in reply.text.splitlines():
                if line.startswith("data:"):
                    invocation.events.append(json.loads(line.removeprefix("data:").strip()))
            self.on_agent_events(invocation)
        headers = {
            "Content-Type": reply.headers.get("content-type", "text/event-stream"),
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session,
        }
        return _response(request.url, reply.status_code, headers, reply.content)


def _header(request: Any, name: str) -> str:
    """A header of botocore's prepared request as text: botocore holds header values as bytes (`str()` of
    them gave the agent the session id "b'…'", so the agent's turns were recorded under a session nobody reads)."""
    value = request.headers.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def _is_caller_turn(body: bytes | None) -> bool:
    """Whether an invoke payload is a turn job for a caller's words (what a slow agent delays)."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return False
    return isinstance(payload, dict) and "text" in payload.get("request", {}).get("input", {})


class _Dispatcher:
    """The `before-send` hook: answers for the active services, passes everything else on (to moto)."""

    def __init__(self) -> None:
        self.active: LocalServices | None = None

    def __call__(self, request: Any = None, event_name: str = "", **_: Any) -> AWSResponse | None:
        services = self.active
        if request is None or not event_name.endswith(ANSWERED):
            return None
        if services is None:  # moto passes these through: never let one reach the network
            raise RuntimeError(f"{event_name}: no local Lambda/AgentCore is active (use aws_services.activate)")
        return services.answer(event_name, request)


_dispatcher = _Dispatcher()
if not any(spec[1] is _dispatcher for spec in BUILTIN_HANDLERS):
    from botocore.handlers import REGISTER_FIRST as _FIRST

    BUILTIN_HANDLERS.append(("before-send", _dispatcher, _FIRST))


@contextmanager
def activate(services: LocalServices) -> Iterator[LocalServices]:
    """Answer Lambda and AgentCore calls with `services` for the block (clients made inside it see the hook)."""
    _dispatcher.active = services
    try:
        yield services
    finally:
        _dispatcher.active = None
