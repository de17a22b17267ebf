"""robots.txt for article pages: fetched through the guarded fetcher, cached per origin.

Status handling follows RFC 9309 section 2.3.1:

* 2xx: the rules apply (parsed with ``urllib.robotparser``; bodies past the cap are cut, as
  the RFC allows for files over 500 KiB).
* 4xx other than 429 ("unavailable"): everything is allowed.
* 429, 5xx, timeouts, connection failures, too many redirects ("unreachable"): the RFC says
  to assume complete disallow. That is our default (``unreachable_allows=False``); the verdict
  is ``UNREACHABLE`` so callers can tell a transient refusal from a real ``Disallow`` and retry
  later. The verdict is cached for ``error_ttl`` (short) instead of ``ttl``.

The fetch function is injected, which keeps this module free of HTTP details and lets the
fetcher route robots.txt through the same SSRF guard, politeness gates and deadline.
"""

from __future__ import annotations

import asyncio
import enum
import time
import urllib.parse
import urllib.robotparser
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RobotsResponse:
    """What fetching robots.txt gave: ``status`` None means unreachable."""

    status: int | None
    body: bytes = b""


RobotsFetch = Callable[[str], Awaitable[RobotsResponse]]


class Verdict(enum.StrEnum):
    ALLOWED = "allowed"
    DISALLOWED = "disallowed"
    UNREACHABLE = "unreachable"


@dataclass
class _Entry:
    parser: urllib.robotparser.RobotFileParser | None  # None: allow everything
    unreachable: bool
    expires_at: float


def robots_url(url: str) -> str:
    """The robots.txt URL for the origin of ``url``."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc.rpartition("@")[2], "/robots.txt", "", "")
    )


class RobotsCache:
    """Per-origin robots.txt rules with a TTL and a bounded number of origins (LRU)."""

    def __init__(
        self,
        fetch: RobotsFetch,
        *,
        user_agent: str,
        ttl: float = 3600.0,
        error_ttl: float = 300.0,
        unreachable_allows: bool = False,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._user_agent = user_agent
        self._ttl = ttl
        self._error_ttl = error_ttl
        self._unreachable_allows = unreachable_allows
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def check(self, url: str) -> Verdict:
        """May ``url`` be fetched? Fetches robots.txt at most once per origin and TTL, even
        when many pages of one site are checked at the same time."""
        key = robots_url(url)
        entry = self._fresh(key)
        if entry is None:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                entry = self._fresh(key) or await self._load(key)
            if not lock.locked():
                self._locks.pop(key, None)
        return self._verdict(entry, url)

    def _fresh(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= self._clock():
            return None
        self._entries.move_to_end(key)
        return entry

    async def _load(self, key: str) -> _Entry:
        response = await self._fetch(key)
        entry = self._entry_for(response)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return entry

    def _entry_for(self, response: RobotsResponse) -> _Entry:
        now = self._clock()
        status = response.status
        if status is None or status == 429 or status >= 500:
            return _Entry(None, True, now + self._error_ttl)
        if 200 <= status < 300:
            return _Entry(parse_robots(response.body), False, now + self._ttl)
        return _Entry(None, False, now + self._ttl)

    def _verdict(self, entry: _Entry, url: str) -> Verdict:
        if entry.unreachable:
            return Verdict.ALLOWED if self._unreachable_allows else Verdict.UNREACHABLE
        if entry.parser is None or entry.parser.can_fetch(self._user_agent, url):
            return Verdict.ALLOWED
        return Verdict.DISALLOWED


def parse_robots(body: bytes) -> urllib.robotparser.RobotFileParser:
    """Parse robots.txt bytes (undecodable bytes replaced, as crawlers do)."""
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(body.decode("utf-8", errors="replace").splitlines())
    return parser
