"""Matches to signed webhooks through the outbox, against real loopback receivers.

RELIABILITY cases 2 (same id, fresh signature), 8 (410), 9 (Retry-After), 10 (dead letter),
11 (auto-disable, held not attempted), 12 (redelivery keeps the id), 52 (outbox atomicity).
The worker's clock is a fake stepped through the schedule; nothing sleeps for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import subscriptions as commands
from monitor.config import Settings
from monitor.delivery.subscriptions import Filters, SubscriptionSpec
from monitor.errors import InvalidInputError
from monitor.stages.matching import MatchingStage
from monitor.stages.webhooks import WebhookWorker
from tests.delivery_world import classified, rows, settle
from tests.servers import LoopbackServer, respond


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def sequence(*handlers: Callable[[BaseHTTPRequestHandler], None]) -> Callable[..., None]:
    remaining = list(handlers)

    def handle(request: BaseHTTPRequestHandler) -> None:
        (remaining.pop(0) if len(remaining) > 1 else remaining[0])(request)

    return handle


def subscribe(app: App, url: str, **filters: Any) -> tuple[str, str]:
    created = commands.subscribe(app, SubscriptionSpec("webhook", url, Filters(**filters)))
    assert created.secret is not None
    return created.subscription_id, created.secret


def signed_ok(hit: Any, secret: str) -> bool:
    """The signature checked with the standardwebhooks library (any timestamp)."""
    stamp = datetime.fromtimestamp(int(hit.headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(hit.headers["webhook-id"], stamp, hit.body.decode())
    return expected in hit.headers["webhook-signature"].split()


def outbox(app: App) -> list[Any]:
    return rows(app, db.delivery_outbox)


def deliveries(app: App) -> list[Any]:
    app.catch_up()
    return rows(app, db.deliveries)


def test_a_match_is_posted_once_signed_with_the_interface_payload(
    hook_app: App, receiver: LoopbackServer
) -> None:
    sub, secret = subscribe(hook_app, receiver.url("/hook"), topics=("defense_industry",))
    article = classified(hook_app, title="Türkiye and the US — “F-16”")
    classified(hook_app, topics=("economy_energy",))  # not matched
    classified(hook_app, relevant=False)  # not matched
    settle(hook_app)
    assert WebhookWorker(hook_app).run_due() == 1
    assert WebhookWorker(hook_app).run_due() == 0
    [hit] = receiver.hits
    Webhook(secret).verify(hit.body, hit.headers, json_parse=False)  # fresh timestamp
    payload = json.loads(hit.body)
    assert payload["type"] == "article.matched" and payload["schema_version"] == 1
    assert payload["subscription_id"] == sub and payload["id"] == hit.headers["webhook-id"]
    assert payload["article"]["id"] == article
    assert payload["article"]["title"] == "Türkiye and the US — “F-16”"
    assert "text" not in payload["article"]
    [row] = deliveries(hook_app)
    assert (row.status, row.attempts, row.last_status) == ("delivered", 1, 204)


def test_retries_follow_the_schedule_with_one_id(hook_app: App, receiver: LoopbackServer) -> None:
    receiver.routes["/hook"] = sequence(respond(500), respond(503), respond(200))
    _, secret = subscribe(hook_app, receiver.url("/hook"))
    classified(hook_app)
    settle(hook_app)
    clock = Clock()
    worker = WebhookWorker(hook_app, clock=clock, rng=lambda: 0.0)
    started = clock.now
    for _ in range(10):  # bounded
        worker.run_due()
        [row] = outbox(hook_app)
        if row.status != "pending":
            break
        assert worker.run_due() == 0  # not before its time
        clock.now = row.next_attempt_at
    assert row.status == "delivered" and row.attempts == 3
    hits = receiver.hits
    assert len({h.headers["webhook-id"] for h in hits}) == 1
    assert len({h.headers["webhook-timestamp"] for h in hits}) == 3
    assert all(signed_ok(h, secret) for h in hits)
    stamps = [int(h.headers["webhook-timestamp"]) - int(started.timestamp()) for h in hits]
    assert stamps == [0, 5, 5 + 300]
    [row] = deliveries(hook_app)
    assert row.status == "delivered" and row.attempts == 3


def test_exhaustion_dead_letters_then_manual_retry_keeps_the_id(
    hook_app: App, receiver: LoopbackServer
) -> None:
    receiver.routes["/hook"] = respond(500)
    subscribe(hook_app, receiver.url("/hook"))
    classified(hook_app)
    settle(hook_app)
    clock = Clock()
    worker = WebhookWorker(hook_app, clock=clock, rng=lambda: 0.0)
    for _ in range(20):
        worker.run_due()
        [row] = outbox(hook_app)
        if row.status != "pending":
            break
        clock.now = row.next_attempt_at
    assert row.status == "dead" and row.attempts == 8  # case 10: 1 + 7 retries
    assert receiver.hit_count() == 8
    [listed] = deliveries(hook_app)
    assert listed.status == "dead" and "retries exhausted" in listed.last_error

    receiver.routes["/hook"] = respond(200)
    commands.retry_delivery(hook_app, row.delivery_id, now=clock.now)
    assert worker.run_due() == 1
    assert {h.headers["webhook-id"] for h in receiver.hits} == {row.webhook_id}
    [listed] = deliveries(hook_app)
    assert listed.status == "delivered" and listed.attempts == 9


def test_a_client_error_dead_letters_at_once(hook_app: App, receiver: LoopbackServer) -> None:
    receiver.routes["/hook"] = respond(422)
    subscribe(hook_app, receiver.url("/hook"))
    classified(hook_app)
    settle(hook_app)
    WebhookWorker(hook_app).run_due()
    [row] = deliveries(hook_app)
    assert (row.status, row.attempts, row.last_status) == ("dead", 1, 422)


def test_retry_after_is_honoured(hook_app: App, receiver: LoopbackServer) -> None:  # case 9
    receiver.routes["/hook"] = respond(429, b"slow down", {"Retry-After": "120"})
    subscribe(hook_app, receiver.url("/hook"))
    classified(hook_app)
    settle(hook_app)
    clock = Clock()
    WebhookWorker(hook_app, clock=clock, rng=lambda: 0.0).run_due()
    [row] = outbox(hook_app)
    assert row.status == "pending" and row.next_attempt_at >= clock.now + timedelta(seconds=120)


def test_gone_disables_the_endpoint_and_holds_new_matches(
    hook_app: App, receiver: LoopbackServer
) -> None:  # case 8 and 11
    receiver.routes["/hook"] = respond(410)
    sub, _ = subscribe(hook_app, receiver.url("/hook"))
    classified(hook_app)
    settle(hook_app)
    clock = Clock()
    worker = WebhookWorker(hook_app, clock=clock)
    assert worker.run_due() == 1
    classified(hook_app)
    settle(hook_app)
    clock.now += timedelta(days=1)
    assert worker.run_due() == 0  # held, not attempted
    assert receiver.hit_count() == 1
    subscription = rows(hook_app, db.subscriptions)[0]
    assert subscription.status == "disabled" and "410" in subscription.status_reason
    types = [e.event_type for e in hook_app.log.read_all(stream_id=f"subscription-{sub}")]
    assert types == ["SubscriptionCreated", "EndpointDisabled"]
    assert {r.status for r in outbox(hook_app)} == {"pending"}


def test_an_endpoint_failing_for_the_window_is_disabled(
    settings: Settings, receiver: LoopbackServer
) -> None:
    configured = settings.model_copy(
        update={"fetch_allowlist": (receiver.origin,), "webhook_disable_after": 3600.0}
    )
    app = bootstrap(configured)
    try:
        receiver.routes["/hook"] = respond(503)
        subscribe(app, receiver.url("/hook"))
        for _ in range(3):
            classified(app)
        settle(app)
        clock = Clock()
        worker = WebhookWorker(app, clock=clock, rng=lambda: 0.0)
        for _ in range(20):
            worker.run_due()
            due = [r.next_attempt_at for r in outbox(app) if r.status == "pending"]
            if rows(app, db.subscription_targets)[0].status == "disabled":
                break
            clock.now = min(due)
        target = rows(app, db.subscription_targets)[0]
        assert target.status == "disabled" and "failing since" in target.status_reason
        assert clock.now - target.failing_since >= timedelta(hours=1)
    finally:
        app.close()


def test_other_outlets_copies_are_not_sent_but_material_updates_are(
    hook_app: App, receiver: LoopbackServer
) -> None:
    subscribe(hook_app, receiver.url("/hook"))
    first = classified(hook_app, story_id="story-1")
    classified(hook_app, story_id="story-1", title="The same story elsewhere")
    settle(hook_app)
    classified(hook_app, article_id=first, discovered=False)  # same labels: nothing new
    classified(hook_app, article_id=first, discovered=False, stance="tension")
    classified(
        hook_app,
        article_id=first,
        discovered=False,
        stance="tension",
        topics=("defense_industry", "military_operations"),
    )
    settle(hook_app)
    WebhookWorker(hook_app).run_due()
    bodies = [json.loads(h.body) for h in receiver.hits]
    assert [b["article"]["id"] for b in bodies] == [first] * 3
    assert [b.get("update") for b in sorted(bodies, key=lambda b: b.get("update", 0))] == [
        None,
        1,
        2,
    ]
    assert len({h.headers["webhook-id"] for h in receiver.hits}) == 3
    matched = [r for r in deliveries(hook_app)]
    assert sorted(r.update_no for r in matched) == [0, 1, 2]


def test_a_rolled_back_match_leaves_no_outbox_row(
    hook_app: App, receiver: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:  # case 52
    subscribe(hook_app, receiver.url("/hook"))
    classified(hook_app)
    stage = MatchingStage(hook_app)
    real_append = hook_app.log.append

    def failing_append(*args: Any, **kwargs: Any) -> Any:
        real_append(*args, **kwargs)
        raise RuntimeError("crash before commit")

    monkeypatch.setattr(hook_app.log, "append", failing_append)
    with pytest.raises(RuntimeError):
        hook_app.runner.run_once(stage)
    monkeypatch.undo()
    assert outbox(hook_app) == []
    assert not hook_app.log.read_all(types=["ArticleMatched"])
    hook_app.runner.run_once(stage)
    assert len(outbox(hook_app)) == 1
    assert len(hook_app.log.read_all(types=["ArticleMatched"])) == 1
    assert WebhookWorker(hook_app).run_due() == 1
    assert receiver.hit_count() == 1


def test_subscriptions_made_after_an_article_do_not_match_it(
    hook_app: App, receiver: LoopbackServer
) -> None:
    classified(hook_app)
    subscribe(hook_app, receiver.url("/hook"))
    settle(hook_app)
    assert outbox(hook_app) == []


def test_invalid_subscriptions_name_the_field(hook_app: App) -> None:
    with pytest.raises(InvalidInputError, match=r"^topics"):
        commands.subscribe(
            hook_app, SubscriptionSpec("email", "a@example.test", Filters(topics=("x",)))
        )
    with pytest.raises(InvalidInputError, match=r"^webhook"):
        commands.subscribe(hook_app, SubscriptionSpec("webhook", "file:///etc/passwd"))
    with pytest.raises(InvalidInputError, match=r"^secret"):
        commands.subscribe(
            hook_app, SubscriptionSpec("webhook", "https://hooks.example/x"), secret="nope"
        )
    with hook_app.engine.connect() as conn:
        assert conn.execute(select(db.subscription_targets)).first() is None


def test_a_round_takes_no_more_for_one_host_than_its_lease_can_cover(
    hook_app: App, receiver: LoopbackServer
) -> None:
    subscribe(hook_app, receiver.url("/hook"))
    for _ in range(30):
        classified(hook_app)
    settle(hook_app)
    worker = WebhookWorker(hook_app)  # lease 60 s, timeout 2 s: 4 slots x 15 waves = 60
    assert worker.run_due(max_rounds=1) == 30
    for _ in range(30):
        classified(hook_app)
    settle(hook_app)
    short = hook_app.settings.model_copy(update={"delivery_lease": 8.0})
    hook_app.settings = short
    assert WebhookWorker(hook_app).run_due(max_rounds=1) == 8  # 4 slots x 2 waves
    assert {r.status for r in outbox(hook_app)} == {"delivered", "pending"}
    assert all(r.lease_owner is None for r in outbox(hook_app))
    assert WebhookWorker(hook_app).run_due() == 22


def test_claims_take_manual_retries_and_pending_deliveries_in_due_order(
    hook_app: App, receiver: LoopbackServer
) -> None:
    subscribe(hook_app, receiver.url("/hook"))
    for _ in range(4):
        classified(hook_app)
    settle(hook_app)
    now = datetime.now(UTC)
    statuses = ("manual", "pending", "manual", "pending")  # due 4, 3, 2 and 1 minutes ago
    order, pending = [], outbox(hook_app)
    with hook_app.engine.begin() as conn:
        for minutes, status, row in zip((4, 3, 2, 1), statuses, pending, strict=True):
            conn.execute(
                db.delivery_outbox.update()
                .where(db.delivery_outbox.c.delivery_id == row.delivery_id)
                .values(status=status, next_attempt_at=now - timedelta(minutes=minutes))
            )
            order.append(row.webhook_id)
    assert WebhookWorker(hook_app, batch=1).run_due() == 4  # one delivery per round
    assert [h.headers["webhook-id"] for h in receiver.hits] == order


def test_an_answer_ends_the_failure_streak_of_each_endpoint_of_a_round(
    hook_app: App, receiver: LoopbackServer
) -> None:
    for path in ("/hook", "/other"):
        receiver.routes[path] = sequence(respond(503), respond(204))
        subscribe(hook_app, receiver.url(path))
    classified(hook_app)
    settle(hook_app)
    clock = Clock()
    worker = WebhookWorker(hook_app, clock=clock, rng=lambda: 0.0)
    assert worker.run_due() == 2
    assert all(t.failing_since is not None for t in rows(hook_app, db.subscription_targets))
    clock.now = max(r.next_attempt_at for r in outbox(hook_app))
    assert worker.run_due() == 2
    assert [t.failing_since for t in rows(hook_app, db.subscription_targets)] == [None, None]
    assert {r.status for r in outbox(hook_app)} == {"delivered"}
