"""Pure decisions: intervals and a feed's lifecycle."""

from __future__ import annotations

import pytest

from monitor.events import FeedAdded, FeedPaused, FeedRemoved, FeedResumed
from monitor.model import Feed, FeedFold, parse_interval


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
