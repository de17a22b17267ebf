"""On SQLite, one worker per database file (case 50): a second one refuses to start.

SQLite lets one writer in at a time, so a second worker process would only queue on the
write lock (and fail with "database is locked" once the busy timeout runs out) while
doubling the work. The guard is an exclusive OS lock (`flock`) on a file next to the
database, held for the worker's lifetime: the kernel drops it when the process exits, even
on SIGKILL, so a restart never waits for a stale lease. PostgreSQL needs no guard: workers
there share the followers through leases (`monitor.workers`).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from monitor.errors import ConfigError
from monitor.leases import new_owner


def lock_path(database_url: str) -> Path | None:
    """The lock file of a SQLite database file; None for other databases and `:memory:`."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(f"{url.database}.worker.lock")


@contextmanager
def sole_worker(database_url: str) -> Iterator[None]:
    """Hold the database's worker lock for the block, or raise `ConfigError` saying why not."""
    path = lock_path(database_url)
    if path is None:
        yield
        return
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ConfigError(
                f"another worker ({holder}) already runs on the SQLite database {path.parent}/"
                f"{path.name.removesuffix('.worker.lock')}; SQLite takes one writer at a time, "
                "so a second worker would only wait on its lock. Run one worker per SQLite "
                "file, or use PostgreSQL (MONITOR_DATABASE_URL=postgresql+psycopg://...) to "
                "run several (`monitor run --role worker` per process)."
            ) from None
        handle.truncate(0)
        handle.write(new_owner() + "\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
