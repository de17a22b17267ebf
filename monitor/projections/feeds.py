"""The feeds registry as users see it in `feeds list`, with each feed's health and schedule.

`next_check_at` here is what the scheduler asks when it looks for due feeds.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, update

from monitor import db
from monitor.eventlog import RecordedEvent
from monitor.events import (
    FeedAdded,
    FeedPaused,
    FeedPolled,
    FeedPollFailed,
    FeedRemoved,
    FeedResumed,
)
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
                health="new",
                consecutive_errors=0,
                next_check_at=recorded.recorded_at,  # due at once
            )
        )

    @on(FeedRemoved)
    def _removed(self, conn: Connection, evt: FeedRemoved, _: RecordedEvent) -> None:
        conn.execute(delete(db.feeds).where(db.feeds.c.feed_id == evt.feed_id))

    @on(FeedPaused)
    def _paused(self, conn: Connection, evt: FeedPaused, _: RecordedEvent) -> None:
        self._set_status(conn, evt.feed_id, "paused", evt.reason)

    @on(FeedResumed)
    def _resumed(self, conn: Connection, evt: FeedResumed, recorded: RecordedEvent) -> None:
        self._set_status(conn, evt.feed_id, "active", None)
        self._update(conn, evt.feed_id, next_check_at=recorded.recorded_at)

    @on(FeedPolled)
    def _polled(self, conn: Connection, evt: FeedPolled, _: RecordedEvent) -> None:
        validators = {"etag": evt.etag, "last_modified": evt.last_modified}
        if evt.not_modified:  # a 304 may omit validators; the stored ones stay valid
            validators = {name: value for name, value in validators.items() if value}
        self._update(
            conn,
            evt.feed_id,
            **validators,
            health="ok",
            last_polled_at=evt.polled_at,
            last_http_status=evt.http_status,
            last_error=evt.problem,
            consecutive_errors=0,
            items_found=evt.items_found,
            new_items=evt.new_items,
            next_check_at=evt.next_check_at,
        )

    @on(FeedPollFailed)
    def _failed(self, conn: Connection, evt: FeedPollFailed, _: RecordedEvent) -> None:
        self._update(
            conn,
            evt.feed_id,
            health="unhealthy" if evt.unhealthy else "failing",
            last_polled_at=evt.polled_at,
            last_http_status=evt.http_status,
            last_error=f"{evt.reason}: {evt.message}",
            consecutive_errors=evt.consecutive_errors,
            items_found=None,
            new_items=None,
            next_check_at=evt.next_check_at,
        )

    @staticmethod
    def _update(conn: Connection, feed_id: str, **values: object) -> None:
        conn.execute(update(db.feeds).where(db.feeds.c.feed_id == feed_id).values(**values))

    def _set_status(self, conn: Connection, feed_id: str, status: str, reason: str | None) -> None:
        self._update(conn, feed_id, status=status, status_reason=reason)
