"""Subscription and delivery use cases, shared by the CLI and the HTTP API.

Each change is an event. The command-side row in `subscription_targets` is written in the
transaction that appends the event, and is the only place a webhook secret is kept (events
are listed by `monitor events list`, so they never carry one).

Unsubscribe tokens are ``<subscription id>.<HMAC-SHA256 of the id>`` (base64url): nothing
to store, and a tampered token fails the constant-time comparison. The key is
MONITOR_UNSUBSCRIBE_KEY, or else 32 random bytes kept in ``<data dir>/unsubscribe.key``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from monitor import db
from monitor.bootstrap import App, ssrf_policy
from monitor.config import Settings
from monitor.delivery.subscriptions import (
    Filters,
    SubscriptionSpec,
    generate_secret,
    validate,
    validate_email_address,
)
from monitor.delivery.subscriptions import validate_secret as checked_secret
from monitor.delivery.webhook import ROTATION_GRACE
from monitor.errors import InvalidInputError, NotFoundError
from monitor.eventlog import new_id, utcnow
from monitor.events import (
    DeliveryRetryRequested,
    EndpointEnabled,
    Event,
    SubscriptionChanged,
    SubscriptionCreated,
    SubscriptionRemoved,
    SubscriptionUnsubscribed,
    WebhookSecretRotated,
)
from monitor.streams import delivery_stream, subscription_stream

ENDED = ("removed", "unsubscribed")
KEY_FILE = "unsubscribe.key"
MAX_GRACE = timedelta(days=30)
REPLAYED = ("pending", "dead")  # outbox states a replay re-queues (retrying ones are pending)


@dataclass(frozen=True)
class Subscribed:
    subscription_id: str
    secret: str | None  # a generated webhook secret, shown once; None if the caller gave one


def subscribe(
    app: App,
    spec: SubscriptionSpec,
    *,
    secret: str | None = None,
    notify_email: str | None = None,
    created_by: str = "cli",
) -> Subscribed:
    """Validate and record a subscription; a webhook without a secret gets a new one.

    `notify_email` (webhooks only) is told by mail when the endpoint gets disabled."""
    spec = validate(spec, ssrf_policy(app.settings))
    generated = None
    if notify_email is not None:
        if spec.channel != "webhook":
            raise InvalidInputError("notify_email: only webhook subscriptions have an owner email")
        try:
            notify_email = validate_email_address(notify_email)
        except InvalidInputError as exc:
            raise InvalidInputError(f"notify_email: {str(exc).removeprefix('email: ')}") from None
    if spec.channel == "webhook":
        if secret is None:
            secret = generated = generate_secret()
        else:
            secret = checked_secret(secret)
    elif secret is not None:
        raise InvalidInputError("secret: only webhook subscriptions have a signing secret")
    subscription_id = new_id()
    evt = SubscriptionCreated(
        subscription_id,
        spec.channel,
        spec.target,
        spec.filters.to_dict(),
        spec.schedule,
        spec.timezone,
        created_by,
        notify_email,
    )
    with app.engine.begin() as conn:
        result = app.log.append(subscription_stream(subscription_id), 0, [evt], conn=conn)
        conn.execute(
            db.subscription_targets.insert().values(
                subscription_id=subscription_id,
                channel=spec.channel,
                target=spec.target,
                filters=spec.filters.to_dict(),
                schedule=spec.schedule,
                timezone=spec.timezone,
                status="active",
                secret=secret,
                notify_email=notify_email,
                created_at=utcnow(),
                created_position=result.positions[0],
            )
        )
    return Subscribed(subscription_id, generated)


@dataclass(frozen=True)
class CurrentSubscription:
    """What an edit starts from: the spec as it stands and the stream version it was read at."""

    spec: SubscriptionSpec
    version: int


def current_subscription(app: App, subscription_id: str) -> CurrentSubscription:
    """The subscription's spec and version; `NotFoundError` for unknown and ended ones."""
    targets = db.subscription_targets
    with app.engine.connect() as conn:
        row = conn.execute(
            select(targets).where(targets.c.subscription_id == subscription_id)
        ).first()
        if row is None or row.status in ENDED:
            raise NotFoundError(f"no subscription with id {subscription_id}")
        version = app.log.stream_version(subscription_stream(subscription_id), conn=conn)
    spec = SubscriptionSpec(
        row.channel, row.target, Filters.from_dict(row.filters), row.schedule, row.timezone
    )
    return CurrentSubscription(spec, version)


