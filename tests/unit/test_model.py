"""Pure decisions: intervals and a feed's lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.events import (
    FeedAdded,
    FeedPaused,
    FeedPolled,
    FeedPollFailed,
    FeedRemoved,
    FeedResumed,
)
from monitor.model import (
    Feed,
    FeedFold,
    max_age_seconds,
    next_check_after_failure,
    next_check_after_success,
    parse_http_date,
    parse_interval,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h", 3600), ("1h30m", 5400), ("90s", 90), ("2d", 172800), ("120", 120)],
)
def test_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15x", "10s", "5m banana"])
def test_bad_or_too_short_intervals_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|minimum"):
        parse_interval(text)


def test_feed_lifecycle() -> None:
    added = FeedAdded("f", "https://e.org/rss", None, 900)
    assert Feed.fold("f", []).status == "new"
    assert Feed.fold("f", [added]).status == "active"
    assert Feed.fold("f", [added, FeedPaused("f")]).status == "paused"
    assert Feed.fold("f", [added, FeedPaused("f"), FeedResumed("f")]).status == "active"
    removed = Feed.fold("f", [added, FeedRemoved("f")])
    assert removed.status == "removed" and not removed.registered


def test_feed_snapshot_round_trip_and_refusal() -> None:
    fold = FeedFold()
    state = Feed.fold("f", [FeedAdded("f", "https://e.org/rss", None, 900)])
    assert fold.load(fold.dump(state)) == state
    with pytest.raises(ValueError, match="status"):
        fold.load({"feed_id": "f", "status": "exploded", "url": None})


# --- scheduling as data -------------------------------------------------------------------

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _minutes(moment: datetime) -> float:
    return (moment - NOW).total_seconds() / 60


def test_a_good_poll_waits_the_interval_or_what_the_feed_and_server_ask() -> None:
    assert _minutes(next_check_after_success(NOW, 900)) == 15
    assert _minutes(next_check_after_success(NOW, 900, ttl_seconds=3600)) == 60
    assert _minutes(next_check_after_success(NOW, 900, max_age_seconds=1800)) == 30
    expires = NOW + timedelta(hours=2)
    assert _minutes(next_check_after_success(NOW, 900, expires=expires)) == 120
    assert _minutes(next_check_after_success(NOW, 900, ttl_seconds=10**9)) == 24 * 60
    assert _minutes(next_check_after_success(NOW, 900, max_age_seconds=60)) == 15  # never sooner


def test_jitter_only_ever_delays_by_at_most_ten_percent() -> None:
    assert _minutes(next_check_after_success(NOW, 600, jitter=0.999)) == pytest.approx(11, 0.01)


def test_failures_back_off_exponentially_to_a_day_then_mark_unhealthy() -> None:
    waits = [next_check_after_failure(NOW, 900, n) for n in range(1, 12)]
    minutes = [_minutes(at) for at, _ in waits]
    assert minutes[:4] == [15, 30, 60, 120]
    assert max(minutes) == 24 * 60
    assert [unhealthy for _, unhealthy in waits] == [False] * 9 + [True] * 2


def test_retry_after_is_honoured_up_to_a_week() -> None:
    at, _ = next_check_after_failure(NOW, 60, 1, retry_after_seconds=7200)
    assert _minutes(at) == 120
    at, _ = next_check_after_failure(NOW, 60, 1, retry_after_seconds=10**9)
    assert _minutes(at) == 7 * 24 * 60


def test_cache_headers() -> None:
    assert max_age_seconds("public, max-age=600") == 600
    assert max_age_seconds("s-maxage=10") is None
    assert max_age_seconds("no-store, max-age=600") is None
    assert max_age_seconds(None) is None
    assert parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT") == datetime(
        2015, 10, 21, 7, 28, tzinfo=UTC
    )
    assert parse_http_date("yesterday") is None


def test_poll_outcomes_fold_into_the_feed() -> None:
    added = FeedAdded("f", "https://e.org/rss", None, 900)
    ok = FeedPolled("f", NOW, 200, False, 3, 3, NOW, etag='"a"', last_modified="lm")
    not_modified = FeedPolled("f", NOW, 304, True, 0, 0, NOW)
    failed = FeedPollFailed("f", NOW, "timeout", "slow", 4, NOW)
    state = Feed.fold("f", [added, ok, not_modified])
    assert (state.etag, state.last_modified) == ('"a"', "lm")  # a 304 keeps the validators
    assert Feed.fold("f", [added, ok, failed]).consecutive_errors == 4
    assert Feed.fold("f", [added, failed, ok]).consecutive_errors == 0
