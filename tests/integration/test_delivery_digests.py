"""Digest emails end to end against a real aiosmtpd server on loopback.

RELIABILITY cases 39/40 (escaping, header injection) through the whole path, 58 (one email
per period), 59 (451 then 250, retried no earlier than the minimum, same Message-ID), 60 (550
bounces), 61 (dropped after DATA: same Message-ID, possible duplicate), 63 (MIME and
unsubscribe headers), and DST-correct daily periods with a fake clock.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import subscriptions as commands
from monitor.config import Settings
from monitor.delivery.smtp import SmtpConfig
from monitor.delivery.subscriptions import SubscriptionSpec
from monitor.stages.digests import DigestWorker
from tests.delivery_servers import DroppingSmtpServer, Recorder, SmtpServer, unused_port
from tests.delivery_world import classified, rows, settle


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def smtp(recorder: Recorder) -> Iterator[SmtpServer]:
    with SmtpServer(recorder) as server:
        yield server


def mail_app(settings: Settings, port: int) -> App:
    return bootstrap(
        settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_timeout": 5.0,
                "mail_from": "monitor@example.org",
                "public_url": "https://monitor.example.org",
            }
        )
    )


@pytest.fixture
def app(settings: Settings, smtp: SmtpServer) -> Iterator[App]:
    application = mail_app(settings, smtp.port)
    yield application
    application.close()


def subscribe(app: App, schedule: str = "daily@08:00", tz: str = "Europe/Berlin") -> str:
    spec = SubscriptionSpec("email", "analyst@example.test", schedule=schedule, timezone=tz)
    return commands.subscribe(app, spec).subscription_id


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            found[part.get_content_type()] = part.get_content()
    return found


def tomorrow_after_eight(now: datetime) -> datetime:
    """A moment just after the next 08:00 Berlin time (07:00 UTC in winter)."""
    return (now + timedelta(days=1)).replace(hour=7, minute=5, second=0, microsecond=0)


def test_a_daily_digest_is_sent_once_with_both_parts_and_safe_headers(
    app: App, recorder: Recorder
) -> None:
    sub = subscribe(app)
    classified(app, title="<script>alert(1)</script> deal\r\nBcc: victim@example.com")
    classified(app, title="Second item")
    settle(app)
    clock = Clock(tomorrow_after_eight(datetime.now(UTC)))
    worker = DigestWorker(app, clock=clock)
    assert worker.run_due() == 1
    assert worker.run_due() == 0  # case 58: triggered twice, one email
    assert DigestWorker(app, clock=clock).run_due() == 0
    [raw] = recorder.messages
    message = parsed(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert list(parts(message)) == ["text/plain", "text/html"]
    body = parts(message)
    assert "<script>" not in body["text/html"] and "&lt;script&gt;" in body["text/html"]
    assert "<script>alert(1)</script> deal" in body["text/plain"]
    assert message["Bcc"] is None and "\n" not in str(message["Subject"])
    assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    [unsubscribe] = message.get_all("List-Unsubscribe")
    assert unsubscribe.startswith(f"<https://monitor.example.org/unsubscribe/{sub}.")
    assert message["Message-ID"].startswith(f"<digest.{sub}.")
    app.catch_up()
    assert {r.status for r in rows(app, db.deliveries)} == {"delivered"}
    [listed] = rows(app, db.subscriptions)
    assert (listed.matched, listed.delivered) == (2, 2)


def test_items_wait_for_their_period_and_empty_periods_send_nothing(
    app: App, recorder: Recorder
) -> None:
    subscribe(app)
    clock = Clock(tomorrow_after_eight(datetime.now(UTC)))
    assert DigestWorker(app, clock=clock).run_due() == 0  # nothing matched yet
    classified(app)
    settle(app)
    assert DigestWorker(app, clock=clock).run_due() == 0  # that period is settled
    clock.now += timedelta(days=1)
    assert DigestWorker(app, clock=clock).run_due() == 1
    assert len(recorder.messages) == 1


def test_daily_periods_follow_the_wall_clock_across_dst(app: App) -> None:
    sub = subscribe(app)
    classified(app)
    settle(app)
    worker = DigestWorker(app)
    # Europe/Berlin leaves summer time on 2026-10-25: 08:00 is 06:00 UTC before, 07:00 after.
    for day, hour in ((24, 6), (25, 7), (26, 7)):
        worker.clock = Clock(datetime(2026, 10, day, hour, 1, tzinfo=UTC))
        with app.engine.begin() as conn:  # as if created long before
            conn.execute(
                db.subscription_targets.update().values(created_at=datetime(2026, 1, 1, tzinfo=UTC))
            )
        worker.schedule_due(subscription_id=sub)
    periods = sorted((r.period_start, r.period_end) for r in rows(app, db.digests))
    assert [(s.hour, e.hour) for s, e in periods] == [(6, 6), (6, 7), (7, 7)]
    assert [(e - s) // timedelta(hours=1) for s, e in periods] == [24, 25, 24]


def test_transient_smtp_failure_retries_after_the_minimum_with_the_same_id(
    app: App, recorder: Recorder
) -> None:  # case 59
    recorder.rcpt_replies.append("451 4.3.0 try again later")
    subscribe(app, schedule="immediate")
    classified(app)
    settle(app)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    worker = DigestWorker(app, clock=clock)
    assert worker.run_due() == 0
    [digest] = rows(app, db.digests)
    assert digest.status == "pending" and digest.attempts == 1
    clock.now += timedelta(minutes=29)
    assert worker.run_due() == 0 and recorder.messages == []
    clock.now += timedelta(minutes=1)
    assert worker.run_due() == 1
    [raw] = recorder.messages
    assert parsed(raw)["Message-ID"] == digest.message_id
    types = [e.event_type for e in app.log.read_all(types=["DigestAttemptFailed", "DigestSent"])]
    assert types == ["DigestAttemptFailed", "DigestSent"]


def test_permanent_failure_flags_the_subscriber_as_bouncing(
    app: App, recorder: Recorder
) -> None:  # case 60
    recorder.rcpt_replies.append("550 5.1.1 no such user")
    subscribe(app, schedule="immediate")
    classified(app)
    settle(app)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    assert DigestWorker(app, clock=clock).run_due() == 0
    clock.now += timedelta(days=1)
    classified(app)
    settle(app)
    assert DigestWorker(app, clock=clock).run_due() == 0  # no retry, no more digests
    [failed] = app.log.read_all(types=["DigestFailed"])
    assert failed.event.permanent and failed.event.code == 550  # type: ignore[attr-defined]
    app.catch_up()
    [listed] = rows(app, db.subscriptions)
    assert listed.status == "bouncing" and "550" in listed.status_reason
    assert recorder.messages == []


def test_a_drop_after_data_is_retried_with_the_same_id(
    settings: Settings, smtp: SmtpServer, recorder: Recorder
) -> None:  # case 61
    with DroppingSmtpServer() as dropping:
        app = mail_app(settings, dropping.port)
        subscribe(app, schedule="immediate")
        classified(app)
        settle(app)
        clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
        assert DigestWorker(app, clock=clock).run_due() == 0
        first = parsed(dropping.received[0])["Message-ID"]
    try:
        clock.now += timedelta(minutes=30)
        server_back = SmtpConfig(host="127.0.0.1", port=smtp.port, timeout=5.0)
        assert DigestWorker(app, clock=clock, smtp=server_back).run_due() == 1
        assert parsed(recorder.messages[0])["Message-ID"] == first
        [sent] = app.log.read_all(types=["DigestSent"])
        assert sent.event.possible_duplicate  # type: ignore[attr-defined]
    finally:
        app.close()


def test_smtp_down_is_transient(settings: Settings) -> None:
    app = mail_app(settings, unused_port())
    try:
        subscribe(app, schedule="immediate")
        classified(app)
        settle(app)
        assert DigestWorker(app).run_due() == 0
        [digest] = rows(app, db.digests)
        assert digest.status == "pending" and digest.attempts == 1
        app.catch_up()
        assert {r.status for r in rows(app, db.deliveries)} == {"retrying"}
    finally:
        app.close()


def test_send_now_ignores_the_schedule(app: App, recorder: Recorder) -> None:
    sub = subscribe(app, schedule="weekly@MON@08:00")
    classified(app)
    settle(app)
    assert commands.deliver_due(app, subscription_id=sub, digests_now=True).digests_sent == 1
    assert len(recorder.messages) == 1


def test_a_week_of_matches_adds_the_trend_chart_and_the_previous_counts(
    app: App, recorder: Recorder
) -> None:
    sub = subscribe(app, schedule="weekly@MON@08:00")
    start = datetime.now(UTC) - timedelta(days=8)
    for day in range(8):
        classified(app, published_at=start + timedelta(days=day))
    settle(app)
    commands.deliver_due(app, subscription_id=sub, digests_now=True)
    classified(app, stance="tension")
    settle(app)
    commands.deliver_due(app, subscription_id=sub, digests_now=True)
    first, second = (parsed(raw) for raw in recorder.messages)
    images = [p for p in first.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0]["Content-ID"]
    assert "8 articles: 8 cooperation" in parts(first)["text/plain"]
    assert "1 article: 0 cooperation (-8), 1 tension (+1)" in parts(second)["text/plain"]
