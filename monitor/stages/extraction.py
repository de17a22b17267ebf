"""Extraction: download each new article's page and extract its text, or fall back.

Downloads run concurrently (the fetcher keeps per-host politeness and the SSRF guard), and
pages are extracted in the worker-process pool under a time budget as they arrive. Whatever
happens, the article gets an `ArticleExtracted`: from the page, or from the feed's own content
with an `ExtractionFailed` before it saying why the page was not used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from monitor.eventlog import PendingAppend, RecordedEvent, derived_id
from monitor.events import ArticleDiscovered, ArticleExtracted, Event, ExtractionFailed
from monitor.followers import Stage
from monitor.pipeline.extract import (
    Extracted,
    ExtractionFailure,
    ExtractionResult,
    ExtractJob,
)
from monitor.pipeline.fetch import Fetcher, FetchError, FetchResult

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
        pages, extracted = asyncio.run(self._download_and_extract(articles))
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
        self.app.log.append_many(
            [
                PendingAppend(
                    recorded.stream_id,
                    None,
                    events,
                    [derived_id("extraction", recorded.event_id, n) for n in range(len(events))],
                    recorded.caused(),
                )
                for recorded, events in zip(batch, prepared, strict=True)
            ],
            conn=conn,
        )

    async def _download_and_extract(
        self, articles: list[ArticleDiscovered]
    ) -> tuple[list[FetchResult | _Failure | None], dict[int, ExtractionResult]]:
        """Downloads, with pages handed to the worker pool as they arrive.

        Whenever the pool is idle it gets every page downloaded meanwhile (at least one per
        worker while downloads go on), so the workers extract while the rest downloads
        instead of waiting for the slowest page of the batch.
        """
        pool = self.app.extractor()
        loop = asyncio.get_running_loop()
        pages: list[FetchResult | _Failure | None] = [None] * len(articles)
        extracted: dict[int, ExtractionResult] = {}
        ready: list[tuple[int, FetchResult]] = []
        extracting: asyncio.Future[None] | None = None

        def extract(chunk: list[tuple[int, FetchResult]]) -> None:
            jobs = [_job(page, articles[index]) for index, page in chunk]
            extracted.update(
                zip((index for index, _ in chunk), pool.extract_many(jobs), strict=True)
            )

        async def download(index: int) -> int:
            pages[index] = await self._page(fetcher, articles[index])
            return index

        async with self.app.fetcher() as fetcher:
            downloads = [download(index) for index in range(len(articles))]
            for finished in asyncio.as_completed(downloads):
                index = await finished
                if isinstance(page := pages[index], FetchResult):
                    ready.append((index, page))
                idle = extracting is None or extracting.done()
                if idle and len(ready) >= pool.size:
                    if extracting is not None:
                        await extracting  # re-raises what went wrong in the pool
                    extracting = loop.run_in_executor(None, extract, ready)
                    ready = []
        if extracting is not None:
            await extracting
        if ready:
            await loop.run_in_executor(None, extract, ready)
        return pages, extracted

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


def _job(page: FetchResult, article: ArticleDiscovered) -> ExtractJob:
    return ExtractJob(page.body, page.final_url, page.content_type, bool(article.author))


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
