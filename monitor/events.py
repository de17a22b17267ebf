"""Every event of the system: frozen, past-tense dataclasses, and the name <-> class registry.

Events are facts. They are stored as JSON under their class name, so a class is never
renamed and a field is never removed or retyped; a new field gets a default. Standard
library only (see docs/architecture.md, "Dependency rules").
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar


class Event:
    """Base of all events. `type_name` is the stored name (the class name)."""

    type_name: ClassVar[str]


E = TypeVar("E", bound=type[Event])

_REGISTRY: dict[str, type[Event]] = {}
KNOWN_TYPES = _REGISTRY.keys()  # a live view: membership tests while reading the log
_ENCODERS: dict[type[Event], Callable[[Event], dict[str, Any]]] = {}
_DECODERS: dict[type[Event], Callable[[Mapping[str, Any]], Event]] = {}


class UnknownEventTypeError(KeyError):
    """A stored event names a class this version of the code does not know."""


def event(cls: E) -> E:
    """Register a frozen dataclass as an event type under its class name."""
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} must be a frozen dataclass")
    name = cls.__name__
    if name in _REGISTRY:
        raise TypeError(f"event type {name} registered twice")
    cls.type_name = name
    _REGISTRY[name] = cls
    _ENCODERS[cls], _DECODERS[cls] = _codec(cls)
    return cls


def event_class(type_name: str) -> type[Event]:
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise UnknownEventTypeError(type_name) from None


def event_types() -> dict[str, type[Event]]:
    return dict(_REGISTRY)


def to_data(evt: Event) -> dict[str, Any]:
    """The JSON-ready payload of an event (datetimes as ISO 8601, tuples as lists)."""
    return _ENCODERS[type(evt)](evt)


def from_data(type_name: str, data: Mapping[str, Any]) -> Event:
    """Rebuild an event; raises UnknownEventTypeError, or TypeError/ValueError if malformed."""
    return _DECODERS[event_class(type_name)](data)


def _codec(
    cls: type[Event],
) -> tuple[Callable[[Event], dict[str, Any]], Callable[[Mapping[str, Any]], Event]]:
    """Per-class encoder and decoder, precomputed so replaying millions of events stays cheap."""
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    to_json: dict[str, Callable[[Any], Any]] = {}
    from_json: dict[str, Callable[[Any], Any]] = {}
    for name in fields:
        kind = _kind(hints[name])
        if kind == "datetime":
            to_json[name] = _datetime_to_json
            from_json[name] = _datetime_from_json
        elif kind == "tuple":
            to_json[name] = list
            from_json[name] = tuple

    def encode(evt: Event) -> dict[str, Any]:
        data = {name: getattr(evt, name) for name in fields}
        for name, convert in to_json.items():
            if data[name] is not None:
                data[name] = convert(data[name])
        return data

    def decode(data: Mapping[str, Any]) -> Event:
        values = dict(data)
        for name, convert in from_json.items():
            if values.get(name) is not None:
                values[name] = convert(values[name])
        return cls(**values)

    def decode_plain(data: Mapping[str, Any]) -> Event:
        return cls(**data)

    return encode, (decode if from_json else decode_plain)


def _kind(hint: Any) -> str:
    """'datetime', 'tuple' or 'plain' for a field's type hint (optional types unwrapped)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is datetime:
        return "datetime"
    if typing.get_origin(hint) is tuple:
        return "tuple"
    return "plain"


