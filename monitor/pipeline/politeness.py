"""Per-host politeness for the fetcher: a concurrency limit and a minimum delay between starts.

Why it exists: polling many feeds and pages at once must not hammer any one site. ``HostGates``
lets at most ``concurrency`` requests to a host run at once and spaces their starts at least
``delay`` seconds apart, waiting no longer than the caller's deadline. Idle hosts are
forgotten once many are tracked, so the tables stay bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class HostGates:
    """At most ``concurrency`` requests per host at once, starts spaced ``delay`` apart."""

    def __init__(self, concurrency: int, delay: float, max_hosts: int = 10_000) -> None:
        self._concurrency = concurrency
        self._delay = delay
        self._max_hosts = max_hosts
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}
        self._next_start: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str, deadline_at: float | None) -> AsyncIterator[None]:
        """Hold one of ``host``'s slots for the body of the ``async with``. The wait and the
        body run under ``deadline_at`` (a loop time; ``None``: no limit), ``TimeoutError``
        past it."""
        loop = asyncio.get_running_loop()
        self._prune(loop.time())
        sem = self._sems.setdefault(host, asyncio.Semaphore(self._concurrency))
        self._users[host] = self._users.get(host, 0) + 1
        try:
            async with asyncio.timeout_at(deadline_at):
                async with sem:
                    now = loop.time()
                    start = max(now, self._next_start.get(host, now))
                    self._next_start[host] = start + self._delay  # reserve before sleeping
                    await asyncio.sleep(start - now)
                    yield
        finally:
            self._users[host] -= 1

    def _prune(self, now: float) -> None:
        """Forget idle hosts so the tables stay bounded."""
        if len(self._sems) < self._max_hosts:
            return
        for host in [h for h, t in self._next_start.items() if t <= now]:
            if self._users.get(host, 0) == 0:
                self._sems.pop(host, None)
                self._users.pop(host, None)
                self._next_start.pop(host, None)
