"""Articles read model: indexes found missing by bench/service.py with 100,000 articles.

- `article_tags.article_id`: each classification replaces the article's tags, and deleting
  them by article scanned the whole table (its key starts with the tag), so projecting or
  replaying articles slowed down as they grew: 100,000 took over ten minutes.
- `articles (stance, published_at, relevant, article_id)`: `GET /api/articles?stance=...`
  (and `articles list --stance`) walked the published_at index and skipped the other stances;
  with topic and actor filters on top that was most of a request's time. With `relevant` and
  the id in the index, the tag filters are checked without reading the article rows (whose
  text makes them long), and only the page's rows are read.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_article_tags_article_id", "article_tags", ["article_id"])
    op.create_index(
        "ix_articles_stance_published_at",
        "articles",
        ["stance", "published_at", "relevant", "article_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_articles_stance_published_at", table_name="articles")
    op.drop_index("ix_article_tags_article_id", table_name="article_tags")
