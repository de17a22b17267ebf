"""`/api/feeds`: the feeds registry with each feed's health; OPML in and out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from monitor.api.deps import ActorDep, AppDep
from monitor.commands import feeds as commands
from monitor.errors import InvalidInputError
from monitor.model import DEFAULT_FEED_INTERVAL, parse_interval
from monitor.queries import list_feeds

router = APIRouter(prefix="/feeds", tags=["feeds"])
DEFAULT_INTERVAL = f"{DEFAULT_FEED_INTERVAL // 60}m"


class NewFeed(BaseModel):
    url: str = Field(min_length=1, max_length=2000)
    name: str | None = Field(default=None, max_length=500)
    interval: str = Field(default=DEFAULT_INTERVAL, description="90s, 15m, 1h...")
    categories: list[str] = Field(default_factory=list, max_length=20)


def _seconds(interval: str) -> int:
    try:
        return parse_interval(interval)
    except ValueError as exc:
        raise InvalidInputError(f"interval: {exc}") from None


@router.get("")
def feeds(app: AppDep) -> list[dict[str, Any]]:
    """Every feed with its health: last poll, last status, consecutive errors, next check."""
    app.catch_up()
    return list_feeds(app.engine)


@router.post("", status_code=status.HTTP_201_CREATED)
def add(body: NewFeed, app: AppDep, actor: ActorDep) -> dict[str, str]:
    feed_id = commands.add_feed(
        app,
        body.url,
        name=body.name,
        interval_seconds=_seconds(body.interval),
        categories=body.categories,
        actor=actor,
    )
    app.catch_up()
    return {"id": feed_id}


@router.post("/{feed_id}/pause", status_code=status.HTTP_204_NO_CONTENT)
def pause(feed_id: str, app: AppDep, actor: ActorDep) -> None:
    commands.pause_feed(app, feed_id, actor=actor)
    app.catch_up()


@router.post("/{feed_id}/resume", status_code=status.HTTP_204_NO_CONTENT)
def resume(feed_id: str, app: AppDep, actor: ActorDep) -> None:
    commands.resume_feed(app, feed_id, actor=actor)
    app.catch_up()


@router.delete("/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove(feed_id: str, app: AppDep, actor: ActorDep) -> None:
    """The feed stops being polled; its history stays in the log."""
    commands.remove_feed(app, feed_id, actor=actor)
    app.catch_up()


@router.get("/opml", response_class=Response)
def export_opml(app: AppDep) -> Response:
    return Response(commands.export_feeds_opml(app), media_type="text/x-opml+xml")


@router.post("/opml", openapi_extra={"requestBody": {"content": {"text/x-opml+xml": {}}}})
async def import_opml(
    request: Request,
    app: AppDep,
    actor: ActorDep,
    interval: Annotated[str, Query()] = DEFAULT_INTERVAL,
) -> dict[str, Any]:
    """Register every feed of an OPML 2.0 document sent as the raw body."""
    seconds = _seconds(interval)
    report = await run_in_threadpool(
        commands.import_opml, app, await request.body(), interval_seconds=seconds, actor=actor
    )
    await run_in_threadpool(app.catch_up)
    return {"added": report.added, "skipped": report.skipped}
