"""Snapshots: a stream's folded state saved every so often, so loading it stays fast.

A snapshot is only a cache of `fold(events)`. One written by another schema version, or one
that cannot be read back, is ignored and the state is rebuilt from the whole stream.
"""

from __future__ import annotations

import logging
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select

from monitor import db
from monitor.engine import reading
from monitor.eventlog import EventLog, utcnow
from monitor.events import Event
from monitor.sql import upsert

log = logging.getLogger(__name__)

S = TypeVar("S")


class Fold(Protocol, Generic[S]):  # type: ignore[misc]
    """How a stream's events fold into a state, and how that state is saved."""

    schema_version: int

    def initial(self, stream_id: str) -> S: ...

    def apply(self, state: S, event: Event) -> S: ...

    def dump(self, state: S) -> dict[str, Any]: ...

    def load(self, data: dict[str, Any]) -> S: ...


class SnapshotStore:
    """Loads folded stream state, from the latest usable snapshot plus the events after it."""

    def __init__(self, event_log: EventLog, *, every: int = 100) -> None:
        self.log = event_log
        self.every = every

    def load(self, stream_id: str, fold: Fold[S]) -> tuple[S, int]:
        """The stream's state and version (0 for a stream with no events)."""
        state, version = self._from_snapshot(stream_id, fold)
        recorded = self.log.read_stream(stream_id, after_version=version)
        for item in recorded:
            state = fold.apply(state, item.event)
        if recorded:
            if len(recorded) >= self.every:
                self._save(stream_id, recorded[-1].stream_version, fold, state)
            version = recorded[-1].stream_version
        return state, version

    def _from_snapshot(self, stream_id: str, fold: Fold[S]) -> tuple[S, int]:
        with reading(self.log.engine) as conn:
            row = conn.execute(
                select(db.snapshots).where(db.snapshots.c.stream_id == stream_id)
            ).first()
        if row is not None and row.schema_version == fold.schema_version:
            try:
                return fold.load(row.state), row.stream_version
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("ignoring unreadable snapshot of %s: %s", stream_id, exc)
        return fold.initial(stream_id), 0

    def _save(self, stream_id: str, version: int, fold: Fold[S], state: S) -> None:
        row = {
            "stream_id": stream_id,
            "stream_version": version,
            "schema_version": fold.schema_version,
            "state": fold.dump(state),
            "taken_at": utcnow(),
        }
        with self.log.engine.begin() as conn:
            statement = upsert(conn, db.snapshots).values(row)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["stream_id"],
                    set_={k: v for k, v in row.items() if k != "stream_id"},
                    where=db.snapshots.c.stream_version < version,
                )
            )
