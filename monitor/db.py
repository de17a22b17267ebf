"""SQLAlchemy Core tables: the event log, follower tracking, snapshots and the read models.

This metadata is Alembic's target; migrations in `alembic/versions` are the only way a schema
is created, and a test checks that the two agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite would drop the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (binary, indexable), JSON text elsewhere.
Json = JSON().with_variant(JSONB(), "postgresql")
# A 64-bit position on PostgreSQL; SQLite needs INTEGER PRIMARY KEY to alias the rowid.
Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("data", Json, nullable=False),
    Column("metadata", Json, nullable=False, key="meta"),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("event_id", name="uq_events_event_id"),
    UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    Index("ix_events_type_position", "event_type", "position"),
)

tracking = Table(
    "tracking",
    metadata,
    Column("follower", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("stream_version", Integer, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("state", Json, nullable=False),
    Column("taken_at", UTCDateTime(), nullable=False),
)

# --- read models (owned by monitor.projections; rebuilt by `monitor replay`) --------------

activity = Table(
    "activity",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("event_type", String(100), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

feeds = Table(
    "feeds",
    metadata,
    Column("feed_id", String(36), primary_key=True),
    Column("url", Text, nullable=False),
    Column("name", Text),
    Column("categories", Json, nullable=False),
    Column("interval_seconds", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_reason", Text),
    Column("added_at", UTCDateTime(), nullable=False),
    # health, from FeedPolled / FeedPollFailed
    Column("health", String(20), nullable=False, server_default="new"),
    Column("last_polled_at", UTCDateTime()),
    Column("last_http_status", Integer),
    Column("last_error", Text),
    Column("consecutive_errors", Integer, nullable=False, server_default="0"),
    Column("items_found", Integer),
    Column("new_items", Integer),
    Column("next_check_at", UTCDateTime()),
    Column("etag", Text),  # validators of the last good poll, for conditional GET
    Column("last_modified", Text),
    UniqueConstraint("url", name="uq_feeds_url"),
    Index("ix_feeds_next_check_at", "next_check_at"),
)

articles = Table(
    "articles",
    metadata,
    Column("article_id", String(36), primary_key=True),
    Column("feed_id", String(36), nullable=False),
    Column("url", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("author", Text),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("discovered_at", UTCDateTime(), nullable=False),
    Column("language", String(20)),
    Column("stage", String(20), nullable=False),  # discovered, extracted, classified
    Column("text", Text),
    Column("text_source", String(10)),  # page or feed
    Column("site_name", Text),
    Column("extraction_error", Text),
    Column("story_id", String(36)),
    Column("model_version", String(64)),
    Column("relevant", Boolean),
    Column("relevance", Float),
    Column("stance", String(20)),
    Column("stance_score", Float),
    Column("confidence", Float),
    Column("actors", Json),
    Column("topics", Json),
    Column("topic_scores", Json),
    Column("stance_scores", Json),
    Column("explanation", Json),
    Column("classified_at", UTCDateTime()),
    Index("ix_articles_published_at", "published_at"),
    Index("ix_articles_story_id", "story_id"),
    Index("ix_articles_feed_id", "feed_id"),
)

# Topics, actors and (for a relevant article) stance of an article's latest classification,
# one row each ("topic:x", "actor:TUR", "stance:tension"), with its publication time: a
# filtered listing walks one tag's rows newest first and checks the others by primary key
# (migration 0010).
article_tags = Table(
    "article_tags",
    metadata,
    Column("tag", String(60), primary_key=True),
    Column("article_id", String(36), primary_key=True),
    Column("published_at", UTCDateTime()),
    Index("ix_article_tags_article_id", "article_id"),  # a re-classification replaces them
    Index("ix_article_tags_tag_published", "tag", "published_at", "article_id"),
)

labels = Table(
    "labels",
    metadata,
    Column("label_id", String(36), primary_key=True),
    Column("analyst", String(200), nullable=False),
    Column("article_id", String(36)),
    Column("text", Text),
    Column("title", Text),
    Column("relevant", Boolean),
    Column("stance", String(20)),
    Column("topics", Json),
    Column("actors", Json),
    Column("note", Text),
    Column("source", String(200), nullable=False),
    Column("added_at", UTCDateTime(), nullable=False),
    Column("retracted_at", UTCDateTime()),
    Index("ix_labels_article_id", "article_id"),
)

models = Table(
    "models",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("status", String(20), nullable=False),  # candidate, active, retired
    Column("trained_at", UTCDateTime(), nullable=False),
    Column("trained_by", String(200), nullable=False),
    Column("path", Text, nullable=False),
    Column("model_sha256", String(64), nullable=False),
    Column("sklearn_version", String(20), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("counts", Json, nullable=False),
    Column("params", Json, nullable=False),
    Column("cv_metrics", Json, nullable=False),
    Column("dev_metrics", Json),
    Column("promoted_at", UTCDateTime()),
    Column("promoted_by", String(200)),
    Column("integrity_error", Text),
)

# --- pipeline state (written by a stage in the transaction that records its events) -----

# Every identity an article is known by (canonical URL, GUID): how a copy of an article seen
# in another feed is recognised before a second ArticleDiscovered could be recorded.
article_keys = Table(
    "article_keys",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("article_id", String(36), nullable=False),
)

# MinHash signatures and LSH band keys of extracted texts, to find an article's story.
story_signatures = Table(
    "story_signatures",
    metadata,
    Column("article_id", String(36), primary_key=True),
    Column("story_id", String(36), nullable=False),
    Column("signature", Json, nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
)

story_bands = Table(
    "story_bands",
    metadata,
    Column("band_key", String(64), primary_key=True),
    Column("article_id", String(36), primary_key=True),
)

# --- Subscriptions and delivery -----------------------------------------------------------
# Command-side and outbox state (not projections: `monitor replay` never empties them):
# `subscription_targets` is written by the subscription use cases in the transaction that
# appends the lifecycle event, and is the only place a webhook secret is stored;
# `match_state`, `delivery_outbox` and `digests` are written by the matching stage and the
# delivery workers together with the events they append (an outbox: intent, send, result).

subscription_targets = Table(
    "subscription_targets",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("target", Text, nullable=False),
    Column("filters", Json, nullable=False),
    Column("schedule", String(40), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("status", String(20), nullable=False),  # active, disabled, bouncing, removed...
    Column("status_reason", Text),
    Column("secret", Text),  # the webhook signing secret; never in an event
    Column("created_at", UTCDateTime(), nullable=False),
    # Log positions of SubscriptionCreated and of its end: an article is matched against the
    # subscriptions that existed at its ArticleClassified, however late the stage runs.
    Column("created_position", BigInteger, nullable=False),
    Column("ended_position", BigInteger),
    Column("failing_since", UTCDateTime()),  # webhook: start of the current failure streak
    # Webhook secret rotation (case 5): the old secret still signs until previous_secret_until.
    Column("previous_secret", Text),  # never in an event, like `secret`
    Column("secret_rotated_at", UTCDateTime()),
    Column("previous_secret_until", UTCDateTime()),
    # Owner notice of a disabled endpoint (case 11): notice_key is the EndpointDisabled event
    # still to be mailed to notify_email, notice_due when to try (or a sender's claim ends).
    Column("notify_email", Text),
    Column("disabled_at", UTCDateTime()),
    Column("notice_key", String(36)),
    Column("notice_due", UTCDateTime()),
)

# What each subscription was last sent of each story: copies from other outlets are not sent
# again, and a re-score is re-sent (as an update) only when it changed materially.
match_state = Table(
    "match_state",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("story_id", String(36), primary_key=True),
    Column("article_id", String(36), nullable=False),
    Column("update_no", Integer, nullable=False),
    Column("stance", String(20), nullable=False),
    Column("topics", Json, nullable=False),
)

delivery_outbox = Table(
    "delivery_outbox",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("subscription_id", String(36), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("article_id", String(36), nullable=False),
    Column("webhook_id", String(64), nullable=False),
    Column("body", Text),  # the exact webhook bytes (UTF-8), signed afresh on every attempt
    Column("view", Json, nullable=False),  # the article as matched, and the match reasons
    Column("matched_at", UTCDateTime(), nullable=False),
    Column("status", String(20), nullable=False),  # pending, delivered, dead; email: sent
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(36)),
    Column("lease_until", UTCDateTime()),
    Column("digest_key", String(60)),  # email: the digest that carries this item
    Index("ix_delivery_outbox_status_due", "status", "next_attempt_at"),
    Index("ix_delivery_outbox_subscription", "subscription_id", "digest_key"),
)

digests = Table(
    "digests",
    metadata,
    Column("digest_id", String(36), primary_key=True),
    Column("subscription_id", String(36), nullable=False),
    Column("period_key", String(60), nullable=False),
    Column("period_start", UTCDateTime(), nullable=False),
    Column("period_end", UTCDateTime(), nullable=False),
    Column("message_id", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending, sent, failed, empty, cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(36)),
    Column("lease_until", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("counts", Json, nullable=False),
    Column("possible_duplicate", Boolean, nullable=False),
    UniqueConstraint("subscription_id", "period_key", name="uq_digests_subscription_period"),
    Index("ix_digests_status_due", "status", "next_attempt_at"),
)

# Read models (monitor.projections.subscriptions and .deliveries).
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("target", Text, nullable=False),
    Column("filters", Json, nullable=False),
    Column("schedule", String(40), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_reason", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("matched", Integer, nullable=False),
    Column("delivered", Integer, nullable=False),
    Column("last_delivered_at", UTCDateTime()),
    Column("notify_email", Text),  # webhook: the owner told when the endpoint is disabled
    Column("owner_notified_at", UTCDateTime()),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("subscription_id", String(36), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("article_id", String(36), nullable=False),
    Column("story_id", String(36), nullable=False),
    Column("update_no", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # pending, retrying, delivered, dead, failed
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("next_attempt_at", UTCDateTime()),
    Column("matched_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("period_key", String(60)),
    Index("ix_deliveries_subscription_id", "subscription_id"),
    Index("ix_deliveries_status", "status"),
)

# Read model of API tokens (monitor.projections.tokens): the sha256 of each, never the token.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(10), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("issued_by", String(200), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("revoked_by", String(200)),
)

# --- Coordination between processes (monitor.leases) --------------------------------------

# Time-limited ownership: the scheduler's leader ("scheduler"), each follower
# ("follower:<name>") and each live worker ("worker:<owner>"). A lease is taken or renewed
# with one conditional upsert; a holder that stops renewing loses it at `expires_at`.
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("renewed_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# The poll of a feed's due time (`slot`, its next_check_at) claimed by one scheduler, so
# that schedulers firing together queue it once; a claim left by a dead poller lapses.
poll_claims = Table(
    "poll_claims",
    metadata,
    Column("feed_id", String(36), primary_key=True),
    Column("slot", UTCDateTime(), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("claimed_until", UTCDateTime(), nullable=False),
)
