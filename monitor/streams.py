"""Stream names: one stream per feed, article, subscription..., named here once."""

from __future__ import annotations


def feed_stream(feed_id: str) -> str:
    return f"feed-{feed_id}"


def article_stream(article_id: str) -> str:
    return f"article-{article_id}"
