"""Followers read the event log from their tracked position and act on what they find.

Pipeline stages, projections (read models) and delivery channels are all followers. A step
reads one batch after the follower's position and commits the follower's writes together
with the new position, in one transaction: a crash before the commit leaves both unchanged,
so every event takes effect exactly once in the database (effects outside it, such as an
email, use an outbox with stable idempotency keys on top of this).

The follower's tracking row is locked (`SELECT ... FOR UPDATE`) for the step, and its
position is advanced with a compare-and-set, so two processes running the same follower
never handle one event twice. Which process runs which follower is `monitor.workers`' job
(leases); this guarantee does not depend on it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Table, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor import db
from monitor.engine import reading
from monitor.errors import ConcurrencyError
from monitor.eventlog import EventLog, RecordedEvent, utcnow
from monitor.events import Event

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]  # (position reached, head position)
P = TypeVar("P")


class Follower(Protocol):
    """Anything that consumes the log: a name, the event types it wants, a batch handler."""

    @property
    def name(self) -> str:
        """Unique and stable: it keys the follower's tracking position."""

    @property
    def handles(self) -> frozenset[str] | None:
        """Event type names this follower reads; None for every type."""

    def handle(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Apply a batch inside the caller's transaction."""


def on(event_type: type[Event]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a `Projection` method as the handler of one event type.

    The method is called as `method(conn, event, recorded)`.
    """

    def mark(method: Callable[..., None]) -> Callable[..., None]:
        method._handles_event = event_type  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    """A read model: tables it owns, one method per event type (marked with `@on`)."""

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    _handlers: ClassVar[dict[str, str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {
            member._handles_event.__name__: attr
            for attr, member in vars(cls).items()
            if hasattr(member, "_handles_event")
        }

    @property
    def handles(self) -> frozenset[str] | None:
        return frozenset(self._handlers)

    def handle(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None:
        for recorded in batch:
            getattr(self, self._handlers[recorded.event_type])(conn, recorded.event, recorded)

    def reset(self, conn: Connection) -> None:
        """Empty the read model before a rebuild (children first, for foreign keys)."""
        for table in reversed(self.tables):
            conn.execute(delete(table))


class Stage(ABC, Generic[P]):
    """A follower whose work is slow (downloads, extraction, classification).

    `prepare` runs outside any transaction, so a slow batch never holds the database's write
    lock; `record` then writes the results in the step's transaction. If another runner moved
    the position meanwhile, the prepared work is dropped rather than recorded twice.
    """

    name: ClassVar[str]
    batch_size: ClassVar[int] = 50

    @property
    @abstractmethod
    def handles(self) -> frozenset[str] | None: ...

    @abstractmethod
    def prepare(self, batch: Sequence[RecordedEvent]) -> P: ...

    @abstractmethod
    def record(self, conn: Connection, batch: Sequence[RecordedEvent], prepared: P) -> None: ...

    def handle(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None:
        self.record(conn, batch, self.prepare(batch))


class FollowerRunner:
    """Runs followers a step at a time, until caught up, or from zero (rebuild)."""

    def __init__(self, engine: Engine, log_: EventLog, *, batch_size: int = 500) -> None:
        self.engine = engine
        self.log = log_
        self.batch_size = batch_size
        self._tracked: set[str] = set()

    def step(self, follower: Follower, *, batch_size: int | None = None) -> int:
        """Handle one batch in one transaction; returns how many events it read."""
        self._ensure_tracking(follower.name)
        if isinstance(follower, Stage):
            return self._stage_step(follower, batch_size or follower.batch_size)
        if not self._has_work(follower):
            return 0  # idle followers never take the write lock
        with self.engine.begin() as conn:
            position = conn.execute(
                select(db.tracking.c.position)
                .where(db.tracking.c.follower == follower.name)
                .with_for_update()
            ).scalar_one()
            types = follower.handles
            batch = self.log.read_all(
                after=position,
                limit=batch_size or self.batch_size,
                types=sorted(types) if types is not None else None,
                conn=conn,
            )
            if not batch:
                return 0
            follower.handle(conn, batch)
            moved = conn.execute(
                update(db.tracking)
                .where(db.tracking.c.follower == follower.name, db.tracking.c.position == position)
                .values(position=batch[-1].position, updated_at=utcnow())
            ).rowcount
            if moved != 1:
                raise ConcurrencyError(f"tracking:{follower.name}", position, -1)
        return len(batch)

    def _stage_step(self, stage: Stage[Any], batch_size: int) -> int:
        position = self.position(stage.name)
        types = sorted(stage.handles) if stage.handles is not None else None
        batch = self.log.read_all(after=position, limit=batch_size, types=types)
        if not batch:
            return 0
        prepared = stage.prepare(batch)
        with self.engine.begin() as conn:
            current = conn.execute(
                select(db.tracking.c.position)
                .where(db.tracking.c.follower == stage.name)
                .with_for_update()
            ).scalar_one()
            if current != position:
                log.info(
                    "another runner handled this batch",
                    extra={"follower": stage.name, "event_position": position},
                )
                return 0
            stage.record(conn, batch, prepared)
            conn.execute(
                update(db.tracking)
                .where(db.tracking.c.follower == stage.name)
                .values(position=batch[-1].position, updated_at=utcnow())
            )
        return len(batch)

    def run_once(
        self,
        follower: Follower,
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Step until the follower has caught up with the log; returns events read."""
        total = 0
        head = self.log.head() if progress else 0
        while read := self.step(follower, batch_size=batch_size):
            total += read
            if progress:
                progress(self.position(follower.name), head)
        return total

    def rebuild(
        self,
        projection: Projection,
        *,
        batch_size: int = 5000,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Empty a read model and replay the whole log into it."""
        self._ensure_tracking(projection.name)
        with self.engine.begin() as conn:
            conn.execute(
                select(db.tracking.c.position)
                .where(db.tracking.c.follower == projection.name)
                .with_for_update()
            ).scalar_one()
            projection.reset(conn)
            conn.execute(
                update(db.tracking)
                .where(db.tracking.c.follower == projection.name)
                .values(position=0, updated_at=utcnow())
            )
        return self.run_once(projection, batch_size=batch_size, progress=progress)

    def _has_work(self, follower: Follower) -> bool:
        return bool(self.with_work([follower]))

    def with_work(self, followers: Sequence[Follower]) -> list[Follower]:
        """The followers with an event of their types after their position, found in one
        read-only round trip (every API request checks that the read models are current)."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(db.tracking.c.follower, db.tracking.c.position)).all()
            positions = {name: position for name, position in rows}
            checks = []
            for follower in followers:
                after = db.events.c.position > positions.get(follower.name, 0)
                if follower.handles is not None:
                    after &= db.events.c.event_type.in_(sorted(follower.handles))
                checks.append(exists().where(after))
            flags = conn.execute(select(*checks)).one() if checks else ()
        return [follower for follower, flag in zip(followers, flags, strict=True) if flag]

    def position(self, name: str) -> int:
        with reading(self.engine) as conn:
            value = conn.execute(
                select(db.tracking.c.position).where(db.tracking.c.follower == name)
            ).scalar_one_or_none()
        return int(value or 0)

    def lag(self, follower: Follower) -> int:
        """Events the follower still has to read."""
        position = self.position(follower.name)
        query = select(func.count()).select_from(db.events).where(db.events.c.position > position)
        if follower.handles is not None:
            query = query.where(db.events.c.event_type.in_(sorted(follower.handles)))
        with reading(self.engine) as conn:
            return int(conn.execute(query).scalar_one())

    def _ensure_tracking(self, name: str) -> None:
        if name in self._tracked:
            return
        with reading(self.engine) as conn:
            exists = conn.execute(
                select(db.tracking.c.follower).where(db.tracking.c.follower == name)
            ).first()
        if not exists:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(db.tracking).values(follower=name, position=0, updated_at=utcnow())
                    )
            except IntegrityError:
                pass  # another runner created it first
        self._tracked.add(name)
