"""The webhook outbox worker: claim due deliveries, sign and POST them, record each outcome.

Every request of one delivery carries the same `webhook-id` (made when the match was
recorded) with a fresh timestamp and signature. Outcomes (see `monitor.delivery.webhook`):
2xx `WebhookDelivered`; a retryable failure `WebhookAttemptFailed` with the next attempt
from the retry schedule (never before Retry-After); other 4xx, or the schedule exhausted,
`DeliveryDeadLettered`; 410 `EndpointDisabled` at once. An endpoint whose deliveries keep
failing for `webhook_disable_after` (5 days) is disabled too. Deliveries of a disabled
endpoint stay pending and are not attempted until `monitor deliveries retry` or
`monitor subscriptions enable` (case 12). Its owner is mailed once per disable, through the
digest SMTP settings with a stable Message-ID (`OwnerNotified`, case 11); without an owner
email the reason says so. Within a secret rotation's grace, requests carry a `v1` signature
with each secret (case 5).

A round (one claim) is sent concurrently and recorded in one transaction, its outcome events
in one append to a stream of the round (`webhooks-<lease owner>`), with ids derived from
(delivery, attempt number): one log lock per round rather than per delivery, and one
statement ends the failure streaks of the endpoints that answered. The claim reads pending
rows and manual retries as two index-ordered selects (see `claim`): with one OR, PostgreSQL
sorted every due row on each claim, a cost growing with the backlog. Both keep the worker
near a bare HTTP client's rate (bench/delivery.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, bindparam, select, update

from monitor import db
from monitor.bootstrap import ssrf_policy
from monitor.delivery.digest import Envelope
from monitor.delivery.notice import render_notice
from monitor.delivery.smtp import DeliveryError, SmtpConfig, send_message
from monitor.delivery.webhook import (
    AttemptResult,
    active_secrets,
    deliver,
    next_attempt_at,
    sign,
    webhook_fetch_policy,
)
from monitor.engine import reading
from monitor.eventlog import derived_id, utcnow
from monitor.events import (
    DeliveryDeadLettered,
    EndpointDisabled,
    Event,
    OwnerNotificationFailed,
    OwnerNotified,
    WebhookAttemptFailed,
    WebhookDelivered,
)
from monitor.pipeline.fetch import Fetcher
from monitor.stages.outbox import claim, released
from monitor.streams import subscription_stream, webhook_round_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App

BATCH = 200  # deliveries claimed, then sent concurrently, per round
NO_OWNER = "; owner not notified: no --notify-email"

log = logging.getLogger(__name__)


class WebhookWorker:
    """`run_due()` sends everything due now; the clock and randomness are injectable."""

    def __init__(
        self,
        app: App,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: Callable[[], float] = random.random,
        batch: int = BATCH,
        smtp: SmtpConfig | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.rng = rng
        self.batch = batch
        self.lease = timedelta(seconds=app.settings.delivery_lease)
        settings = app.settings
        self.smtp = smtp or SmtpConfig.from_settings(
            settings, timeout=settings.smtp_timeout, ca_file=settings.smtp_ca_file
        )

    def run_due(self, *, max_rounds: int = 1000) -> int:
        """Claim and send due deliveries until none is left, then mail the owners of endpoints
        disabled meanwhile; returns the webhook attempts made."""
        attempts = asyncio.run(self._run(max_rounds))
        self.notify_owners()
        return attempts

    async def _run(self, max_rounds: int) -> int:
        # One fetcher for every round: connections to the endpoints are kept alive.
        policy = webhook_fetch_policy(self.app.settings.webhook_timeout)
        attempts = 0
        async with Fetcher(policy, ssrf_policy(self.app.settings)) as fetcher:
            for _ in range(max_rounds):
                owner, rows = self._claim()
                if not rows:
                    break
                results = await asyncio.gather(*(self._send(fetcher, row) for row in rows))
                with self.app.engine.begin() as conn:  # one commit (one log lock) per round
                    self._record(conn, rows, owner, list(results))
                attempts += len(rows)
        return attempts

    def _claim(self) -> tuple[str, list[Any]]:
        o, t = db.delivery_outbox, db.subscription_targets

        def endpoint(column: Any) -> Any:
            return select(column).where(t.c.subscription_id == o.c.subscription_id)

        # The endpoint's fields come from per-row subqueries rather than a join, so the only
        # table to plan is the outbox, read in the order of its (status, next_attempt_at)
        # index until the batch is full, whatever the planner's statistics say (PostgreSQL
        # without ANALYZE joined first and sorted every due row, 240 ms per claim).
        query = select(
            o,
            *(
                endpoint(column).scalar_subquery().label(column.name)
                for column in (
                    t.c.target,
                    t.c.secret,
                    t.c.previous_secret,
                    t.c.secret_rotated_at,
                    t.c.previous_secret_until,
                )
            ),
        ).where(o.c.channel == "webhook")
        active = endpoint(t.c.status).scalar_subquery() == "active"
        # Pending rows of active endpoints, and manual retries whatever the endpoint's state:
        # two selects, not one OR, so each follows the index.
        owner, rows = claim(
            self.app.engine,
            o,
            "delivery_id",
            [query.where(o.c.status == "pending", active), query.where(o.c.status == "manual")],
            now=self.clock(),
            lease=self.lease,
            limit=self.batch,
        )
        return owner, self._within_lease(owner, rows)

    def _within_lease(self, owner: str, rows: list[Any]) -> list[Any]:
        """Keep only what can be sent before the lease ends; give the rest back at once.

        Requests to one host wait for its few connection slots, so a slow endpoint with many
        queued deliveries could outlast the lease and be sent twice by another worker. Each
        host keeps as many rows as its slots can finish in half the lease at full timeout."""
        timeout = self.app.settings.webhook_timeout
        slots = webhook_fetch_policy(timeout).per_host_concurrency
        per_host = slots * max(1, int(self.lease.total_seconds() / (2 * timeout)))
        kept: list[Any] = []
        counts: Counter[str] = Counter()
        for row in rows:
            host = urlsplit(row.target).hostname or ""
            counts[host] += 1
            if counts[host] <= per_host:
                kept.append(row)
        chosen = {r.delivery_id for r in kept}
        surplus = [r.delivery_id for r in rows if r.delivery_id not in chosen]
        if surplus:
            o = db.delivery_outbox
            with self.app.engine.begin() as conn:
                conn.execute(
                    update(o)
                    .where(o.c.delivery_id.in_(surplus), o.c.lease_owner == owner)
                    .values(released({}))
                )
        return kept

    async def _send(self, fetcher: Fetcher, row: Any) -> AttemptResult:
        body, now = row.body.encode("utf-8"), self.clock()
        secrets = [row.secret]
        if row.previous_secret and row.secret_rotated_at and row.previous_secret_until:
            grace = row.previous_secret_until - row.secret_rotated_at
            secrets = active_secrets(
                row.secret, row.previous_secret, row.secret_rotated_at, now, grace
            )
        headers = sign(secrets, row.webhook_id, now, body)
        return await deliver(fetcher, row.target, headers, body, now=self.clock)

    def _record(
        self, conn: Connection, rows: list[Any], owner: str, results: list[AttemptResult]
    ) -> None:
        """Record a round: an event per attempt, the outbox rows, the endpoints' streaks."""
        now = self.clock()
        o = db.delivery_outbox
        held = set(
            conn.execute(
                select(o.c.delivery_id)
                .where(o.c.delivery_id.in_([r.delivery_id for r in rows]), o.c.lease_owner == owner)
                .with_for_update()
            ).scalars()
        )  # a row whose lease ran out was retaken by another worker: its record counts
        changes, recorded, event_ids = [], [], []
        latest: dict[str, tuple[Any, AttemptResult]] = {}  # per endpoint: its worst news
        for row, result in zip(rows, results, strict=True):
            if row.delivery_id not in held:
                continue
            attempt = row.attempts + 1
            events, status, due = self._outcome(row, attempt, result, now)
            recorded += events
            event_ids.append(derived_id("webhook", row.delivery_id, attempt))
            changes.append(
                {"b_id": row.delivery_id, "b_status": status, "b_attempts": attempt, "b_due": due}
            )
            known = latest.get(row.subscription_id)
            if known is None or _rank(result) >= _rank(known[1]):
                latest[row.subscription_id] = (row, result)
        if changes:
            self.app.log.append(
                webhook_round_stream(owner), 0, recorded, event_ids=event_ids, conn=conn
            )
            conn.execute(
                update(o)
                .where(o.c.delivery_id == bindparam("b_id"))
                .values(
                    released(
                        {
                            "status": bindparam("b_status"),
                            "attempts": bindparam("b_attempts"),
                            "next_attempt_at": bindparam("b_due"),
                        }
                    )
                ),
                changes,
            )
        answered = [r.subscription_id for r, res in latest.values() if res.outcome == "success"]
        _end_streaks(conn, answered)
        for row, result in latest.values():
            if result.outcome != "success":
                self._track_endpoint(conn, row, row.attempts + 1, result, now)

    def _outcome(
        self, row: Any, attempt: int, result: AttemptResult, now: datetime
    ) -> tuple[list[Event], str, datetime]:
        """The event, the row's new status and its next attempt time."""
        ids = (row.delivery_id, row.subscription_id, row.webhook_id)
        if result.outcome == "success":
            elapsed = int(result.elapsed * 1000)
            delivered = WebhookDelivered(*ids, attempt, result.status or 200, elapsed)
            return [delivered], "delivered", row.next_attempt_at
        error = (result.error or "failed")[:2000]
        due = None
        if result.outcome == "retry":
            due = next_attempt_at(attempt, now, result.retry_after, rng=self.rng)
        elif result.outcome == "disable_endpoint":
            due = now  # held with its endpoint; no attempt until a manual retry
        if due is None:
            reason = "retries exhausted: " + error if result.outcome == "retry" else error
            dead = DeliveryDeadLettered(*ids, attempt, reason, result.status)
            return [dead], "dead", row.next_attempt_at
        failed = WebhookAttemptFailed(*ids, attempt, error, due, result.status)
        return [failed], "pending", due

    def _track_endpoint(
        self, conn: Connection, row: Any, attempt: int, result: AttemptResult, now: datetime
    ) -> None:
        """Start or extend the endpoint's failure streak; disable it on 410 or a streak too
        long. (A success ends the streak, for a whole round at once in `_record`.)"""
        t = db.subscription_targets
        where = t.c.subscription_id == row.subscription_id
        target = conn.execute(
            select(t.c.status, t.c.failing_since, t.c.notify_email).where(where)
        ).one()
        since = target.failing_since or now
        window = timedelta(seconds=self.app.settings.webhook_disable_after)
        reason = None
        if result.outcome == "disable_endpoint":
            reason = f"the endpoint answered {result.status} Gone"
        elif now - since >= window:
            reason = f"failing since {since:%Y-%m-%d %H:%M} UTC (last: {result.error})"
        values: dict[str, Any] = {"failing_since": since}
        if reason is not None and target.status == "active":
            event_id = derived_id("endpoint-disabled", row.delivery_id, attempt)
            if target.notify_email:
                reason = reason[:500]
                values.update(notice_key=event_id, notice_due=now)
            else:
                log.warning(
                    "webhook endpoint of subscription %s disabled (%s); no owner email to tell",
                    row.subscription_id,
                    reason,
                    extra={"subscription_id": row.subscription_id},
                )
                reason = reason[: 500 - len(NO_OWNER)] + NO_OWNER
            values.update(status="disabled", status_reason=reason, disabled_at=now)
            self.app.log.append(
                subscription_stream(row.subscription_id),
                None,
                [EndpointDisabled(row.subscription_id, reason)],
                event_ids=[event_id],
                conn=conn,
            )
        conn.execute(update(t).where(where).values(**values))

    # --- owner notices (case 11) -----------------------------------------------------------

    def notify_owners(self) -> int:
        """Mail each disabled endpoint's owner whose notice is due; returns the mails sent."""
        t = db.subscription_targets
        with reading(self.app.engine) as conn:
            waiting = list(
                conn.execute(
                    select(t).where(t.c.notice_key.is_not(None), t.c.notice_due <= self.clock())
                )
            )
        return sum(self._notify(target) for target in waiting)

    def _notify(self, target: Any) -> int:
        t, now, key = db.subscription_targets, self.clock(), target.notice_key
        mine = (t.c.subscription_id == target.subscription_id) & (t.c.notice_key == key)
        with self.app.engine.begin() as conn:  # claim: another worker skips it until lease end
            claimed = conn.execute(
                update(t).where(mine, t.c.notice_due <= now).values(notice_due=now + self.lease)
            ).rowcount
        if claimed != 1:
            return 0
        settings = self.app.settings
        envelope = Envelope(
            target.subscription_id, target.notify_email, settings.mail_from, settings.public_url, ""
        )
        message = render_notice(
            envelope,
            url=target.target,
            reason=target.status_reason or "",
            disabled_event_id=key,
            now=target.disabled_at or now,
        )
        error: DeliveryError | None = None
        try:
            send_message(message, self.smtp)
        except DeliveryError as exc:
            error = exc
        head = (target.subscription_id, target.notify_email, message["Message-ID"], key)
        with self.app.engine.begin() as conn:
            if conn.execute(select(t.c.notice_key).where(mine).with_for_update()).first() is None:
                return 0  # re-enabled, or recorded by a worker that retook an expired claim
            gave_up = now - (target.disabled_at or now) >= timedelta(
                seconds=settings.smtp_give_up_after
            )
            if error is not None and error.transient and not gave_up:
                due = now + timedelta(seconds=settings.smtp_retry_interval)
                conn.execute(update(t).where(mine).values(notice_due=due))
                return 0
            evt: Event = OwnerNotified(*head)
            if error is not None:
                evt = OwnerNotificationFailed(*head, str(error)[:2000], error.code)
            self.app.log.append(
                subscription_stream(target.subscription_id),
                None,
                [evt],
                event_ids=[derived_id("owner-notice", key)],
                conn=conn,
            )
            conn.execute(update(t).where(mine).values(notice_key=None, notice_due=None))
        return int(error is None)


def _end_streaks(conn: Connection, subscription_ids: list[str]) -> None:
    """End the failure streaks of endpoints that answered: one statement per round."""
    if subscription_ids:
        t = db.subscription_targets
        conn.execute(
            update(t)
            .where(t.c.subscription_id.in_(subscription_ids), t.c.failing_since.is_not(None))
            .values(failing_since=None)
        )


def _rank(result: AttemptResult) -> int:
    """Which outcome of a round decides an endpoint's state: 410, then failures, then 2xx."""
    return {"success": 0, "retry": 1, "dead_letter": 1, "disable_endpoint": 2}[result.outcome]