def change_subscription(
    app: App,
    subscription_id: str,
    spec: SubscriptionSpec,
    *,
    actor: str = "cli",
    expected_version: int | None = None,
) -> bool:
    """Record new filters, schedule and time zone; False when they are the current ones.

    Validated as `subscribe` validates. The channel and its address or URL cannot change
    (refused naming the field): a new destination is a new subscription. `expected_version`
    is the stream version the caller's edit was based on (`current_subscription`); without
    it, the version read here under the row lock. Matches already recorded stay as they are;
    articles classified from now on are matched with the new filters."""
    targets = db.subscription_targets
    stream = subscription_stream(subscription_id)
    with app.engine.begin() as conn:
        row = conn.execute(
            select(targets).where(targets.c.subscription_id == subscription_id).with_for_update()
        ).first()
        if row is None or row.status in ENDED:
            raise NotFoundError(f"no subscription with id {subscription_id}")
        if spec.channel != row.channel:
            raise InvalidInputError(
                f"{spec.channel}: this is an {row.channel} subscription and its channel cannot "
                "be changed; create a new subscription instead"
            )
        spec = validate(spec, ssrf_policy(app.settings))
        if spec.target != row.target:
            what = "address" if row.channel == "email" else "URL"
            raise InvalidInputError(
                f"{row.channel}: the {what} of a subscription cannot be changed; "
                "create a new subscription for the new one"
            )
        before = (Filters.from_dict(row.filters), row.schedule, row.timezone)
        if (spec.filters, spec.schedule, spec.timezone) == before:
            return False
        version = app.log.stream_version(stream, conn=conn)
        evt = SubscriptionChanged(
            subscription_id,
            spec.filters.to_dict(),
            spec.schedule,
            spec.timezone,
            actor,
        )
        app.log.append(
            stream,
            version if expected_version is None else expected_version,
            [evt],
            metadata={"actor": actor},
            conn=conn,
        )
        conn.execute(
            update(targets)
            .where(targets.c.subscription_id == subscription_id)
            .values(filters=evt.filters, schedule=spec.schedule, timezone=spec.timezone)
        )
    return True


def remove_subscription(app: App, subscription_id: str, *, removed_by: str = "cli") -> None:
    def removed(status: str) -> tuple[Event, str]:
        if status in ENDED:
            raise NotFoundError(f"no subscription with id {subscription_id}")
        return SubscriptionRemoved(subscription_id, removed_by), "removed"

    if not _end(app, subscription_id, removed):
        raise NotFoundError(f"no subscription with id {subscription_id}")


def unsubscribe(app: App, token: str) -> bool:
    """One-click unsubscribe; False when it had been done already (the state is unchanged)."""
    subscription_id = verify_token(app.settings, token)
    changed = False

    def unsubscribed(status: str) -> tuple[Event, str] | None:
        nonlocal changed
        if status in ENDED:
            return None
        changed = True
        return SubscriptionUnsubscribed(subscription_id), "unsubscribed"

    if not _end(app, subscription_id, unsubscribed):
        raise NotFoundError("unknown unsubscribe link")
    return changed


def _end(app: App, subscription_id: str, decide: Callable[[str], tuple[Event, str] | None]) -> bool:
    """Apply `decide(status)` to the subscription under a row lock; False if it is unknown."""
    targets = db.subscription_targets
    with app.engine.begin() as conn:
        status = conn.execute(
            select(targets.c.status)
            .where(targets.c.subscription_id == subscription_id)
            .with_for_update()
        ).scalar_one_or_none()
        if status is None:
            return False
        decision = decide(status)
        if decision is None:
            return True
        evt, new_status = decision
        result = app.log.append(subscription_stream(subscription_id), None, [evt], conn=conn)
        _set_status(conn, subscription_id, new_status, None, ended_position=result.positions[0])
    return True


def _set_status(
    conn: Connection, subscription_id: str, status: str, reason: str | None, **values: object
) -> None:
    conn.execute(
        update(db.subscription_targets)
        .where(db.subscription_targets.c.subscription_id == subscription_id)
        .values(status=status, status_reason=reason, **values)
    )


def retry_delivery(
    app: App, delivery_id: str, *, requested_by: str = "cli", now: datetime | None = None
) -> None:
    """Queue a webhook delivery for one more attempt at once, with its original webhook-id.

    It is attempted even when the endpoint is disabled: a manual retry is how an operator
    checks that a repaired endpoint works."""
    outbox = db.delivery_outbox
    with app.engine.begin() as conn:
        row = conn.execute(
            select(outbox.c.channel).where(outbox.c.delivery_id == delivery_id).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"no delivery with id {delivery_id}")
        if row.channel != "webhook":
            raise InvalidInputError(
                "delivery: only webhook deliveries can be retried; digests retry by themselves"
            )
        app.log.append(
            delivery_stream(delivery_id),
            None,
            [DeliveryRetryRequested(delivery_id, requested_by)],
            conn=conn,
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.delivery_id == delivery_id)
            .values(
                status="manual", next_attempt_at=now or utcnow(), lease_owner=None, lease_until=None
            )
        )


