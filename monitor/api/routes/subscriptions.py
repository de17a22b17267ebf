"""`/api/subscriptions`: who gets which matched articles, by digest email or signed webhook.

A generated webhook signing secret is in the creation response only; listings mask it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from monitor.api.deps import ActorDep, AppDep
from monitor.commands import subscriptions as commands
from monitor.delivery.subscriptions import Filters, SubscriptionSpec
from monitor.errors import InvalidInputError
from monitor.queries import list_subscriptions

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])
MASKED_SECRET = "whsec_********"  # noqa: S105 (a placeholder shown instead of the secret)
FILTERS = ("topics", "stances", "actors", "min_confidence")


class NewSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, description="Send digests to this address.")
    webhook: str | None = Field(default=None, description="POST each match to this URL.")
    secret: str | None = Field(default=None, description="whsec_...; generated if absent.")
    notify_email: str | None = Field(default=None, description="Told if the endpoint fails.")
    topics: list[str] = Field(default_factory=list, max_length=50)
    stances: list[str] = Field(default_factory=list, max_length=3)
    actors: list[str] = Field(default_factory=list, max_length=100)
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    schedule: str = Field(default="immediate", description="hourly, daily@HH:MM, weekly@...")
    timezone: str = "UTC"


@router.get("")
def subscriptions(app: AppDep) -> list[dict[str, Any]]:
    """Subscriptions with their status and counts; webhook secrets masked."""
    app.catch_up()
    return [_shown(row) for row in list_subscriptions(app.engine)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: NewSubscription, app: AppDep, actor: ActorDep) -> dict[str, Any]:
    """The id, and a generated webhook secret: shown this once, never again."""
    if bool(body.email) == bool(body.webhook):
        raise InvalidInputError("email/webhook: give exactly one of email or webhook")
    spec = SubscriptionSpec(
        channel="email" if body.email else "webhook",
        target=body.email or body.webhook or "",
        filters=Filters(
            topics=tuple(body.topics),
            stances=tuple(body.stances),
            actors=tuple(body.actors),
            min_confidence=body.min_confidence,
        ),
        schedule=body.schedule,
        timezone=body.timezone,
    )
    created = commands.subscribe(
        app, spec, secret=body.secret, notify_email=body.notify_email, created_by=actor
    )
    app.catch_up()
    return {"id": created.subscription_id, "secret": created.secret}


class SubscriptionChanges(BaseModel):
    """Only what is given changes; the address or URL cannot (a new one is a new subscription)."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, description="Refused unless it is the current one.")
    webhook: str | None = Field(default=None, description="Refused unless it is the current one.")
    topics: list[str] | None = Field(default=None, max_length=50)
    stances: list[str] | None = Field(default=None, max_length=3)
    actors: list[str] | None = Field(default=None, max_length=100)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    schedule: str | None = None
    timezone: str | None = None


@router.patch("/{subscription_id}")
def change(
    subscription_id: str, body: SubscriptionChanges, app: AppDep, actor: ActorDep
) -> dict[str, Any]:
    """The subscription as listed after the change (a `SubscriptionChanged` event)."""
    if body.email and body.webhook:
        raise InvalidInputError("email/webhook: give at most one of email or webhook")
    current = commands.current_subscription(app, subscription_id)
    was = current.spec
    given = body.model_dump(exclude_unset=True, exclude_none=True)
    filters: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if k in FILTERS
    }
    spec = replace(
        was,
        channel="email" if body.email else "webhook" if body.webhook else was.channel,
        target=body.email or body.webhook or was.target,
        filters=replace(was.filters, **filters),
        schedule=body.schedule or was.schedule,
        timezone=body.timezone or was.timezone,
    )
    commands.change_subscription(
        app, subscription_id, spec, actor=actor, expected_version=current.version
    )
    app.catch_up()
    row = next(r for r in list_subscriptions(app.engine) if r["subscription_id"] == subscription_id)
    return _shown(row)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove(subscription_id: str, app: AppDep, actor: ActorDep) -> None:
    """Stop a subscription; its history stays in the log."""
    commands.remove_subscription(app, subscription_id, removed_by=actor)
    app.catch_up()


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "secret": MASKED_SECRET if row["channel"] == "webhook" else None}
