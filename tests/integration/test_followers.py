"""Followers: exactly-once effects, concurrent runners, rebuild == incremental (47, 48)."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Sequence

import pytest
from sqlalchemy import Connection, func, select

from monitor import db
from monitor.bootstrap import App
from monitor.commands import feeds as feed_commands
from monitor.eventlog import RecordedEvent
from monitor.projections.activity import ActivityProjection


def _checksum(app: App) -> str:
    """A digest of every read-model table's rows, independent of physical order."""
    digest = hashlib.sha256()
    with app.engine.connect() as conn:
        for projection in app.projections:
            for table in projection.tables:
                rows = conn.execute(select(table)).mappings().all()
                encoded = sorted(json.dumps(dict(r), sort_keys=True, default=str) for r in rows)
                digest.update(table.name.encode())
                for line in encoded:
                    digest.update(line.encode())
    return digest.hexdigest()


def _activity_total(app: App) -> int:
    with app.engine.connect() as conn:
        total = conn.execute(select(func.coalesce(func.sum(db.activity.c.count), 0))).scalar()
    return int(total or 0)


def _random_history(app: App, feeds: int = 30, seed: int = 7) -> None:
    rng = random.Random(seed)
    ids = [feed_commands.add_feed(app, f"https://news{n}.example.org/rss") for n in range(feeds)]
    for _ in range(feeds * 3):
        feed_id = rng.choice(ids)
        action = rng.choice(["pause", "resume", "remove", "readd"])
        try:
            if action == "pause":
                feed_commands.pause_feed(app, feed_id)
            elif action == "resume":
                feed_commands.resume_feed(app, feed_id)
            elif action == "remove":
                feed_commands.remove_feed(app, feed_id)
            else:
                feed_commands.add_feed(app, f"https://news{ids.index(feed_id)}.example.org/rss")
        except Exception:
            pass


def test_rebuild_equals_incremental(app: App) -> None:
    """Case 48: read models built step by step equal the ones rebuilt from zero."""
    _random_history(app)
    for projection in app.projections:  # incremental, in small batches
        while app.runner.step(projection, batch_size=7):
            pass
    incremental = _checksum(app)
    assert _activity_total(app) == len(app.log.read_all(limit=100_000))
    for projection in app.projections:
        app.runner.rebuild(projection, batch_size=13)
    assert _checksum(app) == incremental


def test_a_crash_before_the_tracking_commit_applies_nothing(app: App) -> None:
    """Case 47: writes and position share one transaction, so a retry counts each event once."""

    class CrashOnce(ActivityProjection):
        crashed = False

        def handle(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None:
            super().handle(conn, batch)
            if not CrashOnce.crashed:
                CrashOnce.crashed = True
                raise RuntimeError("power cut after writing, before committing")

    for n in range(25):
        feed_commands.add_feed(app, f"https://crash{n}.example.org/rss")
    projection = CrashOnce()
    with pytest.raises(RuntimeError):
        app.runner.run_once(projection, batch_size=10)
    assert app.runner.position("activity") == 0
    app.runner.run_once(projection, batch_size=10)
    with app.engine.connect() as conn:
        total = conn.execute(select(func.sum(db.activity.c.count))).scalar_one()
    assert total == 25
    assert app.runner.lag(projection) == 0


def test_two_runners_of_one_follower_never_double_count(app: App) -> None:
    for n in range(60):
        feed_commands.add_feed(app, f"https://twin{n}.example.org/rss")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(20):
                app.runner.step(ActivityProjection(), batch_size=3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    app.runner.run_once(ActivityProjection())
    assert not errors
    assert _activity_total(app) == 60


def test_projection_names_are_known(app: App) -> None:
    names = [p.name for p in app.projections]
    assert {"feeds", "articles", "activity"} <= set(names)
    assert len(set(names)) == len(names)
    with pytest.raises(KeyError, match="known: " + ", ".join(names)):
        app.projection("nope")
