"""SSRF guard for every outgoing request (feeds, pages, robots.txt, webhooks).

Two layers share one set of rules:

* ``check_url_syntax`` runs at registration time and per redirect hop, with no network calls:
  scheme, host names, zone ids and literal addresses (including legacy numeric forms such as
  ``2130706433``, ``0177.0.0.1`` and ``0x7f.1``, parsed the way ``inet_aton`` does).
* ``GuardedBackend`` is the httpcore network backend behind the HTTP client. Its ``connect_tcp``
  resolves the host once, requires *every* address to be public, and connects to exactly the
  validated address (TLS SNI and ``Host`` still carry the name). Nothing resolves twice, so a
  DNS answer that changes between check and use (rebinding) cannot reach a private address.

The deny list is RELIABILITY.md section 10.5. ``SsrfPolicy.allow_private`` lifts the guard
(``MONITOR_ALLOW_PRIVATE_NETWORKS``); ``SsrfPolicy.allowlist`` holds exact ``host:port`` pairs
matched against the host as written in the URL, so allowlisting ``127.0.0.1:8000`` allows
neither ``127.0.0.1:8001``, nor ``127.0.0.2:8000``, nor a name that resolves to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``async (host, port) -> [ip, ...]``; raises ``socket.gaierror`` (or ``OSError``) on failure."""

SsrfReason = Literal["bad_scheme", "invalid_url", "ssrf_blocked", "dns_failed"]

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
BLOCKED_HOSTNAMES = frozenset({"localhost", "metadata.google.internal"})
MAX_ADDRESSES_TRIED = 4
"""Connect attempts per name; every resolved address is validated, only the first few tried."""

_DENY_TABLE: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "cgnat"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link_local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "ietf_protocol"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b::/96", "nat64"),
    ("64:ff9b:1::/48", "nat64"),
    ("fc00::/7", "unique_local"),
    ("fe80::/10", "link_local"),
    ("ff00::/8", "multicast"),
    ("2001:db8::/32", "documentation"),
    ("::/8", "reserved"),  # includes the deprecated IPv4-compatible ::a.b.c.d
)
DENIED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    sorted(
        ((ipaddress.ip_network(net), category) for net, category in _DENY_TABLE),
        key=lambda entry: -entry[0].prefixlen,  # most specific first: the best category wins
    )
)
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


class SsrfError(Exception):
    """A URL or address the guard refuses, or a DNS failure (the guard fails closed)."""

    def __init__(self, reason: SsrfReason, message: str, category: str = "") -> None:
        super().__init__(message)
        self.reason: SsrfReason = reason
        self.category = category
        self.message = message


@dataclass(frozen=True)
class Rejection:
    """Why a URL is refused: ``reason`` is stable, ``category`` names the rule, ``message`` is
    for people."""

    reason: SsrfReason
    category: str
    message: str

    def to_error(self) -> SsrfError:
        return SsrfError(self.reason, self.message, self.category)


@dataclass(frozen=True)
class SsrfPolicy:
    """What the guard lets through. The default (no private networks, empty allowlist) is the
    production setting."""

    allow_private: bool = False
    allowlist: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    @classmethod
    def build(cls, *, allow_private: bool = False, allowlist: Iterable[str] = ()) -> SsrfPolicy:
        """Build from settings strings such as ``"127.0.0.1:8080"`` or ``"[::1]:8080"``."""
        return cls(allow_private, frozenset(parse_host_port(entry) for entry in allowlist))

    def allows_origin(self, host: str, port: int) -> bool:
        """True when the guard is lifted or ``host:port`` is an exact allowlist entry."""
        return self.allow_private or (normalize_host(host), port) in self.allowlist


def parse_host_port(entry: str) -> tuple[str, int]:
    """Parse an allowlist entry ``host:port`` (IPv6 in brackets); the port is mandatory."""
    parts = urllib.parse.urlsplit(f"//{entry.strip()}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad allowlist entry {entry!r}: {exc}") from exc
    if not parts.hostname or port is None:
        raise ValueError(f"allowlist entry {entry!r} must be host:port")
    return normalize_host(parts.hostname), port


