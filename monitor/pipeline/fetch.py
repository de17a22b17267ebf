"""The polite, bounded HTTP client every outgoing request goes through.

Why it is more than ``httpx.get``: httpx has per-phase timeouts but no overall deadline (a
server dripping one byte per read never times out), decompresses without a size bound (a gzip
bomb), follows redirects without re-checking where they lead, and honours proxy variables from
the environment. Here the whole exchange runs under ``asyncio.timeout``, bodies are read raw
and inflated in pieces of at most ``decode_chunk`` bytes against a cap (``decoding.py``), every
redirect hop is re-checked by the SSRF guard (``ssrf.py``), connections go only to validated
addresses, and requests to one host are limited in concurrency and spaced in time
(``politeness.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import enum
import importlib.metadata
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import httpcore
import httpx

from monitor.pipeline.decoding import DECODE_ERRORS, BoundedDecoder
from monitor.pipeline.politeness import HostGates
from monitor.pipeline.robots import RobotsCache, RobotsResponse, Verdict
from monitor.pipeline.ssrf import (
    GuardedBackend,
    GuardedTransport,
    Resolver,
    SsrfError,
    SsrfPolicy,
    check_url_syntax,
    system_resolver,
)

KiB = 1024
MiB = 1024 * KiB
FetchKind = Literal["feed", "page", "robots", "webhook"]
Overflow = Literal["raise", "truncate"]
KEPT_HEADERS = (
    "content-type",
    "content-encoding",
    "etag",
    "last-modified",
    "cache-control",
    "expires",
    "retry-after",
    "location",
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT = {
    "feed": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.8",
    "page": "text/html, application/xhtml+xml;q=0.9, */*;q=0.8",
    "robots": "text/plain, */*;q=0.5",
    "webhook": "*/*",
}


class FetchReason(enum.StrEnum):
    """Stable machine-readable failure reasons (stored in events; never rename)."""

    BAD_SCHEME = "bad_scheme"
    INVALID_URL = "invalid_url"
    SSRF_BLOCKED = "ssrf_blocked"
    DNS_FAILED = "dns_failed"
    CONNECT_FAILED = "connect_failed"
    TIMEOUT = "timeout"  # one phase (connect, read, write) exceeded its timeout
    DEADLINE = "deadline"  # the whole exchange exceeded the total deadline
    CONNECTION_ERROR = "connection_error"  # reset, closed early, malformed HTTP
    TOO_LARGE = "too_large"
    DECODE_ERROR = "decode_error"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    REDIRECT_REFUSED = "redirect_refused"  # a redirect where none is followed (webhooks)
    HTTP_STATUS = "http_status"
    ROBOTS_DISALLOWED = "robots_disallowed"
    ROBOTS_UNREACHABLE = "robots_unreachable"  # RFC 9309: unreachable robots.txt disallows


class FetchError(Exception):
    """A fetch that did not produce a usable response; ``reason`` is a ``FetchReason``."""

    def __init__(
        self,
        reason: FetchReason,
        message: str,
        *,
        url: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        category: str = "",
        decoded_bytes: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.url = url
        self.status = status  # whenever a status line arrived, even if the body then failed
        self.retry_after = retry_after  # seconds, from Retry-After on 429/503 and the like
        self.category = category  # the SSRF rule that matched, e.g. "loopback"
        self.decoded_bytes = decoded_bytes  # for too_large: how much was inflated before stop

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


@dataclass(frozen=True)
class FetchResult:
    """A response read completely (or, for ``overflow="truncate"``, up to the cap)."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]  # only KEPT_HEADERS, lower-case names
    body: bytes
    elapsed: float
    redirects: int = 0
    truncated: bool = False

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def _default_user_agent_version() -> str:
    try:
        return importlib.metadata.version("monitor")
    except importlib.metadata.PackageNotFoundError:
        return "0"


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and politeness; defaults from RELIABILITY.md section 10.2."""

    connect_timeout: float = 10.0
    read_timeout: float = 10.0  # per read and per write; the deadline bounds the total
    deadline: float = 30.0
    max_feed_bytes: int = 10 * MiB
    max_page_bytes: int = 5 * MiB
    max_robots_bytes: int = 500 * KiB
    max_webhook_response_bytes: int = 64 * KiB
    decode_chunk: int = 64 * KiB
    max_redirects: int = 5
    contact_url: str = "https://github.com/monitor/monitor"
    user_agent: str = ""  # empty: "monitor/<version> (+<contact_url>)"
    per_host_concurrency: int = 2
    per_host_delay: float = 1.0
    respect_robots: bool = True
    robots_ttl: float = 3600.0
    robots_error_ttl: float = 300.0
    robots_unreachable_allows: bool = False
    max_connections: int = 100

    def resolved_user_agent(self) -> str:
        if self.user_agent:
            return self.user_agent
        return f"monitor/{_default_user_agent_version()} (+{self.contact_url})"

    def max_bytes(self, kind: FetchKind) -> int:
        return {
            "feed": self.max_feed_bytes,
            "page": self.max_page_bytes,
            "robots": self.max_robots_bytes,
            "webhook": self.max_webhook_response_bytes,
        }[kind]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- the fetcher -------------------------------------------------------------------------


@dataclass
class _Hop:
    response: httpx.Response
    body: bytes = b""
    truncated: bool = False
    location: httpx.URL | None = None


@dataclass
class _Exchange:
    """One logical request across redirect hops."""

    method: str
    url: httpx.URL
    headers: dict[str, str]
    content: bytes | None
    max_bytes: int
    overflow: Overflow
    follow_redirects: bool
    original: str = ""
    redirects: int = 0
    started: float = field(default_factory=time.monotonic)
    status: int | None = None  # the current hop's status, once its status line has arrived


class Fetcher:
    """Async fetcher: ``fetch`` for feeds and pages, ``post`` for webhooks, ``request`` below
    both. One instance per event loop; close it with ``aclose`` or ``async with``."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        ssrf: SsrfPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self.ssrf = ssrf or SsrfPolicy()
        self.user_agent = self.policy.resolved_user_agent()
        backend = GuardedBackend(self.ssrf, resolver, network_backend)
        transport = GuardedTransport(
            backend, limits=httpx.Limits(max_connections=self.policy.max_connections)
        )
        timeout = httpx.Timeout(
            connect=self.policy.connect_timeout,
            read=self.policy.read_timeout,
            write=self.policy.read_timeout,
            pool=self.policy.deadline,
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            trust_env=False,  # proxy variables must not route around the guard
            follow_redirects=False,  # followed by hand, re-checked per hop
            timeout=timeout,
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate, br"},
        )
        self._gates = HostGates(self.policy.per_host_concurrency, self.policy.per_host_delay)
        self.robots = RobotsCache(
            self._fetch_robots,
            user_agent=self.user_agent,
            ttl=self.policy.robots_ttl,
            error_ttl=self.policy.robots_error_ttl,
            unreachable_allows=self.policy.robots_unreachable_allows,
            clock=clock,
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        kind: Literal["feed", "page"] = "feed",
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """GET a feed or page; conditional when ``etag``/``last_modified`` are given.

        Returns 2xx and 304 (``not_modified``); anything else raises ``FetchError``.
        """
        headers = {"Accept": ACCEPT[kind]}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if kind == "page" and self.policy.respect_robots:
            await self._check_robots(url)
        result = await self.request(
            "GET", url, headers=headers, max_bytes=self.policy.max_bytes(kind)
        )
        if not (200 <= result.status < 300 or result.status == 304):
            raise _status_error(result)
        return result

    async def post(
        self, url: str, *, content: bytes, headers: Mapping[str, str] | None = None
    ) -> FetchResult:
        """POST (webhooks): redirects are failures, the response is read up to 64 KiB.

        Returns 2xx; 3xx raises ``redirect_refused``, 4xx/5xx raise ``http_status`` with the
        status and Retry-After for the delivery policy (410 disable, 429 throttle, ...).
        """
        result = await self.request(
            "POST",
            url,
            headers={"Accept": ACCEPT["webhook"], **(headers or {})},
            content=content,
            max_bytes=self.policy.max_webhook_response_bytes,
            overflow="truncate",
            follow_redirects=False,
        )
        if 300 <= result.status < 400:
            message = f"{url} answered {result.status}; redirects are not followed"
            raise FetchError(FetchReason.REDIRECT_REFUSED, message, url=url, status=result.status)
        if not 200 <= result.status < 300:
            raise _status_error(result)
        return result

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        max_bytes: int,
        overflow: Overflow = "raise",
        follow_redirects: bool = True,
    ) -> FetchResult:
        """One request under the SSRF guard, the total deadline and the host gates.

        Returns the final response whatever its status; raises ``FetchError`` for everything
        that is not an HTTP answer (and for ``too_large`` / ``too_many_redirects``). When the
        status line arrived but the body then failed (deadline, timeout, cut connection, too
        large, undecodable), the error's ``status`` is that status; otherwise it is ``None``.
        """
        start_url = _checked_url(url, self.ssrf)
        exchange = _Exchange(
            method.upper(),
            start_url,
            dict(headers or {}),
            content,
            max_bytes,
            overflow,
            follow_redirects,
            original=url,
        )
        try:
            return await self._run(exchange)
        except FetchError as exc:
            exc.url = exc.url or url
            raise

    async def _run(self, ex: _Exchange) -> FetchResult:
        deadline_at: float | None = None
        loop = asyncio.get_running_loop()
        for _ in range(self.policy.max_redirects + 1):
            ex.status = None
            try:
                async with self._gates.slot(_host_key(ex.url), deadline_at):
                    deadline_at = deadline_at or loop.time() + self.policy.deadline
                    async with asyncio.timeout_at(deadline_at):
                        hop = await self._hop(ex)
            except TimeoutError as exc:
                message = f"no complete answer within the {self.policy.deadline:g} s deadline"
                raise FetchError(
                    FetchReason.DEADLINE, message, url=str(ex.url), status=ex.status
                ) from exc
            except FetchError as exc:
                if exc.status is None:  # e.g. a 200 whose body was too large or undecodable
                    exc.status = ex.status
                raise
            if hop.location is None:
                return self._result(ex, hop)
            ex.redirects += 1
            ex.url = _checked_url(str(hop.location), self.ssrf)
            if hop.response.status_code == 303 or (
                hop.response.status_code in (301, 302) and ex.method == "POST"
            ):
                ex.method, ex.content = "GET", None
        message = f"more than {self.policy.max_redirects} redirects"
        raise FetchError(FetchReason.TOO_MANY_REDIRECTS, message, url=str(ex.url))

    async def _hop(self, ex: _Exchange) -> _Hop:
        request = self._client.build_request(
            ex.method, ex.url, headers=ex.headers, content=ex.content
        )
        with _mapped_errors(str(ex.url)):
            response = await self._client.send(request, stream=True)
            ex.status = response.status_code
            try:
                location = response.headers.get("location")
                if ex.follow_redirects and response.status_code in REDIRECT_STATUSES and location:
                    return _Hop(response, location=response.url.join(location))
                body, truncated = await self._read_body(response, ex.max_bytes, ex.overflow)
                return _Hop(response, body, truncated)
            finally:
                await response.aclose()

    async def _read_body(
        self, response: httpx.Response, max_bytes: int, overflow: Overflow
    ) -> tuple[bytes, bool]:
        """Read raw bytes and inflate them in bounded pieces, stopping at ``max_bytes``."""
        encoding = response.headers.get("content-encoding")
        declared = response.headers.get("content-length", "")
        url = str(response.url)
        identity = encoding is None or encoding.strip().lower() == "identity"
        if overflow == "raise" and identity and declared.isdigit() and int(declared) > max_bytes:
            message = f"Content-Length {declared} exceeds the {max_bytes} byte cap"
            raise FetchError(FetchReason.TOO_LARGE, message, url=url, decoded_bytes=0)
        decoder = BoundedDecoder(encoding, self.policy.decode_chunk)
        pieces: list[bytes] = []
        decoded = raw_total = 0
        try:
            async for raw in response.aiter_raw(self.policy.decode_chunk):
                raw_total += len(raw)
                if raw_total > max_bytes + self.policy.decode_chunk:  # e.g. junk after gzip
                    return _overflow(pieces, b"", decoded, max_bytes, overflow, url)
                for piece in decoder.feed(raw):
                    decoded += len(piece)
                    if decoded > max_bytes:
                        return _overflow(pieces, piece, decoded, max_bytes, overflow, url)
                    pieces.append(piece)
            for piece in decoder.flush():
                decoded += len(piece)
                if decoded > max_bytes:
                    return _overflow(pieces, piece, decoded, max_bytes, overflow, url)
                pieces.append(piece)
        except DECODE_ERRORS as exc:
            message = f"cannot decode {encoding} body: {exc}"
            raise FetchError(FetchReason.DECODE_ERROR, message, url=url) from exc
        return b"".join(pieces), False

    def _result(self, ex: _Exchange, hop: _Hop) -> FetchResult:
        response = hop.response
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        return FetchResult(
            url=ex.original,
            final_url=str(response.url),
            status=response.status_code,
            headers=kept,
            body=hop.body,
            elapsed=time.monotonic() - ex.started,
            redirects=ex.redirects,
            truncated=hop.truncated,
        )

    async def _check_robots(self, url: str) -> None:
        _checked_url(url, self.ssrf)  # a blocked page is reported as such, not as robots
        verdict = await self.robots.check(url)
        if verdict is Verdict.DISALLOWED:
            message = f"robots.txt disallows {url} for {self.user_agent}"
            raise FetchError(FetchReason.ROBOTS_DISALLOWED, message, url=url)
        if verdict is Verdict.UNREACHABLE:
            message = f"robots.txt for {url} is unreachable; RFC 9309 says not to crawl"
            raise FetchError(FetchReason.ROBOTS_UNREACHABLE, message, url=url)

    async def _fetch_robots(self, robots_url: str) -> RobotsResponse:
        """robots.txt through the same guard; guard failures propagate, the rest is
        "unreachable" for ``RobotsCache``."""
        try:
            result = await self.request(
                "GET",
                robots_url,
                headers={"Accept": ACCEPT["robots"]},
                max_bytes=self.policy.max_robots_bytes,
                overflow="truncate",
            )
        except FetchError as exc:
            if exc.reason in _GUARD_REASONS:
                raise
            return RobotsResponse(None)
        return RobotsResponse(result.status, result.body)


