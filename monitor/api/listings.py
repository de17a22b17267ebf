"""Rendered list responses, reused while the events they are made of stay the same.

A listing is a function of its query and of read models, and a read model changes only when
an event of a type it handles is appended. So the newest position among those types (one
index lookup per type, `ix_events_type_position`) is a version of the listing's content:
while it stands, the bytes rendered last time are the answer, with no catch-up, query or
encoding; an event of one of those types moves it, and the next request renders afresh.

The version is read before the read models are caught up, so an entry is never older than
the version it is stored under (it may be newer, which the next version then names anyway).
Clients get it too, as a strong `ETag`: `If-None-Match` with it is answered 304. Requests
that arrive together share one read of the version (`Coalesced`), never an older one.

Each process keeps its own entries (least recently used first out, bounded in bytes), so
several API processes need no coordination: the version comes from the shared log.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Hashable
from typing import Any

from cachetools import LRUCache
from fastapi import Request, Response
from sqlalchemy import Select, select

from monitor import db
from monitor.bootstrap import App
from monitor.engine import reading

MAX_BYTES = 16 * 1024 * 1024


class Listings:
    """The rendered listings of one process, keyed by query, checked against the log."""

    def __init__(self, app: App, max_bytes: int = MAX_BYTES) -> None:
        self.app = app
        self._entries: LRUCache[Hashable, tuple[int, bytes]] = LRUCache(
            max_bytes, getsizeof=lambda entry: len(entry[1])
        )
        self._lock = threading.Lock()
        self._readers: dict[frozenset[str] | None, Coalesced] = {}

    def respond(
        self,
        request: Request,
        key: Hashable,
        sources: frozenset[str] | None,
        render: Callable[[], Any],
    ) -> Response:
        """`render()` as JSON, or the same bytes again while no event of the `sources` types
        (None: of any type) has been appended since they were rendered."""
        version = self.version(sources)
        digest = hashlib.blake2b(repr((key, version)).encode(), digest_size=12).hexdigest()
        etag = f'"{digest}"'
        if etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers={"ETag": etag})
        with self._lock:
            stored = self._entries.get(key)
        if stored is not None and stored[0] == version:
            body = stored[1]
        else:
            self.app.catch_up()
            body = json.dumps(render(), ensure_ascii=False, separators=(",", ":")).encode()
            if len(body) <= self._entries.maxsize:
                with self._lock:
                    self._entries[key] = (version, body)
        return Response(body, media_type="application/json", headers={"ETag": etag})

    def version(self, sources: frozenset[str] | None) -> int:
        """The newest log position among events of these types (0 when there are none)."""
        with self._lock:
            reader = self._readers.get(sources)
            if reader is None:
                reader = self._readers[sources] = Coalesced(lambda: self._newest(sources))
        return reader()

    def _newest(self, sources: frozenset[str] | None) -> int:
        if sources is None:
            return self.app.log.head()
        with reading(self.app.engine) as conn:
            positions = conn.execute(_newest_of(sources)).one()
        return max((p for p in positions if p is not None), default=0)


class Coalesced:
    """One read shared by every caller that arrived before it began.

    Under load many requests want the same version at once. A caller may take the answer of
    a read that started after it arrived (the answer is then as fresh as its own would be),
    so it waits for the next read rather than making one of its own: one database round
    trip serves all the callers that queued during the previous one.
    """

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read
        self._changed = threading.Condition()
        self._begun = 0  # reads begun so far; each read's number
        self._busy = False
        self._answer: tuple[int, int] | None = None  # (read number, value)

    def __call__(self) -> int:
        with self._changed:
            wanted = self._begun + 1  # the first read to begin after this call
            while self._busy and (self._answer is None or self._answer[0] < wanted):
                self._changed.wait()
            if self._answer is not None and self._answer[0] >= wanted:
                return self._answer[1]
            self._busy = True
            self._begun += 1
            number = self._begun
        try:
            value = self._read()
            with self._changed:
                self._answer = (number, value)
            return value
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()


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


def _etags(header: str) -> set[str]:
    """The entity tags of an If-None-Match header (weak ones compare by their tag)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