def rotate_secret(
    app: App,
    subscription_id: str,
    *,
    grace: timedelta = ROTATION_GRACE,
    rotated_by: str = "cli",
    now: datetime | None = None,
) -> str:
    """A new signing secret for a webhook, returned once (case 5).

    Until `grace` has passed, deliveries carry a `v1` signature with each secret, so a
    receiver still holding the old one verifies; the event records only the grace end.
    Rotating again within the grace forgets the oldest secret."""
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise InvalidInputError(f"grace: must be between 0 and {MAX_GRACE.days} days")
    now = now or utcnow()
    secret = generate_secret()
    with app.engine.begin() as conn:
        target = _webhook_target(conn, subscription_id)
        until = now + grace
        app.log.append(
            subscription_stream(subscription_id),
            None,
            [WebhookSecretRotated(subscription_id, until, rotated_by)],
            conn=conn,
        )
        conn.execute(
            update(db.subscription_targets)
            .where(db.subscription_targets.c.subscription_id == subscription_id)
            .values(
                secret=secret,
                previous_secret=target.secret if grace else None,
                secret_rotated_at=now,
                previous_secret_until=until,
            )
        )
    return secret


def enable_endpoint(
    app: App,
    subscription_id: str,
    *,
    replay_since: datetime | None = None,
    enabled_by: str = "cli",
    now: datetime | None = None,
) -> int:
    """Re-enable a disabled webhook endpoint; returns how many deliveries were re-queued.

    Its pending deliveries resume on their schedule. With `replay_since`, every delivery
    matched since then that is pending or dead-lettered is queued at once, with its original
    webhook-id (case 12); one that fails again follows the rest of its retry schedule, or
    goes back to the dead letter if it had none left."""
    now = now or utcnow()
    o = db.delivery_outbox
    with app.engine.begin() as conn:
        target = _webhook_target(conn, subscription_id)
        if target.status != "disabled":
            raise InvalidInputError(f"subscription: {subscription_id} is {target.status}")
        ids: list[str] = []
        if replay_since is not None:
            free = o.c.lease_until.is_(None) | (o.c.lease_until < now)
            ids = list(
                conn.execute(
                    select(o.c.delivery_id)
                    .where(
                        o.c.subscription_id == subscription_id,
                        o.c.channel == "webhook",
                        o.c.status.in_(REPLAYED),
                        o.c.matched_at >= replay_since,
                        free,
                    )
                    .order_by(o.c.matched_at, o.c.delivery_id)
                    .with_for_update()
                ).scalars()
            )
        evt = EndpointEnabled(subscription_id, enabled_by, replay_since, tuple(ids))
        app.log.append(subscription_stream(subscription_id), None, [evt], conn=conn)
        if ids:
            conn.execute(
                update(o)
                .where(o.c.delivery_id.in_(ids))
                .values(status="pending", next_attempt_at=now, lease_owner=None, lease_until=None)
            )
        _set_status(
            conn,
            subscription_id,
            "active",
            None,
            failing_since=None,
            disabled_at=None,
            notice_key=None,
            notice_due=None,
        )
    return len(ids)


def _webhook_target(conn: Connection, subscription_id: str) -> Any:
    """The webhook's command-side row, locked; refuses unknown, ended and email ones."""
    targets = db.subscription_targets
    target = conn.execute(
        select(targets).where(targets.c.subscription_id == subscription_id).with_for_update()
    ).first()
    if target is None or target.status in ENDED:
        raise NotFoundError(f"no subscription with id {subscription_id}")
    if target.channel != "webhook":
        raise InvalidInputError("subscription: only webhook subscriptions have an endpoint")
    return target


# --- unsubscribe tokens ---------------------------------------------------------------------


def unsubscribe_token(settings: Settings, subscription_id: str) -> str:
    return f"{subscription_id}.{_mac(settings, subscription_id)}"


def verify_token(settings: Settings, token: str) -> str:
    """The subscription id of a genuine token; `InvalidInputError` for anything else."""
    subscription_id, _, mac = token.partition(".")
    if not subscription_id or not mac or len(token) > 200:
        raise InvalidInputError("token: not an unsubscribe link")
    if not hmac.compare_digest(mac.encode(), _mac(settings, subscription_id).encode()):
        raise InvalidInputError("token: not an unsubscribe link")
    return subscription_id


def _mac(settings: Settings, subscription_id: str) -> str:
    digest = hmac.new(
        _key(settings), f"unsubscribe\x1f{subscription_id}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _key(settings: Settings) -> bytes:
    if settings.unsubscribe_key is not None:
        return settings.unsubscribe_key.get_secret_value().encode()
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes creating it together keep the first one's key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
    key = path.read_bytes()
    if len(key) < 32:
        raise InvalidInputError(f"{path}: the unsubscribe key file is damaged (too short)")
    return key


@dataclass(frozen=True)
class DeliveryReport:
    digests_sent: int
    webhook_attempts: int


def deliver_due(
    app: App,
    *,
    subscription_id: str | None = None,
    digests_now: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Send every due digest and webhook (the end of `monitor poll`, and the service loop).

    The workers are imported here because they build on this module (unsubscribe links)."""
    from monitor.stages.digests import DigestWorker
    from monitor.stages.webhooks import WebhookWorker

    sent = DigestWorker(app, clock=clock).run_due(subscription_id=subscription_id, now=digests_now)
    attempts = 0 if subscription_id else WebhookWorker(app, clock=clock).run_due()
    return DeliveryReport(sent, attempts)
