"""Migrations are the schema: they match the models and run safely in parallel (case 51)."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from monitor import db, migrations
from monitor.engine import make_engine


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    migrations.upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []
    engine.dispose()


def test_downgrade_then_upgrade_round_trips(database_url: str) -> None:
    engine = make_engine(database_url)
    migrations.upgrade(engine)
    migrations.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision(engine)
    assert {"events", "tracking", "snapshots"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_replicas_migrating_together_both_end_at_head(database_url: str) -> None:
    """Two processes run `monitor db upgrade` on an empty database at the same moment."""
    env = {**os.environ, "MONITOR_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "monitor", "db", "upgrade"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    engine = make_engine(database_url)
    assert migrations.current_revision(engine) == migrations.head_revision(engine)
    engine.dispose()