def normalize_host(host: str) -> str:
    """Lower-case, strip one trailing dot and brackets; canonical text for IP literals."""
    host = host.strip().strip("[]").lower().removesuffix(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def literal_address(host: str) -> IPAddress | None:
    """The address a literal host denotes, including inet_aton forms (``127.1``, ``0x7f.1``,
    ``0177.0.0.1``, ``2130706433``) that resolvers accept without any DNS query."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host or any(c not in "0123456789abcdefxABCDEFX." for c in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def address_rejection(ip: IPAddress) -> Rejection | None:
    """The deny rule an address falls under, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return Rejection("ssrf_blocked", "zone_id", f"{ip} carries an IPv6 zone id")
        if ip in _IPV4_MAPPED and ip.ipv4_mapped is not None:
            inner = address_rejection(ip.ipv4_mapped)
            if inner is not None:
                return Rejection(inner.reason, inner.category, f"{ip} maps to {inner.message}")
            return None
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and (inner := address_rejection(embedded)) is not None:
            return Rejection(inner.reason, inner.category, f"{ip} embeds {inner.message}")
    for network, category in DENIED_NETWORKS:
        if ip.version == network.version and ip in network:
            return Rejection("ssrf_blocked", category, _describe(ip, category))
    if not ip.is_global or ip.is_reserved or ip.is_multicast:
        return Rejection("ssrf_blocked", "non_public", _describe(ip, "non_public"))
    return None


def _describe(ip: IPAddress, category: str) -> str:
    if category == "nat64":
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        return f"{ip} ({category}, embedding {embedded})"
    return f"{ip} ({category.replace('_', '-')} address)"


def host_rejection(host: str, port: int, policy: SsrfPolicy) -> Rejection | None:
    """Checks on the host as written: names we never fetch, zone ids and literal addresses.

    Host names are not resolved here; ``GuardedBackend`` checks their addresses at connect.
    """
    if policy.allows_origin(host, port):
        return None
    raw = host.strip("[]")
    if "%" in raw:
        return Rejection("ssrf_blocked", "zone_id", f"{host} carries an IPv6 zone id")
    name = normalize_host(raw)
    if name in BLOCKED_HOSTNAMES or name.endswith(".localhost"):
        return Rejection("ssrf_blocked", "hostname", f"the host name {name} is never fetched")
    ip = literal_address(raw)
    if ip is None:
        return None
    rejection = address_rejection(ip)
    if rejection is not None and str(ip) != name:
        return Rejection(rejection.reason, rejection.category, f"{host} is {rejection.message}")
    return rejection


def check_url_syntax(url: str, policy: SsrfPolicy | None = None) -> Rejection | None:
    """Validate a URL without network calls (feed and webhook registration, redirect hops).

    Returns None when the URL may be fetched as far as can be told without DNS.
    """
    policy = policy or SsrfPolicy()
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError as exc:
        return Rejection("invalid_url", "syntax", f"unparseable URL: {exc}")
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "none"
        return Rejection("bad_scheme", "scheme", f"scheme {shown!r} is not http or https")
    host = parts.hostname or ""
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        literal = literal_address(host)
        rejection = address_rejection(literal) if literal is not None else None
        if rejection is not None and not policy.allow_private:
            return Rejection(rejection.reason, rejection.category, f"{host} is {rejection.message}")
        return Rejection("invalid_url", "syntax", f"invalid URL: {exc}")
    if not parsed.host:
        return Rejection("invalid_url", "syntax", "the URL has no host")
    port = parsed.port or DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        return Rejection("invalid_url", "syntax", f"port {port} is out of range")
    return host_rejection(parsed.host, port, policy)


def ensure_url_allowed(url: str, policy: SsrfPolicy | None = None) -> httpx.URL:
    """Like ``check_url_syntax`` but raises ``SsrfError``; returns the parsed URL."""
    rejection = check_url_syntax(url, policy)
    if rejection is not None:
        raise rejection.to_error()
    return httpx.URL(url.strip())


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system (getaddrinfo), which also turns numeric forms such as
    ``2130706433`` into addresses, so those are checked as what they really are."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_checked(
    host: str, port: int, policy: SsrfPolicy, resolver: Resolver, timeout: float | None
) -> list[IPAddress]:
    """Resolve ``host`` once and return its addresses, all of them validated.

    A lookup failure, an empty answer or any non-public address raises ``SsrfError``.
    """
    rejection = host_rejection(host, port, policy)
    if rejection is not None:
        raise rejection.to_error()
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        async with asyncio.timeout(timeout):
            answers = await resolver(host, port)
        addresses = [ipaddress.ip_address(a) for a in answers]
    except TimeoutError as exc:
        raise SsrfError("dns_failed", f"DNS lookup for {host} timed out", "dns") from exc
    except (OSError, ValueError) as exc:
        raise SsrfError("dns_failed", f"DNS lookup for {host} failed: {exc}", "dns") from exc
    if not addresses:
        raise SsrfError("dns_failed", f"DNS lookup for {host} returned no address", "dns")
    if not policy.allows_origin(host, port):
        for ip in addresses:
            if (rejection := address_rejection(ip)) is not None:
                message = f"{host} resolves to {rejection.message}"
                raise SsrfError("ssrf_blocked", message, rejection.category)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves, validates and connects to the validated IP.

    ``inner`` does the actual TCP connect (tests pass a recording backend).
    """

    def __init__(
        self,
        policy: SsrfPolicy,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        started = time.monotonic()
        addresses = await resolve_checked(host, port, self.policy, self.resolver, timeout)
        error: Exception | None = None
        for ip in addresses[:MAX_ADDRESSES_TRIED]:
            remaining = None if timeout is None else timeout - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                raise httpcore.ConnectTimeout(f"connect to {host} timed out")
            try:
                return await self.inner.connect_tcp(
                    str(ip), port, remaining, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # addresses is never empty
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise SsrfError("ssrf_blocked", "unix sockets are never used", "unix_socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose connection pool connects only through ``GuardedBackend``.

    httpx 0.28 has no public hook for the network backend, so the pool built by the parent is
    replaced; ``tests/integration/test_ssrf.py`` fails if that stops routing through the guard.
    No proxy is ever configured here.
    """

    def __init__(
        self,
        backend: GuardedBackend,
        *,
        verify: bool | str = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=verify, trust_env=False, limits=limits, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )
