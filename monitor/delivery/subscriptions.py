"""What a subscriber asked for, checked once at the door, and matching articles against it.

Every refusal is an ``InvalidInputError`` whose message starts with the field it is about (a
``Filters`` or ``SubscriptionSpec`` field name, ``email``/``webhook`` for the target, or
``secret``), so the CLI and the API can point at the right input.

Matching rules: only relevant articles match; topics, stances and languages match any of
their values; actors match all of them (``actors_mode="all"``) or any; keywords match
case-insensitively as whole words or phrases in the title or the text, any include keyword
is enough and any exclude keyword vetoes. Confidence is the probability the classifier gave
to the article's own stance (``stance_scores[stance]``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import email_validator

from classifiers.labels import ACTOR_CODES, STANCES, TOPICS
from monitor.delivery.schedule import parse_schedule
from monitor.errors import InvalidInputError
from monitor.pipeline.ssrf import SsrfPolicy, check_url_syntax

ChannelKind = Literal["email", "webhook"]
ActorsMode = Literal["all", "any"]
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a password)
SECRET_BYTES = (24, 64)
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 100
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Filters:
    """Normalised filter values; an empty tuple means "no constraint"."""

    topics: tuple[str, ...] = ()
    stances: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    actors_mode: ActorsMode = "any"
    min_confidence: float = 0.0
    include_keywords: tuple[str, ...] = ()
    exclude_keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for event payloads."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Filters:
        """Inverse of ``to_dict`` (missing keys take their defaults); not validated."""
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)


@dataclass(frozen=True)
class SubscriptionSpec:
    """A subscription as requested: ``target`` is the email address or the webhook URL.

    The webhook secret is deliberately not part of the spec, so that a spec can be listed or
    logged without leaking it.
    """

    channel: ChannelKind
    target: str
    filters: Filters = field(default_factory=Filters)
    schedule: str = "immediate"
    timezone: str = "UTC"


def validate(spec: SubscriptionSpec, ssrf: SsrfPolicy | None = None) -> SubscriptionSpec:
    """Return the normalised spec or raise ``InvalidInputError`` naming the field.

    ``ssrf`` is the registration-time policy (``MONITOR_ALLOW_PRIVATE_NETWORKS`` and the
    allowlist); webhook URLs get the same no-network check as feed URLs.
    """
    if spec.channel == "email":
        target = validate_email_address(spec.target)
    elif spec.channel == "webhook":
        target = validate_webhook_url(spec.target, ssrf)
    else:
        raise InvalidInputError(f"channel: expected email or webhook, got {spec.channel!r}")
    schedule = str(parse_schedule(spec.schedule))
    if spec.channel == "webhook" and schedule != "immediate":
        raise InvalidInputError("schedule: webhooks are sent immediately; use an email digest")
    filters, timezone = validate_filters(spec.filters), validate_timezone(spec.timezone)
    return replace(spec, target=target, filters=filters, schedule=schedule, timezone=timezone)


def validate_email_address(address: str) -> str:
    """Syntax only (no DNS); the RFC 2606 ``.test`` domain is accepted for staging and tests."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidInputError("email: an address is required")
    try:
        checked = email_validator.validate_email(
            address.strip(), check_deliverability=False, test_environment=True
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidInputError(f"email: {address!r} is not a valid address: {exc}") from None
    return checked.normalized


def validate_webhook_url(url: str, ssrf: SsrfPolicy | None = None) -> str:
    """http(s) only, and no host the SSRF guard would refuse (checked without DNS)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("webhook: a URL is required")
    if any(unicodedata.category(c) == "Cc" or c.isspace() for c in url.strip()):
        raise InvalidInputError("webhook: the URL contains whitespace or control characters")
    rejection = check_url_syntax(url, ssrf)
    if rejection is not None:
        raise InvalidInputError(f"webhook: {rejection.message}")
    return url.strip()


def validate_timezone(name: str) -> str:
    """An IANA zone name known to ``zoneinfo`` (with the ``tzdata`` package as fallback)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("timezone: a time zone name such as 'Europe/Berlin' is required")
    try:
        zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"timezone: unknown time zone {name!r}") from None
    return name.strip()


def validate_filters(filters: Filters) -> Filters:
    """Check every value against the LABELS.md vocabulary and normalise case and order."""
    topics = _vocabulary("topics", filters.topics, TOPICS, str.lower)
    stances = _vocabulary("stances", filters.stances, STANCES, str.lower)
    actors = _vocabulary("actors", filters.actors, ACTOR_CODES, str.upper)
    if filters.actors_mode not in ("all", "any"):
        raise InvalidInputError(f"actors_mode: expected all or any, got {filters.actors_mode!r}")
    confidence = filters.min_confidence
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise InvalidInputError(f"min_confidence: expected a number, got {confidence!r}")
    if not 0.0 <= confidence <= 1.0:  # also refuses NaN
        raise InvalidInputError(f"min_confidence: must be between 0 and 1, got {confidence!r}")
    languages = tuple(sorted({_language(value) for value in filters.languages}))
    return Filters(
        topics=topics,
        stances=stances,
        actors=actors,
        actors_mode=filters.actors_mode,
        min_confidence=float(confidence),
        include_keywords=_keywords("include_keywords", filters.include_keywords),
        exclude_keywords=_keywords("exclude_keywords", filters.exclude_keywords),
        languages=languages,
    )


def _vocabulary(
    name: str, values: Iterable[str], allowed: Iterable[str], case: Callable[[str], str]
) -> tuple[str, ...]:
    known = frozenset(allowed)
    normalised = []
    for value in values:
        text = case(value.strip()) if isinstance(value, str) else value
        if text not in known:
            hint = ", ".join(sorted(known)) if len(known) < 10 else "see LABELS.md"
            raise InvalidInputError(f"{name}: unknown value {value!r} (expected {hint})")
        normalised.append(text)
    return tuple(sorted(set(normalised)))


def _language(value: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _LANGUAGE.match(text):
        raise InvalidInputError(f"languages: {value!r} is not an ISO 639 code such as 'en'")
    return text


def _keywords(name: str, values: Sequence[str]) -> tuple[str, ...]:
    if len(values) > MAX_KEYWORDS:
        raise InvalidInputError(f"{name}: at most {MAX_KEYWORDS} keywords")
    cleaned = []
    for value in values:
        text = " ".join(value.split()) if isinstance(value, str) else ""
        if not text or len(text) > MAX_KEYWORD_CHARS:
            raise InvalidInputError(f"{name}: {value!r} must be 1-{MAX_KEYWORD_CHARS} characters")
        if any(unicodedata.category(c).startswith("C") for c in text):
            raise InvalidInputError(f"{name}: {value!r} contains control characters")
        cleaned.append(text)
    return tuple(dict.fromkeys(cleaned))


def generate_secret(size: int = 32) -> str:
    """A new Standard Webhooks signing secret: ``whsec_`` + base64 of ``size`` random bytes."""
    if not SECRET_BYTES[0] <= size <= SECRET_BYTES[1]:
        raise ValueError(f"secret size must be {SECRET_BYTES[0]}-{SECRET_BYTES[1]} bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def validate_secret(secret: str) -> str:
    """A secret given by the user must have the shape ``generate_secret`` produces."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidInputError(f"secret: must start with {SECRET_PREFIX!r}")
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("secret: the part after 'whsec_' is not base64") from None
    if not SECRET_BYTES[0] <= len(raw) <= SECRET_BYTES[1]:
        low, high = SECRET_BYTES
        raise InvalidInputError(f"secret: must decode to {low}-{high} bytes, got {len(raw)}")
    return secret


# --- matching ---


@dataclass(frozen=True)
class ArticleView:
    """The classified article as matching, digests and webhooks see it."""

    id: str
    url: str
    title: str
    text: str
    source: str
    published_at: datetime | None
    language: str | None
    relevant: bool
    actors: tuple[str, ...]
    topics: tuple[str, ...]
    topic_scores: Mapping[str, float]
    stance: str
    stance_scores: Mapping[str, float]
    stance_score: float
    explanation: Mapping[str, Any]
    story_id: str | None
    model_version: str

    @property
    def confidence(self) -> float:
        """The probability of the article's own stance."""
        return float(self.stance_scores.get(self.stance, 0.0))


@dataclass(frozen=True)
class MatchReasons:
    """Which filter values an article met; empty where the filter was not set."""

    topics: tuple[str, ...]
    stance: str | None
    actors: tuple[str, ...]
    keywords: tuple[str, ...]
    language: str | None
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}


def match(filters: Filters, article: ArticleView) -> MatchReasons | None:
    """The reasons ``article`` matches ``filters``, or None when it does not."""
    if not article.relevant or article.confidence < filters.min_confidence:
        return None
    topics = tuple(t for t in filters.topics if t in article.topics)
    if filters.topics and not topics:
        return None
    if filters.stances and article.stance not in filters.stances:
        return None
    actors = tuple(a for a in filters.actors if a in article.actors)
    wanted = len(filters.actors) if filters.actors_mode == "all" else 1
    if filters.actors and len(actors) < wanted:
        return None
    language = (article.language or "").split("-")[0].split("_")[0].lower() or None
    if filters.languages and language not in filters.languages:
        return None
    haystack = f"{article.title}\n{article.text}"
    if filters.exclude_keywords and _keyword_pattern(filters.exclude_keywords).search(haystack):
        return None
    keywords: tuple[str, ...] = ()
    if filters.include_keywords:
        hits = _keyword_pattern(filters.include_keywords).findall(haystack)
        found = {" ".join(hit.split()).casefold() for hit in hits}
        keywords = tuple(k for k in filters.include_keywords if k.casefold() in found)
        if not keywords:
            return None
    return MatchReasons(
        topics=topics,
        stance=article.stance if filters.stances else None,
        actors=actors,
        keywords=keywords,
        language=language if filters.languages else None,
        confidence=article.confidence,
    )


@functools.lru_cache(maxsize=1024)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """Whole words or phrases, any amount of whitespace between the words of a phrase."""
    alternatives = sorted((r"\s+".join(map(re.escape, k.split())) for k in keywords), key=len)
    return re.compile(rf"(?<!\w)(?:{'|'.join(reversed(alternatives))})(?!\w)", re.IGNORECASE)
