"""Event log throughput against bare SQLAlchemy on the same database, in the same run.

    .venv/bin/python bench/eventlog.py [--events 1000000] [--appends 20000] [--backend both]

Measures, on SQLite and PostgreSQL:
- batched append (100 events per `EventLog.append`) against a bare `executemany` insert of
  the same rows, 100 per transaction (target: >= 50 %);
- single-event append against a bare one-row insert per transaction (reported, no target);
- a full replay of `--events` events into the `activity` projection (`FollowerRunner.rebuild`)
  against a bare streaming `SELECT` of the same rows (target: >= 50 %; on SQLite 1M events
  in under 60 s).
Each pair runs alternately for several rounds; the median of each is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, delete, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor import db, migrations
from monitor.engine import make_engine
from monitor.eventlog import EventLog, new_id
from monitor.events import FeedPaused, FeedResumed, to_data
from monitor.followers import FollowerRunner
from monitor.projections.activity import ActivityProjection

POSTGRES = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROUNDS = 3


def events_for(stream: str, count: int) -> list[FeedPaused | FeedResumed]:
    return [FeedPaused(stream, "bench") if n % 2 else FeedResumed(stream) for n in range(count)]


def bare_rows(stream: str, count: int, first_version: int = 1) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        {
            "event_id": new_id(),
            "stream_id": stream,
            "stream_version": first_version + n,
            "event_type": evt.type_name,
            "data": to_data(evt),
            "meta": {"correlation_id": stream},
            "recorded_at": now,
        }
        for n, evt in enumerate(events_for(stream, count))
    ]


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(db.events))
        conn.execute(delete(db.tracking))
        conn.execute(delete(db.activity))


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_rates(
    engine: Engine, count: int, ours: Callable[[], None], bare: Callable[[], None]
) -> tuple[float, float]:
    """Alternate ours and bare on an emptied log; median events/s of each."""
    mine, theirs = [], []
    for _ in range(ROUNDS):
        clear(engine)
        theirs.append(count / timed(bare))
        clear(engine)
        mine.append(count / timed(ours))
    return statistics.median(mine), statistics.median(theirs)


def bench_batched_append(engine: Engine, log: EventLog, count: int) -> tuple[float, float]:
    batches = count // 100

    def ours() -> None:
        for _ in range(batches):
            stream = f"feed-{uuid.uuid4()}"
            log.append(stream, 0, events_for(stream, 100))

    def bare() -> None:
        for _ in range(batches):
            rows = bare_rows(f"feed-{uuid.uuid4()}", 100)
            with engine.begin() as conn:
                conn.execute(insert(db.events), rows)

    return median_rates(engine, batches * 100, ours, bare)


def bench_single_append(engine: Engine, log: EventLog, count: int) -> tuple[float, float]:
    def ours() -> None:
        stream = f"feed-{uuid.uuid4()}"
        for version, evt in enumerate(events_for(stream, count)):
            log.append(stream, version, [evt])

    def bare() -> None:
        stream = f"feed-{uuid.uuid4()}"
        for row in bare_rows(stream, count):
            with engine.begin() as conn:
                conn.execute(insert(db.events), [row])

    return median_rates(engine, count, ours, bare)


def fill(engine: Engine, count: int) -> None:
    streams, per_stream = max(1, count // 100), min(count, 100)
    with engine.begin() as conn:
        for s in range(streams):
            conn.execute(insert(db.events), bare_rows(f"feed-fill-{s}", per_stream))


def bench_replay(engine: Engine, log: EventLog, count: int) -> tuple[float, float, float]:
    clear(engine)
    fill(engine, count)
    runner = FollowerRunner(engine, log)
    projection = ActivityProjection()

    def ours() -> None:
        assert runner.rebuild(projection, batch_size=5000) == count

    def bare() -> None:
        seen = 0
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=5000).execute(
                select(db.events).order_by(db.events.c.position)
            )
            for row in result:
                seen += row.data is not None
        assert seen == count

    mine, theirs = [], []
    for _ in range(ROUNDS):
        theirs.append(timed(bare))
        mine.append(timed(ours))
    ours_s, bare_s = statistics.median(mine), statistics.median(theirs)
    return count / ours_s, count / bare_s, ours_s


def run(name: str, url: str, appends: int, replay_events: int) -> list[str]:
    engine = make_engine(url)
    migrations.upgrade(engine)
    log = EventLog(engine)
    lines = []
    ours, bare = bench_batched_append(engine, log, appends)
    lines.append(
        f"| {name} | append, batches of 100 | {ours:,.0f} ev/s | bare executemany "
        f"{bare:,.0f} ev/s | {ours / bare:.0%} | >= 50% |"
    )
    single = max(500, appends // 10)
    ours, bare = bench_single_append(engine, log, single)
    lines.append(
        f"| {name} | append, single events | {ours:,.0f} ev/s | bare one-row insert "
        f"{bare:,.0f} ev/s | {ours / bare:.0%} | (reported) |"
    )
    ours, bare, seconds = bench_replay(engine, log, replay_events)
    lines.append(
        f"| {name} | replay {replay_events:,} events into `activity` | {ours:,.0f} ev/s "
        f"({seconds:.1f} s) | bare SELECT scan {bare:,.0f} ev/s | {ours / bare:.0%} | >= 50% |"
    )
    engine.dispose()
    for line in lines:
        print(line, flush=True)
    return lines


def postgres_schema_url() -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to replay")
    parser.add_argument("--appends", type=int, default=20_000, help="events to append")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print("| database | what | monitor | baseline | ratio | target |")
    print("|---|---|---|---|---|---|")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            run("SQLite", f"sqlite:///{folder}/bench.db", args.appends, args.events)
    if args.backend in ("postgresql", "both"):
        url, drop = postgres_schema_url()
        try:
            run("PostgreSQL", url, args.appends, args.events)
        finally:
            drop()


if __name__ == "__main__":
    main()
