"""Webhook secret rotation, owner notices of disabled endpoints, and their read-model columns.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the type in monitor.db: a migration never changes with the code.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("subscription_targets") as batch:
        batch.add_column(sa.Column("previous_secret", sa.Text(), nullable=True))
        batch.add_column(sa.Column("secret_rotated_at", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("previous_secret_until", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("notify_email", sa.Text(), nullable=True))
        batch.add_column(sa.Column("disabled_at", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("notice_key", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("notice_due", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("notify_email", sa.Text(), nullable=True))
        batch.add_column(sa.Column("owner_notified_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("owner_notified_at")
        batch.drop_column("notify_email")
    with op.batch_alter_table("subscription_targets") as batch:
        batch.drop_column("notice_due")
        batch.drop_column("notice_key")
        batch.drop_column("disabled_at")
        batch.drop_column("notify_email")
        batch.drop_column("previous_secret_until")
        batch.drop_column("secret_rotated_at")
        batch.drop_column("previous_secret")
