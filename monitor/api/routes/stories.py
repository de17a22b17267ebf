"""`/api/stories`: copies of one story from several outlets, clustered by the pipeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from monitor.api.deps import AppDep, ListingsDep
from monitor.errors import NotFoundError
from monitor.queries import list_stories, story_articles

router = APIRouter(prefix="/stories", tags=["stories"])


@router.get("", response_model=None, responses={200: {"description": "A list of stories."}})
def stories(
    request: Request,
    app: AppDep,
    listings: ListingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """One row per story with its outlet count, newest first (with an `ETag`, as articles)."""
    sources = app.projection("articles").handles
    return listings.respond(
        request, ("stories", limit), sources, lambda: list_stories(app.engine, limit=limit)
    )


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
