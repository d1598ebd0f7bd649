"""The business tools' egress guard, offline: the address policy as a table; the guarded client against a real
HTTPS server on 127.0.0.1 reached through the guard's seams (a fake resolver names public addresses, a connector
lands the checked address on the local server), so every request makes a real TLS handshake for the host name
and nothing reaches the network."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
import trustme

from oratio.agent.tools.base import ToolCall, ToolContext
from oratio.agent.tools.egress import EgressGuard, EgressRefused, GuardedTransport, guarded_http_client
from oratio.agent.tools.egress_policy import address_refusal, tool_url_refusal
from oratio.agent.tools.executor import ToolExecutor
from oratio.agent.tools.http_tool import HttpBusinessTool
from oratio.config.tenant import BusinessTool

HOST = "orders.cozycomfort.test"
PUBLIC = "93.184.216.34"  # what the fake resolver says the tenant's host is
CONTEXT = ToolContext(
    tenant_id="cozy-comfort", agent_id="front-desk", session_id="s-1", channel="chat", customer_key=None
)


# ------------------------------------------------------------------------------------------ the policy
@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.170.2", "a cloud metadata address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.8", "a private address"),
        ("172.16.4.1", "a private address"),
        ("192.168.1.20", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a reserved or shared address, not a public one"),
        ("0.0.0.0", "the unspecified address"),  # noqa: S104 - an address under test, nothing binds it
        ("224.0.0.251", "a multicast address"),
        ("::ffff:169.254.169.254", "a cloud metadata address (inside the IPv6 address)"),
        ("::ffff:10.0.0.1", "a private address (inside the IPv6 address)"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address (inside the IPv6 address)"),
        ("2002:a9fe:a9fe::1", "a cloud metadata address (inside the IPv6 address)"),
        ("::127.0.0.1", "a loopback address (inside the IPv6 address)"),
        (PUBLIC, None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_only_public_addresses_are_allowed(address: str, refusal: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == refusal


@pytest.mark.parametrize(
    "url",
    [
        "http://api.cozycomfort.com/x",
        "https://localhost/x",
        "https://api.localhost/x",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://printer.local/x",
        "https://intranet/x",
        "https://0x7f000001/x",
        "https://0177.0.0.1/x",
        "https://[::1]/x",
        "https://u:p@api.cozycomfort.com/x",
    ],
)
def test_urls_that_name_inside_are_refused_by_their_form(url: str) -> None:
    assert tool_url_refusal(url) is not None


def test_a_public_https_url_is_accepted() -> None:
    assert tool_url_refusal("https://api.cozycomfort.com:8443/v1/orders/status") is None


# ---------------------------------------------------------------------------------- a local HTTPS server
class Recorder:
    """The local server's script: an answer per path, and the requests it received."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (Host header, path)
        self.answers: dict[str, tuple[int, dict[str, str], bytes]] = {}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server(ca: trustme.CA) -> Iterator[tuple[int, Recorder]]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            recorder.requests.append((self.headers.get("Host", ""), self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = recorder.answers.get(self.path, (200, {}, b'{"status": "shipped"}'))
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "elsewhere.cozycomfort.test").configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], recorder
    httpd.shutdown()


