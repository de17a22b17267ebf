"""The fetcher against real loopback servers: RELIABILITY.md cases 6-7, 26-31 and 36, plus
redirects, status handling, decoding, politeness and robots.txt.

Deadlines are small (2-5 s) and every timing assertion allows deadline + 1 s.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import re
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

import brotli
import pytest

from monitor.pipeline.decoding import BoundedDecoder
from monitor.pipeline.fetch import (
    Fetcher,
    FetchError,
    FetchPolicy,
    FetchResult,
    parse_retry_after,
)
from monitor.pipeline.ssrf import SsrfPolicy
from tests.servers import (
    LoopbackServer,
    MiB,
    SilentServer,
    conditional,
    drip,
    gzip_bomb,
    gzip_bomb_bytes,
    large_body,
    redirect,
    respond,
    slow,
)

T = TypeVar("T")
KiB = 1024
FEED_CAP = 10 * MiB
RSS = b"<rss version='2.0'><channel><title>t</title></channel></rss>" * 20
FAST = FetchPolicy(
    connect_timeout=1.0, read_timeout=2.0, deadline=3.0, per_host_delay=0, respect_robots=False
)


def run_with(
    servers: Iterable[LoopbackServer | SilentServer],
    body: Callable[[Fetcher], Awaitable[T]],
    policy: FetchPolicy = FAST,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``body`` with a Fetcher whose exact allowlist is the given servers."""

    async def main() -> T:
        ssrf = SsrfPolicy.build(allowlist=[s.origin for s in servers])
        async with Fetcher(policy, ssrf, clock=clock) as fetcher:
            return await body(fetcher)

    return asyncio.run(main())


def fetch(server: LoopbackServer | SilentServer, path: str, **kwargs: Any) -> FetchResult:
    policy = kwargs.pop("policy", FAST)
    return run_with([server], lambda f: f.fetch(server.url(path), **kwargs), policy)


def fetch_error(server: LoopbackServer | SilentServer, path: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(server, path, **kwargs)
    return info.value


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    validators = ('"v1"', "Sat, 21 Nov 2026 08:00:00 GMT")
    routes = {
        "/feed": respond(200, RSS, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}),
        "/gzip": respond(200, gzip.compress(RSS), {"Content-Encoding": "gzip"}),
        "/deflate": respond(200, zlib.compress(RSS), {"Content-Encoding": "deflate"}),
        "/raw-deflate": respond(200, zlib.compress(RSS)[2:-4], {"Content-Encoding": "deflate"}),
        "/br": respond(200, brotli.compress(RSS), {"Content-Encoding": "br"}),
        "/gzip-br": respond(
            200, brotli.compress(gzip.compress(RSS)), {"Content-Encoding": "gzip, br"}
        ),
        "/bad-gzip": respond(200, b"not gzip at all", {"Content-Encoding": "gzip"}),
        "/gzip-junk": respond(
            200, gzip.compress(RSS) + bytes(11 * MiB), {"Content-Encoding": "gzip"}
        ),
        "/conditional": conditional(*validators, RSS),
        "/r1": redirect("/r2", 301),
        "/r2": redirect("feed", 307),
        "/loop": redirect("/loop"),
        "/429": respond(429, b"slow down", {"Retry-After": "120"}),
        "/500": respond(500, b"oops"),
        "/404": respond(404, b"gone"),
        "/short": _short_body,
    }
    with LoopbackServer(routes) as loopback:
        yield loopback


def _short_body(request: BaseHTTPRequestHandler) -> None:
    """Promises 100 bytes, sends 10, hangs up."""
    request.send_response(200)
    request.send_header("Content-Length", "100")
    request.end_headers()
    request.wfile.write(b"0123456789")
    request.close_connection = True


# --- ordinary fetching ---


def test_fetch_returns_body_headers_and_identifies_itself(server: LoopbackServer) -> None:
    result = fetch(server, "/feed")
    assert (result.status, result.body, result.not_modified) == (200, RSS, False)
    assert result.content_type == "application/rss+xml"
    assert result.etag == '"v1"'
    assert result.final_url == server.url("/feed")
    assert 0 <= result.elapsed < FAST.deadline
    sent = server.hits[0].headers
    assert re.fullmatch(r"monitor/\S+ \(\+https?://\S+\)", sent["User-Agent"])
    assert sent["Accept-Encoding"] == "gzip, deflate, br"
    assert "application/rss+xml" in sent["Accept"]


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/raw-deflate", "/br", "/gzip-br"])
def test_content_encodings_are_decoded(server: LoopbackServer, path: str) -> None:
    assert fetch(server, path).body == RSS


