"""Classified articles for the delivery tests, appended straight to the log.

Classification is not under test here: the events the pipeline would have recorded are
appended directly, then only the matching stage and the projections run (`settle`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor.bootstrap import App
from monitor.eventlog import new_id
from monitor.events import (
    ArticleClassified,
    ArticleDiscovered,
    ArticleExtracted,
    Event,
    StoryAssigned,
)
from monitor.stages.matching import MatchingStage
from monitor.streams import article_stream

WHEN = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def classified(
    app: App,
    *,
    title: str = "Ankara and Washington sign an F-16 deal",
    story_id: str | None = None,
    stance: str = "cooperation",
    topics: tuple[str, ...] = ("defense_industry",),
    relevant: bool = True,
    article_id: str | None = None,
    published_at: datetime = WHEN,
    discovered: bool = True,
) -> str:
    """Append an article's events (or only a re-score when `discovered` is False)."""
    article_id = article_id or new_id()
    events: list[Event] = []
    if discovered:
        events += [
            ArticleDiscovered(
                article_id,
                "feed-1",
                f"https://news.example/{article_id}",
                None,
                title,
                published_at,
                published_at,
                summary="A summary.",
            ),
            ArticleExtracted(article_id, "page", "Ankara and Washington agreed today.", title),
            StoryAssigned(article_id, story_id or article_id),
        ]
    events.append(
        ArticleClassified(
            article_id,
            "m-1",
            relevant,
            0.9,
            stance,
            0.6 if stance == "cooperation" else -0.6,
            actors=("TUR", "USA"),
            topics=topics,
            topic_scores=dict.fromkeys(topics, 0.8),
            stance_scores={stance: 0.8, "neutral": 0.2},
        )
    )
    app.log.append(article_stream(article_id), None, events)
    return article_id


def settle(app: App) -> None:
    """Run matching and the read models until caught up (no classifier needed)."""
    app.runner.run_once(MatchingStage(app))
    app.catch_up()


def rows(app: App, table: Any) -> list[Any]:
    with app.engine.connect() as conn:
        return list(conn.execute(table.select()))
