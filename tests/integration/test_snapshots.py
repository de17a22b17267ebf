"""Snapshots speed up loading and never change the answer (case 49)."""

from __future__ import annotations

from sqlalchemy import update

from monitor import db
from monitor.bootstrap import App
from monitor.commands import feeds as feed_commands
from monitor.events import FeedPaused, FeedResumed
from monitor.model import Feed, FeedFold
from monitor.streams import feed_stream


def _toggle(app: App, feed_id: str, times: int) -> None:
    stream = feed_stream(feed_id)
    for _ in range(times):
        version = app.log.stream_version(stream)
        evt = FeedPaused(feed_id) if version % 2 else FeedResumed(feed_id)
        app.log.append(stream, version, [evt])


def _full_replay(app: App, feed_id: str) -> Feed:
    events = [r.event for r in app.log.read_stream(feed_stream(feed_id))]
    return Feed.fold(feed_id, events)


def test_snapshot_plus_later_events_equals_full_replay(app: App) -> None:
    feed_id = feed_commands.add_feed(app, "https://snap.example.org/rss")
    _toggle(app, feed_id, 99)  # 100 events: the load below takes a snapshot at v100
    stream = feed_stream(feed_id)
    state, version = app.snapshots.load(stream, FeedFold())
    assert version == 100
    with app.engine.connect() as conn:
        assert conn.execute(db.snapshots.select()).one().stream_version == 100
    _toggle(app, feed_id, 5)
    state, version = app.snapshots.load(stream, FeedFold())
    assert version == 105
    assert state == _full_replay(app, feed_id)


def test_a_corrupt_or_foreign_snapshot_is_ignored(app: App) -> None:
    feed_id = feed_commands.add_feed(app, "https://corrupt.example.org/rss")
    _toggle(app, feed_id, 104)
    stream = feed_stream(feed_id)
    app.snapshots.load(stream, FeedFold())  # writes the snapshot
    expected = _full_replay(app, feed_id)

    with app.engine.begin() as conn:
        conn.execute(update(db.snapshots).values(state={"garbage": True}))
    assert app.snapshots.load(stream, FeedFold()) == (expected, 105)

    with app.engine.begin() as conn:
        conn.execute(
            update(db.snapshots).values(
                schema_version=99, state={"feed_id": feed_id, "status": "removed", "url": None}
            )
        )
    assert app.snapshots.load(stream, FeedFold()) == (expected, 105)
