"""Named, time-limited ownership in the database, shared by every process on it.

A lease (a row of `leases`) is taken or renewed with one conditional upsert: the row is
written only if it is free, expired, or already ours, and the statement returns whether it
was. That one statement is atomic on PostgreSQL (a concurrent claimant waits on the row
lock, then re-checks the condition) and on SQLite (one writer at a time), so the same code
serves both. A holder that stops renewing (killed, frozen, cut off) loses the lease at
`expires_at` and the next claimant takes it over.

Rows rather than PostgreSQL advisory locks: a lease survives a dropped connection or a
pooler that does not pin sessions, needs no connection held open per lease, works on SQLite
too, and `SELECT * FROM leases` shows who holds what. The price is the failover delay (up
to one lease duration instead of the moment the connection drops) and trust in clocks:
expiry is computed from each host's UTC clock, so hosts need NTP, with skew well below the
lease duration.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine, case, delete, or_, select, update

from monitor import db
from monitor.engine import reading
from monitor.eventlog import new_id, utcnow
from monitor.sql import upsert

log = logging.getLogger(__name__)


def new_owner() -> str:
    """An owner id that names the process for an operator and is never reused."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{new_id()[:8]}"


class Leases:
    """The leases one owner (a process, or one loop in it) takes, renews and gives back."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str | None = None,
        duration: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.owner = owner or new_owner()
        self.duration = timedelta(seconds=duration)
        self.clock = clock

    def acquire(self, name: str) -> bool:
        """Take (or renew) the lease if it is free, expired or ours; tell whether we hold it."""
        now = self.clock()
        lease = db.leases.c
        with self.engine.begin() as conn:
            statement = upsert(conn, db.leases).values(
                name=name,
                owner=self.owner,
                acquired_at=now,
                renewed_at=now,
                expires_at=now + self.duration,
            )
            taken = statement.excluded
            statement = statement.on_conflict_do_update(
                index_elements=[lease.name],
                set_={
                    "owner": taken.owner,
                    "acquired_at": case(
                        (lease.owner == taken.owner, lease.acquired_at), else_=taken.acquired_at
                    ),
                    "renewed_at": taken.renewed_at,
                    "expires_at": taken.expires_at,
                },
                where=or_(lease.owner == self.owner, lease.expires_at <= now),
            ).returning(lease.name)
            return conn.execute(statement).first() is not None

    def renew(self) -> None:
        """Extend every lease this owner still holds (the heartbeat)."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(db.leases)
                .where(db.leases.c.owner == self.owner)
                .values(renewed_at=now, expires_at=now + self.duration)
            )

    def release(self, names: Iterable[str] | None = None) -> None:
        """Give leases back at once (all of this owner's without `names`), for a fast handover."""
        query = delete(db.leases).where(db.leases.c.owner == self.owner)
        if names is not None:
            query = query.where(db.leases.c.name.in_(sorted(names)))
        with self.engine.begin() as conn:
            conn.execute(query)

    def live(self, prefix: str) -> dict[str, str]:
        """Unexpired leases whose name starts with `prefix`, with their owners."""
        lease = db.leases.c
        query = select(lease.name, lease.owner).where(
            lease.name.startswith(prefix, autoescape=True), lease.expires_at > self.clock()
        )
        with reading(self.engine) as conn:
            return {name: owner for name, owner in conn.execute(query)}


class Heartbeat:
    """Renews an owner's leases every `interval` seconds in a thread of its own.

    A separate thread, because the work done under a lease (a batch of page downloads, say)
    can take longer than the lease itself.
    """

    def __init__(self, leases: Leases, interval: float) -> None:
        self.leases = leases
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.leases.renew()
            except Exception:  # a database blip: the next beat retries, within the lease
                log.exception("lease renewal failed", extra={"owner": self.leases.owner})
