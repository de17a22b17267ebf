"""Read-side queries over the read models, shared by the CLI and the HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, and_, exists, select

from monitor import db
from monitor.engine import reading

ARTICLE_COLUMNS = (
    "article_id",
    "feed_id",
    "url",
    "title",
    "published_at",
    "language",
    "stage",
    "story_id",
    "relevant",
    "relevance",
    "stance",
    "stance_score",
    "confidence",
    "actors",
    "topics",
    "model_version",
)


def list_articles(
    engine: Engine,
    *,
    topic: str | None = None,
    stance: str | None = None,
    actors: Sequence[str] = (),
    since: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest first. A stance filter means relevant articles with that stance (an irrelevant
    article's stance is always neutral); several actors must all be parties."""
    a = db.articles
    query: Select[Any] = select(*(a.c[name] for name in ARTICLE_COLUMNS), db.feeds.c.name)
    query = query.outerjoin(db.feeds, db.feeds.c.feed_id == a.c.feed_id)
    if stance:
        query = query.where(a.c.stance == stance, a.c.relevant.is_(True))
    if since:
        query = query.where(a.c.published_at >= since)
    tags = ([f"topic:{topic}"] if topic else []) + [f"actor:{actor.upper()}" for actor in actors]
    for tag in tags:
        query = query.where(
            exists().where(
                and_(db.article_tags.c.tag == tag, db.article_tags.c.article_id == a.c.article_id)
            )
        )
    query = query.order_by(a.c.published_at.desc(), a.c.article_id).limit(limit)
    with reading(engine) as conn:
        return [_article(row._mapping) for row in conn.execute(query)]


def article_detail(engine: Engine, article_id: str) -> dict[str, Any] | None:
    """Everything about one article, with the other copies of its story."""
    with reading(engine) as conn:
        row = conn.execute(
            select(db.articles, db.feeds.c.name)
            .outerjoin(db.feeds, db.feeds.c.feed_id == db.articles.c.feed_id)
            .where(db.articles.c.article_id == article_id)
        ).first()
        if row is None:
            return None
        detail = _article(row._mapping)
        values = row._mapping
        detail.update(
            summary=values["summary"],
            author=values["author"],
            text=values["text"],
            text_source=values["text_source"],
            site_name=values["site_name"],
            extraction_error=values["extraction_error"],
            topic_scores=values["topic_scores"] or {},
            stance_scores=values["stance_scores"] or {},
            explanation=values["explanation"] or {},
            discovered_at=values["discovered_at"].isoformat(),
        )
        story_id = values["story_id"]
        others = []
        if story_id:
            others = [
                {"id": r.article_id, "title": r.title, "url": r.url, "feed_id": r.feed_id}
                for r in conn.execute(
                    select(
                        db.articles.c.article_id,
                        db.articles.c.title,
                        db.articles.c.url,
                        db.articles.c.feed_id,
                    )
                    .where(
                        db.articles.c.story_id == story_id, db.articles.c.article_id != article_id
                    )
                    .order_by(db.articles.c.published_at)
                )
            ]
        detail["story"] = {"id": story_id, "articles": others} if story_id else None
    return detail


def _article(values: Any) -> dict[str, Any]:
    return {
        "id": values["article_id"],
        "feed_id": values["feed_id"],
        "source": values["name"],
        "url": values["url"],
        "title": values["title"],
        "published_at": values["published_at"].isoformat(),
        "language": values["language"],
        "stage": values["stage"],
        "story_id": values["story_id"],
        "relevant": values["relevant"],
        "relevance": values["relevance"],
        "stance": values["stance"],
        "stance_score": values["stance_score"],
        "confidence": values["confidence"],
        "actors": values["actors"] or [],
        "topics": values["topics"] or [],
        "model_version": values["model_version"],
    }
