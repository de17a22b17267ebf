"""Stories: cluster syndicated or rewritten copies of one story (MinHash with LSH banding).

Each extracted article's signature is compared with recent articles that share a band; the
most similar one at or above `stories.THRESHOLD` gives its story, otherwise the article starts
a new story with its own id. Signatures and bands are this stage's state, written in the
transaction that records `StoryAssigned`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select

from monitor import db
from monitor.eventlog import RecordedEvent, derived_id
from monitor.events import ArticleExtracted, StoryAssigned
from monitor.pipeline import stories
from monitor.streams import article_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App

WINDOW = timedelta(days=14)  # copies of a story appear within days; older ones are not matched


class StoriesStage:
    name = "stories"

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def handles(self) -> frozenset[str] | None:
        return frozenset({ArticleExtracted.type_name})

    def handle(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None:
        for recorded in batch:
            evt = recorded.event
            assert isinstance(evt, ArticleExtracted)
            self._assign(conn, recorded, evt)

    def _assign(self, conn: Connection, recorded: RecordedEvent, evt: ArticleExtracted) -> None:
        done = conn.execute(
            select(db.story_signatures.c.story_id).where(
                db.story_signatures.c.article_id == evt.article_id
            )
        ).first()
        if done:  # extracted again (a re-run): the story stays
            return
        signature = stories.signature(f"{evt.title or ''}\n{evt.text}")
        bands = stories.band_keys(signature)
        story_id, similar_to, similarity = evt.article_id, None, 0.0
        for candidate, candidate_story, candidate_signature in self._candidates(
            conn, bands, recorded
        ):
            score = stories.similarity(signature, tuple(candidate_signature))
            if score >= stories.THRESHOLD and score > similarity:
                story_id, similar_to, similarity = candidate_story, candidate, score
        conn.execute(
            insert(db.story_signatures).values(
                article_id=evt.article_id,
                story_id=story_id,
                signature=list(signature),
                seen_at=recorded.recorded_at,
            )
        )
        conn.execute(
            insert(db.story_bands), [{"band_key": b, "article_id": evt.article_id} for b in bands]
        )
        self.app.log.append(
            article_stream(evt.article_id),
            None,
            [StoryAssigned(evt.article_id, story_id, similar_to, round(similarity, 4))],
            event_ids=[derived_id("story", recorded.event_id)],
            metadata=recorded.caused(),
            conn=conn,
        )

    @staticmethod
    def _candidates(
        conn: Connection, bands: list[str], recorded: RecordedEvent
    ) -> Sequence[tuple[str, str, list[int]]]:
        query = (
            select(
                db.story_signatures.c.article_id,
                db.story_signatures.c.story_id,
                db.story_signatures.c.signature,
            )
            .where(
                db.story_signatures.c.article_id.in_(
                    select(db.story_bands.c.article_id)
                    .where(db.story_bands.c.band_key.in_(bands))
                    .distinct()
                ),
                db.story_signatures.c.seen_at >= recorded.recorded_at - WINDOW,
            )
            .order_by(db.story_signatures.c.seen_at)
        )
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]
