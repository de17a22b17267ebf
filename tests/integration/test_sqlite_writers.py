"""Two processes writing one SQLite file queue on the busy timeout (case 50)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

from monitor import migrations
from monitor.engine import make_engine
from monitor.eventlog import EventLog
from monitor.events import FeedAdded, FeedPaused

PER_PROCESS = 150


def _write(url: str, worker: int) -> None:
    engine = make_engine(url, sqlite_busy_timeout=30)
    log = EventLog(engine)
    for n in range(PER_PROCESS):
        stream = f"feed-{worker}-{n}"
        log.append(stream, 0, [FeedAdded(stream, f"https://e.org/{stream}", None, 900)])
        log.append(stream, 1, [FeedPaused(stream)])
    engine.dispose()


def test_two_processes_append_to_one_file_without_loss(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    migrations.upgrade(engine)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write, args=(sqlite_url, w)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]

    recorded = EventLog(engine).read_all(limit=10_000)
    assert len(recorded) == 2 * 2 * PER_PROCESS
    assert [r.position for r in recorded] == sorted({r.position for r in recorded})
    engine.dispose()
    with sqlite3.connect(tmp_path / "monitor.db") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_new_database_opened_while_another_process_writes_waits_for_wal(
    tmp_path: Path,
) -> None:
    """Switching a file to WAL fails at once while another connection writes in the old
    journal mode (SQLite skips its busy handler there); opening it must wait instead."""
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE t (x)")
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    engine = make_engine(f"sqlite:///{path}", sqlite_busy_timeout=5)
    started = time.monotonic()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert time.monotonic() - started >= 0.2
    engine.dispose()
    writer.close()
