"""Analysts' labels and the model registry read models.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types in monitor.db: a migration never changes with the code.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("label_id", sa.String(length=36), nullable=False),
        sa.Column("analyst", sa.String(length=200), nullable=False),
        sa.Column("article_id", sa.String(length=36), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("relevant", sa.Boolean(), nullable=True),
        sa.Column("stance", sa.String(length=20), nullable=True),
        sa.Column("topics", JSON, nullable=True),
        sa.Column("actors", JSON, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("added_at", UTC_DATETIME, nullable=False),
        sa.Column("retracted_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("label_id", name="pk_labels"),
    )
    op.create_index("ix_labels_article_id", "labels", ["article_id"])
    op.create_table(
        "models",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("trained_at", UTC_DATETIME, nullable=False),
        sa.Column("trained_by", sa.String(length=200), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("sklearn_version", sa.String(length=20), nullable=False),
        sa.Column("data_hash", sa.String(length=64), nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("cv_metrics", JSON, nullable=False),
        sa.Column("dev_metrics", JSON, nullable=True),
        sa.Column("promoted_at", UTC_DATETIME, nullable=True),
        sa.Column("promoted_by", sa.String(length=200), nullable=True),
        sa.Column("integrity_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_models"),
    )


def downgrade() -> None:
    op.drop_table("models")
    op.drop_index("ix_labels_article_id", table_name="labels")
    op.drop_table("labels")
