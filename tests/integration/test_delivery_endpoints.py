"""Webhook endpoints over their life: secret rotation and re-enabling with a replay.

RELIABILITY cases 5 (within the grace window two `v1` signatures, either secret verifies;
after it only the new one; no secret in any event) and 12 (re-enable, replay since T: each
failed or held message is delivered once with its original `webhook-id`). The worker's
clock is a fake where the window matters; receivers are real loopback servers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from monitor import db
from monitor.bootstrap import App
from monitor.commands import subscriptions as commands
from monitor.delivery.subscriptions import SubscriptionSpec
from monitor.errors import InvalidInputError, NotFoundError
from monitor.eventlog import utcnow
from monitor.events import to_data
from monitor.stages.webhooks import WebhookWorker
from tests.delivery_world import classified, rows, settle
from tests.integration.test_cli import assert_one_line_error
from tests.servers import LoopbackServer, respond


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def subscribe(app: App, url: str) -> tuple[str, str]:
    created = commands.subscribe(app, SubscriptionSpec("webhook", url))
    assert created.secret is not None
    return created.subscription_id, created.secret


def signatures(hit: Any) -> list[str]:
    return str(hit.headers["webhook-signature"]).split()


def signed_by(hit: Any, secret: str) -> bool:
    """The signature checked with the standardwebhooks library (any timestamp)."""
    stamp = datetime.fromtimestamp(int(hit.headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(hit.headers["webhook-id"], stamp, hit.body.decode())
    return expected in signatures(hit)


def logged(app: App) -> str:
    return json.dumps([to_data(r.event) for r in app.log.read_all()], default=str)


def outbox(app: App) -> dict[str, Any]:
    return {r.delivery_id: r for r in rows(app, db.delivery_outbox)}


def match_one(app: App) -> Any:
    """Record one more match and return its outbox row."""
    before = set(outbox(app))
    classified(app)
    settle(app)
    [new] = [row for key, row in outbox(app).items() if key not in before]
    return new


# --- case 5: secret rotation ---------------------------------------------------------------


def test_within_the_grace_both_secrets_sign_then_only_the_new_one(
    hook_app: App, receiver: LoopbackServer
) -> None:
    sub, old = subscribe(hook_app, receiver.url("/hook"))
    new = commands.rotate_secret(hook_app, sub, grace=timedelta(hours=24))
    assert new.startswith("whsec_") and new != old
    match_one(hook_app)
    assert WebhookWorker(hook_app).run_due() == 1
    [hit] = receiver.hits
    assert len(signatures(hit)) == 2 and all(s.startswith("v1,") for s in signatures(hit))
    for secret in (old, new):  # a receiver holding either verifies (at the current time)
        Webhook(secret).verify(hit.body, hit.headers, json_parse=False)

    match_one(hook_app)
    after = Clock(utcnow() + timedelta(hours=24, seconds=1))
    assert WebhookWorker(hook_app, clock=after).run_due() == 1
    last = receiver.hits[-1]
    assert len(signatures(last)) == 1
    assert signed_by(last, new) and not signed_by(last, old)

    assert old not in logged(hook_app) and new not in logged(hook_app)
    [rotated] = hook_app.log.read_all(types=["WebhookSecretRotated"])
    assert rotated.event.subscription_id == sub
    assert abs(rotated.event.grace_until - (utcnow() + timedelta(hours=24))) < timedelta(minutes=1)


def test_a_rotation_without_grace_signs_with_the_new_secret_only(
    hook_app: App, receiver: LoopbackServer
) -> None:
    sub, old = subscribe(hook_app, receiver.url("/hook"))
    new = commands.rotate_secret(hook_app, sub, grace=timedelta(0))
    match_one(hook_app)
    WebhookWorker(hook_app).run_due()
    [hit] = receiver.hits
    assert len(signatures(hit)) == 1 and signed_by(hit, new) and not signed_by(hit, old)


def test_rotation_refuses_what_has_no_secret(hook_app: App, receiver: LoopbackServer) -> None:
    email = commands.subscribe(hook_app, SubscriptionSpec("email", "a@example.test"))
    with pytest.raises(InvalidInputError, match=r"^subscription"):
        commands.rotate_secret(hook_app, email.subscription_id)
    with pytest.raises(NotFoundError):
        commands.rotate_secret(hook_app, "no-such-id")
    sub, _ = subscribe(hook_app, receiver.url("/hook"))
    with pytest.raises(InvalidInputError, match=r"^grace"):
        commands.rotate_secret(hook_app, sub, grace=timedelta(days=31))
    commands.remove_subscription(hook_app, sub)
    with pytest.raises(NotFoundError):
        commands.rotate_secret(hook_app, sub)
    assert not hook_app.log.read_all(types=["WebhookSecretRotated"])


# --- case 12: re-enable and replay ---------------------------------------------------------


def test_enable_replays_each_failed_or_held_message_once_with_its_original_id(
    hook_app: App, receiver: LoopbackServer
) -> None:
    sub, secret = subscribe(hook_app, receiver.url("/hook"))
    receiver.routes["/hook"] = respond(422)
    clock = Clock()
    worker = WebhookWorker(hook_app, clock=clock)
    before = match_one(hook_app)  # dead-lettered before T: not replayed
    worker.run_due()
    since = utcnow()
    dead = match_one(hook_app)
    worker.run_due()
    receiver.routes["/hook"] = respond(410)
    held = match_one(hook_app)
    worker.run_due()  # 410: disabled, `held` waits
    waiting = match_one(hook_app)  # matched while disabled: never attempted
    clock.now += timedelta(days=1)
    assert worker.run_due() == 0
    assert receiver.hit_count() == 3
    states = {k: r.status for k, r in outbox(hook_app).items()}
    assert states == {
        before.delivery_id: "dead",
        dead.delivery_id: "dead",
        held.delivery_id: "pending",
        waiting.delivery_id: "pending",
    }

    receiver.routes["/hook"] = respond(200)
    replayed = commands.enable_endpoint(hook_app, sub, replay_since=since, now=clock.now)
    assert replayed == 3
    assert worker.run_due() == 3
    assert worker.run_due() == 0
    ok = [h for h in receiver.hits[3:]]
    assert sorted(h.headers["webhook-id"] for h in ok) == sorted(
        r.webhook_id for r in (dead, held, waiting)
    )
    assert all(signed_by(h, secret) for h in ok)
    states = {k: r.status for k, r in outbox(hook_app).items()}
    assert states[before.delivery_id] == "dead"
    assert {states[r.delivery_id] for r in (dead, held, waiting)} == {"delivered"}

    hook_app.catch_up()
    listed = {r.delivery_id: r.status for r in rows(hook_app, db.deliveries)}
    assert listed == states | {before.delivery_id: "dead"}
    [subscription] = rows(hook_app, db.subscriptions)
    assert (subscription.status, subscription.status_reason) == ("active", None)
    [enabled] = hook_app.log.read_all(types=["EndpointEnabled"])
    assert set(enabled.event.delivery_ids) == {r.delivery_id for r in (dead, held, waiting)}
    target = rows(hook_app, db.subscription_targets)[0]
    assert target.failing_since is None and target.disabled_at is None


def test_enable_without_replay_resumes_held_messages_but_not_dead_letters(
    hook_app: App, receiver: LoopbackServer
) -> None:
    sub, _ = subscribe(hook_app, receiver.url("/hook"))
    receiver.routes["/hook"] = respond(422)
    dead = match_one(hook_app)
    WebhookWorker(hook_app).run_due()
    receiver.routes["/hook"] = respond(410)
    held = match_one(hook_app)
    WebhookWorker(hook_app).run_due()
    receiver.routes["/hook"] = respond(200)
    assert commands.enable_endpoint(hook_app, sub) == 0
    assert WebhookWorker(hook_app).run_due() == 1
    assert receiver.hits[-1].headers["webhook-id"] == held.webhook_id
    states = {k: r.status for k, r in outbox(hook_app).items()}
    assert states == {dead.delivery_id: "dead", held.delivery_id: "delivered"}


def test_enable_refuses_endpoints_that_are_not_disabled(
    hook_app: App, receiver: LoopbackServer
) -> None:
    sub, _ = subscribe(hook_app, receiver.url("/hook"))
    with pytest.raises(InvalidInputError, match=r"^subscription: .* is active"):
        commands.enable_endpoint(hook_app, sub)
    with pytest.raises(NotFoundError):
        commands.enable_endpoint(hook_app, "no-such-id")
    assert not hook_app.log.read_all(types=["EndpointEnabled"])


# --- the commands as users run them ----------------------------------------------------------


def test_rotate_secret_enable_and_owner_email_from_the_cli(
    in_process_cli: Any, database_url: str
) -> None:
    cli = in_process_cli
    url = "https://hooks.example.org/monitor"
    added = cli(
        "subscriptions",
        "add",
        "--webhook",
        url,
        "--notify-email",
        "Owner@Example.org",
        url=database_url,
    )
    sub, secret = added.stdout.split()
    rotated = cli("subscriptions", "rotate-secret", sub, "--grace", "2h", url=database_url)
    [new] = rotated.stdout.split()
    assert new.startswith("whsec_") and new != secret and "not shown again" in rotated.stderr
    [listed] = json.loads(cli("subscriptions", "list", "--json", url=database_url).stdout)
    assert listed["notify_email"] == "Owner@example.org"
    log = cli("events", "list", "--json", url=database_url).stdout
    assert "WebhookSecretRotated" in log and secret not in log and new not in log

    bad = cli(
        "subscriptions", "rotate-secret", sub, "--grace", "soon", url=database_url, check=False
    )
    assert_one_line_error(bad, "--grace")
    active = cli("subscriptions", "enable", sub, url=database_url, check=False)
    assert_one_line_error(active, "is active")
    since = ("--replay-since", "yesterday")
    bad = cli("subscriptions", "enable", sub, *since, url=database_url, check=False)
    assert_one_line_error(bad, "--replay-since")
    bad = cli(
        "subscriptions",
        "add",
        "--webhook",
        url,
        "--notify-email",
        "x",
        url=database_url,
        check=False,
    )
    assert_one_line_error(bad, "notify_email")
