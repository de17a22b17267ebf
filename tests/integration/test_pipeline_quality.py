"""The pipeline loses no extraction quality on the way: all 330 fixture pages, fetched over
HTTP (the larger ones gzip-encoded, as stored), through polling and the extraction stage,
score at least as well as `trafilatura.extract` on the same bytes."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from html import escape

import pytest
from sqlalchemy import select

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import feeds as feed_commands
from monitor.config import Settings
from monitor.pipeline.extract import Extracted, ExtractJob, ExtractorPool
from monitor.stages.extraction import ExtractionStage
from monitor.stages.polling import Poller
from tests.conftest import SHARED, require_shared
from tests.page_scoring import score, trafilatura_direct
from tests.servers import LoopbackServer, respond

PAGES = SHARED / "fixtures" / "pages"


@pytest.fixture(scope="module")
def pages() -> list[dict]:
    require_shared(PAGES / "expected.jsonl")
    return [json.loads(line) for line in (PAGES / "expected.jsonl").open()]


@pytest.fixture
def site(pages: list[dict]) -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    items = []
    for number, row in enumerate(pages):
        raw = (PAGES / row["file"]).read_bytes()
        headers = {"Content-Type": "text/html"}
        if row["gzip"]:
            headers["Content-Encoding"] = "gzip"  # the stored bytes, decoded by the fetcher
        server.routes[f"/p/{number}.html"] = respond(200, raw, headers)
        link = server.url(f"/p/{number}.html")
        items.append(f"<item><title>{number}</title><link>{escape(link)}</link></item>")
    feed = f'<rss version="2.0"><channel><title>fixtures</title>{"".join(items)}</channel></rss>'
    server.routes["/feed.xml"] = respond(
        200, feed.encode(), {"Content-Type": "application/rss+xml"}
    )
    yield server
    server.close()


@pytest.fixture
def site_app(sqlite_url: str, tmp_path, site: LoopbackServer) -> Iterator[App]:
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        fetch_allowlist=(site.origin,),
        per_host_delay=0.0,
        per_host_concurrency=4,
    )
    application = bootstrap(settings)
    yield application
    application.close()


@pytest.mark.slow
def test_pipeline_extraction_scores_at_least_bare_trafilatura(
    site_app: App, site: LoopbackServer, pages: list[dict]
) -> None:
    feed_id = feed_commands.add_feed(site_app, site.url("/feed.xml"))
    site_app.catch_up()
    (report,) = Poller(site_app).poll([feed_id])
    assert report.new_items == len(pages)
    site_app.runner.run_once(ExtractionStage(site_app))
    site_app.catch_up()

    with site_app.engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(db.articles.c.title, db.articles.c.text).where(
                    db.articles.c.text_source == "page"
                )
            ).all()
        )
    ours = [stored.get(str(number), "") for number in range(len(pages))]

    jobs = [
        ExtractJob(gzip.decompress(raw) if row["gzip"] else raw, row["url"], "text/html")
        for row in pages
        for raw in [(PAGES / row["file"]).read_bytes()]
    ]
    with ExtractorPool(extractor=trafilatura_direct) as pool:
        bare = [r.text if isinstance(r, Extracted) else "" for r in pool.extract_many(jobs)]

    baseline, pipeline = score(pages, bare), score(pages, ours)
    print(f"\nbare trafilatura.extract {baseline}\npipeline                 {pipeline}")
    assert len(stored) == len(pages)  # every page's own text, no fallback to the feed
    for name, metrics in baseline.items():
        headline = "accuracy" if "accuracy" in metrics else "F1"
        assert pipeline[name][headline] >= metrics[headline], (name, pipeline[name], metrics)
