"""The append-only event log: the single source of truth of the service.

Ordering guarantee (why followers never skip an event): every append runs under an exclusive
write lock on the log (`LOCK TABLE events IN EXCLUSIVE MODE` on PostgreSQL, `BEGIN IMMEDIATE`
on SQLite) that is held until the appending transaction commits. Positions are therefore
assigned and made visible in the same order, so once a reader sees position p, no event with
a smaller position can still appear. Without the lock, a transaction holding position 7 could
commit after another that holds 8, and a follower that had read up to 8 would never see 7.
Readers take no lock (EXCLUSIVE mode does not conflict with plain SELECT); the cost is that
appends are serialised, which the benchmark in bench/eventlog.py measures. Rolled-back appends
leave harmless holes in the position sequence; nobody waits for them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Text, cast, func, insert, select
from sqlalchemy.exc import OperationalError

from monitor import db
from monitor.engine import reading
from monitor.errors import ConcurrencyError, EventLogBusyError, IdempotencyError, StoredEventError
from monitor.events import KNOWN_TYPES, Event, from_data, to_data

# Identifies ids derived from other ids (see `derived_id`); never change it.
_ID_NAMESPACE = uuid.UUID("0b9e3c52-4f0e-4f69-9d0c-8a57d7a1c6e2")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def derived_id(*parts: object) -> str:
    """A stable id from its parts, so a retried step appends the same event ids (idempotency)."""
    return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(str(part) for part in parts)))


class RecordedEvent:
    """An event as stored: the envelope, and the domain event decoded on first use.

    Decoding the payload lazily lets followers that only need the envelope (counts, lag)
    replay millions of events cheaply. The type is checked when the row is read; a payload
    that does not fit its class raises `StoredEventError` naming the position on access.
    Treat instances as read-only.
    """

    __slots__ = (
        "_data",
        "_event",
        "_metadata",
        "event_id",
        "event_type",
        "position",
        "recorded_at",
        "stream_id",
        "stream_version",
    )

    def __init__(
        self,
        position: int,
        event_id: str,
        stream_id: str,
        stream_version: int,
        event_type: str,
        data: Mapping[str, Any] | str,
        metadata: Mapping[str, Any] | str,
        recorded_at: datetime,
    ) -> None:
        self.position = position
        self.event_id = event_id
        self.stream_id = stream_id
        self.stream_version = stream_version
        self.event_type = event_type
        self._data = data  # JSON text until first use
        self._metadata = metadata
        self.recorded_at = recorded_at
        self._event: Event | None = None

    @property
    def data(self) -> Mapping[str, Any]:
        if isinstance(self._data, str):
            self._data = self._parse(self._data, "data")
        return self._data

    @property
    def metadata(self) -> Mapping[str, Any]:
        if isinstance(self._metadata, str):
            self._metadata = self._parse(self._metadata, "metadata")
        return self._metadata

    @property
    def event(self) -> Event:
        if self._event is None:
            data = self.data
            try:
                self._event = from_data(self.event_type, data)
            except (TypeError, ValueError, AttributeError) as exc:
                raise StoredEventError(
                    self.position, f"malformed {self.event_type} data: {exc}"
                ) from None
        return self._event

    def _parse(self, text: str, what: str) -> Mapping[str, Any]:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise StoredEventError(self.position, f"{what} is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise StoredEventError(self.position, f"{what} is not a JSON object")
        return value

    def __repr__(self) -> str:
        return f"<RecordedEvent {self.position} {self.event_type} on {self.stream_id}>"

    def caused(self, **extra: Any) -> dict[str, Any]:
        """Metadata for events this one causes: same correlation id, this event as cause."""
        return {
            "correlation_id": self.metadata.get("correlation_id", self.event_id),
            "causation_id": self.event_id,
            **extra,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "type": self.event_type,
            "data": dict(self.data),
            "metadata": dict(self.metadata),
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AppendResult:
    positions: tuple[int, ...]
    stream_version: int
    duplicate: bool = False  # every event id was already stored: an idempotent retry


@dataclass(frozen=True)
class PendingAppend:
    """One stream's part of `EventLog.append_many`."""

    stream_id: str
    expected_version: int | None
    events: Sequence[Event]
    event_ids: Sequence[str] | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Prepared:
    stream_id: str
    expected_version: int | None
    events: Sequence[Event]
    ids: list[str]
    explicit_ids: bool
    meta: dict[str, Any]
    payloads: list[dict[str, Any]]

    @classmethod
    def of(cls, pending: PendingAppend) -> _Prepared:
        if not pending.events:
            raise ValueError("nothing to append")
        given = pending.event_ids
        explicit = given is not None
        ids = list(given) if given is not None else [new_id() for _ in pending.events]
        if len(ids) != len(pending.events) or len(set(ids)) != len(ids):
            raise ValueError("need one distinct event id per event")
        meta = dict(pending.metadata or {})
        meta.setdefault("correlation_id", ids[0])
        payloads = [to_data(evt) for evt in pending.events]
        return cls(
            pending.stream_id,
            pending.expected_version,
            pending.events,
            ids,
            explicit,
            meta,
            payloads,
        )

    def rows(self, current: int, recorded_at: datetime) -> list[dict[str, Any]]:
        return [
            {
                "event_id": event_id,
                "stream_id": self.stream_id,
                "stream_version": current + offset,
                "event_type": evt.type_name,
                "data": payload,
                "meta": self.meta,
                "recorded_at": recorded_at,
            }
            for offset, (event_id, evt, payload) in enumerate(
                zip(self.ids, self.events, self.payloads, strict=True), start=1
            )
        ]


