"""Pure decisions folded from events: no I/O, standard library only."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from monitor.events import (
    Event,
    FeedAdded,
    FeedPaused,
    FeedPolled,
    FeedPollFailed,
    FeedRemoved,
    FeedResumed,
)

DEFAULT_FEED_INTERVAL = 15 * 60
MIN_FEED_INTERVAL = 60
MAX_BACKOFF = 24 * 3600  # a failing feed is still tried at least daily
UNHEALTHY_AFTER = 10  # consecutive errors before a feed is marked unhealthy
MAX_RETRY_AFTER = 7 * 24 * 3600  # a server cannot push us away for longer than a week
JITTER = 0.1  # up to 10 % later, so feeds added together do not stay in lockstep

FeedStatus = Literal["new", "active", "paused", "removed"]


@dataclass(frozen=True)
class Feed:
    """A feed's state as its own stream tells it: lifecycle, and what the next poll needs."""

    feed_id: str
    status: FeedStatus = "new"
    url: str | None = None
    interval_seconds: int = DEFAULT_FEED_INTERVAL
    consecutive_errors: int = 0
    etag: str | None = None
    last_modified: str | None = None
    next_check_at: datetime | None = None

    @property
    def registered(self) -> bool:
        return self.status in ("active", "paused")

    def apply(self, evt: Event) -> Feed:
        if isinstance(evt, FeedAdded):
            return Feed(evt.feed_id, "active", evt.url, evt.interval_seconds)
        if isinstance(evt, FeedRemoved):
            return replace(self, status="removed")
        if isinstance(evt, FeedPaused):
            return replace(self, status="paused")
        if isinstance(evt, FeedResumed):
            return replace(self, status="active")
        if isinstance(evt, FeedPolled):
            keep = evt.not_modified  # a 304 may omit validators; the stored ones stay valid
            return replace(
                self,
                consecutive_errors=0,
                etag=(evt.etag or self.etag) if keep else evt.etag,
                last_modified=(evt.last_modified or self.last_modified)
                if keep
                else evt.last_modified,
                next_check_at=evt.next_check_at,
            )
        if isinstance(evt, FeedPollFailed):
            return replace(
                self, consecutive_errors=evt.consecutive_errors, next_check_at=evt.next_check_at
            )
        return self

    @classmethod
    def fold(cls, feed_id: str, events: Iterable[Event]) -> Feed:
        state = cls(feed_id)
        for evt in events:
            state = state.apply(evt)
        return state


class FeedFold:
    """How a feed stream folds into `Feed`, and how that state is snapshotted."""

    schema_version = 2

    def initial(self, stream_id: str) -> Feed:
        return Feed(stream_id.removeprefix("feed-"))

    def apply(self, state: Feed, evt: Event) -> Feed:
        return state.apply(evt)

    def dump(self, state: Feed) -> dict[str, Any]:
        return {
            "feed_id": state.feed_id,
            "status": state.status,
            "url": state.url,
            "interval_seconds": state.interval_seconds,
            "consecutive_errors": state.consecutive_errors,
            "etag": state.etag,
            "last_modified": state.last_modified,
            "next_check_at": state.next_check_at.isoformat() if state.next_check_at else None,
        }

    def load(self, data: dict[str, Any]) -> Feed:
        status = data["status"]
        if status not in ("new", "active", "paused", "removed"):
            raise ValueError(f"unknown feed status {status!r}")
        next_check = data["next_check_at"]
        return Feed(
            feed_id=data["feed_id"],
            status=status,
            url=data["url"],
            interval_seconds=int(data["interval_seconds"]),
            consecutive_errors=int(data["consecutive_errors"]),
            etag=data["etag"],
            last_modified=data["last_modified"],
            next_check_at=datetime.fromisoformat(next_check) if next_check else None,
        )


def next_check_after_success(
    now: datetime,
    interval_seconds: int,
    *,
    ttl_seconds: int | None = None,
    max_age_seconds: int | None = None,
    expires: datetime | None = None,
    jitter: float = 0.0,
) -> datetime:
    """The next poll after a good one: never sooner than the feed or its server asks.

    The feed's TTL / sy:updatePeriod and the response's Cache-Control max-age or Expires can
    only lengthen our own interval, up to a day. `jitter` in [0, 1) spreads polls.
    """
    wait = max(interval_seconds, ttl_seconds or 0, max_age_seconds or 0)
    if expires is not None:
        wait = max(wait, int((expires - now).total_seconds()))
    wait = min(wait, MAX_BACKOFF)
    return now + timedelta(seconds=wait * (1 + JITTER * jitter))


def next_check_after_failure(
    now: datetime,
    interval_seconds: int,
    consecutive_errors: int,
    *,
    retry_after_seconds: float | None = None,
    jitter: float = 0.0,
) -> tuple[datetime, bool]:
    """The next poll after the n-th failure in a row, and whether the feed is now unhealthy.

    Exponential backoff from the feed's interval, capped at a day; after UNHEALTHY_AFTER
    failures the feed is retried daily. A Retry-After (429/503) is honoured, up to a week.
    """
    unhealthy = consecutive_errors >= UNHEALTHY_AFTER
    exponent = max(consecutive_errors - 1, 0)
    wait = MAX_BACKOFF if unhealthy else min(interval_seconds * 2 ** min(exponent, 20), MAX_BACKOFF)
    if retry_after_seconds is not None:
        wait = max(wait, min(int(retry_after_seconds), MAX_RETRY_AFTER))
    return now + timedelta(seconds=wait * (1 + JITTER * jitter)), unhealthy


_MAX_AGE = re.compile(r"(?:^|[,\s])(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def max_age_seconds(cache_control: str | None) -> int | None:
    """Cache-Control's max-age; None when absent or when the response may not be cached."""
    if not cache_control or "no-store" in cache_control.lower():
        return None
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (Expires, Last-Modified) as aware UTC; None when missing or malformed."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int:
    """'15m', '1h30m', '90s', '2d' or plain seconds -> seconds (at least one minute)."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        seconds = int(cleaned)
    else:
        parts = _DURATION.findall(cleaned)
        if not parts or _DURATION.sub("", cleaned).strip():
            raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 1h, 1h30m)")
        seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in parts)
    if seconds < MIN_FEED_INTERVAL:
        raise ValueError(f"interval {text!r} is below the minimum of 1 minute")
    return seconds
