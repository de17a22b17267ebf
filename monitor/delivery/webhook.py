"""Signed webhook requests (Standard Webhooks), one attempt at a time, and the retry policy.

The body is serialised once and those exact bytes are signed and sent, so a receiver verifying
the raw body never sees re-serialisation drift. ``webhook-id`` is chosen by the caller and
kept across retries (receivers dedupe on it); the timestamp and signature are fresh on every
attempt. Sending goes through the SSRF-guarded ``Fetcher`` (deadline, no redirects, response
read capped at 64 KiB); this module only classifies what happened.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from monitor.delivery.subscriptions import SECRET_PREFIX, ArticleView
from monitor.pipeline.fetch import Fetcher, FetchError, FetchPolicy, FetchReason

Outcome = Literal["success", "retry", "dead_letter", "disable_endpoint"]
SCHEMA_VERSION = 1
EVENT_TYPE = "article.matched"
TIMEOUT = 10.0
RESPONSE_CAP = 64 * 1024
# Svix's schedule (RELIABILITY.md 10.1): the delay after each failed attempt; 8 attempts in all.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1  # up to +10 %, so endpoints that failed together do not retry together
ROTATION_GRACE = timedelta(hours=24)
MAX_RETRY_AFTER = 24 * 3600.0  # a hostile Retry-After must not park a message for years
RETRYABLE_STATUSES = frozenset({408, 429})
_NO_ANSWER = frozenset(
    {
        FetchReason.TIMEOUT,
        FetchReason.DEADLINE,
        FetchReason.CONNECT_FAILED,
        FetchReason.CONNECTION_ERROR,
        FetchReason.DNS_FAILED,
        FetchReason.DECODE_ERROR,
        FetchReason.REDIRECT_REFUSED,
    }
)


def webhook_fetch_policy(timeout: float = TIMEOUT) -> FetchPolicy:
    """Fetcher limits for webhooks: one overall deadline, no politeness delay, 64 KiB read."""
    return FetchPolicy(
        connect_timeout=min(5.0, timeout),
        read_timeout=timeout,
        deadline=timeout,
        max_webhook_response_bytes=RESPONSE_CAP,
        per_host_concurrency=4,
        per_host_delay=0.0,
        respect_robots=False,
    )


def _utc_text(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def article_payload(article: ArticleView) -> dict[str, Any]:
    """The ``article`` object of INTERFACE.md (everything but the text)."""
    return {
        "id": article.id,
        "url": article.url,
        "title": article.title,
        "source": article.source,
        "published_at": _utc_text(article.published_at),
        "language": article.language,
        "relevant": article.relevant,
        "actors": list(article.actors),
        "topics": list(article.topics),
        "topic_scores": dict(article.topic_scores),
        "stance": article.stance,
        "stance_scores": dict(article.stance_scores),
        "stance_score": article.stance_score,
        "explanation": article.explanation,
        "story_id": article.story_id,
        "model_version": article.model_version,
    }


def build_payload(
    *, message_id: str, subscription_id: str, article: ArticleView, occurred_at: datetime
) -> bytes:
    """Compact UTF-8 JSON; these bytes are what is signed and sent."""
    document = {
        "type": EVENT_TYPE,
        "schema_version": SCHEMA_VERSION,
        "id": message_id,
        "occurred_at": _utc_text(occurred_at),
        "subscription_id": subscription_id,
        "article": article_payload(article),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(
    secrets: str | Sequence[str], msg_id: str, timestamp: int | datetime, body: bytes
) -> dict[str, str]:
    """Standard Webhooks headers; several secrets (rotation) give several ``v1`` signatures."""
    seconds = int(timestamp.timestamp()) if isinstance(timestamp, datetime) else int(timestamp)
    signed = f"{msg_id}.{seconds}.".encode() + body
    signatures = []
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode("ascii"))
    if not signatures:
        raise ValueError("at least one secret is needed to sign")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": " ".join(signatures),
    }


def active_secrets(
    current: str,
    previous: str | None,
    rotated_at: datetime | None,
    now: datetime,
    grace: timedelta = ROTATION_GRACE,
) -> list[str]:
    """Secrets to sign with: the new one, plus the old one until the grace window ends."""
    if previous and rotated_at is not None and now < rotated_at + grace:
        return [current, previous]
    return [current]


@dataclass(frozen=True)
class AttemptResult:
    """One attempt. ``retry`` means retryable: ``next_attempt_at`` decides if one is left.
    ``not_before`` is set when the receiver sent Retry-After."""

    outcome: Outcome
    status: int | None
    error: str | None
    elapsed: float
    retry_after: float | None = None
    not_before: datetime | None = None
    response_bytes: int = 0  # how much of the answer was read (at most 64 KiB)


async def deliver(
    fetcher: Fetcher,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    monotonic: Callable[[], float] = time.monotonic,
) -> AttemptResult:
    """POST ``body`` once with ``headers`` (from ``sign``) and classify the answer."""
    started = monotonic()
    try:
        result = await fetcher.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}
        )
    except FetchError as exc:
        elapsed = monotonic() - started
        outcome = _failure_outcome(exc)
        wait = None if exc.retry_after is None else min(exc.retry_after, MAX_RETRY_AFTER)
        not_before = None
        if wait is not None and outcome == "retry":
            not_before = now() + timedelta(seconds=wait)
        return AttemptResult(outcome, exc.status, str(exc), elapsed, wait, not_before)
    elapsed = monotonic() - started
    return AttemptResult("success", result.status, None, elapsed, response_bytes=len(result.body))


def _failure_outcome(error: FetchError) -> Outcome:
    if error.reason == FetchReason.HTTP_STATUS and error.status is not None:
        if error.status == 410:
            return "disable_endpoint"
        if error.status >= 500 or error.status in RETRYABLE_STATUSES:
            return "retry"
        return "dead_letter"
    # Guard refusals (SSRF, scheme, URL) will not change by waiting.
    return "retry" if error.reason in _NO_ANSWER else "dead_letter"


def next_attempt_at(
    attempt_number: int,
    now: datetime,
    retry_after: float | None = None,
    *,
    schedule: Sequence[timedelta] = RETRY_SCHEDULE,
    jitter: float = JITTER,
    rng: Callable[[], float] = random.random,
) -> datetime | None:
    """When to try again after attempt ``attempt_number`` (1 = the first) failed, or None
    for the dead letter. Never earlier than ``retry_after`` seconds (at most a day) from now."""
    if attempt_number < 1:
        raise ValueError("attempts are numbered from 1")
    if attempt_number > len(schedule):
        return None
    delay = schedule[attempt_number - 1] * (1 + jitter * rng())
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=min(retry_after, MAX_RETRY_AFTER)))
    return now + delay
