"""Articles as users see them: text, story and the latest classification.

One row per article, filled in as the pipeline's events arrive. The latest ArticleClassified
wins, so a re-score with a new model version updates what lists and digests show.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from monitor import db
from monitor.eventlog import RecordedEvent
from monitor.events import (
    ArticleClassified,
    ArticleDiscovered,
    ArticleExtracted,
    ArticleTextsPruned,
    ExtractionFailed,
    StoryAssigned,
)
from monitor.followers import Projection, on


class ArticlesProjection(Projection):
    name = "articles"
    tables = (db.articles, db.article_tags)

    @on(ArticleDiscovered)
    def _discovered(self, conn: Connection, evt: ArticleDiscovered, _: RecordedEvent) -> None:
        conn.execute(
            insert(db.articles).values(
                article_id=evt.article_id,
                feed_id=evt.feed_id,
                url=evt.url,
                title=evt.title,
                summary=evt.summary,
                author=evt.author,
                published_at=evt.published_at,
                discovered_at=evt.discovered_at,
                language=evt.language,
                stage="discovered",
            )
        )

    @on(ArticleExtracted)
    def _extracted(self, conn: Connection, evt: ArticleExtracted, _: RecordedEvent) -> None:
        values: dict[str, object] = {
            "text": evt.text,
            "text_source": evt.source,
            "site_name": evt.site_name,
        }
        if evt.language:
            values["language"] = evt.language
        if evt.author:
            values["author"] = evt.author
        self._update(conn, evt.article_id, **values)
        conn.execute(
            update(db.articles)
            .where(db.articles.c.article_id == evt.article_id, db.articles.c.stage == "discovered")
            .values(stage="extracted")
        )

    @on(ArticleTextsPruned)
    def _pruned(self, conn: Connection, evt: ArticleTextsPruned, _: RecordedEvent) -> None:
        conn.execute(
            update(db.articles)
            .where(db.articles.c.article_id.in_(evt.article_ids))
            .values(text=None)
        )

    @on(ExtractionFailed)
    def _failed(self, conn: Connection, evt: ExtractionFailed, _: RecordedEvent) -> None:
        self._update(conn, evt.article_id, extraction_error=f"{evt.reason}: {evt.message}")

    @on(StoryAssigned)
    def _story(self, conn: Connection, evt: StoryAssigned, _: RecordedEvent) -> None:
        self._update(conn, evt.article_id, story_id=evt.story_id)

    @on(ArticleClassified)
    def _classified(self, conn: Connection, evt: ArticleClassified, rec: RecordedEvent) -> None:
        self._update(
            conn,
            evt.article_id,
            stage="classified",
            model_version=evt.model_version,
            relevant=evt.relevant,
            relevance=evt.relevance,
            stance=evt.stance,
            stance_score=evt.stance_score,
            confidence=evt.stance_scores.get(evt.stance),
            actors=list(evt.actors),
            topics=list(evt.topics),
            topic_scores=evt.topic_scores,
            stance_scores=evt.stance_scores,
            explanation=evt.explanation,
            classified_at=rec.recorded_at,
        )
        conn.execute(delete(db.article_tags).where(db.article_tags.c.article_id == evt.article_id))
        tags = [f"topic:{t}" for t in evt.topics] + [f"actor:{a}" for a in evt.actors]
        if evt.relevant:  # a stance filter means relevant articles with that stance
            tags.append(f"stance:{evt.stance}")
        if not tags:
            return
        published_at = conn.execute(
            select(db.articles.c.published_at).where(db.articles.c.article_id == evt.article_id)
        ).scalar_one_or_none()
        conn.execute(
            insert(db.article_tags),
            [
                {"tag": tag, "article_id": evt.article_id, "published_at": published_at}
                for tag in sorted(set(tags))
            ],
        )

    @staticmethod
    def _update(conn: Connection, article_id: str, **values: object) -> None:
        conn.execute(
            update(db.articles).where(db.articles.c.article_id == article_id).values(**values)
        )
