"""Database engines with the per-backend settings the event log relies on.

SQLite: WAL (readers never block the writer), foreign keys on, a busy timeout, and write
transactions opened with BEGIN IMMEDIATE so two writers queue on the busy timeout instead of
failing at once when a read lock cannot be upgraded. Read-only work opens plain (deferred)
transactions through `reading()`. PostgreSQL: serial plans only (`_serial_plans`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

READONLY_OPTION = "monitor_readonly"
# Connections kept open: the API's worker threads (8, monitor.api.app) plus the follower and
# scheduler threads, so a busy service does not open and close one per request (pools open
# them lazily: a CLI command uses one or two).
POOL_SIZE = 12


def make_engine(url: str, *, sqlite_busy_timeout: float = 5.0, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys and BEGIN IMMEDIATE."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True, **{"pool_size": POOL_SIZE, **kwargs})
        event.listen(engine, "connect", _serial_plans)
        return engine

    engine = create_engine(
        url,
        connect_args={"timeout": sqlite_busy_timeout, "check_same_thread": False},
        **{"pool_size": POOL_SIZE, **kwargs},
    )
    busy_ms = int(sqlite_busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if parsed.database and parsed.database != ":memory:":
            _use_wal(cursor, sqlite_busy_timeout)
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        readonly = connection.get_execution_options().get(READONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def _serial_plans(dbapi_connection: Any, _record: Any) -> None:
    """No parallel workers for this service's queries on PostgreSQL. They are many, small and
    concurrent (a page of 50 articles, a batch of events): a listing filtered by three tags
    got a two-worker plan whose start-up alone took 40 ms, where the serial plan took 12."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    dbapi_connection.commit()


def _use_wal(cursor: Any, timeout: float) -> None:
    """Switch the file to WAL (a no-op once it is). The switch needs the file to itself, and
    SQLite answers "database is locked" at once, without its busy handler, while another
    process is switching or writing in the old journal mode: two replicas opening a new
    database together would fail. So wait here, as the busy timeout would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only. SQLite: a deferred transaction, one snapshot for all its
    statements and no write lock. PostgreSQL: no transaction, which saves the BEGIN and
    COMMIT round trips (two of the four of a one-query read: the pool's ping is the other);
    at READ COMMITTED each statement takes its own snapshot inside a transaction too."""
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        conn = conn.execution_options(**{READONLY_OPTION: True})
        with conn.begin():
            yield conn
