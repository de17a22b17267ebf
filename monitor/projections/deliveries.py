"""Deliveries as users see them: one row per matched item and subscription, with its state.

Status: `pending` (waiting for its attempt or its digest), `retrying`, `delivered`, `dead`
(dead letter; `monitor deliveries retry` sends it again) and `failed` (a digest given up).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, insert, update

from monitor import db
from monitor.eventlog import RecordedEvent
from monitor.events import (
    ArticleMatched,
    DeliveryDeadLettered,
    DeliveryRetryRequested,
    DigestAttemptFailed,
    DigestFailed,
    DigestSent,
    EndpointEnabled,
    WebhookAttemptFailed,
    WebhookDelivered,
)
from monitor.followers import Projection, on

d = db.deliveries


class DeliveriesProjection(Projection):
    name = "deliveries"
    tables = (db.deliveries,)

    @on(ArticleMatched)
    def _matched(self, conn: Connection, evt: ArticleMatched, rec: RecordedEvent) -> None:
        conn.execute(
            insert(d).values(
                delivery_id=evt.delivery_id,
                subscription_id=evt.subscription_id,
                channel=evt.channel,
                article_id=evt.article_id,
                story_id=evt.story_id,
                update_no=evt.update,
                status="pending",
                attempts=0,
                matched_at=rec.recorded_at,
            )
        )

    @on(WebhookDelivered)
    def _delivered(self, conn: Connection, evt: WebhookDelivered, rec: RecordedEvent) -> None:
        self._set(
            conn,
            [evt.delivery_id],
            status="delivered",
            attempts=evt.attempt,
            last_status=evt.status,
            last_error=None,
            next_attempt_at=None,
            delivered_at=rec.recorded_at,
        )

    @on(WebhookAttemptFailed)
    def _failed(self, conn: Connection, evt: WebhookAttemptFailed, _: RecordedEvent) -> None:
        self._set(
            conn,
            [evt.delivery_id],
            status="retrying",
            attempts=evt.attempt,
            last_status=evt.status,
            last_error=evt.error,
            next_attempt_at=evt.next_attempt_at,
        )

    @on(DeliveryDeadLettered)
    def _dead(self, conn: Connection, evt: DeliveryDeadLettered, _: RecordedEvent) -> None:
        self._set(
            conn,
            [evt.delivery_id],
            status="dead",
            attempts=evt.attempts,
            last_status=evt.status,
            last_error=evt.reason,
            next_attempt_at=None,
        )

    @on(DeliveryRetryRequested)
    def _retry(self, conn: Connection, evt: DeliveryRetryRequested, rec: RecordedEvent) -> None:
        self._set(conn, [evt.delivery_id], status="pending", next_attempt_at=rec.recorded_at)

    @on(EndpointEnabled)
    def _replayed(self, conn: Connection, evt: EndpointEnabled, rec: RecordedEvent) -> None:
        self._set(conn, evt.delivery_ids, status="pending", next_attempt_at=rec.recorded_at)

    @on(DigestSent)
    def _sent(self, conn: Connection, evt: DigestSent, rec: RecordedEvent) -> None:
        self._set(
            conn,
            evt.delivery_ids,
            status="delivered",
            attempts=evt.attempt,
            last_error=None,
            next_attempt_at=None,
            delivered_at=rec.recorded_at,
            period_key=evt.period_key,
        )

    @on(DigestAttemptFailed)
    def _digest_retry(self, conn: Connection, evt: DigestAttemptFailed, _: RecordedEvent) -> None:
        self._set(
            conn,
            evt.delivery_ids,
            status="retrying",
            attempts=evt.attempt,
            last_status=evt.code,
            last_error=evt.error,
            next_attempt_at=evt.next_attempt_at,
            period_key=evt.period_key,
        )

    @on(DigestFailed)
    def _digest_failed(self, conn: Connection, evt: DigestFailed, _: RecordedEvent) -> None:
        self._set(
            conn,
            evt.delivery_ids,
            status="failed",
            last_status=evt.code,
            last_error=evt.error,
            next_attempt_at=None,
            period_key=evt.period_key,
        )

    @staticmethod
    def _set(conn: Connection, ids: Sequence[str], **values: object) -> None:
        if ids:
            conn.execute(update(d).where(d.c.delivery_id.in_(list(ids))).values(**values))
