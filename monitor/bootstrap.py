"""The one composition root: settings in, a wired application out.

Nothing else creates engines or reads settings, so tests build an `App` against any database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine

from monitor import migrations
from monitor.config import Settings, load_settings
from monitor.engine import make_engine
from monitor.eventlog import EventLog
from monitor.followers import FollowerRunner, Projection
from monitor.projections import all_projections
from monitor.snapshots import SnapshotStore

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    engine: Engine
    log: EventLog
    runner: FollowerRunner
    snapshots: SnapshotStore
    projections: list[Projection] = field(default_factory=all_projections)

    def projection(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        known = ", ".join(p.name for p in self.projections)
        raise KeyError(f"no projection named {name!r} (known: {known})")

    def catch_up(self) -> None:
        """Bring every read model up to the end of the log (CLI commands read them next)."""
        for projection in self.projections:
            self.runner.run_once(projection)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, *, migrate: bool = True) -> App:
    """Wire the application; with `migrate`, bring the schema to head first."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout)
    if migrate and migrations.current_revision(engine) != migrations.head_revision(engine):
        log.info("migrating the database to the current schema")
        migrations.upgrade(engine)
    event_log = EventLog(engine, lock_timeout=settings.event_lock_timeout)
    return App(
        settings, engine, event_log, FollowerRunner(engine, event_log), SnapshotStore(event_log)
    )
