"""Extraction: download each new article's page and extract its text, or fall back.

Downloads run concurrently (the fetcher keeps per-host politeness and the SSRF guard), then
pages are extracted in the worker-process pool under a time budget. Whatever happens, the
article gets an `ArticleExtracted`: from the page, or from the feed's own content with an
`ExtractionFailed` before it saying why the page was not used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from monitor.eventlog import RecordedEvent, derived_id
from monitor.events import ArticleDiscovered, ArticleExtracted, Event, ExtractionFailed
from monitor.followers import Stage
from monitor.pipeline.extract import Extracted, ExtractionFailure, ExtractJob
from monitor.pipeline.fetch import Fetcher, FetchError, FetchResult
from monitor.streams import article_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Failure:
    reason: str
    message: str


class ExtractionStage(Stage[list[list[Event]]]):
    name = "extraction"
    batch_size = 64

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def handles(self) -> frozenset[str] | None:
        return frozenset({ArticleDiscovered.type_name})

    def prepare(self, batch: Sequence[RecordedEvent]) -> list[list[Event]]:
        articles = [r.event for r in batch if isinstance(r.event, ArticleDiscovered)]
        pages = asyncio.run(self._download(articles))
        downloaded = [
            (index, page) for index, page in enumerate(pages) if isinstance(page, FetchResult)
        ]
        jobs = [ExtractJob(page.body, page.final_url, page.content_type) for _, page in downloaded]
        extracted = dict(
            zip(
                (index for index, _ in downloaded),
                self.app.extractor().extract_many(jobs),
                strict=True,
            )
        )
        outcomes: list[list[Event]] = []
        for index, article in enumerate(articles):
            result = extracted.get(index)
            if isinstance(result, Extracted):
                outcomes.append([_from_page(article, result)])
                continue
            page = pages[index]
            if isinstance(result, ExtractionFailure):
                failure = _Failure(str(result.reason), result.detail)
            elif isinstance(page, _Failure):
                failure = page
            else:
                failure = _Failure("no_url", "the feed entry has no web link")
            outcomes.append(
                [
                    ExtractionFailed(article.article_id, failure.reason, failure.message[:2000]),
                    _from_feed(article),
                ]
            )
        return outcomes

    def record(
        self, conn: Connection, batch: Sequence[RecordedEvent], prepared: list[list[Event]]
    ) -> None:
        for recorded, events in zip(batch, prepared, strict=True):
            article_id = recorded.stream_id.removeprefix("article-")
            self.app.log.append(
                article_stream(article_id),
                None,
                events,
                event_ids=[
                    derived_id("extraction", recorded.event_id, n) for n in range(len(events))
                ],
                metadata=recorded.caused(),
                conn=conn,
            )

    async def _download(
        self, articles: list[ArticleDiscovered]
    ) -> list[FetchResult | _Failure | None]:
        async with self.app.fetcher() as fetcher:
            return await asyncio.gather(*(self._page(fetcher, a) for a in articles))

    async def _page(
        self, fetcher: Fetcher, article: ArticleDiscovered
    ) -> FetchResult | _Failure | None:
        if not article.url:
            return None
        try:
            return await fetcher.fetch(article.url, kind="page")
        except FetchError as exc:
            return _Failure(str(exc.reason), exc.message)
        except Exception as exc:  # one article's bug must not stop the others
            log.exception("page download failed", extra={"article_id": article.article_id})
            return _Failure("internal_error", f"{type(exc).__name__}: {exc}")


def _from_page(article: ArticleDiscovered, page: Extracted) -> ArticleExtracted:
    return ArticleExtracted(
        article_id=article.article_id,
        source="page",
        text=page.text,
        title=page.title or article.title,
        author=page.author or article.author,
        published_at=None,
        site_name=page.sitename,
        language=page.language or article.language,
    )


def _from_feed(article: ArticleDiscovered) -> ArticleExtracted:
    text = max((article.content, article.summary), key=len) or article.title
    return ArticleExtracted(
        article_id=article.article_id,
        source="feed",
        text=text,
        title=article.title,
        author=article.author,
        language=article.language,
    )