def _datetime_to_json(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("event datetimes must be timezone-aware")
    return value.isoformat()


def _datetime_from_json(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- Feeds -------------------------------------------------------------------------------


@event
@dataclass(frozen=True)
class FeedAdded(Event):
    feed_id: str
    url: str
    name: str | None
    interval_seconds: int
    categories: tuple[str, ...] = ()
    actor: str | None = None  # who asked ("cli", "token:<name>"); None: before actors were kept


@event
@dataclass(frozen=True)
class FeedRemoved(Event):
    feed_id: str
    actor: str | None = None


@event
@dataclass(frozen=True)
class FeedPaused(Event):
    feed_id: str
    reason: str = "paused by a user"
    actor: str | None = None


@event
@dataclass(frozen=True)
class FeedResumed(Event):
    feed_id: str
    actor: str | None = None


@event
@dataclass(frozen=True)
class FeedPolled(Event):
    """A poll that reached the feed: new entries follow as ArticleDiscovered events."""

    feed_id: str
    polled_at: datetime
    http_status: int
    not_modified: bool
    items_found: int
    new_items: int
    next_check_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    ttl_seconds: int | None = None
    elapsed_ms: int = 0
    problem: str | None = None  # the document was flawed but usable (feedparser's bozo)


@event
@dataclass(frozen=True)
class FeedPollFailed(Event):
    feed_id: str
    polled_at: datetime
    reason: str  # stable, machine-readable: timeout, too_large, not_a_feed, http_status...
    message: str
    consecutive_errors: int
    next_check_at: datetime
    http_status: int | None = None
    unhealthy: bool = False


# --- Articles ----------------------------------------------------------------------------


@event
@dataclass(frozen=True)
class ArticleDiscovered(Event):
    article_id: str
    feed_id: str
    url: str | None
    guid: str | None
    title: str
    published_at: datetime
    discovered_at: datetime
    summary: str = ""
    content: str = ""
    author: str | None = None
    language: str | None = None
    dedupe_key: str = ""


@event
@dataclass(frozen=True)
class ArticleExtracted(Event):
    """The text the pipeline works on: from the page, or the feed's own content as fallback."""

    article_id: str
    source: str  # "page" or "feed"
    text: str
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    site_name: str | None = None
    language: str | None = None


@event
@dataclass(frozen=True)
class ExtractionFailed(Event):
    """The page gave no usable text; an ArticleExtracted with source "feed" follows."""

    article_id: str
    reason: str
    message: str


@event
@dataclass(frozen=True)
class StoryAssigned(Event):
    """The article joins a story: a new one (its own id) or that of a near-duplicate."""

    article_id: str
    story_id: str
    similar_to: str | None = None
    similarity: float = 0.0


@event
@dataclass(frozen=True)
class ArticleTextsPruned(Event):
    """Retention removed these articles' bodies from the log; their other facts stay.

    The matching `ArticleExtracted` events keep their place, ids and metadata with an empty
    `text`; this event, appended in the same transaction, is the record of that rewrite.
    """

    article_ids: tuple[str, ...]
    before: datetime
    pruned_at: datetime


@event
@dataclass(frozen=True)
class ArticleClassified(Event):
    """The labels one model version gave an article (a later version may classify it again)."""

    article_id: str
    model_version: str
    relevant: bool
    relevance: float
    stance: str
    stance_score: float
    actors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    topic_scores: dict[str, float] = field(default_factory=dict)
    stance_scores: dict[str, float] = field(default_factory=dict)
    explanation: dict[str, Any] = field(default_factory=dict)


# --- Analysts' labels and the model registry ---------------------------------------------


@event
@dataclass(frozen=True)
class LabelAdded(Event):
    """An analyst's judgement: of a stored article, or of a text given with the label (import).

    Fields left None were not judged; the article's current classification fills them in
    when the label becomes a training example.
    """

    label_id: str
    analyst: str
    article_id: str | None = None
    text: str | None = None
    title: str | None = None
    relevant: bool | None = None
    stance: str | None = None
    topics: tuple[str, ...] | None = None
    actors: tuple[str, ...] | None = None
    note: str | None = None
    source: str = "cli"


@event
@dataclass(frozen=True)
class LabelRetracted(Event):
    label_id: str
    analyst: str
    reason: str | None = None


@event
@dataclass(frozen=True)
class ModelTrained(Event):
    """A candidate model version, saved under the data directory, with its evaluation."""

    version: str
    trained_by: str
    path: str
    model_sha256: str
    sklearn_version: str
    data_hash: str
    counts: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    cv_metrics: dict[str, Any] = field(default_factory=dict)
    dev_metrics: dict[str, Any] | None = None


@event
@dataclass(frozen=True)
class ModelPromoted(Event):
    version: str
    previous_version: str | None
    promoted_by: str
    forced: bool = False
    reason: str | None = None


@event
@dataclass(frozen=True)
class ModelRolledBack(Event):
    from_version: str
    to_version: str
    rolled_back_by: str


@event
@dataclass(frozen=True)
class ModelIntegrityFailed(Event):
    """A stored model failed its checks when loaded; the previous model stays in use."""

    version: str
    reason: str


# --- Subscriptions and delivery ----------------------------------------------------------
# Never put a webhook secret or an unsubscribe token in these events: `monitor events list`
# shows them. Secrets live in the `subscription_targets` table, written in the transaction
# that appends SubscriptionCreated; unsubscribe tokens are an HMAC of the subscription id.


@event
@dataclass(frozen=True)
class SubscriptionCreated(Event):
    """``filters`` is ``Filters.to_dict()``; ``target`` the email address or webhook URL."""

    subscription_id: str
    channel: str  # "email" or "webhook"
    target: str
    filters: dict[str, Any]
    schedule: str
    timezone: str
    created_by: str = "cli"
    notify_email: str | None = None  # webhook: whom to tell when the endpoint is disabled


@event
@dataclass(frozen=True)
class SubscriptionRemoved(Event):
    subscription_id: str
    removed_by: str = "cli"


@event
@dataclass(frozen=True)
class SubscriptionChanged(Event):
    """The full new filters (``Filters.to_dict()``), schedule and time zone. The channel and
    its address or URL never change: a new destination is a new subscription."""

    subscription_id: str
    filters: dict[str, Any]
    schedule: str
    timezone: str
    changed_by: str = "cli"


@event
@dataclass(frozen=True)
class SubscriptionUnsubscribed(Event):
    """The subscriber left through the one-click link of a digest (RFC 8058)."""

    subscription_id: str
    via: str = "one-click"


@event
@dataclass(frozen=True)
class ArticleMatched(Event):
    """A classified article met a subscription; the delivery's intent (its outbox row is
    written in the same transaction). ``update`` counts re-sends after a material change."""

    delivery_id: str
    subscription_id: str
    article_id: str
    story_id: str
    channel: str
    model_version: str
    reasons: dict[str, Any] = field(default_factory=dict)
    update: int = 0
    changes: tuple[str, ...] = ()


@event
@dataclass(frozen=True)
class WebhookDelivered(Event):
    delivery_id: str
    subscription_id: str
    webhook_id: str
    attempt: int
    status: int
    elapsed_ms: int = 0


@event
@dataclass(frozen=True)
class WebhookAttemptFailed(Event):
    """A retryable failure; ``next_attempt_at`` is when the worker tries again."""

    delivery_id: str
    subscription_id: str
    webhook_id: str
    attempt: int
    error: str
    next_attempt_at: datetime
    status: int | None = None


@event
@dataclass(frozen=True)
class DeliveryDeadLettered(Event):
    """No more automatic attempts (a 4xx, the schedule exhausted); `deliveries retry` may."""

    delivery_id: str
    subscription_id: str
    webhook_id: str
    attempts: int
    reason: str
    status: int | None = None


@event
@dataclass(frozen=True)
class DeliveryRetryRequested(Event):
    delivery_id: str
    requested_by: str = "cli"


@event
@dataclass(frozen=True)
class EndpointDisabled(Event):
    """A webhook endpoint answered 410 or kept failing; its matches wait, not attempted."""

    subscription_id: str
    reason: str


@event
@dataclass(frozen=True)
class DigestSent(Event):
    """``possible_duplicate``: an earlier attempt may have reached the server (case 61)."""

    subscription_id: str
    period_key: str
    message_id: str
    delivery_ids: tuple[str, ...]
    attempt: int
    possible_duplicate: bool = False


@event
@dataclass(frozen=True)
class DigestAttemptFailed(Event):
    """A transient SMTP failure (4xx, connection refused or dropped): retried, same id."""

    subscription_id: str
    period_key: str
    message_id: str
    attempt: int
    error: str
    next_attempt_at: datetime
    code: int | None = None
    delivery_ids: tuple[str, ...] = ()


@event
@dataclass(frozen=True)
class DigestFailed(Event):
    """Given up: a 5xx (``permanent``, the subscriber is flagged as bouncing) or the
    give-up window of transient failures ran out."""

    subscription_id: str
    period_key: str
    message_id: str
    error: str
    permanent: bool
    code: int | None = None
    delivery_ids: tuple[str, ...] = ()


@event
@dataclass(frozen=True)
class WebhookSecretRotated(Event):
    """A new signing secret (never in the event); the old one also signs until
    ``grace_until`` so receivers can switch without losing a message (case 5)."""

    subscription_id: str
    grace_until: datetime
    rotated_by: str = "cli"


@event
@dataclass(frozen=True)
class EndpointEnabled(Event):
    """A disabled endpoint is active again; ``delivery_ids`` were re-queued (replay since
    ``replay_since``) with their original webhook-id (case 12)."""

    subscription_id: str
    enabled_by: str = "cli"
    replay_since: datetime | None = None
    delivery_ids: tuple[str, ...] = ()


@event
@dataclass(frozen=True)
class OwnerNotified(Event):
    """The owner of a disabled endpoint was mailed (case 11); ``disabled_event_id`` is the
    EndpointDisabled event the mail is about (its Message-ID is derived from both)."""

    subscription_id: str
    email: str
    message_id: str
    disabled_event_id: str


@event
@dataclass(frozen=True)
class OwnerNotificationFailed(Event):
    """The notice of a disabled endpoint could not be mailed: a 5xx, or retries gave up."""

    subscription_id: str
    email: str
    message_id: str
    disabled_event_id: str
    error: str
    code: int | None = None


# --- API tokens --------------------------------------------------------------------------
# Only the sha256 of a token is ever stored: the token itself is shown once, when issued.


@event
@dataclass(frozen=True)
class TokenIssued(Event):
    name: str
    role: str  # "viewer", "analyst" or "admin"
    token_sha256: str
    issued_by: str = "cli"


@event
@dataclass(frozen=True)
class TokenRevoked(Event):
    name: str
    revoked_by: str = "cli"
