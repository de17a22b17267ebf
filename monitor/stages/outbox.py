"""Claiming outbox rows with a lease, shared by the webhook and digest workers.

A claim marks due rows with a fresh lease owner and an expiry in one short transaction, then
the worker sends outside any transaction and records each result only if it still holds the
lease. On PostgreSQL the claim reads with `FOR UPDATE SKIP LOCKED`, so workers running
together take disjoint rows without waiting on each other (cases 14, 53); on SQLite, write
transactions are serialised by BEGIN IMMEDIATE anyway. A worker killed mid-send leaves its
lease to expire, and the next worker retakes the row and sends it with the same idempotency
key (case 54).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, or_, select, update

from monitor.eventlog import new_id


def claim(
    engine: Engine,
    table: Table,
    key: str,
    queries: Sequence[Select[Any]],
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> tuple[str, list[Any]]:
    """Lease up to `limit` rows of `queries` (selects of `table`) that are due and free.

    Several selects are alternatives that would otherwise be one OR: each is read in the
    order of an index on (status, next_attempt_at) and stops after `limit` rows, where an OR
    of statuses makes PostgreSQL fetch and sort every due row on each claim. The earliest
    due of them all are leased; the others are unlocked at commit.
    Returns the lease owner and the claimed rows."""
    owner = new_id()
    with engine.begin() as conn:
        found = [row for q in queries for row in conn.execute(_due(q, table, now, limit))]
        rows = sorted(found, key=lambda row: row._mapping["next_attempt_at"])[:limit]
        if rows:
            conn.execute(
                update(table)
                .where(table.c[key].in_([row._mapping[key] for row in rows]))
                .values(lease_owner=owner, lease_until=now + lease)
            )
    return owner, rows


def _due(query: Select[Any], table: Table, now: datetime, limit: int) -> Select[Any]:
    return (
        query.where(
            table.c.next_attempt_at <= now,
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        )
        .order_by(table.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=table)
    )


def still_held(conn: Connection, table: Table, key: str, value: str, owner: str) -> bool:
    """Lock the row and tell whether `owner`'s lease is still on it (nobody retook it)."""
    held = conn.execute(
        select(table.c[key])
        .where(table.c[key] == value, table.c.lease_owner == owner)
        .with_for_update()
    ).first()
    return held is not None


def released(values: dict[str, Any]) -> dict[str, Any]:
    """Row values that end a lease."""
    return {**values, "lease_owner": None, "lease_until": None}
