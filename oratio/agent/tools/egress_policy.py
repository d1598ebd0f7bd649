"""Where the agent's HTTP tools may send requests: public HTTPS endpoints, never inside.

A tool's URL comes from a tenant file or a vendor, and the tool runs inside the platform's network, next to the
cloud's instance metadata service (169.254.169.254, fd00:ec2::254), the runtime's own endpoints and whatever
private addresses the account routes to. So an address is allowed only when it is globally routable -- not
loopback, private, link-local, shared (CGNAT), reserved, multicast or a cloud metadata address -- and the same
holds for an IPv4 address embedded in an IPv6 one (mapped, compatible, 6to4, NAT64). Names are judged twice: here,
without DNS, by their form (`localhost`, `.internal`, single-label names ... are refused), which is all a tenant
file's validation can do at synth; and at request time by the addresses they resolve to
(`oratio.agent.tools.egress`), which is what cannot be talked past.

Pure logic (no httpx, no I/O): the tenant configuration validates tool URLs with `tool_url_refusal`.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEME = "https"
# Cloud metadata and platform endpoints that are (or may be routed as) ordinary addresses, named for the message.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # EC2 / most clouds' instance metadata
        "fd00:ec2::254",  # EC2 instance metadata over IPv6
        "169.254.170.2",  # ECS task metadata and credentials
        "169.254.170.23",  # EKS Pod Identity agent
        "100.100.100.200",  # Alibaba Cloud metadata
        "192.0.0.192",  # Oracle Cloud metadata
        "168.63.129.16",  # Azure platform (WireServer), a public address
    )
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "instance-data", "metadata"})
# Name suffixes that only resolve inside a network (RFC 6761 / 6762, and what clouds use for private DNS).
INTERNAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".intranet", ".lan", ".home.arpa", ".corp")
INTERNAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in prefix for prefix in NAT64_PREFIXES) or address in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why a tool may not connect to `address` (a phrase for a message), or None when it is a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = address_refusal(embedded)
            if inner is not None:
                return f"{inner} (inside the IPv6 address)"
            if address in IPV4_COMPATIBLE:
                return "a deprecated IPv4-compatible IPv6 address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved or shared address, not a public one"
    return None


def host_refusal(host: str) -> str | None:
    """Why a host (a name or an address literal, as in a URL) is refused before any DNS lookup, or None."""
    host = host.strip().rstrip(".").lower()
    if not host:
        return "no host"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        refusal = address_refusal(address)
        return f"{address} is {refusal}" if refusal else None
    if host in INTERNAL_NAMES or host.endswith(INTERNAL_SUFFIXES):
        return f"{host!r} names this machine or a private network"
    if host in METADATA_NAMES:
        return f"{host!r} names a cloud metadata service"
    if "." not in host:
        return f"{host!r} is a single-label name that only resolves inside a network; use a fully qualified public name"
    if all(part.isdigit() for part in host.split(".")) or host.startswith("0x"):
        return f"{host!r} is an address in a non-standard notation; write it as a public host name"
    return None


def tool_url_refusal(url: str) -> str | None:
    """Why a tool URL may not be used (said to the person who wrote it), or None when it is acceptable.

    Checks the scheme (https only), credentials in the URL and the host's form; whether the host's addresses
    are public is checked again when the tool runs, after DNS resolution.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - validates the port
    except ValueError as e:
        return f"not a valid URL ({e})"
    if parts.scheme.lower() != ALLOWED_SCHEME:
        return f"tools may only call https:// URLs, not {parts.scheme or 'a scheme-less'}:// ones"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; authenticate with the headers the tool sends"
    refusal = host_refusal(host)
    if refusal is not None:
        return f"tools may not call internal addresses: {refusal}"
    return None
