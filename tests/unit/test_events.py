"""Events survive the trip to JSON and back; the registry refuses what it cannot store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from monitor.events import (
    Event,
    FeedAdded,
    FeedPaused,
    UnknownEventTypeError,
    event,
    event_class,
    from_data,
    to_data,
)


def test_round_trip_through_json_keeps_every_field() -> None:
    original = FeedAdded("f1", "https://example.org/rss", None, 900, ("news", "defence"))
    stored = json.loads(json.dumps(to_data(original)))
    assert from_data("FeedAdded", stored) == original


def test_datetimes_are_stored_as_iso_8601_and_come_back_aware() -> None:
    @dataclass(frozen=True)
    class _Stamped(Event):
        at: datetime
        maybe: datetime | None = None

    registered = event(_Stamped)
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    data = to_data(registered(moment))
    assert data == {"at": "2026-03-29T01:30:00+00:00", "maybe": None}
    assert from_data("_Stamped", data) == registered(moment)


def test_naive_datetimes_are_refused() -> None:
    @dataclass(frozen=True)
    class _Naive(Event):
        at: datetime

    with pytest.raises(ValueError, match="timezone-aware"):
        to_data(event(_Naive)(datetime(2026, 1, 1)))


def test_unknown_type_names_are_an_error() -> None:
    with pytest.raises(UnknownEventTypeError):
        event_class("NoSuchEvent")


def test_malformed_data_is_an_error() -> None:
    with pytest.raises(TypeError):
        from_data("FeedPaused", {"feed": "x"})


def test_only_frozen_dataclasses_register() -> None:
    @dataclass
    class _Mutable(Event):
        x: int

    with pytest.raises(TypeError, match="frozen"):
        event(_Mutable)


def test_a_name_registers_once() -> None:
    with pytest.raises(TypeError, match="twice"):
        event(dataclass(frozen=True)(type("FeedPaused", (Event,), {"__annotations__": {}})))


def test_events_are_immutable() -> None:
    paused = FeedPaused("f1")
    with pytest.raises(AttributeError):
        paused.feed_id = "f2"  # type: ignore[misc]
