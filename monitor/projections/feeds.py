"""The feeds registry as users see it in `feeds list`."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, update

from monitor import db
from monitor.eventlog import RecordedEvent
from monitor.events import FeedAdded, FeedPaused, FeedRemoved, FeedResumed
from monitor.followers import Projection, on


class FeedsProjection(Projection):
    name = "feeds"
    tables = (db.feeds,)

    @on(FeedAdded)
    def _added(self, conn: Connection, evt: FeedAdded, recorded: RecordedEvent) -> None:
        conn.execute(
            insert(db.feeds).values(
                feed_id=evt.feed_id,
                url=evt.url,
                name=evt.name,
                categories=list(evt.categories),
                interval_seconds=evt.interval_seconds,
                status="active",
                status_reason=None,
                added_at=recorded.recorded_at,
            )
        )

    @on(FeedRemoved)
    def _removed(self, conn: Connection, evt: FeedRemoved, _: RecordedEvent) -> None:
        conn.execute(delete(db.feeds).where(db.feeds.c.feed_id == evt.feed_id))

    @on(FeedPaused)
    def _paused(self, conn: Connection, evt: FeedPaused, _: RecordedEvent) -> None:
        self._set_status(conn, evt.feed_id, "paused", evt.reason)

    @on(FeedResumed)
    def _resumed(self, conn: Connection, evt: FeedResumed, _: RecordedEvent) -> None:
        self._set_status(conn, evt.feed_id, "active", None)

    @staticmethod
    def _set_status(conn: Connection, feed_id: str, status: str, reason: str | None) -> None:
        conn.execute(
            update(db.feeds)
            .where(db.feeds.c.feed_id == feed_id)
            .values(status=status, status_reason=reason)
        )
