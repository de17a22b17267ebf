"""Subscriptions as users see them: filters, schedule, status and why, delivery counts.

No secret is ever here (events carry none); `status_reason` says why an endpoint was
disabled or a subscriber flagged as bouncing.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from monitor import db
from monitor.eventlog import RecordedEvent
from monitor.events import (
    ArticleMatched,
    DigestFailed,
    DigestSent,
    EndpointDisabled,
    EndpointEnabled,
    OwnerNotificationFailed,
    OwnerNotified,
    SubscriptionChanged,
    SubscriptionCreated,
    SubscriptionRemoved,
    SubscriptionUnsubscribed,
    WebhookDelivered,
)
from monitor.followers import Projection, on

s = db.subscriptions


class SubscriptionsProjection(Projection):
    name = "subscriptions"
    tables = (db.subscriptions,)

    @on(SubscriptionCreated)
    def _created(self, conn: Connection, evt: SubscriptionCreated, rec: RecordedEvent) -> None:
        conn.execute(
            insert(s).values(
                subscription_id=evt.subscription_id,
                channel=evt.channel,
                target=evt.target,
                filters=evt.filters,
                schedule=evt.schedule,
                timezone=evt.timezone,
                status="active",
                created_at=rec.recorded_at,
                updated_at=rec.recorded_at,
                matched=0,
                delivered=0,
                notify_email=evt.notify_email,
            )
        )

    @on(SubscriptionChanged)
    def _changed(self, conn: Connection, evt: SubscriptionChanged, rec: RecordedEvent) -> None:
        conn.execute(
            update(s)
            .where(s.c.subscription_id == evt.subscription_id)
            .values(
                filters=evt.filters,
                schedule=evt.schedule,
                timezone=evt.timezone,
                updated_at=rec.recorded_at,
            )
        )

    @on(SubscriptionRemoved)
    def _removed(self, conn: Connection, evt: SubscriptionRemoved, rec: RecordedEvent) -> None:
        self._status(conn, evt.subscription_id, rec, "removed", f"removed by {evt.removed_by}")

    @on(SubscriptionUnsubscribed)
    def _left(self, conn: Connection, evt: SubscriptionUnsubscribed, rec: RecordedEvent) -> None:
        self._status(conn, evt.subscription_id, rec, "unsubscribed", f"unsubscribed ({evt.via})")

    @on(EndpointDisabled)
    def _disabled(self, conn: Connection, evt: EndpointDisabled, rec: RecordedEvent) -> None:
        self._status(conn, evt.subscription_id, rec, "disabled", evt.reason)

    @on(EndpointEnabled)
    def _enabled(self, conn: Connection, evt: EndpointEnabled, rec: RecordedEvent) -> None:
        conn.execute(
            update(s)
            .where(s.c.subscription_id == evt.subscription_id)
            .values(status="active", status_reason=None, updated_at=rec.recorded_at)
        )

    @on(OwnerNotified)
    def _notified(self, conn: Connection, evt: OwnerNotified, rec: RecordedEvent) -> None:
        self._note(conn, evt.subscription_id, f"owner notified ({evt.email})")
        conn.execute(
            update(s)
            .where(s.c.subscription_id == evt.subscription_id)
            .values(owner_notified_at=rec.recorded_at)
        )

    @on(OwnerNotificationFailed)
    def _not_notified(
        self, conn: Connection, evt: OwnerNotificationFailed, _: RecordedEvent
    ) -> None:
        self._note(conn, evt.subscription_id, f"owner notice failed: {evt.error}")

    @staticmethod
    def _note(conn: Connection, subscription_id: str, note: str) -> None:
        """Add `note` to the status reason (kept within its 500 characters)."""
        where = s.c.subscription_id == subscription_id
        reason = conn.execute(select(s.c.status_reason).where(where)).scalar_one_or_none()
        text = f"{reason}; {note}" if reason else note
        conn.execute(update(s).where(where).values(status_reason=text[:500]))

    @on(DigestFailed)
    def _bounced(self, conn: Connection, evt: DigestFailed, rec: RecordedEvent) -> None:
        if evt.permanent:
            self._status(conn, evt.subscription_id, rec, "bouncing", f"mail bounced: {evt.error}")

    @on(ArticleMatched)
    def _matched(self, conn: Connection, evt: ArticleMatched, _: RecordedEvent) -> None:
        conn.execute(
            update(s)
            .where(s.c.subscription_id == evt.subscription_id)
            .values(matched=s.c.matched + 1)
        )

    @on(WebhookDelivered)
    def _delivered(self, conn: Connection, evt: WebhookDelivered, rec: RecordedEvent) -> None:
        self._count(conn, evt.subscription_id, 1, rec)

    @on(DigestSent)
    def _sent(self, conn: Connection, evt: DigestSent, rec: RecordedEvent) -> None:
        self._count(conn, evt.subscription_id, len(evt.delivery_ids), rec)

    @staticmethod
    def _count(conn: Connection, subscription_id: str, items: int, rec: RecordedEvent) -> None:
        conn.execute(
            update(s)
            .where(s.c.subscription_id == subscription_id)
            .values(delivered=s.c.delivered + items, last_delivered_at=rec.recorded_at)
        )

    @staticmethod
    def _status(
        conn: Connection, subscription_id: str, rec: RecordedEvent, status: str, reason: str
    ) -> None:
        conn.execute(
            update(s)
            .where(s.c.subscription_id == subscription_id)
            .values(status=status, status_reason=reason[:500], updated_at=rec.recorded_at)
        )
