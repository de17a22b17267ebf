"""One-click unsubscribe (RFC 8058, RELIABILITY case 64) through the real FastAPI app, with
the link taken from a digest that went through a real SMTP server."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from monitor import db
from monitor.api.app import create_app
from monitor.bootstrap import App, bootstrap
from monitor.commands import subscriptions as commands
from monitor.config import Settings
from monitor.delivery.subscriptions import SubscriptionSpec
from monitor.stages.digests import DigestWorker
from tests.delivery_servers import Recorder, SmtpServer
from tests.delivery_world import classified, rows, settle

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def mailed(settings: Settings) -> Iterator[tuple[App, str]]:
    """An app that has sent one digest; yields it with the digest's unsubscribe path."""
    recorder = Recorder()
    with SmtpServer(recorder) as server:
        app = bootstrap(
            settings.model_copy(
                update={
                    "smtp_host": "127.0.0.1",
                    "smtp_port": server.port,
                    "public_url": "https://monitor.example.org",
                }
            )
        )
        spec = SubscriptionSpec("email", "reader@example.test")
        commands.subscribe(app, spec)
        classified(app)
        settle(app)
        DigestWorker(app, clock=lambda: datetime.now(UTC) + timedelta(seconds=1)).run_due()
    message = email.message_from_bytes(recorder.messages[0], policy=email.policy.default)
    link = str(message["List-Unsubscribe"]).strip("<>")
    yield app, urlsplit(link).path
    app.close()


def status(app: App) -> str:
    app.catch_up()
    return str(rows(app, db.subscriptions)[0].status)


def unsubscribed_events(app: App) -> int:
    return len(app.log.read_all(types=["SubscriptionUnsubscribed"]))


def test_one_click_unsubscribes_once_and_get_changes_nothing(mailed: tuple[App, str]) -> None:
    app, path = mailed
    with TestClient(create_app(app), follow_redirects=False) as client:
        page = client.get(path)
        assert page.status_code == 200 and '<form method="post"' in page.text
        assert status(app) == "active" and unsubscribed_events(app) == 0

        first = client.post(path, data=ONE_CLICK)
        assert first.status_code == 200 and "You are unsubscribed" in first.text
        assert status(app) == "unsubscribed" and unsubscribed_events(app) == 1
        assert not client.cookies

        again = client.post(path, files={"List-Unsubscribe": (None, "One-Click")})  # multipart
        assert again.status_code == 200 and "already" in again.text
        assert unsubscribed_events(app) == 1


def test_tampered_or_malformed_requests_change_nothing(mailed: tuple[App, str]) -> None:
    app, path = mailed
    tampered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    with TestClient(create_app(app), follow_redirects=False) as client:
        for response in (
            client.post(tampered, data=ONE_CLICK),
            client.get(tampered),
            client.post("/unsubscribe/no-dot-here", data=ONE_CLICK),
            client.post(path, data={"List-Unsubscribe": "Something-Else"}),
        ):
            assert 400 <= response.status_code < 500
            assert "location" not in response.headers
        page = client.get("/unsubscribe/%3Cscript%3Ealert(1)%3C%2Fscript%3E.x")
        assert "<script>" not in page.text
    assert status(app) == "active" and unsubscribed_events(app) == 0


def test_unsubscribed_subscribers_get_no_more_digests(mailed: tuple[App, str]) -> None:
    app, path = mailed
    with TestClient(create_app(app)) as client:
        assert client.post(path, data=ONE_CLICK).status_code == 200
    classified(app)
    settle(app)
    worker = DigestWorker(app, clock=lambda: datetime.now(UTC) + timedelta(seconds=5))
    assert worker.run_due() == 0
