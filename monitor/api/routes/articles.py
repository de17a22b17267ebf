"""`/api/articles`: stored articles with their classification, paged by an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from monitor.api.deps import AppDep
from monitor.bootstrap import App
from monitor.errors import InvalidInputError, NotFoundError
from monitor.events import FeedAdded, FeedRemoved
from monitor.queries import article_detail, list_articles

router = APIRouter(prefix="/articles", tags=["articles"])


def encode_cursor(article: dict[str, Any]) -> str:
    """The position after `article`; opaque to clients, so its form may change."""
    raw = json.dumps([article["published_at"], article["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        published, article_id = json.loads(raw)
        moment = datetime.fromisoformat(published)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInputError("cursor: not a cursor given by this API") from None
    if not isinstance(article_id, str):
        raise InvalidInputError("cursor: not a cursor given by this API")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), article_id


@router.get("")
def articles(
    app: AppDep,
    topic: str | None = None,
    stance: Literal["cooperation", "tension", "neutral"] | None = None,
    actor: Annotated[list[str] | None, Query(description="Repeat for all of several.")] = None,
    since: Annotated[datetime | None, Query(description="Published on or after.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the last page.")] = None,
) -> dict[str, Any]:
    """Newest first; follow `next_cursor` until it is null to see every article once. The
    response's `ETag` names its content: with `If-None-Match` it is 304 while unchanged."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    after = decode_cursor(cursor) if cursor else None
    app.catch_up()
    rows = list_articles(
        app.engine,
        topic=topic,
        stance=stance,
        actors=actor or (),
        since=since,
        limit=limit + 1,
        after=after,
    )
    page = rows[:limit]
    more = len(rows) > limit
    return {"articles": page, "next_cursor": encode_cursor(page[-1]) if more else None}


def sources(app: App) -> frozenset[str] | None:
    """The event types that can change a listing (monitor.api.listings): the articles' own,
    and those that add or remove the feed whose name is each article's `source`."""
    handled = app.projection("articles").handles
    return None if handled is None else handled | {FeedAdded.__name__, FeedRemoved.__name__}


@router.get("/{article_id}")
def article(article_id: str, app: AppDep) -> dict[str, Any]:
    """Text, classification, explanation, and the other copies of its story."""
    app.catch_up()
    detail = article_detail(app.engine, article_id)
    if detail is None:
        raise NotFoundError(f"no article with id {article_id}")
    return detail
