"""Events per day and type: what the service has been doing (dashboard, operations).

It reads every event but only its envelope, and folds a whole batch into one upsert per
(day, type), which is what lets a full replay run near the speed of a bare table scan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import Connection

from monitor import db
from monitor.eventlog import RecordedEvent
from monitor.followers import Projection
from monitor.sql import upsert


class ActivityProjection(Projection):
    name = "activity"
    tables = (db.activity,)

    @property
    def handles(self) -> frozenset[str] | None:
        return None

    def handle(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None:
        # Events appended together share one timestamp: count by it, then fold into days.
        by_moment = Counter((r.recorded_at, r.event_type) for r in batch)
        by_day: Counter[tuple[str, str]] = Counter()
        for (moment, kind), n in by_moment.items():
            by_day[moment.date().isoformat(), kind] += n
        rows = [{"day": day, "event_type": kind, "count": n} for (day, kind), n in by_day.items()]
        statement = upsert(conn, db.activity)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["day", "event_type"],
                set_={"count": db.activity.c.count + statement.excluded["count"]},
            ),
            rows,
        )
