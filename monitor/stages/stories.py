"""Stories: cluster syndicated or rewritten copies of one story (MinHash with LSH banding).

Each extracted article's signature is compared with recent articles that share a band; the
most similar one at or above `stories.THRESHOLD` gives its story, otherwise the article starts
a new story with its own id. Signatures and bands are this stage's state, written in the
transaction that records `StoryAssigned`.

A batch costs one read of its candidates, one insert per table and one append: signatures are
computed before the transaction (`Stage.prepare`), and the batch's own articles are candidates
for the ones after them, exactly as if they had been handled one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select

from monitor import db
from monitor.eventlog import PendingAppend, RecordedEvent, derived_id
from monitor.events import ArticleExtracted, StoryAssigned
from monitor.followers import Stage
from monitor.pipeline import stories
from monitor.streams import article_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App

WINDOW = timedelta(days=14)  # copies of a story appear within days; older ones are not matched


@dataclass(frozen=True)
class _Signed:
    article_id: str
    signature: tuple[int, ...]
    bands: list[str]


@dataclass
class _Known:
    """An article that may be matched: stored earlier, or earlier in this batch."""

    story_id: str
    signature: tuple[int, ...]
    seen_at: datetime


class StoriesStage(Stage[list[_Signed]]):
    name = "stories"
    batch_size = 100  # 40 band keys each: 4,000 values in the candidate query

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def handles(self) -> frozenset[str] | None:
        return frozenset({ArticleExtracted.type_name})

    def prepare(self, batch: Sequence[RecordedEvent]) -> list[_Signed]:
        signed = []
        for recorded in batch:
            evt = recorded.event
            assert isinstance(evt, ArticleExtracted)
            signature = stories.signature(f"{evt.title or ''}\n{evt.text}")
            signed.append(_Signed(evt.article_id, signature, stories.band_keys(signature)))
        return signed

    def record(
        self, conn: Connection, batch: Sequence[RecordedEvent], prepared: list[_Signed]
    ) -> None:
        done = self._assigned(conn, [s.article_id for s in prepared])
        bands_of, known = self._candidates(conn, prepared, min(r.recorded_at for r in batch))
        signatures, band_rows, appends = [], [], []
        for recorded, signed in zip(batch, prepared, strict=True):
            if signed.article_id in done:  # extracted again (a re-run): the story stays
                continue
            done.add(signed.article_id)
            story_id, similar_to, similarity = signed.article_id, None, 0.0
            candidates = {a for band in signed.bands for a in bands_of.get(band, ())}
            for candidate in sorted(candidates, key=lambda a: (known[a].seen_at, a)):
                if known[candidate].seen_at < recorded.recorded_at - WINDOW:
                    continue
                score = stories.similarity(signed.signature, known[candidate].signature)
                if score >= stories.THRESHOLD and score > similarity:
                    story_id, similar_to, similarity = known[candidate].story_id, candidate, score
            known[signed.article_id] = _Known(story_id, signed.signature, recorded.recorded_at)
            for band in signed.bands:
                bands_of.setdefault(band, []).append(signed.article_id)
            signatures.append(
                {
                    "article_id": signed.article_id,
                    "story_id": story_id,
                    "signature": list(signed.signature),
                    "seen_at": recorded.recorded_at,
                }
            )
            band_rows += [{"band_key": b, "article_id": signed.article_id} for b in signed.bands]
            appends.append(
                PendingAppend(
                    article_stream(signed.article_id),
                    None,
                    [StoryAssigned(signed.article_id, story_id, similar_to, round(similarity, 4))],
                    [derived_id("story", recorded.event_id)],
                    recorded.caused(),
                )
            )
        if signatures:
            conn.execute(insert(db.story_signatures), signatures)
        if band_rows:
            conn.execute(insert(db.story_bands), band_rows)
        if appends:
            self.app.log.append_many(appends, conn=conn)

    @staticmethod
    def _assigned(conn: Connection, article_ids: list[str]) -> set[str]:
        query = select(db.story_signatures.c.article_id).where(
            db.story_signatures.c.article_id.in_(article_ids)
        )
        return set(conn.execute(query).scalars())

    @staticmethod
    def _candidates(
        conn: Connection, prepared: list[_Signed], since: datetime
    ) -> tuple[dict[str, list[str]], dict[str, _Known]]:
        """Stored articles sharing a band with the batch: their bands, and what to compare."""
        keys = sorted({band for signed in prepared for band in signed.bands})
        if not keys:
            return {}, {}
        s, b = db.story_signatures, db.story_bands
        query = (
            select(b.c.band_key, s.c.article_id, s.c.story_id, s.c.signature, s.c.seen_at)
            .join(s, s.c.article_id == b.c.article_id)
            .where(b.c.band_key.in_(keys), s.c.seen_at >= since - WINDOW)
        )
        bands_of: dict[str, list[str]] = {}
        known: dict[str, _Known] = {}
        for band, article_id, story_id, signature, seen_at in conn.execute(query):
            bands_of.setdefault(band, []).append(article_id)
            known[article_id] = _Known(story_id, tuple(signature), seen_at)
        return bands_of, known