def test_undecodable_body_is_a_decode_error(server: LoopbackServer) -> None:
    assert fetch_error(server, "/bad-gzip").reason == "decode_error"


def test_junk_after_a_gzip_stream_is_bounded_by_the_raw_cap(server: LoopbackServer) -> None:
    assert fetch_error(server, "/gzip-junk").reason == "too_large"


def test_truncated_body_is_a_connection_error(server: LoopbackServer) -> None:
    assert fetch_error(server, "/short").reason == "connection_error"


def test_redirects_are_followed_and_reported(server: LoopbackServer) -> None:
    result = fetch(server, "/r1")
    assert (result.body, result.redirects) == (RSS, 2)
    assert result.url == server.url("/r1")
    assert result.final_url == server.url("/feed")


# --- case 36: conditional GET ---


def test_conditional_get_sends_validators_and_reports_304(server: LoopbackServer) -> None:
    first = fetch(server, "/conditional")
    assert first.status == 200
    assert first.etag == '"v1"'
    assert first.last_modified is not None
    second = fetch(server, "/conditional", etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified
    assert second.body == b""
    sent = server.hits[-1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == first.last_modified


# --- status handling (cases 9 and 37 need these facts) ---


def test_429_carries_status_and_retry_after(server: LoopbackServer) -> None:
    error = fetch_error(server, "/429")
    assert (error.reason, error.status, error.retry_after) == ("http_status", 429, 120.0)


@pytest.mark.parametrize(("path", "status"), [("/500", 500), ("/404", 404)])
def test_error_statuses_raise_http_status(server: LoopbackServer, path: str, status: int) -> None:
    error = fetch_error(server, path)
    assert (error.reason, error.status, error.retry_after) == ("http_status", status, None)


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after("Thu, 01 Jan 2015 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# --- case 26: oversized body ---


def test_oversized_body_with_content_length_is_refused_up_front() -> None:
    with LoopbackServer({"/big": large_body(50 * MiB, content_length=True)}) as big:
        error, elapsed = timed(lambda: fetch_error(big, "/big"))
    assert (error.reason, error.decoded_bytes) == ("too_large", 0)
    assert elapsed < FAST.deadline + 1


def test_oversized_chunked_body_stops_at_the_cap() -> None:
    with LoopbackServer({"/big": large_body(50 * MiB, content_length=False)}) as big:
        error, elapsed = timed(lambda: fetch_error(big, "/big"))
    assert error.reason == "too_large"
    assert error.decoded_bytes is not None
    assert FEED_CAP < error.decoded_bytes <= FEED_CAP + 64 * KiB
    assert elapsed < FAST.deadline + 1


def test_caps_depend_on_the_kind() -> None:
    with LoopbackServer({"/six": large_body(6 * MiB, content_length=False)}) as six:
        assert len(fetch(six, "/six", kind="feed").body) == 6 * MiB
        assert fetch_error(six, "/six", kind="page").reason == "too_large"


# --- case 27: gzip bomb ---


def test_gzip_bomb_stops_just_past_the_cap() -> None:
    with LoopbackServer({"/bomb": gzip_bomb()}) as bomb:
        error, elapsed = timed(lambda: fetch_error(bomb, "/bomb"))
    assert len(gzip_bomb_bytes()) < 300 * KiB
    assert error.reason == "too_large"
    assert error.decoded_bytes is not None
    assert FEED_CAP < error.decoded_bytes <= FEED_CAP + 64 * KiB
    assert elapsed < FAST.deadline + 1


MEMORY_PROBE = """
import asyncio, json, sys, tracemalloc
from monitor.pipeline.fetch import Fetcher, FetchError, FetchPolicy
from monitor.pipeline.ssrf import SsrfPolicy

bomb, warm, origin = sys.argv[1:4]

def status_kib(field):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])

async def main():
    policy = FetchPolicy(per_host_delay=0, deadline=10, respect_robots=False)
    async with Fetcher(policy, SsrfPolicy.build(allowlist=[origin])) as fetcher:
        await fetcher.fetch(warm)
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset VmHWM: import-time peaks must not count
        before = status_kib("VmRSS")
        tracemalloc.start()
        try:
            await fetcher.fetch(bomb)
            reason, decoded = None, None
        except FetchError as exc:
            reason, decoded = str(exc.reason), exc.decoded_bytes
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peak = status_kib("VmHWM")
    print(json.dumps({"reason": reason, "decoded": decoded,
                      "rss_growth": (peak - before) * 1024, "traced_peak": traced_peak}))

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc/self")
def test_gzip_bomb_peak_memory_stays_below_twice_the_cap() -> None:
    """Measured in a fresh process, so nothing else in the test run inflates the peak."""
    routes = {
        "/bomb": gzip_bomb(),
        "/warm": respond(200, gzip.compress(RSS), {"Content-Encoding": "gzip"}),
    }
    with LoopbackServer(routes) as bomb:
        args = [bomb.url("/bomb"), bomb.url("/warm"), bomb.origin]
        probe = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    measured = json.loads(probe.stdout)
    assert measured["reason"] == "too_large"
    assert measured["decoded"] <= FEED_CAP + 64 * KiB
    assert measured["rss_growth"] < 2 * FEED_CAP, measured
    assert measured["traced_peak"] < 2 * FEED_CAP, measured


def test_brotli_and_stacked_codings_inflate_in_bounded_pieces() -> None:
    bomb = brotli.compress(bytes(32 * MiB), quality=1)
    decoder = BoundedDecoder("br", piece=64 * KiB)
    total = 0
    for piece in decoder.feed(bomb):
        assert len(piece) <= 64 * KiB
        total += len(piece)
        if total > 1 * MiB:
            break
    assert total <= 1 * MiB + 64 * KiB
    stacked = brotli.compress(gzip.compress(bytes(8 * MiB)))
    pieces = list(BoundedDecoder("gzip, br", piece=64 * KiB).feed(stacked))
    assert max(map(len, pieces)) <= 64 * KiB
    assert sum(map(len, pieces)) == 8 * MiB


# --- case 28: a gzip body without a Content-Encoding header ---


def test_gzip_bytes_served_as_html_are_never_inflated() -> None:
    routes = {"/page": gzip_bomb("text/html", encoded=False)}
    with LoopbackServer(routes) as page:
        result = fetch(page, "/page", kind="page")
    assert result.body == gzip_bomb_bytes()  # raw bytes, capped; decoding text is the caller's
    assert len(result.body) <= FetchPolicy().max_page_bytes


# --- case 29: slow drip ---


def test_slow_drip_is_cut_at_the_total_deadline() -> None:
    """1 byte every 2 s for 8 bytes: no single read exceeds the 3 s read timeout, yet the
    5 s deadline ends it."""
    policy = FetchPolicy(read_timeout=3.0, deadline=5.0, per_host_delay=0, respect_robots=False)
    with LoopbackServer({"/drip": drip(2.0, 8)}) as dripping:
        error, elapsed = timed(lambda: fetch_error(dripping, "/drip", policy=policy))
    assert error.reason == "deadline"
    assert 4.5 <= elapsed < policy.deadline + 1


# --- case 30: silent server ---


def test_silent_server_times_out_and_the_next_fetch_proceeds(server: LoopbackServer) -> None:
    policy = FetchPolicy(read_timeout=1.0, deadline=5.0, per_host_delay=0, respect_robots=False)

    async def cycle(fetcher: Fetcher) -> tuple[FetchError, float, FetchResult]:
        started = time.monotonic()
        try:
            await fetcher.fetch(silent.url("/feed"))
        except FetchError as exc:
            error = exc
        elapsed = time.monotonic() - started
        return error, elapsed, await fetcher.fetch(server.url("/feed"))

    with SilentServer() as silent:
        error, elapsed, after = run_with([silent, server], cycle, policy)
        assert silent.connections == 1
    assert error.reason == "timeout"
    assert elapsed < policy.read_timeout + 1
    assert after.body == RSS


# --- case 31: redirect loop ---


def test_redirect_loop_stops_after_max_redirects(server: LoopbackServer) -> None:
    error = fetch_error(server, "/loop")
    assert error.reason == "too_many_redirects"
    assert server.hit_count("/loop") == FAST.max_redirects + 1


# --- cases 6 and 7: the webhook side of the same client ---


def post(server: LoopbackServer, path: str, policy: FetchPolicy = FAST) -> FetchResult:
    body = json.dumps({"title": "Überschrift ✓", "nested": {"a": [1, 2]}}).encode()
    headers = {"Content-Type": "application/json", "webhook-id": "msg_1"}
    return run_with(
        [server], lambda f: f.post(server.url(path), content=body, headers=headers), policy
    )


def test_webhook_reads_at_most_64_kib_of_a_huge_answer() -> None:
    with LoopbackServer({"/hook": large_body(50 * MiB, content_length=True)}) as receiver:
        result, elapsed = timed(lambda: post(receiver, "/hook"))
        sent = receiver.hits[0]
    assert (result.status, result.truncated, len(result.body)) == (200, True, 64 * KiB)
    assert elapsed < FAST.deadline + 1
    assert sent.method == "POST"
    assert json.loads(sent.body)["title"] == "Überschrift ✓"  # the bytes we sent, unchanged
    assert sent.headers["webhook-id"] == "msg_1"


def test_webhook_slow_receiver_hits_the_deadline() -> None:
    policy = FetchPolicy(read_timeout=10.0, deadline=2.0, per_host_delay=0)
    started = time.monotonic()
    with LoopbackServer({"/hook": slow(4.0)}) as receiver, pytest.raises(FetchError) as info:
        post(receiver, "/hook", policy)
    assert info.value.reason == "deadline"
    assert time.monotonic() - started < policy.deadline + 1


def test_a_body_dripping_past_the_deadline_keeps_the_status_it_answered_with() -> None:
    """The receiver answered 200 at once, then dripped: "deadline" with status 200, unlike
    a receiver that never answered (status None)."""
    policy = FetchPolicy(read_timeout=3.0, deadline=2.0, per_host_delay=0)
    routes = {"/drip": drip(0.5, 8), "/silent": slow(4.0)}
    with LoopbackServer(routes) as receiver:
        started = time.monotonic()
        with pytest.raises(FetchError) as dripped:
            post(receiver, "/drip", policy)
        elapsed = time.monotonic() - started
        with pytest.raises(FetchError) as silent:
            post(receiver, "/silent", policy)
    assert (dripped.value.reason, dripped.value.status) == ("deadline", 200)
    assert elapsed < policy.deadline + 1
    assert (silent.value.reason, silent.value.status) == ("deadline", None)


@pytest.mark.parametrize(
    ("path", "reason"), [("/bad-gzip", "decode_error"), ("/gzip-junk", "too_large")]
)
def test_body_failures_after_the_status_line_carry_the_status(
    server: LoopbackServer, path: str, reason: str
) -> None:
    error = fetch_error(server, path)
    assert (error.reason, error.status) == (reason, 200)


def test_webhook_redirect_is_a_failure_and_never_followed() -> None:
    with LoopbackServer(default=respond(200, b"ok")) as other:
        with (
            LoopbackServer({"/hook": redirect(other.url("/hook"), 307)}) as receiver,
            pytest.raises(FetchError) as info,
        ):
            post(receiver, "/hook")
        assert (info.value.reason, info.value.status) == ("redirect_refused", 307)
        assert other.connections == 0


def test_webhook_error_statuses_carry_status(server: LoopbackServer) -> None:
    with pytest.raises(FetchError) as info:
        post(server, "/429")
    assert (info.value.reason, info.value.status, info.value.retry_after) == (
        "http_status",
        429,
        120.0,
    )


# --- politeness ---


def test_per_host_concurrency_is_limited() -> None:
    policy = FetchPolicy(per_host_concurrency=2, per_host_delay=0, respect_robots=False)
    with LoopbackServer({"/slow": slow(0.3)}) as busy:

        async def many(fetcher: Fetcher) -> list[FetchResult]:
            return await asyncio.gather(*(fetcher.fetch(busy.url("/slow")) for _ in range(6)))

        results, elapsed = timed(lambda: run_with([busy], many, policy))
        assert len(results) == 6
        assert busy.max_active == 2
    assert elapsed >= 0.85  # three waves of 0.3 s


def test_requests_to_one_host_are_spaced_by_the_minimum_delay(server: LoopbackServer) -> None:
    policy = FetchPolicy(per_host_delay=0.2, respect_robots=False)

    async def three(fetcher: Fetcher) -> list[FetchResult]:
        return await asyncio.gather(*(fetcher.fetch(server.url("/feed")) for _ in range(3)))

    run_with([server], three, policy)
    starts = sorted(hit.at for hit in server.hits)
    assert all(b - a >= 0.15 for a, b in itertools.pairwise(starts))


# --- robots.txt ---

ROBOTS = b"User-agent: *\nDisallow: /private\n\nUser-agent: otherbot\nDisallow: /\n"
PAGES = {"/private/a": respond(200, b"<html>no</html>"), "/public/a": respond(200, b"<html/>")}
ROBOTS_POLICY = FetchPolicy(per_host_delay=0, deadline=3.0, respect_robots=True)


def robots_server(robots: Callable[[BaseHTTPRequestHandler], None]) -> LoopbackServer:
    return LoopbackServer({"/robots.txt": robots, **PAGES})


def test_robots_disallow_is_honoured_and_cached() -> None:
    with robots_server(respond(200, ROBOTS, {"Content-Type": "text/plain"})) as site:

        async def pages(fetcher: Fetcher) -> tuple[FetchResult, FetchError, FetchResult]:
            ok = await fetcher.fetch(site.url("/public/a"), kind="page")
            with pytest.raises(FetchError) as info:
                await fetcher.fetch(site.url("/private/a"), kind="page")
            feed = await fetcher.fetch(site.url("/private/a"), kind="feed")  # feeds: no robots
            return ok, info.value, feed

        ok, error, feed = run_with([site], pages, ROBOTS_POLICY)
        assert ok.status == 200
        assert feed.status == 200
        assert error.reason == "robots_disallowed"
        assert site.hit_count("/robots.txt") == 1
        assert site.hit_count("/private/a") == 1  # only the feed fetch
        assert "monitor/" in site.hits[0].headers["User-Agent"]


def test_robots_rules_for_our_agent() -> None:
    with robots_server(respond(200, b"User-agent: monitor\nDisallow: /\n")) as site:
        error = fetch_error(site, "/public/a", kind="page", policy=ROBOTS_POLICY)
        assert error.reason == "robots_disallowed"
        assert site.hit_count("/public/a") == 0


def test_missing_robots_allows_everything() -> None:
    with robots_server(respond(404, b"no")) as site:
        assert fetch(site, "/private/a", kind="page", policy=ROBOTS_POLICY).status == 200


def test_unreachable_robots_disallows_by_default_and_is_cached_briefly() -> None:
    with robots_server(respond(503, b"down")) as site:

        async def twice(fetcher: Fetcher) -> list[str]:
            reasons = []
            for _ in range(2):
                with pytest.raises(FetchError) as info:
                    await fetcher.fetch(site.url("/public/a"), kind="page")
                reasons.append(str(info.value.reason))
            return reasons

        assert run_with([site], twice, ROBOTS_POLICY) == ["robots_unreachable"] * 2
        assert site.hit_count("/robots.txt") == 1
        assert site.hit_count("/public/a") == 0
        lenient = FetchPolicy(per_host_delay=0, robots_unreachable_allows=True)
        assert fetch(site, "/public/a", kind="page", policy=lenient).status == 200


def test_robots_cache_expires_after_its_ttl() -> None:
    now = [1000.0]
    policy = FetchPolicy(per_host_delay=0, robots_ttl=60.0)
    with robots_server(respond(200, ROBOTS)) as site:

        async def around_ttl(fetcher: Fetcher) -> None:
            await fetcher.fetch(site.url("/public/a"), kind="page")
            now[0] += 59
            await fetcher.fetch(site.url("/public/a"), kind="page")
            now[0] += 2
            await fetcher.fetch(site.url("/public/a"), kind="page")

        run_with([site], around_ttl, policy, clock=lambda: now[0])
        assert site.hit_count("/robots.txt") == 2


def test_robots_redirect_into_private_space_fails_closed() -> None:
    with robots_server(redirect("http://169.254.169.254/robots.txt")) as site:
        error = fetch_error(site, "/public/a", kind="page", policy=ROBOTS_POLICY)
        assert error.reason == "ssrf_blocked"
        assert site.hit_count("/public/a") == 0