_GUARD_REASONS = frozenset(
    {
        FetchReason.BAD_SCHEME,
        FetchReason.INVALID_URL,
        FetchReason.SSRF_BLOCKED,
        FetchReason.DNS_FAILED,
    }
)


def _checked_url(url: str, policy: SsrfPolicy) -> httpx.URL:
    rejection = check_url_syntax(url, policy)
    if rejection is not None:
        reason = FetchReason(rejection.reason)
        raise FetchError(reason, rejection.message, url=url, category=rejection.category)
    return httpx.URL(url.strip())


def _host_key(url: httpx.URL) -> str:
    return url.host.lower()


def _overflow(
    pieces: list[bytes], piece: bytes, decoded: int, max_bytes: int, overflow: Overflow, url: str
) -> tuple[bytes, bool]:
    if overflow == "truncate":
        kept = sum(len(p) for p in pieces)
        pieces.append(piece[: max(0, max_bytes - kept)])
        return b"".join(pieces), True
    pieces.clear()
    message = f"body exceeds the {max_bytes} byte cap (stopped after {decoded} decoded bytes)"
    raise FetchError(FetchReason.TOO_LARGE, message, url=url, decoded_bytes=decoded)


def _status_error(result: FetchResult) -> FetchError:
    retry_after = parse_retry_after(result.headers.get("retry-after"))
    message = f"{result.final_url} answered HTTP {result.status}"
    if retry_after is not None:
        message += f" (Retry-After {retry_after:g} s)"
    return FetchError(
        FetchReason.HTTP_STATUS,
        message,
        url=result.url,
        status=result.status,
        retry_after=retry_after,
    )


@contextlib.contextmanager
def _mapped_errors(url: str) -> Iterator[None]:
    """Turn guard and transport exceptions into ``FetchError`` with a stable reason."""
    try:
        yield
    except SsrfError as exc:
        reason = FetchReason(exc.reason)
        raise FetchError(reason, exc.message, url=url, category=exc.category) from exc
    except httpx.TimeoutException as exc:
        phase = type(exc).__name__.removesuffix("Timeout").lower() or "request"
        message = f"{phase} timed out: {exc or type(exc).__name__}"
        raise FetchError(FetchReason.TIMEOUT, message, url=url) from exc
    except httpx.ConnectError as exc:
        message = f"cannot connect: {exc or type(exc).__name__}"
        raise FetchError(FetchReason.CONNECT_FAILED, message, url=url) from exc
    except httpx.InvalidURL as exc:
        raise FetchError(FetchReason.INVALID_URL, str(exc), url=url) from exc
    except httpx.TransportError as exc:
        message = f"connection failed: {exc or type(exc).__name__}"
        raise FetchError(FetchReason.CONNECTION_ERROR, message, url=url) from exc
