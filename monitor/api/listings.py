"""Listing responses, reused while the events they are made of stay the same.

A listing is a function of its query and of read models, and a read model changes only when
an event of a type it handles is appended. So the newest position among those types (one
index lookup per type, `ix_events_type_position`) is a version of the listing's content:
while it stands, the bytes the route answered last time are the answer, with no routing,
validation, catch-up, query or encoding; an event of one of those types moves it, and the
next request goes to the route again.

An ASGI middleware behind the API guard (so authentication and rate limits apply as for any
request): for the paths it is given, it reads the version, answers 304 to a matching
`If-None-Match` or the stored bytes when their version is current, and otherwise lets the
route answer and keeps a 200. The version is read before the route catches the read models
up, so a response is never older than the version it is kept under (it may be newer, which
the next version then names anyway). Clients see it as a strong `ETag`. Requests that
arrive together share one read of the version (`Coalesced`), never one that began earlier.

Each process keeps its own responses (least recently used first out, bounded in bytes), so
several API processes need no coordination: the version comes from the shared log.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
from cachetools import LRUCache
from sqlalchemy import Select, select
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor import db
from monitor.bootstrap import App
from monitor.engine import reading

MAX_BYTES = 16 * 1024 * 1024
# Event types whose arrival can change a path's listing (None: any type).
Sources = frozenset[str] | None
Stored = tuple[int, list[tuple[bytes, bytes]], bytes]  # version, headers, body


class ListingCache:
    def __init__(
        self,
        app: ASGIApp,
        monitor: App,
        sources: Mapping[str, Sources],
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.app = app
        self.monitor = monitor
        self.sources = sources
        self._stored: LRUCache[tuple[str, bytes], Stored] = LRUCache(
            max_bytes, getsizeof=lambda stored: len(stored[2])
        )
        self._versions = {
            path: Coalesced(functools.partial(self._newest, kinds))
            for path, kinds in sources.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or path not in self.sources:
            await self.app(scope, receive, send)
            return
        key = (path, scope.get("query_string", b""))
        version = await self._versions[path]()
        digest = hashlib.blake2b(repr((key, version)).encode(), digest_size=12).hexdigest()
        etag = f'"{digest}"'.encode()
        if etag in _etags(Headers(scope=scope).get("if-none-match", "")):
            await _answer(send, 304, [(b"etag", etag)], b"")
            return
        stored = self._stored.get(key)
        if stored is not None and stored[0] == version:
            await _answer(send, 200, [*stored[1], (b"etag", etag)], stored[2])
            return
        await self.app(scope, receive, self._keeping(send, key, version, etag))

    def _keeping(self, send: Send, key: tuple[str, bytes], version: int, etag: bytes) -> Send:
        """`send`, tagging a 200 with the ETag and keeping its bytes once complete."""
        start: Message = {}
        chunks: list[bytes] = []

        async def keeping(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                if message["status"] == 200:
                    message = {**message, "headers": [*message["headers"], (b"etag", etag)]}
            elif message["type"] == "http.response.body" and start.get("status") == 200:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    headers = [(k, v) for k, v in start["headers"] if k.lower() == b"content-type"]
                    body = b"".join(chunks)
                    if len(body) <= self._stored.maxsize:
                        self._stored[key] = (version, headers, body)
            await send(message)

        return keeping

    def _newest(self, sources: Sources) -> int:
        """The newest log position among events of these types (0 when there are none)."""
        if sources is None:
            return self.monitor.log.head()
        with reading(self.monitor.engine) as conn:
            positions = conn.execute(_newest_of(sources)).one()
        return max((p for p in positions if p is not None), default=0)


class Coalesced:
    """One read shared by every caller that arrived before it began.

    Under load many requests want the same version at once. A caller may take the answer of
    a read that started after it arrived (the answer is then as fresh as its own would be),
    so it waits for the read in progress to end and for the next one rather than starting
    its own: one database round trip (in a worker thread) serves all the callers that
    queued during the previous one, and they wait on the event loop, not in threads.
    """

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read
        self._begun = 0  # reads begun so far; each read's number
        self._answer: tuple[int, int] | None = None  # (read number, value)
        self._running: asyncio.Future[None] | None = None

    async def __call__(self) -> int:
        wanted = self._begun + 1  # the first read to begin after this call
        while self._answer is None or self._answer[0] < wanted:
            if self._running is None:
                return await self._read_now()
            await asyncio.shield(self._running)
        return self._answer[1]

    async def _read_now(self) -> int:
        self._begun += 1
        number = self._begun
        self._running = asyncio.get_running_loop().create_future()
        try:
            value = await anyio.to_thread.run_sync(self._read)
            self._answer = (number, value)
            return value
        finally:
            self._running.set_result(None)
            self._running = None


@functools.cache
def _newest_of(sources: frozenset[str]) -> Select[Any]:
    """Built once per set of types: composing the statement costs more than running it.

    Each type's newest position is the last entry of its range in `ix_events_type_position`.
    The type is given as a range, not an equality, and ordered on: PostgreSQL's generic plan
    (used once psycopg has prepared a statement) took `event_type = $1` for a common type
    and walked the primary key back through every later event, 130 ms for a type not in the
    log; with the range only the index gives the order, and each lookup reads one entry.
    """
    e = db.events
    return select(
        *(
            select(e.c.position)
            .where(e.c.event_type.between(kind, kind))
            .order_by(e.c.event_type.desc(), e.c.position.desc())
            .limit(1)
            .scalar_subquery()
            for kind in sorted(sources)
        )
    )


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    length = [(b"content-length", str(len(body)).encode())] if status != 304 else []
    await send({"type": "http.response.start", "status": status, "headers": headers + length})
    await send({"type": "http.response.body", "body": body})


def _etags(header: str) -> set[bytes]:
    """The entity tags of an If-None-Match header (weak ones compare by their tag)."""
    return {tag.strip().removeprefix("W/").encode() for tag in header.split(",") if tag.strip()}
