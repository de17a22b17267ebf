"""The one composition root: settings in, a wired application out.

Nothing else creates engines or reads settings, so tests build an `App` against any database.
"""

from __future__ import annotations

import logging
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from monitor import migrations
from monitor.config import Settings, load_settings
from monitor.engine import make_engine
from monitor.eventlog import EventLog
from monitor.followers import FollowerRunner, Projection
from monitor.modelstore import ModelStore
from monitor.pipeline.extract import ExtractorPool
from monitor.pipeline.fetch import Fetcher, FetchPolicy
from monitor.pipeline.ssrf import SsrfPolicy
from monitor.projections import all_projections
from monitor.snapshots import SnapshotStore
from monitor.stages import pipeline_stages
from monitor.stages.extraction import ExtractionStage

log = logging.getLogger(__name__)

IDLE_WAIT = 0.25  # seconds between looks for new work while extraction runs


@dataclass
class App:
    settings: Settings
    engine: Engine
    log: EventLog
    runner: FollowerRunner
    snapshots: SnapshotStore
    projections: list[Projection] = field(default_factory=all_projections)
    stages: list[Any] = field(default_factory=list)  # filled by bootstrap (they need the App)
    _extractor: ExtractorPool | None = field(default=None, repr=False)
    models: ModelStore = field(init=False, repr=False)
    _caught_up_at: int = field(default=-1, init=False, repr=False)  # a head position

    def __post_init__(self) -> None:
        self.models = ModelStore(self)

    @property
    def followers(self) -> list[Any]:
        """Everything that follows the log, pipeline stages first, in the order they run."""
        return [*self.stages, *self.projections]

    def extractor(self) -> ExtractorPool:
        """The extraction process pool, started on first use (the CLI's `--help` needs none)."""
        if self._extractor is None:
            self._extractor = ExtractorPool()
        return self._extractor

    def projection(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        known = ", ".join(p.name for p in self.projections)
        raise KeyError(f"no projection named {name!r} (known: {known})")

    def fetcher(self) -> Fetcher:
        """A new fetcher for the current event loop (one per `asyncio.run`)."""
        return Fetcher(fetch_policy(self.settings), ssrf_policy(self.settings))

    def catch_up(self) -> None:
        """Bring every read model up to the end of the log (CLI commands and API requests
        read them next). While the log's head stays where the last catch-up left it, there
        is nothing to look for: one cheap query per request under load."""
        head = self.log.head()
        if head == self._caught_up_at:
            return
        for projection in self.runner.with_work(self.projections):
            self.runner.run_once(projection)
        self._caught_up_at = head

    def drain(self) -> None:
        """Run every stage and projection until none has anything left to do.

        Extraction runs in a thread of its own meanwhile, so its worker processes extract the
        next batch while this thread clusters, classifies and projects the last one: on two
        cores that overlap is a third of the pipeline's throughput (bench/RESULTS.md). Each
        step still commits on its own, so an interrupted drain loses nothing.
        """
        extraction = [f for f in self.stages if isinstance(f, ExtractionStage)]
        others = [f for f in self.followers if f not in extraction]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="extraction") as lane:
            while True:
                extracting = lane.submit(lambda: sum(map(self.runner.run_once, extraction)))
                while not extracting.done():
                    if not sum(self.runner.step(follower) for follower in others):
                        futures.wait([extracting], timeout=IDLE_WAIT)
                extracted = extracting.result()
                if not sum(map(self.runner.run_once, others)) and not extracted:
                    return

    def close(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
        self.engine.dispose()


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        connect_timeout=settings.fetch_connect_timeout,
        deadline=settings.fetch_deadline,
        max_feed_bytes=settings.feed_max_bytes,
        max_page_bytes=settings.page_max_bytes,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_delay=settings.per_host_delay,
        respect_robots=settings.respect_robots,
        contact_url=settings.contact_url or settings.public_url,
    )


def ssrf_policy(settings: Settings) -> SsrfPolicy:
    return SsrfPolicy.build(
        allow_private=settings.allow_private_networks, allowlist=settings.fetch_allowlist
    )


def bootstrap(settings: Settings | None = None, *, migrate: bool = True) -> App:
    """Wire the application; with `migrate`, bring the schema to head first."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout)
    if migrate and migrations.current_revision(engine) != migrations.head_revision(engine):
        log.info("migrating the database to the current schema")
        migrations.upgrade(engine)
    event_log = EventLog(engine, lock_timeout=settings.event_lock_timeout)
    app = App(
        settings, engine, event_log, FollowerRunner(engine, event_log), SnapshotStore(event_log)
    )
    app.stages = pipeline_stages(app)
    return app
