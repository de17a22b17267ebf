"""Alembic environment: the target is monitor.db.metadata; the URL comes from the settings.

On PostgreSQL the upgrade runs under a session advisory lock, so several replicas starting
together migrate one after the other (the later ones find the schema at head). On SQLite the
migration transaction starts with BEGIN IMMEDIATE (see monitor.engine), which serialises too.
"""

from __future__ import annotations

from sqlalchemy import Connection

from alembic import context
from monitor.config import load_settings
from monitor.db import metadata
from monitor.engine import make_engine

# An arbitrary constant shared by every monitor process: "monitor migrations".
MIGRATION_LOCK_KEY = 0x6D6F6E6D6967


def run_migrations(connection: Connection) -> None:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if postgres:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
            connection.commit()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or load_settings().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run_migrations(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
main()
