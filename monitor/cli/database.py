"""`monitor db ...`: schema migrations."""

from __future__ import annotations

import click

from monitor import migrations
from monitor.config import load_settings
from monitor.engine import make_engine


@click.group()
def db() -> None:
    """Database schema migrations (Alembic)."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    engine = _engine()
    try:
        migrations.upgrade(engine, revision)
        click.echo(f"database at revision {migrations.current_revision(engine)}")
    finally:
        engine.dispose()


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' empties the database)."""
    engine = _engine()
    try:
        migrations.downgrade(engine, revision)
        click.echo(f"database at revision {migrations.current_revision(engine) or 'base'}")
    finally:
        engine.dispose()


@db.command()
def current() -> None:
    """Show the database's revision and the newest one this version knows."""
    engine = _engine()
    try:
        now, head = migrations.current_revision(engine), migrations.head_revision(engine)
        state = "up to date" if now == head else "needs `monitor db upgrade`"
        click.echo(f"current {now or 'base'}, head {head}: {state}")
    finally:
        engine.dispose()


def _engine():  # type: ignore[no-untyped-def]
    settings = load_settings()
    return make_engine(settings.database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout)