class LocalConnector(httpcore.AsyncNetworkBackend):
    """Lands every connection on the local server, recording the address the guard asked for."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked: list[tuple[str, int]] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.asked.append((host, port))
        return await self._real.connect_tcp("127.0.0.1", self.port, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


class FakeResolver:
    """DNS as the test says it is; each call answers the next entry (the last one repeats)."""

    def __init__(self, **answers: list[list[str]]) -> None:
        self.answers = {host.replace("_", "."): list(seq) for host, seq in answers.items()}
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        sequence = self.answers.get(host)
        if not sequence:
            raise OSError("no such host")
        return sequence.pop(0) if len(sequence) > 1 else sequence[0]


def client_for(
    server: tuple[int, Recorder], ca: trustme.CA, resolver: FakeResolver, **options: Any
) -> tuple[httpx.AsyncClient, LocalConnector]:
    connector = LocalConnector(server[0])
    context = ssl.create_default_context()
    ca.configure_trust(context)
    client = guarded_http_client(EgressGuard(resolver), connector=connector, ssl_context=context)
    if options.get("follow_redirects"):
        client.follow_redirects = True
    return client, connector


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def resolver_for(*sequence: list[str]) -> FakeResolver:
    return FakeResolver(**{HOST.replace(".", "_"): list(sequence)})


# ------------------------------------------------------------------------------------------- the guard
def test_a_public_host_is_reached_at_the_address_that_was_checked_with_tls_for_its_name(
    server: tuple[int, Recorder], ca: trustme.CA
) -> None:
    resolver = resolver_for([PUBLIC])
    client, connector = client_for(server, ca, resolver)

    async def scenario() -> httpx.Response:
        async with client:
            return await client.get(f"https://{HOST}:8443/v1/orders/status")

    response = run(scenario())
    assert response.json() == {"status": "shipped"}
    assert connector.asked == [(PUBLIC, 8443)]  # the checked address, never the name for a second lookup
    assert resolver.calls == [HOST]
    assert server[1].requests[-1] == (f"{HOST}:8443", "/v1/orders/status")  # Host header kept


def test_the_certificate_is_still_verified_for_the_host_name(server: tuple[int, Recorder], ca: trustme.CA) -> None:
    other = "api.someone-else.test"  # resolves to a public address, but the server's certificate is not for it
    client, _ = client_for(server, ca, FakeResolver(**{other.replace(".", "_"): [[PUBLIC]]}))

    async def scenario() -> None:
        async with client:
            await client.get(f"https://{other}/v1/orders/status")

    with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        run(scenario())


@pytest.mark.parametrize(
    "addresses",
    [["169.254.169.254"], ["fd00:ec2::254"], ["10.0.0.8"], ["127.0.0.1"], [PUBLIC, "169.254.169.254"]],
    ids=["metadata-v4", "metadata-v6", "private", "loopback", "one-bad-among-good"],
)
def test_a_name_resolving_to_an_internal_address_is_refused_before_connecting(
    server: tuple[int, Recorder], ca: trustme.CA, addresses: list[str]
) -> None:
    client, connector = client_for(server, ca, resolver_for(addresses))

    async def scenario() -> None:
        async with client:
            await client.get(f"https://{HOST}/v1/orders/status")

    with pytest.raises(EgressRefused, match=f"{HOST!r} resolves to"):
        run(scenario())
    assert connector.asked == []


def test_dns_rebinding_after_the_check_reaches_nothing_inside(server: tuple[int, Recorder], ca: trustme.CA) -> None:
    # First lookup public (passes the check), every later one the metadata service.
    resolver = resolver_for([PUBLIC], ["169.254.169.254"])
    client, connector = client_for(server, ca, resolver)

    async def scenario() -> list[Any]:
        outcomes: list[Any] = []
        async with client:
            for _ in range(2):  # the server closes each connection, so each request connects again
                try:
                    outcomes.append((await client.get(f"https://{HOST}/v1/orders/status")).status_code)
                except EgressRefused as e:
                    outcomes.append(str(e))
        return outcomes

    first, second = run(scenario())
    assert first == 200
    assert "resolves to 169.254.169.254, a cloud metadata address" in second
    assert connector.asked == [(PUBLIC, 443)]  # the second connection never happened


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://metadata.cozycomfort.test/latest/meta-data/", "resolves to 169.254.169.254"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://orders.cozycomfort.test/plain", "may only call https:// URLs"),
    ],
)
def test_a_redirect_is_checked_like_a_first_request(
    server: tuple[int, Recorder], ca: trustme.CA, location: str, expected: str
) -> None:
    server[1].answers["/redirect"] = (302, {"Location": location}, b"")
    resolver = FakeResolver(**{HOST.replace(".", "_"): [[PUBLIC]], "metadata_cozycomfort_test": [["169.254.169.254"]]})
    client, connector = client_for(server, ca, resolver, follow_redirects=True)

    async def scenario() -> None:
        async with client:
            await client.get(f"https://{HOST}/redirect")

    with pytest.raises(EgressRefused, match=expected):
        run(scenario())
    assert connector.asked == [(PUBLIC, 443)]  # only the first hop connected


def test_plain_http_and_unix_sockets_are_refused() -> None:
    transport = GuardedTransport(EgressGuard(FakeResolver()))

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://api.cozycomfort.com/")

    with pytest.raises(EgressRefused, match="may only call https://"):
        run(scenario())


def test_a_name_that_does_not_resolve_is_refused_with_its_name() -> None:
    with pytest.raises(EgressRefused, match="does not resolve"):
        run(EgressGuard(FakeResolver()).vetted_addresses("nowhere.cozycomfort.test", 443))


def test_environment_proxies_cannot_route_around_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    client = guarded_http_client(EgressGuard(FakeResolver()))
    assert client._mounts == {}  # no proxy transport mounted from the environment
    assert isinstance(client._transport, GuardedTransport)


# ------------------------------------------------------------------------------------- through the tool
def tool(url: str, **overrides: Any) -> BusinessTool:
    schema = {"type": "object", "properties": {"order_number": {"type": "string"}}}
    fields: dict[str, Any] = {"name": "order_status", "description": "d", "url": url, "input_schema": schema}
    return BusinessTool.model_validate({**fields, **overrides})


def run_tool(client: httpx.AsyncClient, config: BusinessTool) -> Any:
    async def scenario() -> Any:
        async with client:
            executor = ToolExecutor([HttpBusinessTool(config, client)])
            [result] = await executor.run_all([ToolCall("use-1", config.name, {"order_number": "CC-1"})], CONTEXT)
            return result

    return run(scenario())


def test_a_business_tool_whose_host_resolves_inside_gets_a_refusal_not_the_metadata(
    server: tuple[int, Recorder], ca: trustme.CA
) -> None:
    client, connector = client_for(server, ca, resolver_for(["169.254.169.254"]))
    result = run_tool(client, tool(f"https://{HOST}/v1/orders/status"))
    assert result.status == "error"
    assert "not allowed to call its URL" in (result.error or "")
    assert connector.asked == []


def test_a_business_tool_reaches_a_public_host_through_the_guard(server: tuple[int, Recorder], ca: trustme.CA) -> None:
    client, connector = client_for(server, ca, resolver_for([PUBLIC]))
    result = run_tool(client, tool(f"https://{HOST}/v1/orders/status"))
    assert (result.status, result.content) == ("ok", {"status": "shipped"})
    assert connector.asked == [(PUBLIC, 443)]


def _vendor_defined(url: str) -> Any:
    """A vendor's agent whose definition adds a business tool (the tenant file's tools replaced)."""
    from oratio.agent_definitions.merge import resolve
    from oratio.agent_definitions.model import AgentOverrides
    from oratio.config import load_tenant_file

    overrides = AgentOverrides.model_validate(
        {"tools": {"builtin": ["end_call"], "business_tools": [tool(url).model_dump(mode="json")]}}
    )
    tenant = load_tenant_file(Path(__file__).resolve().parents[2] / "tenants" / "cozy-comfort.yaml")
    return resolve(tenant, "desk", overrides)


def test_a_vendor_defined_tool_whose_host_resolves_inside_is_refused_by_the_guard(
    server: tuple[int, Recorder], ca: trustme.CA
) -> None:
    client, connector = client_for(server, ca, resolver_for(["169.254.169.254"]))
    definition = _vendor_defined(f"https://{HOST}/v1/orders/status")

    async def scenario() -> Any:
        async with client:
            executor = ToolExecutor.from_definition(definition, http_client=client)
            [result] = await executor.run_all([ToolCall("use-1", "order_status", {"order_number": "CC-1"})], CONTEXT)
            return result

    result = run(scenario())
    assert result.status == "error"
    assert "not allowed to call its URL" in (result.error or "")
    assert connector.asked == []


def test_vendor_defined_tools_get_the_guarded_client_by_default_and_in_the_agent_runtime() -> None:
    from oratio.agent.assembly import tool_factory

    definition = _vendor_defined(f"https://{HOST}/v1/orders/status")
    for executor in (ToolExecutor.from_definition(definition), tool_factory(retriever=None)(definition)):  # type: ignore[arg-type]
        [business] = [t for t in executor._tools.values() if isinstance(t, HttpBusinessTool)]
        assert isinstance(business._client._transport, GuardedTransport)
        assert business._client._mounts == {}


def test_a_compressed_answer_that_was_not_asked_for_is_refused(server: tuple[int, Recorder], ca: trustme.CA) -> None:
    server[1].answers["/gzip"] = (200, {"Content-Encoding": "gzip"}, b"\x1f\x8b" + b"\x00" * 16)
    client, _ = client_for(server, ca, resolver_for([PUBLIC]))
    result = run_tool(client, tool(f"https://{HOST}/gzip"))
    assert result.status == "error"
    assert "'gzip'-encoded data, not asked for" in (result.error or "")


def test_a_server_that_drips_its_answer_is_cut_off_at_the_tools_timeout() -> None:
    async def drip() -> Any:
        yield b"{"
        for _ in range(100):
            await asyncio.sleep(0.05)  # each read well inside httpx's per-read timeout
            yield b" "

    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=drip())))
    result = run_tool(client, tool("https://api.cozycomfort.com/v1/orders/status", timeout_seconds=0.3))
    assert result.status == "timeout"
    assert json.dumps(result.for_model())  # a typed result the model can read
