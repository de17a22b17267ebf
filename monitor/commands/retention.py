"""Retention: drop old article bodies while every fact about the articles stays in the log.

Article text is the bulk of the log. Pruning rewrites the `text` of old `ArticleExtracted`
events to "" in place — the one sanctioned rewrite of the log (like Marten's event data
masking) — and appends an `ArticleTextsPruned` event naming the articles in the same
transaction, so the rewrite is itself recorded, a replay rebuilds the same read models, and
nothing else is lost: discovery, classification (labels, scores, explanation), stories,
matches and deliveries keep their meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func, literal_column, select, update

from monitor import db
from monitor.engine import reading
from monitor.eventlog import utcnow
from monitor.events import ArticleExtracted, ArticleTextsPruned
from monitor.streams import article_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App

RETENTION_STREAM = "retention"
BATCH = 500  # articles per transaction: bounded lock time, bounded event size


@dataclass(frozen=True)
class PruneReport:
    before: datetime
    articles: int
    dry_run: bool


def prune_article_texts(
    app: App,
    *,
    before: datetime,
    actor: str,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> PruneReport:
    """Empty the bodies of articles discovered before `before`; returns how many."""
    app.catch_up()
    with reading(app.engine) as conn:
        ids = list(
            conn.scalars(
                select(db.articles.c.article_id)
                .where(db.articles.c.discovered_at < before, db.articles.c.text.is_not(None))
                .order_by(db.articles.c.discovered_at, db.articles.c.article_id)
            )
        )
    if dry_run:
        return PruneReport(before, len(ids), dry_run=True)
    emptied = _without_text(app.engine.dialect.name)
    for start in range(0, len(ids), BATCH):
        chunk = tuple(ids[start : start + BATCH])
        with app.engine.begin() as conn:
            app.log.append(
                RETENTION_STREAM,
                None,
                [ArticleTextsPruned(article_ids=chunk, before=before, pruned_at=utcnow())],
                metadata={"actor": actor},
                conn=conn,
            )
            conn.execute(
                update(db.events)
                .where(
                    db.events.c.event_type == ArticleExtracted.type_name,
                    db.events.c.stream_id.in_([article_stream(i) for i in chunk]),
                )
                .values(data=emptied)
            )
        progress(f"pruned {start + len(chunk)} of {len(ids)} article texts")
    app.catch_up()
    return PruneReport(before, len(ids), dry_run=False)


def _without_text(dialect: str) -> ColumnElement[object]:
    """The stored payload with its `text` set to "" (JSONB on PostgreSQL, JSON text on SQLite)."""
    if dialect == "postgresql":
        return func.jsonb_set(
            db.events.c.data, literal_column("'{text}'"), literal_column("'\"\"'::jsonb")
        )
    return func.json_set(db.events.c.data, "$.text", "")
