"""`/subscriptions` and `/deliveries`: create and edit subscriptions with a preview of what
the last 7 days would have matched (the matching code decides), remove them; delivery
history with dead letters and a retry button."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import ImmutableMultiDict
from starlette.responses import Response

from classifiers.labels import STANCES, TOPICS
from monitor.api.deps import AppDep
from monitor.commands import subscriptions as commands
from monitor.delivery.subscriptions import (
    ChannelKind,
    Filters,
    SubscriptionSpec,
    validate_filters,
)
from monitor.errors import InvalidInputError, NotFoundError
from monitor.queries import list_deliveries, list_subscriptions
from monitor.web.forms import attempt, redirect
from monitor.web.reads import preview_matches
from monitor.web.session import AdminDep, AnalystDep
from monitor.web.templating import render

router = APIRouter()
PREVIEW_DAYS = 7
DELIVERY_STATUSES = ("pending", "retrying", "delivered", "dead", "failed")


def filters_from(values: ImmutableMultiDict[str, Any]) -> Filters:
    """The filter fields of the subscription form (query string or POST body), validated."""

    def words(name: str) -> tuple[str, ...]:
        return tuple(w.strip() for w in str(values.get(name) or "").split(",") if w.strip())

    try:
        confidence = float(values.get("min_confidence") or 0)
    except ValueError:
        raise InvalidInputError("min_confidence: expected a number between 0 and 1") from None
    return validate_filters(
        Filters(
            topics=tuple(values.getlist("topics")),
            stances=tuple(values.getlist("stances")),
            actors=words("actors"),
            actors_mode="all" if values.get("actors_mode") == "all" else "any",
            min_confidence=confidence,
            include_keywords=words("include_keywords"),
            exclude_keywords=words("exclude_keywords"),
        )
    )


@router.get("/subscriptions")
def subscriptions_page(
    request: Request, app: AppDep, preview: str = "", edit: str = "", version: str = ""
) -> Response:
    """With `preview`, the form's values (sent by GET) are checked and previewed; with `edit`,
    the form edits that subscription, starting from its current values and carrying the
    stream `version` they were read at (kept across previews, so a concurrent change is
    refused on save instead of overwritten)."""
    app.catch_up()
    subscriptions = list_subscriptions(app.engine)
    form: dict[str, Any] = {"channel": "email", "schedule": "immediate", "timezone": "UTC"}
    matched: list[dict[str, Any]] | None = None
    problem = None
    editing = None
    if edit:
        try:
            current = commands.current_subscription(app, edit)
        except NotFoundError as exc:
            problem = str(exc)
        else:
            editing = next(s for s in subscriptions if s["subscription_id"] == edit)
            form.update(_from_subscription(editing))
            if not (preview and version.isdigit()):
                version = str(current.version)
    if preview:
        form.update(_form_echo(request.query_params))
        try:
            matched = preview_matches(app.engine, filters_from(request.query_params))
        except InvalidInputError as exc:
            problem = str(exc)
    return render(
        request,
        "subscriptions.html",
        title="Subscriptions",
        subscriptions=subscriptions,
        form=form,
        editing=editing,
        version=version,
        matched=matched,
        problem=problem,
        preview_days=PREVIEW_DAYS,
        topics=TOPICS,
        stances=STANCES,
    )


@router.post("/subscriptions")
def create(request: Request, write: AnalystDep) -> Response:
    channel: ChannelKind = "webhook" if write.text("channel") == "webhook" else "email"

    def subscribed() -> commands.Subscribed:
        spec = SubscriptionSpec(
            channel=channel,
            target=write.text("target"),
            filters=filters_from(write.form),
            schedule=write.text("schedule") or "immediate",
            timezone=write.text("timezone") or "UTC",
        )
        notify = write.text("notify_email") if channel == "webhook" else ""
        return commands.subscribe(
            write.app, spec, notify_email=notify or None, created_by=write.actor
        )

    created = attempt(request, "Subscription {result.subscription_id} created.", subscribed)
    write.app.catch_up()
    if created is None or created.secret is None:
        return redirect("/subscriptions")
    return render(request, "secret.html", title="Webhook secret", created=created)


@router.post("/subscriptions/{subscription_id}/edit")
def edit(request: Request, subscription_id: str, write: AnalystDep) -> Response:
    """Save the edit form: new filters, schedule and time zone (the destination stays)."""

    def changed() -> str:
        version = write.text("version")
        if not version.isdigit():
            raise InvalidInputError("version: the form is incomplete; open the edit form again")
        was = commands.current_subscription(write.app, subscription_id).spec
        filters = replace(filters_from(write.form), languages=was.filters.languages)
        spec = replace(
            was,
            filters=filters,
            schedule=write.text("schedule") or was.schedule,
            timezone=write.text("timezone") or was.timezone,
        )
        done = commands.change_subscription(
            write.app, subscription_id, spec, actor=write.actor, expected_version=int(version)
        )
        return "changed" if done else "unchanged: the values are the current ones"

    saved = attempt(request, "Subscription {result}.", changed)
    write.app.catch_up()
    if saved is None:
        return redirect(f"/subscriptions?edit={subscription_id}#subscription-form")
    return redirect("/subscriptions")


@router.post("/subscriptions/{subscription_id}/remove")
def remove(request: Request, subscription_id: str, write: AnalystDep) -> Response:
    attempt(
        request,
        "Subscription removed.",
        lambda: commands.remove_subscription(write.app, subscription_id, removed_by=write.actor),
    )
    write.app.catch_up()
    return redirect("/subscriptions")


@router.get("/deliveries")
def deliveries_page(request: Request, app: AppDep, status: str = "") -> Response:
    app.catch_up()
    chosen = status if status in DELIVERY_STATUSES else None
    return render(
        request,
        "deliveries.html",
        title="Deliveries",
        deliveries=list_deliveries(app.engine, status=chosen),
        statuses=DELIVERY_STATUSES,
        chosen=chosen or "",
    )


@router.post("/deliveries/{delivery_id}/retry")
def retry(request: Request, delivery_id: str, write: AdminDep) -> Response:
    attempt(
        request,
        "Delivery queued for another attempt (same webhook-id).",
        lambda: commands.retry_delivery(write.app, delivery_id, requested_by=write.actor),
    )
    write.app.catch_up()
    return redirect("/deliveries?status=dead")


def _form_echo(values: ImmutableMultiDict[str, Any]) -> dict[str, Any]:
    """What the user typed, to fill the form in again."""
    single = ("channel", "target", "schedule", "timezone", "notify_email", "actors")
    echo: dict[str, Any] = {name: str(values.get(name) or "") for name in single}
    echo.update(
        actors_mode=values.get("actors_mode") or "any",
        min_confidence=values.get("min_confidence") or "",
        include_keywords=values.get("include_keywords") or "",
        exclude_keywords=values.get("exclude_keywords") or "",
        topics=values.getlist("topics"),
        stances=values.getlist("stances"),
    )
    return echo


def _from_subscription(row: dict[str, Any]) -> dict[str, Any]:
    filters = row["filters"] or {}
    return {
        "channel": row["channel"],
        "target": row["target"],
        "schedule": row["schedule"],
        "timezone": row["timezone"],
        "notify_email": row.get("notify_email") or "",
        "actors": ", ".join(filters.get("actors") or ()),
        "actors_mode": filters.get("actors_mode") or "any",
        "min_confidence": filters.get("min_confidence") or "",
        "include_keywords": ", ".join(filters.get("include_keywords") or ()),
        "exclude_keywords": ", ".join(filters.get("exclude_keywords") or ()),
        "topics": list(filters.get("topics") or ()),
        "stances": list(filters.get("stances") or ()),
    }
