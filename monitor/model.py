"""Pure decisions folded from events: no I/O, standard library only."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from monitor.events import Event, FeedAdded, FeedPaused, FeedRemoved, FeedResumed

DEFAULT_FEED_INTERVAL = 15 * 60
MIN_FEED_INTERVAL = 60

FeedStatus = Literal["new", "active", "paused", "removed"]


@dataclass(frozen=True)
class Feed:
    """A feed's state as its own stream tells it."""

    feed_id: str
    status: FeedStatus = "new"
    url: str | None = None

    @property
    def registered(self) -> bool:
        return self.status in ("active", "paused")

    def apply(self, evt: Event) -> Feed:
        if isinstance(evt, FeedAdded):
            return replace(self, status="active", url=evt.url)
        if isinstance(evt, FeedRemoved):
            return replace(self, status="removed")
        if isinstance(evt, FeedPaused):
            return replace(self, status="paused")
        if isinstance(evt, FeedResumed):
            return replace(self, status="active")
        return self

    @classmethod
    def fold(cls, feed_id: str, events: Iterable[Event]) -> Feed:
        state = cls(feed_id)
        for evt in events:
            state = state.apply(evt)
        return state


class FeedFold:
    """How a feed stream folds into `Feed`, and how that state is snapshotted."""

    schema_version = 1

    def initial(self, stream_id: str) -> Feed:
        return Feed(stream_id.removeprefix("feed-"))

    def apply(self, state: Feed, evt: Event) -> Feed:
        return state.apply(evt)

    def dump(self, state: Feed) -> dict[str, Any]:
        return {"feed_id": state.feed_id, "status": state.status, "url": state.url}

    def load(self, data: dict[str, Any]) -> Feed:
        status = data["status"]
        if status not in ("new", "active", "paused", "removed"):
            raise ValueError(f"unknown feed status {status!r}")
        return Feed(feed_id=data["feed_id"], status=status, url=data["url"])


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
