"""Read-side queries over the read models, shared by the CLI and the HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, distinct, func, or_, select

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
    after: tuple[datetime, str] | None = None,
) -> list[dict[str, Any]]:
    """Newest first (ties by id, descending). A stance filter means relevant articles with
    that stance (an irrelevant article's stance is always neutral); several actors must all
    be parties. `after` is the (published_at, id) of the last article of a previous page: a
    keyset, so a page never repeats or skips an article when new ones arrive meanwhile.

    Filters are tags (`article_tags`): the listing walks the rarest one's entries newest
    first and checks the others by primary key, so it reads about as many entries as it
    skips, not every article."""
    a = db.articles
    tags = [f"actor:{actor.upper()}" for actor in actors] + [f"topic:{topic}"] * bool(topic)
    tags += [f"stance:{stance}"] * bool(stance)
    columns = (*(a.c[name] for name in ARTICLE_COLUMNS), db.feeds.c.name)
    with reading(engine) as conn:
        if tags:
            rarest = _rarest(conn, tags)
            lead = db.article_tags.alias("lead")
            published, article_id = lead.c.published_at, lead.c.article_id
            query: Select[Any] = (
                select(*columns)
                .select_from(lead.join(a, a.c.article_id == article_id))
                .where(lead.c.tag == rarest)
            )
            t = db.article_tags
            for tag in (tag for tag in tags if tag != rarest):
                # A per-row lookup of the key (SQLite answers it from the primary key index),
                # not EXISTS: PostgreSQL turns EXISTS into a join and, without statistics,
                # joined every article of the lead tag and sorted them (150 ms, not 8).
                other = select(t.c.tag).where(t.c.tag == tag, t.c.article_id == article_id)
                query = query.where(other.scalar_subquery().is_not(None))
        else:
            published, article_id = a.c.published_at, a.c.article_id
            query = select(*columns)
        query = query.outerjoin(db.feeds, db.feeds.c.feed_id == a.c.feed_id)
        if since:
            query = query.where(published >= since)
        if after:
            query = query.where(
                or_(published < after[0], and_(published == after[0], article_id < after[1]))
            )
        query = query.order_by(published.desc(), article_id.desc()).limit(limit)
        return [_article(row._mapping) for row in conn.execute(query)]


RAREST_PROBE = 500  # entries counted per tag at most: enough to tell a rare one


def _rarest(conn: Connection, tags: Sequence[str]) -> str:
    """The tag with the fewest articles (counted up to `RAREST_PROBE`; ties go to the first,
    actors before topics before stances): the walk that skips the fewest entries."""
    if len(tags) == 1:
        return tags[0]
    t = db.article_tags
    counts = conn.execute(
        select(
            *(
                select(func.count())
                .select_from(
                    select(t.c.article_id)
                    .where(t.c.tag == tag)
                    .order_by(t.c.published_at.desc())  # the tag's index, not a table scan
                    .limit(RAREST_PROBE)
                    .subquery()
                )
                .scalar_subquery()
                for tag in tags
            )
        )
    ).one()
    return min(zip(tags, counts, strict=True), key=lambda pair: pair[1])[0]


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


def list_stories(engine: Engine, *, limit: int = 50) -> list[dict[str, Any]]:
    """One row per story, newest first: how many articles and outlets carry it, and the
    title of its first article (the headline it started with)."""
    a = db.articles
    latest = func.max(a.c.published_at).label("latest")
    grouped = (
        select(
            a.c.story_id,
            func.count().label("articles"),
            func.count(distinct(a.c.feed_id)).label("outlets"),
            func.min(a.c.published_at).label("first"),
            latest,
        )
        .where(a.c.story_id.is_not(None))
        .group_by(a.c.story_id)
        .order_by(latest.desc(), a.c.story_id)
        .limit(limit)
    )
    with reading(engine) as conn:
        stories = conn.execute(grouped).all()
        headlines: dict[str, str] = {}
        for story_id, title in conn.execute(
            select(a.c.story_id, a.c.title)
            .where(a.c.story_id.in_([row.story_id for row in stories]))
            .order_by(a.c.published_at.desc(), a.c.article_id.desc())
        ):
            headlines[story_id] = title  # oldest last: it wins
    return [
        {
            "id": row.story_id,
            "title": headlines.get(row.story_id),
            "articles": row.articles,
            "outlets": row.outlets,
            "first_published_at": row.first.isoformat(),
            "latest_published_at": row.latest.isoformat(),
        }
        for row in stories
    ]


def story_articles(engine: Engine, story_id: str) -> list[dict[str, Any]]:
    """The articles of one story, oldest first (empty for an unknown story)."""
    a = db.articles
    query: Select[Any] = select(*(a.c[name] for name in ARTICLE_COLUMNS), db.feeds.c.name)
    query = query.outerjoin(db.feeds, db.feeds.c.feed_id == a.c.feed_id)
    query = query.where(a.c.story_id == story_id).order_by(a.c.published_at, a.c.article_id)
    with reading(engine) as conn:
        return [_article(row._mapping) for row in conn.execute(query)]


def list_feeds(engine: Engine) -> list[dict[str, Any]]:
    """Every feed with its health, in the order they were added."""
    return _plain_rows(engine, select(db.feeds).order_by(db.feeds.c.added_at))


def list_subscriptions(engine: Engine) -> list[dict[str, Any]]:
    """The subscriptions read model (it never holds a webhook secret)."""
    s = db.subscriptions
    return _plain_rows(engine, select(s).order_by(s.c.created_at, s.c.subscription_id))


def list_deliveries(
    engine: Engine, *, status: str | None = None, article_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Delivery attempts and dead letters, newest first (of one article, with `article_id`)."""
    d = db.deliveries
    query = select(d).order_by(d.c.matched_at.desc(), d.c.delivery_id).limit(limit)
    if status:
        query = query.where(d.c.status == status)
    if article_id:
        query = query.where(d.c.article_id == article_id)
    return _plain_rows(engine, query)


def list_models(engine: Engine) -> list[dict[str, Any]]:
    """Registered model versions, newest first, with their metrics."""
    return _plain_rows(engine, select(db.models).order_by(db.models.c.trained_at.desc()))


def list_labels(engine: Engine, *, limit: int = 200) -> list[dict[str, Any]]:
    """Analysts' labels, newest first (retracted ones carry `retracted_at`)."""
    query = select(db.labels).order_by(db.labels.c.added_at.desc(), db.labels.c.label_id)
    return _plain_rows(engine, query.limit(limit))


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    """API tokens by name with role and history; their digests are not shown."""
    t = db.api_tokens
    shown = [column for column in t.c if column.name != "token_sha256"]
    return _plain_rows(engine, select(*shown).order_by(t.c.name))


def _plain_rows(engine: Engine, query: Select[Any]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (datetimes in ISO 8601)."""
    with reading(engine) as conn:
        return [
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            for row in conn.execute(query).mappings()
        ]
