"""The owner of a disabled webhook endpoint hears about it by mail (RELIABILITY case 11).

A real loopback receiver disables the endpoint (410, or failing past the disable window) and a
real aiosmtpd server takes the notice: one plain email per disable with a stable Message-ID,
recorded as `OwnerNotified`; a 4xx is retried with the same Message-ID; without an owner
email a warning is logged and `subscriptions list` says so. New matches stay pending.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import subscriptions as commands
from monitor.config import Settings
from monitor.delivery.subscriptions import SubscriptionSpec
from monitor.errors import InvalidInputError
from monitor.stages.webhooks import WebhookWorker
from tests.delivery_servers import Recorder, SmtpServer
from tests.delivery_world import classified, rows, settle
from tests.servers import LoopbackServer, respond

OWNER = "owner@example.test"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/hook": respond(410)}) as server:
        yield server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def smtp(recorder: Recorder) -> Iterator[SmtpServer]:
    with SmtpServer(recorder) as server:
        yield server


def make_app(settings: Settings, receiver: LoopbackServer, smtp: SmtpServer, **extra: Any) -> App:
    return bootstrap(
        settings.model_copy(
            update={
                "fetch_allowlist": (receiver.origin,),
                "webhook_timeout": 2.0,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "smtp_timeout": 5.0,
                "mail_from": "monitor@example.org",
                "public_url": "https://monitor.example.org",
                **extra,
            }
        )
    )


@pytest.fixture
def app(settings: Settings, receiver: LoopbackServer, smtp: SmtpServer) -> Iterator[App]:
    application = make_app(settings, receiver, smtp)
    yield application
    application.close()


def subscribe(app: App, url: str, owner: str | None = OWNER) -> str:
    spec = SubscriptionSpec("webhook", url)
    return commands.subscribe(app, spec, notify_email=owner).subscription_id


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def stream_types(app: App, sub: str) -> list[str]:
    return [e.event_type for e in app.log.read_all(stream_id=f"subscription-{sub}")]


def listed(app: App) -> Any:
    app.catch_up()
    [row] = rows(app, db.subscriptions)
    return row


def test_a_gone_endpoint_mails_its_owner_once(
    app: App, receiver: LoopbackServer, recorder: Recorder
) -> None:
    sub = subscribe(app, receiver.url("/hook"))
    classified(app)
    settle(app)
    clock = Clock()
    worker = WebhookWorker(app, clock=clock)
    assert worker.run_due() == 1
    [raw] = recorder.messages
    message = parsed(raw)
    assert message["To"] == OWNER and message["From"] == "monitor@example.org"
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    [disabled] = app.log.read_all(types=["EndpointDisabled"])
    assert message["Message-ID"] == (
        f"<endpoint-disabled.{sub}.{disabled.event_id}@monitor.example.org>"
    )
    body = message.get_content()
    assert receiver.url("/hook") in body and "410" in body
    assert f"monitor subscriptions enable {sub}" in body

    classified(app)  # a new match while disabled: pending, not attempted
    settle(app)
    clock.now += timedelta(days=1)
    assert worker.run_due() == 0
    assert len(recorder.messages) == 1 and receiver.hit_count() == 1
    assert {r.status for r in rows(app, db.delivery_outbox)} == {"pending"}
    assert stream_types(app, sub) == ["SubscriptionCreated", "EndpointDisabled", "OwnerNotified"]
    [notified] = app.log.read_all(types=["OwnerNotified"])
    assert notified.event.message_id == message["Message-ID"]
    assert notified.event.disabled_event_id == disabled.event_id
    row = listed(app)
    assert row.status == "disabled" and row.notify_email == OWNER
    assert "owner notified" in row.status_reason and row.owner_notified_at is not None


def test_a_transient_mail_failure_is_retried_with_the_same_message_id(
    app: App, receiver: LoopbackServer, recorder: Recorder
) -> None:
    recorder.rcpt_replies.append("451 4.3.0 try again later")
    sub = subscribe(app, receiver.url("/hook"))
    classified(app)
    settle(app)
    clock = Clock()
    worker = WebhookWorker(app, clock=clock)
    worker.run_due()
    assert recorder.messages == [] and len(recorder.mail_from) == 1
    assert worker.notify_owners() == 0  # not before the retry interval
    [target] = rows(app, db.subscription_targets)
    assert target.notice_due >= clock.now + timedelta(seconds=1800)
    clock.now = target.notice_due
    assert worker.notify_owners() == 1
    assert worker.notify_owners() == 0
    [raw] = recorder.messages
    assert f"<endpoint-disabled.{sub}." in parsed(raw)["Message-ID"]
    assert stream_types(app, sub)[-1] == "OwnerNotified"


def test_a_bounced_notice_is_recorded_and_shown(
    app: App, receiver: LoopbackServer, recorder: Recorder
) -> None:
    recorder.rcpt_replies.append("550 5.1.1 no such user")
    sub = subscribe(app, receiver.url("/hook"))
    classified(app)
    settle(app)
    WebhookWorker(app).run_due()
    assert WebhookWorker(app).notify_owners() == 0
    assert len(recorder.mail_from) == 1  # no retry of a 5xx
    assert stream_types(app, sub)[-1] == "OwnerNotificationFailed"
    assert "owner notice failed: 550" in listed(app).status_reason


def test_an_endpoint_failing_past_the_window_notifies_its_owner(
    settings: Settings, receiver: LoopbackServer, smtp: SmtpServer, recorder: Recorder
) -> None:
    app = make_app(settings, receiver, smtp, webhook_disable_after=3600.0)
    try:
        receiver.routes["/hook"] = respond(503)
        sub = subscribe(app, receiver.url("/hook"))
        for _ in range(3):
            classified(app)
        settle(app)
        clock = Clock()
        worker = WebhookWorker(app, clock=clock, rng=lambda: 0.0)
        for _ in range(20):  # bounded
            worker.run_due()
            if rows(app, db.subscription_targets)[0].status == "disabled":
                break
            clock.now = min(r.next_attempt_at for r in rows(app, db.delivery_outbox))
        assert rows(app, db.subscription_targets)[0].status == "disabled"
        [raw] = recorder.messages
        assert "failing since" in parsed(raw).get_content()
        assert stream_types(app, sub)[-1] == "OwnerNotified"
    finally:
        app.close()


def test_without_an_owner_email_a_warning_is_logged_and_listed(
    app: App, receiver: LoopbackServer, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    sub = subscribe(app, receiver.url("/hook"), owner=None)
    classified(app)
    settle(app)
    with caplog.at_level(logging.WARNING, logger="monitor.stages.webhooks"):
        WebhookWorker(app).run_due()
    assert any(sub in r.getMessage() and "no owner email" in r.getMessage() for r in caplog.records)
    assert recorder.mail_from == []
    row = listed(app)
    assert row.status == "disabled" and "410" in row.status_reason
    assert "owner not notified: no --notify-email" in row.status_reason
    assert stream_types(app, sub) == ["SubscriptionCreated", "EndpointDisabled"]


def test_a_re_enabled_endpoint_is_not_notified_late_and_a_new_disable_notifies_again(
    app: App, receiver: LoopbackServer, recorder: Recorder
) -> None:
    recorder.rcpt_replies.append("451 4.3.0 try again later")
    sub = subscribe(app, receiver.url("/hook"))
    classified(app)
    settle(app)
    clock = Clock()
    worker = WebhookWorker(app, clock=clock)
    worker.run_due()
    commands.enable_endpoint(app, sub, now=clock.now)  # fixed before the notice went out
    clock.now += timedelta(hours=1)
    worker.run_due()  # the held delivery is sent again: 410 again, a new disable
    assert recorder.messages and len(recorder.messages) == 1
    ids = [e.event_id for e in app.log.read_all(types=["EndpointDisabled"])]
    assert len(ids) == 2 and ids[1] in parsed(recorder.messages[0])["Message-ID"]


def test_the_owner_email_is_validated_and_only_for_webhooks(app: App) -> None:
    with pytest.raises(InvalidInputError, match=r"^notify_email: 'nope'"):
        commands.subscribe(
            app, SubscriptionSpec("webhook", "https://hooks.example/x"), notify_email="nope"
        )
    with pytest.raises(InvalidInputError, match=r"^notify_email"):
        commands.subscribe(app, SubscriptionSpec("email", "a@example.test"), notify_email=OWNER)
    assert rows(app, db.subscription_targets) == []