def _previous_result(item: _Prepared, stored: Mapping[str, Any]) -> AppendResult | None:
    """The original result when every id of `item` is stored already (an idempotent retry)."""
    found = [stored.get(event_id) for event_id in item.ids]
    if all(row is None for row in found):
        return None
    rows = [row for row in found if row is not None]
    if len(rows) < len(found):
        raise IdempotencyError(
            f"part of this batch is stored already (event {rows[0].event_id}); "
            "a batch is appended whole or not at all"
        )
    for event_id, evt, payload, row in zip(item.ids, item.events, item.payloads, rows, strict=True):
        same = (
            row.stream_id == item.stream_id
            and row.event_type == evt.type_name
            and row.data == json.loads(json.dumps(payload))
        )
        if not same:
            raise IdempotencyError(f"event id {event_id} is already used by another event")
    ordered = sorted(rows, key=lambda r: r.position)
    return AppendResult(
        tuple(r.position for r in ordered), ordered[-1].stream_version, duplicate=True
    )


class EventLog:
    """append / read_stream / read_all over the `events` table."""

    def __init__(
        self, engine: Engine, *, lock_timeout: float = 5.0, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self._lock_timeout_ms = int(lock_timeout * 1000)
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"

    # --- writing -------------------------------------------------------------------------

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[Event],
        *,
        event_ids: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> AppendResult:
        """Append `events` to a stream atomically.

        `expected_version` is the stream's version the caller decided on (0 for a new
        stream); `None` skips the check. Re-appending events whose ids are all stored already
        is a no-op that returns the original positions. Pass `conn` to append inside a
        transaction of your own (a follower committing its tracking position with it).
        """
        pending = PendingAppend(stream_id, expected_version, events, event_ids, metadata)
        return self.append_many([pending], conn=conn)[0]

    def append_many(
        self, appends: Sequence[PendingAppend], *, conn: Connection | None = None
    ) -> list[AppendResult]:
        """Several appends, to one or many streams, atomically: all are stored or none.

        Each follows the rules of `append`. One version lookup and one insert serve them
        all, which is what makes recording a poll cycle's 2,000 outcomes cheap.
        """
        prepared = [_Prepared.of(pending) for pending in appends]
        with self._write(conn) as c:
            results: list[AppendResult | None] = [None] * len(prepared)
            explicit = [i for i, p in enumerate(prepared) if p.explicit_ids]
            if explicit:
                stored = self._stored_rows(c, [e for i in explicit for e in prepared[i].ids])
                for i in explicit:
                    results[i] = _previous_result(prepared[i], stored)
            todo = [i for i, result in enumerate(results) if result is None]
            versions = self._stream_versions(c, {prepared[i].stream_id for i in todo})
            recorded_at = self._clock()
            rows: list[dict[str, Any]] = []
            reached: dict[int, int] = {}
            for i in todo:
                item = prepared[i]
                current = versions.get(item.stream_id, 0)
                if item.expected_version is not None and current != item.expected_version:
                    raise ConcurrencyError(item.stream_id, item.expected_version, current)
                rows.extend(item.rows(current, recorded_at))
                versions[item.stream_id] = reached[i] = current + len(item.events)
            positions = iter(self._insert(c, rows) if rows else ())
            for i in todo:
                taken = tuple(next(positions) for _ in prepared[i].events)
                results[i] = AppendResult(taken, reached[i])
        return [result for result in results if result is not None]

    @staticmethod
    def _insert(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        result = conn.execute(
            insert(db.events).returning(db.events.c.position, sort_by_parameter_order=True), rows
        )
        return [row.position for row in result]

    @staticmethod
    def _stored_rows(conn: Connection, ids: list[str]) -> dict[str, Any]:
        rows = conn.execute(
            select(
                db.events.c.event_id,
                db.events.c.position,
                db.events.c.stream_id,
                db.events.c.stream_version,
                db.events.c.event_type,
                db.events.c.data,
            ).where(db.events.c.event_id.in_(ids))
        ).all()
        return {row.event_id: row for row in rows}

    @staticmethod
    def _stream_versions(conn: Connection, stream_ids: set[str]) -> dict[str, int]:
        if not stream_ids:
            return {}
        query = (
            select(db.events.c.stream_id, func.max(db.events.c.stream_version))
            .where(db.events.c.stream_id.in_(sorted(stream_ids)))
            .group_by(db.events.c.stream_id)
        )
        return {stream: int(version) for stream, version in conn.execute(query)}

    @contextmanager
    def _write(self, conn: Connection | None) -> Iterator[Connection]:
        try:
            if conn is not None:
                self._lock(conn)
                yield conn
                return
            with self.engine.begin() as c:
                self._lock(c)
                yield c
        except OperationalError as exc:
            if _is_lock_failure(exc):
                raise EventLogBusyError(
                    f"the event log is busy (write lock not granted): {exc.orig}; retry"
                ) from exc
            raise

    def _lock(self, conn: Connection) -> None:
        if self._postgres:
            conn.exec_driver_sql(
                f"SET LOCAL lock_timeout = '{self._lock_timeout_ms}ms'; "
                "LOCK TABLE events IN EXCLUSIVE MODE"
            )

    # --- reading -------------------------------------------------------------------------

    def stream_version(self, stream_id: str, *, conn: Connection | None = None) -> int:
        with self._read(conn) as c:
            return self._stream_version(c, stream_id)

    def head(self, *, conn: Connection | None = None) -> int:
        """The highest committed position (0 for an empty log)."""
        with self._read(conn) as c:
            return int(
                c.execute(select(func.coalesce(func.max(db.events.c.position), 0))).scalar_one()
            )

    def read_stream(
        self, stream_id: str, *, after_version: int = 0, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        query = (
            select(*_ENVELOPE)
            .where(db.events.c.stream_id == stream_id, db.events.c.stream_version > after_version)
            .order_by(db.events.c.stream_version)
        )
        with self._read(conn) as c:
            return [_decode(row) for row in c.execute(query).all()]

    def read_all(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        types: Sequence[str] | None = None,
        stream_id: str | None = None,
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Events with position > `after`, in position order, at most `limit` of them."""
        query = select(*_ENVELOPE).where(db.events.c.position > after)
        if types is not None:
            query = query.where(db.events.c.event_type.in_(list(types)))
        if stream_id is not None:
            query = query.where(db.events.c.stream_id == stream_id)
        query = query.order_by(db.events.c.position).limit(limit)
        with self._read(conn) as c:
            return [_decode(row) for row in c.execute(query).all()]

    @contextmanager
    def _read(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with reading(self.engine) as c:
                yield c

    @staticmethod
    def _stream_version(conn: Connection, stream_id: str) -> int:
        query = select(func.coalesce(func.max(db.events.c.stream_version), 0)).where(
            db.events.c.stream_id == stream_id
        )
        return int(conn.execute(query).scalar_one())


# Payloads are read as JSON text and parsed on first use (see RecordedEvent).
_ENVELOPE = (
    db.events.c.position,
    db.events.c.event_id,
    db.events.c.stream_id,
    db.events.c.stream_version,
    db.events.c.event_type,
    cast(db.events.c.data, Text).label("data"),
    cast(db.events.c.meta, Text).label("meta"),
    db.events.c.recorded_at,
)


def _decode(row: Any) -> RecordedEvent:
    position, event_id, stream_id, version, event_type, data, meta, recorded_at = row
    if event_type not in KNOWN_TYPES:
        raise StoredEventError(
            position, f"unknown event type {event_type!r} (written by a newer version of monitor?)"
        )
    return RecordedEvent(
        position, event_id, stream_id, version, event_type, data, meta, recorded_at
    )


def _is_lock_failure(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "55P03" or "database is locked" in str(exc.orig)
