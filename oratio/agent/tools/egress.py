"""The agent's outbound HTTP: every business tool request (tenant-file tools, vendor-defined ones) goes through
`guarded_http_client()`, whose transport refuses what `egress_policy` refuses, at the moment of connecting.

How it cannot be talked past:
- **After DNS, on the address connected to.** httpx's connection pool opens TCP connections through a network
  backend; ours (`GuardedNetworkBackend`) resolves the host once, refuses the whole host if any address it resolves
  to is not public, and connects to those checked addresses themselves -- never handing the name to a second
  resolution, so a DNS rebinding between check and connect changes nothing. TLS is still negotiated for the host
  name (SNI and certificate verification use the URL's host, as httpcore passes it to `start_tls`).
- **On every request, so every redirect.** The transport checks each request's scheme (https only) and each
  connection's host, so a redirect to http:// or to an internal name fails like a first request would (the
  business tool does not follow redirects at all; a client that does is still covered).
- **No detours.** No proxy (environment proxy settings are ignored: they would route around the backend), no
  Unix sockets.

The resolver is a seam: tests give a fake one, and a fake connector that lands the checked address on a local
test server, so nothing reaches the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable

import certifi
import httpcore
import httpx

from oratio.agent.tools.egress_policy import ALLOWED_SCHEME, address_refusal, host_refusal

Resolver = Callable[[str, int], Awaitable[list[str]]]
# Enough for a dual-stack name behind a few load balancers; more addresses than this are not tried.
MAX_ADDRESSES = 8
DEFAULT_RESOLVE_TIMEOUT_SECONDS = 5.0
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class EgressRefused(Exception):
    """A tool request the egress policy refuses; the message names the host and why (never a response body)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the operating system's resolver, in its order, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EgressGuard:
    """Decides which addresses a host may be reached at: all of them public, or none at all."""

    def __init__(
        self, resolver: Resolver = system_resolver, *, resolve_timeout_seconds: float = DEFAULT_RESOLVE_TIMEOUT_SECONDS
    ) -> None:
        self._resolve = resolver
        self._resolve_timeout = resolve_timeout_seconds

    async def vetted_addresses(self, host: str, port: int) -> list[str]:
        """The public addresses to connect to for `host`; `EgressRefused` when the host or any of its
        addresses is internal, or when it does not resolve."""
        refusal = host_refusal(host)
        if refusal is not None:
            raise EgressRefused(f"refused to connect: {refusal}")
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]  # a public literal: nothing to resolve
        except ValueError:
            pass
        try:
            async with asyncio.timeout(self._resolve_timeout):
                resolved = await self._resolve(host, port)
        except (OSError, TimeoutError) as e:
            raise EgressRefused(f"refused to connect: {host!r} does not resolve ({type(e).__name__})") from e
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolved[:MAX_ADDRESSES]]
        if not addresses:
            raise EgressRefused(f"refused to connect: {host!r} resolves to no address")
        for address in addresses:
            refusal = address_refusal(address)
            if refusal is not None:
                # One internal address refuses the name: a split-horizon or rebinding name must not be tried.
                raise EgressRefused(f"refused to connect: {host!r} resolves to {address}, {refusal}")
        return [str(a) for a in addresses]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard vetted (through `connector`)."""

    def __init__(self, guard: EgressGuard, connector: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._connector = connector or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception = EgressRefused(f"refused to connect: no address to connect to for {host!r}")
        for address in await self._guard.vetted_addresses(host, port):
            try:
                return await self._connector.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                failure = e  # the next vetted address may answer
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("refused to connect: tools may not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._connector.sleep(seconds)


def default_ssl_context() -> ssl.SSLContext:
    """Certificate verification against certifi's CA bundle, host names checked (what httpx does by default)."""
    return ssl.create_default_context(cafile=certifi.where())


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections are opened by `GuardedNetworkBackend` and whose requests must be
    https. (httpx builds its own connection pool; it is replaced by one with the guarded backend, the only
    way httpx 0.28 lets a network backend in -- `tests/unit/test_egress.py` proves the guard is in the path.)"""

    def __init__(
        self,
        guard: EgressGuard | None = None,
        *,
        connector: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        context = ssl_context or default_ssl_context()
        super().__init__(verify=context, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(guard or EgressGuard(), connector),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != ALLOWED_SCHEME:
            raise EgressRefused(f"refused to connect: tools may only call https:// URLs, not {request.url.scheme}://")
        return await super().handle_async_request(request)


def guarded_http_client(
    guard: EgressGuard | None = None,
    *,
    connector: httpcore.AsyncNetworkBackend | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The HTTP client business tools use: guarded transport, no environment proxies, no redirects."""
    return httpx.AsyncClient(
        transport=GuardedTransport(guard, connector=connector, ssl_context=ssl_context),
        trust_env=False,
        follow_redirects=False,
    )
