"""Ingestion: feed health columns, the articles read model, article keys and story state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types in monitor.db: a migration never changes with the code.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)


def feed_health_columns() -> list[sa.Column]:
    return [
        sa.Column("health", sa.String(length=20), server_default="new", nullable=False),
        sa.Column("last_polled_at", UTC_DATETIME, nullable=True),
        sa.Column("last_http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), server_default="0", nullable=False),
        sa.Column("items_found", sa.Integer(), nullable=True),
        sa.Column("new_items", sa.Integer(), nullable=True),
        sa.Column("next_check_at", UTC_DATETIME, nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        for column in feed_health_columns():
            batch.add_column(column)
        batch.create_index("ix_feeds_next_check_at", ["next_check_at"])

    op.create_table(
        "articles",
        sa.Column("article_id", sa.String(length=36), nullable=False),
        sa.Column("feed_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("published_at", UTC_DATETIME, nullable=False),
        sa.Column("discovered_at", UTC_DATETIME, nullable=False),
        sa.Column("language", sa.String(length=20), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("text_source", sa.String(length=10), nullable=True),
        sa.Column("site_name", sa.Text(), nullable=True),
        sa.Column("extraction_error", sa.Text(), nullable=True),
        sa.Column("story_id", sa.String(length=36), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("relevant", sa.Boolean(), nullable=True),
        sa.Column("relevance", sa.Float(), nullable=True),
        sa.Column("stance", sa.String(length=20), nullable=True),
        sa.Column("stance_score", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("actors", JSON, nullable=True),
        sa.Column("topics", JSON, nullable=True),
        sa.Column("topic_scores", JSON, nullable=True),
        sa.Column("stance_scores", JSON, nullable=True),
        sa.Column("explanation", JSON, nullable=True),
        sa.Column("classified_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("article_id", name="pk_articles"),
    )
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    op.create_index("ix_articles_story_id", "articles", ["story_id"])
    op.create_index("ix_articles_feed_id", "articles", ["feed_id"])

    op.create_table(
        "article_tags",
        sa.Column("tag", sa.String(length=60), nullable=False),
        sa.Column("article_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("tag", "article_id", name="pk_article_tags"),
    )
    op.create_table(
        "article_keys",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("article_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_article_keys"),
    )
    op.create_table(
        "story_signatures",
        sa.Column("article_id", sa.String(length=36), nullable=False),
        sa.Column("story_id", sa.String(length=36), nullable=False),
        sa.Column("signature", JSON, nullable=False),
        sa.Column("seen_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("article_id", name="pk_story_signatures"),
    )
    op.create_table(
        "story_bands",
        sa.Column("band_key", sa.String(length=64), nullable=False),
        sa.Column("article_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("band_key", "article_id", name="pk_story_bands"),
    )


def downgrade() -> None:
    op.drop_table("story_bands")
    op.drop_table("story_signatures")
    op.drop_table("article_keys")
    op.drop_table("article_tags")
    op.drop_index("ix_articles_feed_id", table_name="articles")
    op.drop_index("ix_articles_story_id", table_name="articles")
    op.drop_index("ix_articles_published_at", table_name="articles")
    op.drop_table("articles")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_index("ix_feeds_next_check_at")
        for column in reversed(feed_health_columns()):
            batch.drop_column(column.name)
