"""Leases (scheduler leader, follower ownership) and per-feed poll claims, for several workers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the type in monitor.db: a migration never changes with the code.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("acquired_at", UTC_DATETIME, nullable=False),
        sa.Column("renewed_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "poll_claims",
        sa.Column("feed_id", sa.String(length=36), nullable=False),
        sa.Column("slot", UTC_DATETIME, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("claimed_until", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("feed_id", name=op.f("pk_poll_claims")),
    )


def downgrade() -> None:
    op.drop_table("poll_claims")
    op.drop_table("leases")
