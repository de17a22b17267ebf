"""`/api/subscriptions`: who gets which matched articles, by digest email or signed webhook.

A generated webhook signing secret is in the creation response only; listings mask it.
"""

from __future__ import annotations

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
    return [
        {**row, "secret": MASKED_SECRET if row["channel"] == "webhook" else None}
        for row in list_subscriptions(app.engine)
    ]


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


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove(subscription_id: str, app: AppDep, actor: ActorDep) -> None:
    """Stop a subscription; its history stays in the log."""
    commands.remove_subscription(app, subscription_id, removed_by=actor)
    app.catch_up()
