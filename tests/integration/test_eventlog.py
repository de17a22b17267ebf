"""The event log's contract, on SQLite and PostgreSQL (RELIABILITY cases 41-43)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from monitor import db
from monitor.bootstrap import App
from monitor.errors import ConcurrencyError, IdempotencyError, StoredEventError
from monitor.eventlog import EventLog, PendingAppend, derived_id, utcnow
from monitor.events import FeedAdded, FeedPaused, FeedResumed


def _added(feed_id: str = "f1") -> FeedAdded:
    return FeedAdded(feed_id, f"https://example.org/{feed_id}.xml", None, 900)


def _count(app: App) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.events)).scalar_one())


def test_append_and_read_back(app: App) -> None:
    result = app.log.append("feed-f1", 0, [_added(), FeedPaused("f1")], metadata={"actor": "ana"})
    assert result.stream_version == 2 and len(result.positions) == 2
    stream = app.log.read_stream("feed-f1")
    assert [r.event for r in stream] == [_added(), FeedPaused("f1")]
    assert [r.stream_version for r in stream] == [1, 2]
    assert stream[0].metadata["actor"] == "ana"
    assert stream[0].metadata["correlation_id"] == stream[0].event_id
    assert stream[0].recorded_at.tzinfo is not None
    assert app.log.stream_version("feed-f1") == 2
    assert app.log.stream_version("feed-none") == 0


def test_read_all_pages_in_position_order(app: App) -> None:
    for n in range(5):
        app.log.append(f"feed-{n}", 0, [_added(str(n))])
    first = app.log.read_all(after=0, limit=3)
    rest = app.log.read_all(after=first[-1].position, limit=10)
    positions = [r.position for r in first + rest]
    assert len(positions) == 5 and positions == sorted(positions)
    assert app.log.head() == positions[-1]
    only = app.log.read_all(types=["FeedPaused"])
    assert only == []


def test_concurrent_writers_conflict_and_retry_succeeds(app: App) -> None:
    """Case 41: both writers decided at v3; one wins, one conflicts; the retry lands as v5."""
    app.log.append("feed-f1", 0, [_added(), FeedPaused("f1"), FeedResumed("f1")])
    app.log.append("feed-f1", 3, [FeedPaused("f1")])
    with pytest.raises(ConcurrencyError, match="expected version 3, found 4"):
        app.log.append("feed-f1", 3, [FeedPaused("f1", "second writer")])
    assert app.log.stream_version("feed-f1") == 4
    retried = app.log.append("feed-f1", app.log.stream_version("feed-f1"), [FeedResumed("f1")])
    assert retried.stream_version == 5
    assert _count(app) == 5


def test_a_batch_is_stored_whole_or_not_at_all(app: App) -> None:
    """Case 42: the second event of a batch breaks a constraint: neither is stored."""
    taken = app.log.append("feed-a", 0, [_added("a")]).positions
    assert taken
    stored_id = app.log.read_all()[0].event_id
    with pytest.raises(IdempotencyError):
        app.log.append("feed-b", 0, [_added("b"), _added("a")], event_ids=["new-id", stored_id])
    assert _count(app) == 1
    assert app.log.stream_version("feed-b") == 0


def test_reappending_the_same_event_ids_is_a_no_op(app: App) -> None:
    """Case 43: a client retry after a lost ack gets the original result, not a duplicate."""
    ids = [derived_id("command", "42")]
    first = app.log.append("feed-f1", 0, [_added()], event_ids=ids)
    again = app.log.append("feed-f1", 0, [_added()], event_ids=ids)
    assert again.duplicate and again.positions == first.positions
    assert _count(app) == 1
    with pytest.raises(IdempotencyError, match="already used"):
        app.log.append("feed-f1", 1, [FeedPaused("f1")], event_ids=ids)


def test_unknown_and_malformed_stored_events_name_their_position(app: App) -> None:
    with app.engine.begin() as conn:
        row = {
            "event_id": "x1",
            "stream_id": "s",
            "stream_version": 1,
            "event_type": "FromTheFuture",
            "data": {},
            "meta": {},
            "recorded_at": utcnow(),
        }
        conn.execute(insert(db.events).values(row))
        conn.execute(
            insert(db.events).values(
                {**row, "event_id": "x2", "stream_version": 2, "event_type": "FeedPaused"}
            )
        )
    with pytest.raises(StoredEventError, match=r"position 1: unknown event type 'FromTheFuture'"):
        app.log.read_all()
    (malformed,) = app.log.read_all(after=1)
    with pytest.raises(StoredEventError, match=r"position 2: malformed FeedPaused"):
        _ = malformed.event


def test_empty_or_mismatched_batches_are_refused(app: App) -> None:
    with pytest.raises(ValueError, match="nothing"):
        app.log.append("s", 0, [])
    with pytest.raises(ValueError, match="distinct"):
        app.log.append("s", 0, [_added(), _added()], event_ids=["a", "a"])


def test_a_second_log_object_sees_the_same_events(app: App) -> None:
    app.log.append("feed-f1", 0, [_added()])
    assert EventLog(app.engine).read_stream("feed-f1")[0].event == _added()


def test_append_many_is_atomic_across_streams(app: App) -> None:
    app.log.append("feed-b", 0, [_added("b")])
    batch = [
        PendingAppend("feed-a", 0, [_added("a")]),
        PendingAppend("feed-a", 1, [FeedPaused("a")]),  # the same stream twice: versions run on
        PendingAppend("feed-b", 1, [FeedPaused("b"), FeedResumed("b")]),
    ]
    results = app.log.append_many(batch)
    assert [r.stream_version for r in results] == [1, 2, 3]
    assert [len(r.positions) for r in results] == [1, 1, 2]
    with pytest.raises(ConcurrencyError):
        app.log.append_many(
            [
                PendingAppend("feed-c", 0, [_added("c")]),
                PendingAppend("feed-b", 1, [FeedPaused("b")]),
            ]
        )
    assert app.log.stream_version("feed-c") == 0  # nothing of the refused call was stored


def test_append_many_retried_whole_is_a_no_op(app: App) -> None:
    batch = [
        PendingAppend("feed-a", None, [_added("a")], event_ids=[derived_id("x", 1)]),
        PendingAppend("feed-b", None, [_added("b")], event_ids=[derived_id("x", 2)]),
    ]
    first = app.log.append_many(batch)
    again = app.log.append_many(batch)
    assert [r.positions for r in again] == [r.positions for r in first]
    assert all(r.duplicate for r in again)
    assert _count(app) == 2
