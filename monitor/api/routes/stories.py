"""`/api/stories`: copies of one story from several outlets, clustered by the pipeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from monitor.api.deps import AppDep
from monitor.bootstrap import App
from monitor.errors import NotFoundError
from monitor.queries import list_stories, story_articles

router = APIRouter(prefix="/stories", tags=["stories"])


@router.get("")
def stories(app: AppDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """One row per story with its outlet count, newest first."""
    app.catch_up()
    return list_stories(app.engine, limit=limit)


def sources(app: App) -> frozenset[str] | None:
    """The event types that can change the listing (monitor.api.listings)."""
    return app.projection("articles").handles


@router.get("/{story_id}")
def story(story_id: str, app: AppDep) -> dict[str, Any]:
    app.catch_up()
    articles = story_articles(app.engine, story_id)
    if not articles:
        raise NotFoundError(f"no story with id {story_id}")
    return {
        "id": story_id,
        "outlets": len({a["feed_id"] for a in articles}),
        "articles": articles,
    }
