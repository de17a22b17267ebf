"""Digest emails: decide which are due, then send them through the outbox.

`schedule_due` creates one `digests` row per (subscription, period) with a unique key, so a
period triggered twice, by two replicas or a repeated command, gives one email (case 58). The
row takes the subscription's unsent matches up to the period's end in the same transaction.
`send_due` claims pending rows with a lease, renders and sends them, and records the result:
`DigestSent`; a transient SMTP failure `DigestAttemptFailed`, retried after
`smtp_retry_interval` with the same Message-ID (cases 59, 61) until `smtp_give_up_after`;
a 5xx `DigestFailed` (permanent) and the subscriber flagged as bouncing (case 60).

`immediate` email subscriptions get one message per match; `--now` sends what is waiting
regardless of the schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, update

from monitor import db, sql
from monitor.commands.subscriptions import unsubscribe_token
from monitor.delivery.chart import Chart, daily_series, stance_trend_chart
from monitor.delivery.digest import Envelope, count_stances, message_id, render_digest
from monitor.delivery.schedule import period_for, period_key
from monitor.delivery.smtp import DROPPED, DeliveryError, SmtpConfig, send_message
from monitor.delivery.subscriptions import ArticleView, MatchReasons
from monitor.engine import reading
from monitor.eventlog import derived_id, utcnow
from monitor.events import DigestAttemptFailed, DigestFailed, DigestSent, Event
from monitor.stages.matching import view_from_json
from monitor.stages.outbox import claim, released, still_held
from monitor.streams import digest_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App

CHART_DAYS = 30
BATCH = 50


class DigestWorker:
    def __init__(
        self,
        app: App,
        *,
        clock: Callable[[], datetime] = utcnow,
        smtp: SmtpConfig | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        settings = app.settings
        self.smtp = smtp or SmtpConfig.from_settings(
            settings, timeout=settings.smtp_timeout, ca_file=settings.smtp_ca_file
        )

    def run_due(self, *, subscription_id: str | None = None, now: bool = False) -> int:
        """Schedule what is due (everything waiting with `now`), then send; returns sends."""
        self.schedule_due(subscription_id=subscription_id, force=now)
        return self.send_due()

    # --- scheduling ------------------------------------------------------------------------

    def schedule_due(self, *, subscription_id: str | None = None, force: bool = False) -> int:
        t = db.subscription_targets
        query = select(t).where(t.c.channel == "email", t.c.status == "active")
        if subscription_id is not None:
            query = query.where(t.c.subscription_id == subscription_id)
        with reading(self.app.engine) as conn:
            targets = list(conn.execute(query))
        created = 0
        for target in targets:
            for key, period in self._periods(target, force):
                with self.app.engine.begin() as conn:
                    created += self._create(conn, target, key, period)
        return created

    def _periods(self, target: Any, force: bool) -> list[tuple[str, tuple[datetime, datetime]]]:
        now = self.clock()
        if force:
            return [(f"now.{now:%Y%m%dT%H%M%S%fZ}", (self._last_end(target), now))]
        if target.schedule == "immediate":
            o = db.delivery_outbox
            with reading(self.app.engine) as conn:
                waiting = conn.execute(
                    select(o.c.delivery_id, o.c.matched_at).where(
                        o.c.subscription_id == target.subscription_id,
                        o.c.digest_key.is_(None),
                    )
                ).all()
            return [(f"item.{d}", (at, at + timedelta(microseconds=1))) for d, at in waiting]
        period = period_for(target.schedule, target.timezone, now)
        if period[1] <= target.created_at:
            return []  # the subscription did not exist in that period
        return [(period_key(period), period)]

    def _last_end(self, target: Any) -> datetime:
        d = db.digests
        with reading(self.app.engine) as conn:
            return (
                conn.execute(
                    select(d.c.period_end)
                    .where(d.c.subscription_id == target.subscription_id)
                    .order_by(d.c.period_end.desc())
                    .limit(1)
                ).scalar_one_or_none()
                or target.created_at
            )

    def _create(
        self, conn: Connection, target: Any, key: str, period: tuple[datetime, datetime]
    ) -> int:
        now = self.clock()
        envelope = self._envelope(target)
        inserted = conn.execute(
            sql.upsert(conn, db.digests)
            .values(
                digest_id=derived_id("digest", target.subscription_id, key),
                subscription_id=target.subscription_id,
                period_key=key,
                period_start=period[0],
                period_end=period[1],
                message_id=message_id(target.subscription_id, key, envelope),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                counts={},
                possible_duplicate=False,
            )
            .on_conflict_do_nothing()
            .returning(db.digests.c.digest_id)
        ).first()
        if inserted is None:
            return 0  # this period's digest exists already
        o = db.delivery_outbox
        taken = o.c.subscription_id == target.subscription_id
        if key.startswith("item."):
            taken &= o.c.delivery_id == key.removeprefix("item.")
        conn.execute(
            update(o)
            .where(taken, o.c.digest_key.is_(None), o.c.matched_at < period[1])
            .values(digest_key=key, status="queued")
        )
        return 1

    # --- sending ---------------------------------------------------------------------------

    def send_due(self) -> int:
        d, t = db.digests, db.subscription_targets
        query = (
            select(d, t.c.target, t.c.timezone, t.c.status.label("target_status"))
            .join(t, t.c.subscription_id == d.c.subscription_id)
            .where(d.c.status == "pending")
        )
        lease = timedelta(seconds=self.app.settings.delivery_lease)
        sent = 0
        for _ in range(1000):  # bounded: each round leases what is due
            owner, rows = claim(
                self.app.engine, d, "digest_id", [query], now=self.clock(), lease=lease, limit=BATCH
            )
            if not rows:
                break
            for row in rows:
                sent += self._send_one(row, owner)
        return sent

    def _send_one(self, row: Any, owner: str) -> int:
        items, counts, message = [], {}, None
        if row.target_status == "active":
            items = self._items(row)
            counts = count_stances([article for article, _ in items])
            message = render_digest(
                items,
                self._envelope(row),
                (row.period_start, row.period_end),
                now=self.clock(),
                timezone=row.timezone,
                previous_counts=self._previous_counts(row),
                chart=self._chart(row),
                period_key=row.period_key,
                send_empty=self.app.settings.digest_send_empty,
            )
        error: DeliveryError | None = None
        if message is not None:
            try:
                send_message(message, self.smtp)
            except DeliveryError as exc:
                error = exc
        with self.app.engine.begin() as conn:
            if not still_held(conn, db.digests, "digest_id", row.digest_id, owner):
                return 0
            if message is None:  # nothing to say, or the subscriber left meanwhile
                status = "empty" if row.target_status == "active" else "cancelled"
                self._finish(conn, row, status, counts, [])
                return 0
            ids = tuple(self._item_ids(conn, row))
            self._record(conn, row, counts, ids, error)
        return int(error is None)

    def _record(
        self,
        conn: Connection,
        row: Any,
        counts: dict[str, int],
        ids: tuple[str, ...],
        error: DeliveryError | None,
    ) -> None:
        now = self.clock()
        attempt = row.attempts + 1
        head = (row.subscription_id, row.period_key, row.message_id)
        if error is None:
            evt: Event = DigestSent(*head, ids, attempt, row.possible_duplicate)
            self._finish(conn, row, "sent", counts, [evt], attempts=attempt)
            return
        text = str(error)[:2000]
        gave_up = now - row.created_at >= timedelta(seconds=self.app.settings.smtp_give_up_after)
        if not error.transient or gave_up:
            reason = text if not error.transient else f"gave up after {attempt} attempts: {text}"
            failed = DigestFailed(*head, reason, not error.transient, error.code, ids)
            self._finish(conn, row, "failed", counts, [failed], attempts=attempt)
            if not error.transient:
                conn.execute(
                    update(db.subscription_targets)
                    .where(db.subscription_targets.c.subscription_id == row.subscription_id)
                    .values(status="bouncing", status_reason=f"mail bounced: {text}"[:500])
                )
            return
        due = now + timedelta(seconds=self.app.settings.smtp_retry_interval)
        retry = DigestAttemptFailed(*head, attempt, text, due, error.code, ids)
        self._append(conn, row, attempt, retry)
        conn.execute(
            update(db.digests)
            .where(db.digests.c.digest_id == row.digest_id)
            .values(
                released(
                    {
                        "attempts": attempt,
                        "next_attempt_at": due,
                        "possible_duplicate": row.possible_duplicate or error.code == DROPPED,
                    }
                )
            )
        )

    def _finish(
        self,
        conn: Connection,
        row: Any,
        status: str,
        counts: dict[str, int],
        events: list[Event],
        **values: Any,
    ) -> None:
        for evt in events:
            self._append(conn, row, values.get("attempts", 0), evt)
        conn.execute(
            update(db.digests)
            .where(db.digests.c.digest_id == row.digest_id)
            .values(released({"status": status, "counts": counts, **values}))
        )
        o = db.delivery_outbox
        conn.execute(
            update(o)
            .where(o.c.subscription_id == row.subscription_id, o.c.digest_key == row.period_key)
            .values(status=status)
        )

    def _append(self, conn: Connection, row: Any, attempt: int, evt: Event) -> None:
        self.app.log.append(
            digest_stream(row.subscription_id),
            None,
            [evt],
            event_ids=[derived_id("digest", row.digest_id, attempt, evt.type_name)],
            conn=conn,
        )

    # --- content ---------------------------------------------------------------------------

    def _envelope(self, target: Any) -> Envelope:
        settings = self.app.settings
        token = unsubscribe_token(settings, target.subscription_id)
        return Envelope(
            subscription_id=target.subscription_id,
            recipient=target.target,
            sender=settings.mail_from,
            public_url=settings.public_url,
            unsubscribe_url=f"{settings.public_url}/unsubscribe/{token}",
        )

    def _item_ids(self, conn: Connection, row: Any) -> list[str]:
        o = db.delivery_outbox
        return list(
            conn.execute(
                select(o.c.delivery_id)
                .where(o.c.subscription_id == row.subscription_id, o.c.digest_key == row.period_key)
                .order_by(o.c.delivery_id)
            ).scalars()
        )

    def _items(self, row: Any) -> list[tuple[ArticleView, MatchReasons]]:
        o = db.delivery_outbox
        with reading(self.app.engine) as conn:
            views = conn.execute(
                select(o.c.view).where(
                    o.c.subscription_id == row.subscription_id, o.c.digest_key == row.period_key
                )
            ).scalars()
            return [
                (view_from_json(v["article"]), MatchReasons(**_reasons(v["reasons"])))
                for v in views
            ]

    def _previous_counts(self, row: Any) -> dict[str, int] | None:
        d = db.digests
        with reading(self.app.engine) as conn:
            counts = conn.execute(
                select(d.c.counts)
                .where(
                    d.c.subscription_id == row.subscription_id,
                    d.c.status == "sent",
                    d.c.period_end <= row.period_start,
                )
                .order_by(d.c.period_end.desc())
                .limit(1)
            ).scalar_one_or_none()
        return dict(counts) if counts is not None else None

    def _chart(self, row: Any) -> Chart | None:
        o = db.delivery_outbox
        since = row.period_end - timedelta(days=CHART_DAYS)
        with reading(self.app.engine) as conn:
            views = conn.execute(
                select(o.c.view).where(
                    o.c.subscription_id == row.subscription_id,
                    o.c.matched_at >= since,
                    o.c.matched_at < row.period_end,
                )
            ).scalars()
            articles = [view_from_json(v["article"]) for v in views]
        return stance_trend_chart(daily_series(articles, ZoneInfo(row.timezone)))


def _reasons(data: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
