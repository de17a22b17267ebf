"""Stream names: one stream per feed, article, subscription..., named here once."""

from __future__ import annotations


def feed_stream(feed_id: str) -> str:
    return f"feed-{feed_id}"


def article_stream(article_id: str) -> str:
    return f"article-{article_id}"


def subscription_stream(subscription_id: str) -> str:
    return f"subscription-{subscription_id}"


def delivery_stream(delivery_id: str) -> str:
    """One matched item: its ArticleMatched, and a manual retry's DeliveryRetryRequested."""
    return f"delivery-{delivery_id}"


def webhook_round_stream(lease_owner: str) -> str:
    """The attempts of one webhook worker round, recorded together in one append."""
    return f"webhooks-{lease_owner}"


def digest_stream(subscription_id: str) -> str:
    return f"digest-{subscription_id}"


def token_stream(name: str) -> str:
    """One API token by its name: issued, revoked, perhaps issued again."""
    return f"token-{name}"
