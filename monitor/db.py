"""SQLAlchemy Core tables: the event log, follower tracking, snapshots and the read models.

This metadata is Alembic's target; migrations in `alembic/versions` are the only way a schema
is created, and a test checks that the two agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite would drop the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (binary, indexable), JSON text elsewhere.
Json = JSON().with_variant(JSONB(), "postgresql")
# A 64-bit position on PostgreSQL; SQLite needs INTEGER PRIMARY KEY to alias the rowid.
Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("data", Json, nullable=False),
    Column("metadata", Json, nullable=False, key="meta"),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("event_id", name="uq_events_event_id"),
    UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    Index("ix_events_type_position", "event_type", "position"),
)

tracking = Table(
    "tracking",
    metadata,
    Column("follower", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("stream_version", Integer, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("state", Json, nullable=False),
    Column("taken_at", UTCDateTime(), nullable=False),
)

# --- read models (owned by monitor.projections; rebuilt by `monitor replay`) --------------

activity = Table(
    "activity",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("event_type", String(100), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

feeds = Table(
    "feeds",
    metadata,
    Column("feed_id", String(36), primary_key=True),
    Column("url", Text, nullable=False),
    Column("name", Text),
    Column("categories", Json, nullable=False),
    Column("interval_seconds", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_reason", Text),
    Column("added_at", UTCDateTime(), nullable=False),
    UniqueConstraint("url", name="uq_feeds_url"),
)
