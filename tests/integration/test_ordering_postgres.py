"""Gap-free ordering on PostgreSQL: a follower never skips an event (cases 44-46)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from monitor.engine import make_engine
from monitor.errors import EventLogBusyError
from monitor.eventlog import EventLog
from monitor.events import FeedAdded, FeedPaused, FeedResumed


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    from monitor import migrations

    eng = make_engine(postgres_url, pool_size=12, max_overflow=4)
    migrations.upgrade(eng)
    yield eng
    eng.dispose()


def _added(n: int | str) -> FeedAdded:
    return FeedAdded(str(n), f"https://example.org/{n}.xml", None, 900)


def test_many_concurrent_writers_and_a_follower_see_every_event_once(engine: Engine) -> None:
    log = EventLog(engine)
    writers, batches_each = 8, 25
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        rng = random.Random(worker)
        try:
            for batch in range(batches_each):
                stream = f"feed-{worker}-{batch}"
                events = [_added(stream)] + [FeedPaused(stream)] * rng.randint(0, 3)
                with engine.begin() as conn:
                    log.append(stream, 0, events, conn=conn)
                    time.sleep(rng.random() / 200)  # hold the transaction open a little
        except BaseException as exc:
            errors.append(exc)

    def follow() -> None:
        position = 0
        while True:
            finished = stop.is_set()
            batch = log.read_all(after=position, limit=7)
            seen.extend(r.position for r in batch)
            if batch:
                position = batch[-1].position
            elif finished:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    follower.join(timeout=60)

    assert not errors
    every = [r.position for r in log.read_all(limit=100_000)]
    assert len(every) >= writers * batches_each
    assert seen == every  # each exactly once, in order, none skipped


def test_commit_order_inversion_cannot_happen(engine: Engine) -> None:
    """Case 44: X is inserted and held open; Y waits for X's commit instead of passing it."""
    log = EventLog(engine)
    held = engine.connect()
    transaction = held.begin()
    log.append("feed-x", 0, [_added("x")], conn=held)

    second_done = threading.Event()

    def append_y() -> None:
        log.append("feed-y", 0, [_added("y")])
        second_done.set()

    writer = threading.Thread(target=append_y)
    writer.start()
    assert not second_done.wait(0.5), "Y must wait for the lock while X is uncommitted"
    assert log.read_all() == []  # the projector sees neither yet

    transaction.commit()
    held.close()
    assert second_done.wait(10)
    writer.join()
    streams = [r.stream_id for r in log.read_all()]
    assert streams == ["feed-x", "feed-y"]


def test_without_the_lock_a_follower_would_skip_an_event(engine: Engine) -> None:
    """The hazard the lock prevents, shown with the lock switched off."""
    log = EventLog(engine)
    log._lock = lambda conn: None  # type: ignore[method-assign]
    held = engine.connect()
    transaction = held.begin()
    log.append("feed-x", 0, [_added("x")], conn=held)
    log.append("feed-y", 0, [_added("y")])  # commits first, with the larger position
    position = log.read_all()[-1].position
    transaction.commit()
    held.close()
    assert log.read_all(after=position) == []  # X is behind the follower: lost to it


def test_a_rolled_back_append_leaves_a_gap_nobody_waits_for(engine: Engine) -> None:
    """Case 45."""
    log = EventLog(engine)
    log.append("feed-a", 0, [_added("a")])
    with engine.connect() as conn:
        transaction = conn.begin()
        log.append("feed-b", 0, [_added("b")], conn=conn)
        transaction.rollback()
    log.append("feed-c", 0, [_added("c")])
    recorded = log.read_all()
    assert [r.stream_id for r in recorded] == ["feed-a", "feed-c"]
    assert recorded[1].position - recorded[0].position == 2  # the hole
    assert log.read_all(after=recorded[0].position)[0].stream_id == "feed-c"


def test_a_held_write_lock_fails_fast_and_retryably(engine: Engine) -> None:
    """Case 46: with the lock held elsewhere, an append gives up after lock_timeout."""
    log = EventLog(engine, lock_timeout=1.0)
    with engine.connect() as holder:
        holder.begin()
        holder.exec_driver_sql("LOCK TABLE events IN EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(EventLogBusyError, match="retry"):
            log.append("feed-z", 0, [_added("z")])
        assert time.monotonic() - started < 5
        holder.rollback()
    assert log.append("feed-z", 0, [FeedResumed("z")]).stream_version == 1
