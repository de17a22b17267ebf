"""`monitor subscriptions ...`, `monitor digest send`, `monitor deliveries ...`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from monitor import queries
from monitor.cli.context import get_app, print_json, print_table
from monitor.cli.timespec import parse_since, parse_span
from monitor.commands import subscriptions as commands
from monitor.delivery.subscriptions import Filters, SubscriptionSpec
from monitor.errors import InvalidInputError

STATUSES = ("pending", "retrying", "delivered", "dead", "failed")
CLEARABLE = ("topics", "stances", "actors")


@click.group()
def subscriptions() -> None:
    """Who gets which matched articles, by digest email or signed webhook."""


@subscriptions.command("add")
@click.option("--email", help="Send digests to this address.")
@click.option("--webhook", help="POST each match to this URL (Standard Webhooks signed).")
@click.option("--secret", help="The webhook signing secret (whsec_...); generated if absent.")
@click.option("--notify-email", help="Webhook: mail this owner if the endpoint gets disabled.")
@click.option("--topic", "topics", multiple=True, help="Only these topics (repeatable).")
@click.option("--stance", "stances", multiple=True, help="Only these stances (repeatable).")
@click.option("--actor", "actors", multiple=True, help="Only articles naming these actors.")
@click.option("--min-confidence", type=float, default=0.0, show_default=True)
@click.option(
    "--schedule",
    default="immediate",
    show_default=True,
    help="immediate, hourly, daily@HH:MM or weekly@DAY@HH:MM (emails).",
)
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the schedule.")
@click.pass_context
def add(
    ctx: click.Context,
    email: str | None,
    webhook: str | None,
    secret: str | None,
    notify_email: str | None,
    topics: tuple[str, ...],
    stances: tuple[str, ...],
    actors: tuple[str, ...],
    min_confidence: float,
    schedule: str,
    timezone: str,
) -> None:
    """Subscribe; prints the id, and a generated webhook secret once (it is not shown again)."""
    if bool(email) == bool(webhook):
        raise InvalidInputError("email/webhook: give exactly one of --email or --webhook")
    spec = SubscriptionSpec(
        channel="email" if email else "webhook",
        target=email or webhook or "",
        filters=Filters(
            topics=topics, stances=stances, actors=actors, min_confidence=min_confidence
        ),
        schedule=schedule,
        timezone=timezone,
    )
    app = get_app(ctx)
    created = commands.subscribe(app, spec, secret=secret, notify_email=notify_email)
    app.catch_up()
    click.echo(created.subscription_id)
    if created.secret:
        click.echo(created.secret)
        click.echo("Keep this signing secret: it is not shown again.", err=True)


@subscriptions.command("edit")
@click.argument("subscription_id")
@click.option("--topic", "topics", multiple=True, help="Only these topics (repeatable).")
@click.option("--stance", "stances", multiple=True, help="Only these stances (repeatable).")
@click.option("--actor", "actors", multiple=True, help="Only articles naming these actors.")
@click.option(
    "--clear",
    "cleared",
    multiple=True,
    type=click.Choice(CLEARABLE),
    help="Drop this filter, so any value matches (repeatable).",
)
@click.option("--min-confidence", type=float)
@click.option("--schedule", help="immediate, hourly, daily@HH:MM or weekly@DAY@HH:MM (emails).")
@click.option("--timezone", help="IANA zone of the schedule.")
@click.pass_context
def edit(
    ctx: click.Context,
    subscription_id: str,
    topics: tuple[str, ...],
    stances: tuple[str, ...],
    actors: tuple[str, ...],
    cleared: tuple[str, ...],
    min_confidence: float | None,
    schedule: str | None,
    timezone: str | None,
) -> None:
    """Change filters or schedule; options not given keep their current value.

    The address or URL cannot change: add a new subscription for a new one."""
    app = get_app(ctx)
    current = commands.current_subscription(app, subscription_id)
    was = current.spec
    given = {"topics": topics, "stances": stances, "actors": actors}
    for name in cleared:
        if given[name]:
            raise InvalidInputError(f"{name}: give values or --clear {name}, not both")
    updates: dict[str, Any] = {name: values for name, values in given.items() if values}
    updates.update(dict.fromkeys(cleared, ()))
    if min_confidence is not None:
        updates["min_confidence"] = min_confidence
    spec = replace(
        was,
        filters=replace(was.filters, **updates),
        schedule=schedule or was.schedule,
        timezone=timezone or was.timezone,
    )
    changed = commands.change_subscription(
        app, subscription_id, spec, expected_version=current.version
    )
    app.catch_up()
    click.echo("changed" if changed else "unchanged: the values given are the current ones")


@subscriptions.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.pass_context
def list_subscriptions(ctx: click.Context, as_json: bool) -> None:
    """Subscriptions with their status (and why an endpoint is disabled)."""
    app = get_app(ctx)
    app.catch_up()
    listed = queries.list_subscriptions(app.engine)
    if as_json:
        print_json(listed)
        return
    print_table(
        ["ID", "CHANNEL", "STATUS", "SCHEDULE", "MATCHED", "DELIVERED", "TARGET", "REASON"],
        [
            [
                r["subscription_id"],
                r["channel"],
                r["status"],
                r["schedule"],
                r["matched"],
                r["delivered"],
                r["target"],
                r["status_reason"] or "",
            ]
            for r in listed
        ],
    )


@subscriptions.command("remove")
@click.argument("subscription_id")
@click.pass_context
def remove(ctx: click.Context, subscription_id: str) -> None:
    """Stop a subscription (its history stays in the log)."""
    app = get_app(ctx)
    commands.remove_subscription(app, subscription_id)
    app.catch_up()


@subscriptions.command("rotate-secret")
@click.argument("subscription_id")
@click.option(
    "--grace", default="24h", show_default=True, help="How long the old secret signs too."
)
@click.pass_context
def rotate_secret(ctx: click.Context, subscription_id: str, grace: str) -> None:
    """Give a webhook a new signing secret; prints it once (it is not shown again)."""
    app = get_app(ctx)
    secret = commands.rotate_secret(app, subscription_id, grace=parse_span("--grace", grace))
    app.catch_up()
    click.echo(secret)
    click.echo("Keep this signing secret: it is not shown again.", err=True)


@subscriptions.command("enable")
@click.argument("subscription_id")
@click.option("--replay-since", help="Resend what failed or waited since DATE or a span (7d).")
@click.pass_context
def enable(ctx: click.Context, subscription_id: str, replay_since: str | None) -> None:
    """Re-enable a disabled webhook endpoint, optionally resending what it missed."""
    app = get_app(ctx)
    since = parse_since("--replay-since", replay_since) if replay_since else None
    queued = commands.enable_endpoint(app, subscription_id, replay_since=since)
    report = commands.deliver_due(app)
    app.catch_up()
    click.echo(f"{queued} deliveries re-queued, {report.webhook_attempts} attempts made", err=True)


@click.group()
def digest() -> None:
    """Digest emails."""


@digest.command("send")
@click.option("--subscription", "subscription_id", help="Only this subscription.")
@click.option("--now", "now", is_flag=True, help="Send what is waiting, regardless of schedule.")
@click.pass_context
def send(ctx: click.Context, subscription_id: str | None, now: bool) -> None:
    """Send the digests that are due (and retry those whose retry time has come)."""
    app = get_app(ctx)
    report = commands.deliver_due(app, subscription_id=subscription_id, digests_now=now)
    app.catch_up()
    click.echo(f"sent {report.digests_sent} digests", err=True)


@click.group()
def deliveries() -> None:
    """Delivery attempts, dead letters, manual redelivery."""


@deliveries.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(1, 10000), default=200, show_default=True)
@click.pass_context
def list_deliveries(ctx: click.Context, as_json: bool, status: str | None, limit: int) -> None:
    """Newest first."""
    app = get_app(ctx)
    app.catch_up()
    listed = queries.list_deliveries(app.engine, status=status, limit=limit)
    if as_json:
        print_json(listed)
        return
    print_table(
        ["ID", "CHANNEL", "STATUS", "ATTEMPTS", "ARTICLE", "SUBSCRIPTION", "LAST ERROR"],
        [
            [
                r["delivery_id"],
                r["channel"],
                r["status"],
                r["attempts"],
                r["article_id"],
                r["subscription_id"],
                (r["last_error"] or "")[:60],
            ]
            for r in listed
        ],
    )


@deliveries.command("retry")
@click.argument("delivery_id")
@click.pass_context
def retry(ctx: click.Context, delivery_id: str) -> None:
    """Send a webhook delivery again now, with its original webhook-id."""
    app = get_app(ctx)
    commands.retry_delivery(app, delivery_id)
    report = commands.deliver_due(app)
    app.catch_up()
    click.echo(f"{report.webhook_attempts} attempts made", err=True)
