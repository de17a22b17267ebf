"""Rendered list responses, reused while the events they are made of stay the same.

A listing is a function of its query and of read models, and a read model changes only when
an event of a type it handles is appended. So the newest position among those types (one
index lookup per type, `ix_events_type_position`) is a version of the listing's content:
while it stands, the bytes rendered last time are the answer, with no catch-up, query or
encoding; an event of one of those types moves it, and the next request renders afresh.

The version is read before the read models are caught up, so an entry is never older than
the version it is stored under (it may be newer, which the next version then names anyway).
Clients get it too, as a strong `ETag`: `If-None-Match` with it is answered 304.

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
from sqlalchemy import Select, func, select

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
        if sources is None:
            return self.app.log.head()
        with reading(self.app.engine) as conn:
            positions = conn.execute(_newest_of(sources)).one()
        return max((p for p in positions if p is not None), default=0)


@functools.cache
def _newest_of(sources: frozenset[str]) -> Select[Any]:
    """Built once per set of types: composing the statement costs more than running it."""
    e = db.events
    return select(
        *(
            select(func.max(e.c.position)).where(e.c.event_type == kind).scalar_subquery()
            for kind in sorted(sources)
        )
    )


def _etags(header: str) -> set[str]:
    """The entity tags of an If-None-Match header (weak ones compare by their tag)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
