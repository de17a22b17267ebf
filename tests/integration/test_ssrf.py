"""SSRF guard: RELIABILITY.md cases 15-23, against real loopback listeners.

The guard runs with an exact allowlist of ``127.0.0.1:<port>`` for the test origin only, so the
forbidden listeners are real, reachable sockets and their hit counts prove nothing got through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpcore
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.pipeline.fetch import Fetcher, FetchError, FetchPolicy, FetchResult
from monitor.pipeline.ssrf import (
    GuardedBackend,
    SsrfError,
    SsrfPolicy,
    check_url_syntax,
    parse_host_port,
    system_resolver,
)
from tests.servers import LoopbackServer, redirect, respond

FAST = FetchPolicy(
    connect_timeout=1.0, read_timeout=2.0, deadline=3.0, per_host_delay=0, respect_robots=False
)


@pytest.fixture
def origin() -> Iterator[LoopbackServer]:
    """The allowlisted test origin A."""
    with LoopbackServer({"/feed": respond(200, b"<rss/>")}) as server:
        yield server


@pytest.fixture
def other() -> Iterator[LoopbackServer]:
    """A reachable loopback listener B that is *not* allowlisted."""
    with LoopbackServer(default=respond(200, b"secret")) as server:
        yield server


class StubResolver:
    """Answers from a script and counts lookups (rebinding and DNS-failure cases)."""

    def __init__(self, *answers: Sequence[str] | BaseException) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        answer = self.answers[min(len(self.calls), len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        return answer


class FakeNetwork(httpcore.AsyncNetworkBackend):
    """Records every connect; ``routes`` maps a pretend public (ip, port) to a loopback port
    so that no test touches the real network."""

    def __init__(self, routes: dict[tuple[str, int], int] | None = None) -> None:
        self.routes = routes or {}
        self.connects: list[tuple[str, int]] = []
        self.real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if (host, port) in self.routes:
            return await self.real.connect_tcp("127.0.0.1", self.routes[host, port], timeout)
        if ipaddress.ip_address(host).is_loopback:
            return await self.real.connect_tcp(host, port, timeout)
        raise httpcore.ConnectError(f"no real network in tests ({host})")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def fetch(
    url: str,
    allow: Iterable[str] = (),
    *,
    resolver: Callable[[str, int], Awaitable[Sequence[str]]] = system_resolver,
    network: httpcore.AsyncNetworkBackend | None = None,
    allow_private: bool = False,
    policy: FetchPolicy = FAST,
) -> FetchResult:
    """One fetch in a fresh event loop with a fresh Fetcher."""

    async def run() -> FetchResult:
        ssrf = SsrfPolicy.build(allow_private=allow_private, allowlist=allow)
        async with Fetcher(policy, ssrf, resolver=resolver, network_backend=network) as fetcher:
            return await fetcher.fetch(url)

    return asyncio.run(run())


def fetch_error(url: str, allow: Iterable[str] = (), **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, allow, **kwargs)
    return info.value


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any DNS lookup or socket connect fails the test: registration checks are offline."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network call during a syntax check")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# --- case 15: literal private targets, rejected at registration with no network calls ---

LITERAL_TARGETS = {
    "http://127.0.0.1/": "loopback",
    "http://[::1]/": "loopback",
    "http://10.0.0.1/": "private",
    "http://172.16.0.1/": "private",
    "http://192.168.1.1/": "private",
    "http://169.254.169.254/latest/meta-data/": "link_local",
    "http://100.64.0.1/": "cgnat",
    "http://0.0.0.0/": "unspecified",
    "http://[::ffff:127.0.0.1]/": "loopback",
    "http://[64:ff9b::a9fe:a9fe]/": "nat64",
    "http://[64:ff9b:1::1]/": "nat64",
    "http://224.0.0.1/": "multicast",
    "http://[fd00::1]/": "unique_local",
    "http://[fe80::1]/": "link_local",
    "http://[ff02::1]/": "multicast",
    "http://[::]/": "unspecified",
    "http://192.0.0.8/": "ietf_protocol",
    "http://192.0.2.1/": "documentation",
    "http://198.18.0.1/": "benchmarking",
    "http://198.51.100.7/": "documentation",
    "http://203.0.113.9/": "documentation",
    "http://240.0.0.1/": "reserved",
    "http://255.255.255.255/": "broadcast",
    "http://[2001:db8::1]/": "documentation",
    "https://[::ffff:a9fe:a9fe]:8443/": "link_local",
    "http://[2002:7f00:1::1]/": "loopback",  # 6to4 embedding 127.0.0.1
}


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(("url", "category"), LITERAL_TARGETS.items())
def test_literal_private_target_is_rejected_at_registration(url: str, category: str) -> None:
    rejection = check_url_syntax(url)
    assert rejection is not None
    assert (rejection.reason, rejection.category) == ("ssrf_blocked", category)
    assert rejection.message


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("url", "category"),
    [
        ("http://localhost/", "hostname"),
        ("http://LOCALHOST./feed", "hostname"),
        ("http://api.localhost:8080/", "hostname"),
        ("http://metadata.google.internal/computeMetadata/v1/", "hostname"),
        ("http://[fe80::1%25eth0]/", "zone_id"),
    ],
)
def test_blocked_names_and_zone_ids_are_rejected_at_registration(url: str, category: str) -> None:
    rejection = check_url_syntax(url)
    assert rejection is not None
    assert (rejection.reason, rejection.category) == ("ssrf_blocked", category)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    "url", ["https://example.com/feed.xml", "http://1.1.1.1/", "https://[2606:4700::1111]/x"]
)
def test_public_targets_pass_registration(url: str) -> None:
    assert check_url_syntax(url) is None


def test_literal_private_target_is_refused_before_any_resolution() -> None:
    resolver = StubResolver(["1.1.1.1"])
    network = FakeNetwork()
    error = fetch_error("http://10.0.0.1/feed", resolver=resolver, network=network)
    assert error.reason == "ssrf_blocked"
    assert resolver.calls == []
    assert network.connects == []


# --- case 16: numeric encodings are checked as the address they resolve to ---

NUMERIC = ["http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/"]


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("url", NUMERIC)
def test_numeric_encodings_are_rejected_at_registration(url: str) -> None:
    rejection = check_url_syntax(url)
    assert rejection is not None
    assert (rejection.reason, rejection.category) == ("ssrf_blocked", "loopback")
    assert "127.0.0.1" in rejection.message


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001"])
def test_numeric_hosts_are_blocked_at_connect_by_the_resolved_address(host: str) -> None:
    """The connect-time layer alone (no syntax check in front) also refuses them."""
    network = FakeNetwork()
    backend = GuardedBackend(SsrfPolicy(), system_resolver, network)
    with pytest.raises(SsrfError) as info:
        asyncio.run(backend.connect_tcp(host, 80, timeout=1.0))
    assert info.value.reason == "ssrf_blocked"
    assert network.connects == []


@pytest.mark.parametrize("url", NUMERIC)
def test_numeric_encodings_never_reach_a_listener(url: str, origin: LoopbackServer) -> None:
    port_url = url.rstrip("/") + f":{origin.port}/feed"
    assert fetch_error(port_url, [origin.origin]).reason == "ssrf_blocked"
    assert origin.connections == 0


# --- case 17: a name that resolves to loopback ---


def test_localhost_is_rejected_at_fetch_time(origin: LoopbackServer) -> None:
    error = fetch_error(f"http://localhost:{origin.port}/feed", [origin.origin])
    assert error.reason == "ssrf_blocked"
    assert origin.connections == 0


def test_name_resolving_to_loopback_is_rejected(origin: LoopbackServer) -> None:
    """Even on the allowlisted port: the allowlist names 127.0.0.1, not feed.test."""
    resolver = StubResolver(["127.0.0.1"])
    error = fetch_error(f"http://feed.test:{origin.port}/feed", [origin.origin], resolver=resolver)
    assert (error.reason, error.category) == ("ssrf_blocked", "loopback")
    assert "feed.test resolves to 127.0.0.1" in error.message
    assert resolver.calls == ["feed.test"]
    assert origin.connections == 0


def test_every_resolved_address_must_be_public(origin: LoopbackServer) -> None:
    resolver = StubResolver(["1.1.1.1", "127.0.0.1"])
    network = FakeNetwork()
    error = fetch_error(f"http://feed.test:{origin.port}/feed", resolver=resolver, network=network)
    assert error.reason == "ssrf_blocked"
    assert network.connects == []
    assert origin.connections == 0


# --- case 18: DNS rebinding ---


def test_dns_rebinding_connects_only_to_the_validated_address(
    origin: LoopbackServer, other: LoopbackServer
) -> None:
    """The first answer (public) is what we connect to; the later loopback answer is only
    ever seen by a fresh lookup, which is checked again and refused."""
    resolver = StubResolver(["1.1.1.1"], ["127.0.0.1"])
    # 1.1.1.1:<B's port> stands for the public server; it is served by origin A.
    network = FakeNetwork({("1.1.1.1", other.port): origin.port})
    url = f"http://rebind.test:{other.port}/feed"

    async def run() -> tuple[FetchResult, FetchError]:
        async with Fetcher(FAST, SsrfPolicy(), resolver=resolver, network_backend=network) as f:
            first = await f.fetch(url)
            await f._client.aclose()  # drop the keep-alive connection: force a new lookup
        async with Fetcher(FAST, SsrfPolicy(), resolver=resolver, network_backend=network) as f:
            with pytest.raises(FetchError) as info:
                await f.fetch(url)
        return first, info.value

    first, error = asyncio.run(run())
    assert first.body == b"<rss/>"
    assert first.final_url == url  # Host header and URL keep the name
    assert origin.hits[0].headers["Host"] == f"rebind.test:{other.port}"
    assert error.reason == "ssrf_blocked"
    assert resolver.calls == ["rebind.test", "rebind.test"]  # one lookup per connection
    assert network.connects == [("1.1.1.1", other.port)]
    assert other.connections == 0


def test_fetcher_routes_connections_through_the_guarded_backend() -> None:
    """Guards the private-attribute wiring in GuardedTransport against httpx changes."""
    network = FakeNetwork()
    resolver = StubResolver(["8.8.8.8"])
    error = fetch_error("http://pinned.test/feed", resolver=resolver, network=network)
    assert error.reason == "connect_failed"
    assert network.connects == [("8.8.8.8", 80)]


class TlsProbe(httpcore.AsyncNetworkStream):
    """A stream that records the TLS handshake parameters and then refuses."""

    def __init__(self) -> None:
        self.server_hostnames: list[str | None] = []

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        self.server_hostnames.append(server_hostname)
        raise httpcore.ConnectError("no TLS in tests")

    async def aclose(self) -> None:
        pass


def test_pinned_https_connection_still_uses_the_name_for_sni() -> None:
    probe = TlsProbe()

    class Network(FakeNetwork):
        async def connect_tcp(
            self, host: str, port: int, timeout: float | None = None, *a: Any, **k: Any
        ) -> httpcore.AsyncNetworkStream:
            self.connects.append((host, port))
            return probe

    network = Network()
    error = fetch_error(
        "https://pinned.test/feed", resolver=StubResolver(["8.8.8.8"]), network=network
    )
    assert error.reason == "connect_failed"
    assert network.connects == [("8.8.8.8", 443)]
    assert probe.server_hostnames == ["pinned.test"]


# --- case 19: redirects into private space are refused per hop ---


def test_redirect_to_another_loopback_port_is_refused(other: LoopbackServer) -> None:
    with LoopbackServer({"/feed": redirect(other.url("/admin"))}) as origin:
        error = fetch_error(origin.url("/feed"), [origin.origin])
        assert error.reason == "ssrf_blocked"
        assert origin.hit_count("/feed") == 1  # hop 1 was allowed: the per-hop check ran
    assert other.connections == 0


def test_redirect_to_metadata_address_is_refused_before_connecting() -> None:
    network = FakeNetwork()
    with LoopbackServer({"/feed": redirect("http://169.254.169.254/latest/meta-data/")}) as a:
        error = fetch_error(a.url("/feed"), [a.origin], network=network)
        assert (error.reason, error.category) == ("ssrf_blocked", "link_local")
        assert a.hit_count("/feed") == 1
    assert network.connects == [("127.0.0.1", a.port)]


def test_redirect_to_a_name_resolving_private_is_refused(other: LoopbackServer) -> None:
    resolver = StubResolver(["127.0.0.1"])
    with LoopbackServer({"/feed": redirect(f"http://evil.test:{other.port}/")}) as origin:
        error = fetch_error(origin.url("/feed"), [origin.origin], resolver=resolver)
    assert error.reason == "ssrf_blocked"
    assert resolver.calls == ["evil.test"]
    assert other.connections == 0


# --- case 20: schemes ---


@pytest.mark.parametrize(
    "url",
    [
        "gopher://127.0.0.1:70/_GET",
        "ftp://example.com/feed.xml",
        "data:application/rss+xml,<rss/>",
        "javascript:alert(1)",
        "dict://127.0.0.1:11211/",
        "//example.com/feed",
    ],
)
def test_non_http_schemes_are_rejected(url: str) -> None:
    rejection = check_url_syntax(url)
    assert rejection is not None
    assert rejection.reason == "bad_scheme"
    assert fetch_error(url).reason == "bad_scheme"


def test_file_urls_never_read_the_file(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("SENTINEL-CONTENT")
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss><channel><item><title>local</title></item></channel></rss>")
    for path in (sentinel, feed):
        url = path.as_uri()
        assert check_url_syntax(url) is not None
        error = fetch_error(url)
        assert error.reason == "bad_scheme"
        assert "SENTINEL" not in str(error)


def test_redirect_to_a_file_url_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("SENTINEL-CONTENT")
    with LoopbackServer({"/feed": redirect(sentinel.as_uri())}) as origin:
        error = fetch_error(origin.url("/feed"), [origin.origin])
    assert error.reason == "bad_scheme"


# --- case 21: DNS failure fails closed ---


@pytest.mark.parametrize(
    "answer", [socket.gaierror(socket.EAI_NONAME, "Name or service not known"), []]
)
def test_dns_failure_fails_closed(
    answer: Sequence[str] | BaseException, monkeypatch: pytest.MonkeyPatch, other: LoopbackServer
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, other.url())  # a "fallback" would have to go through here
    resolver = StubResolver(answer)
    network = FakeNetwork()
    error = fetch_error("http://feed.test/rss", resolver=resolver, network=network)
    assert error.reason == "dns_failed"
    assert "feed.test" in error.message
    assert resolver.calls == ["feed.test"]
    assert network.connects == []
    assert other.connections == 0


def test_dns_timeout_fails_closed() -> None:
    async def hang(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(30)
        return ["1.1.1.1"]

    policy = FetchPolicy(connect_timeout=0.3, deadline=3, per_host_delay=0, respect_robots=False)
    error = fetch_error("http://slow-dns.test/", resolver=hang, policy=policy)
    assert error.reason == "dns_failed"
    assert "timed out" in error.message


# --- case 22: allowlist precision ---


def test_allowlist_is_exact_host_and_port(origin: LoopbackServer, other: LoopbackServer) -> None:
    allow = [origin.origin]
    assert fetch(origin.url("/feed"), allow).status == 200
    assert fetch_error(other.url("/feed"), allow).reason == "ssrf_blocked"
    assert fetch_error(f"http://127.0.0.2:{origin.port}/feed", allow).reason == "ssrf_blocked"
    assert fetch_error(f"http://localhost:{origin.port}/feed", allow).reason == "ssrf_blocked"
    assert fetch_error(f"http://[::ffff:127.0.0.1]:{origin.port}/", allow).reason == (
        "ssrf_blocked"
    )
    assert other.connections == 0
    assert origin.hit_count() == 1


def test_allowlist_entries_parse_exactly() -> None:
    assert parse_host_port("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_host_port("[::1]:8080") == ("::1", 8080)
    assert parse_host_port("Feed.Example.:443") == ("feed.example", 443)
    with pytest.raises(ValueError, match="host:port"):
        parse_host_port("127.0.0.1")
    policy = SsrfPolicy.build(allowlist=["127.0.0.1:8080"])
    assert check_url_syntax("http://127.0.0.1:8080/x", policy) is None
    assert check_url_syntax("http://127.0.0.1:8081/x", policy) is not None
    assert check_url_syntax("http://127.0.0.2:8080/x", policy) is not None


def test_allow_private_lifts_the_guard_but_not_the_scheme_rule(other: LoopbackServer) -> None:
    assert fetch(other.url("/x"), allow_private=True).body == b"secret"
    assert check_url_syntax("http://10.0.0.1/", SsrfPolicy(allow_private=True)) is None
    rejection = check_url_syntax("file:///etc/passwd", SsrfPolicy(allow_private=True))
    assert rejection is not None
    assert rejection.reason == "bad_scheme"


# --- case 23: proxy settings cannot bypass the guard ---


def test_environment_proxies_are_ignored(
    monkeypatch: pytest.MonkeyPatch, origin: LoopbackServer, other: LoopbackServer
) -> None:
    with LoopbackServer(default=respond(200, b"via proxy")) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url())
        monkeypatch.setenv("NO_PROXY", "")
        assert fetch(origin.url("/feed"), [origin.origin]).body == b"<rss/>"
        assert fetch_error(other.url("/"), [origin.origin]).reason == "ssrf_blocked"
        assert fetch_error("http://169.254.169.254/").reason == "ssrf_blocked"
        assert proxy.connections == 0
    assert other.connections == 0
    assert origin.hit_count() == 1


# --- the deny list as a property ---

DENIED_V4 = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"]
DENIED_V4 += ["172.16.0.0/12", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4"]


@st.composite
def denied_ipv4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    network = ipaddress.IPv4Network(draw(st.sampled_from(DENIED_V4)))
    offset = draw(st.integers(0, network.num_addresses - 1))
    return network[offset]


@settings(max_examples=200, deadline=None)
@given(denied_ipv4())
def test_every_denied_ipv4_is_blocked_in_every_spelling(ip: ipaddress.IPv4Address) -> None:
    spellings = [str(ip), str(int(ip)), f"[::ffff:{ip}]", hex(int(ip))]
    for host in spellings:
        rejection = check_url_syntax(f"http://{host}/")
        assert rejection is not None, host
        assert rejection.reason == "ssrf_blocked", host


def test_blocked_connects_do_not_leak_pool_slots(origin: LoopbackServer) -> None:
    """More refusals than the pool has connections, then a normal fetch still goes through."""
    resolver = StubResolver(["127.0.0.1"])
    policy = FetchPolicy(per_host_delay=0, max_connections=4, deadline=3.0)

    async def run() -> FetchResult:
        ssrf = SsrfPolicy.build(allowlist=[origin.origin])
        async with Fetcher(policy, ssrf, resolver=resolver) as fetcher:
            for _ in range(10):
                with pytest.raises(FetchError, match="ssrf_blocked"):
                    await fetcher.fetch(f"http://feed.test:{origin.port}/feed")
            return await fetcher.fetch(origin.url("/feed"))

    assert asyncio.run(run()).body == b"<rss/>"
    assert len(resolver.calls) == 10
    assert origin.connections == 1


def test_port_out_of_range_is_invalid() -> None:
    rejection = check_url_syntax("http://feed.test:99999/")
    assert rejection is not None
    assert rejection.reason == "invalid_url"
