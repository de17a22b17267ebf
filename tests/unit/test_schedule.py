"""Schedules: parsing, DST-correct send times and periods (hypothesis for the invariants)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.delivery.schedule import (
    Schedule,
    next_due,
    parse_schedule,
    period_for,
    period_key,
)
from monitor.errors import InvalidInputError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "Asia/Kathmandu",
]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def sends(schedule: str, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    moment = start
    for _ in range(1000):  # bounded
        moment = next_due(schedule, tz, moment)
        if moment >= end:
            return out
        out.append(moment)
    raise AssertionError("too many sends")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("immediate", "immediate"),
        ("HOURLY", "hourly"),
        ("daily@7:05", "daily@07:05"),
        ("weekly@monday@08:00", "weekly@MON@08:00"),
        ("weekly@sun@23:59", "weekly@SUN@23:59"),
    ],
)
def test_parse_gives_the_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_schedule(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "daily",
        "daily@24:00",
        "daily@12:60",
        "daily@noon",
        "weekly@08:00",
        "weekly@FUNDAY@08:00",
        "monthly@1@08:00",
        "hourly@10",
        "daily@12:00@x",
    ],
)
def test_invalid_schedules_name_the_field(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^schedule: "):
        parse_schedule(text)


def test_spring_forward_daily_0230_sends_once_that_day() -> None:
    times = sends("daily@02:30", BERLIN, utc(2026, 3, 27, 12), utc(2026, 3, 31, 12))
    local = [t.astimezone(BERLIN) for t in times]
    assert [t.date().day for t in local] == [28, 29, 30, 31]
    assert [f"{t:%H:%M}" for t in local] == ["02:30", "03:30", "02:30", "02:30"]
    assert times[1] == utc(2026, 3, 29, 1, 30)  # 02:30 does not exist; same offset as before


@pytest.mark.parametrize(
    ("tz", "clock", "day"),
    [(NEW_YORK, "01:30", utc(2026, 11, 1)), (BERLIN, "02:30", utc(2026, 10, 25))],
)
def test_fall_back_sends_a_repeated_time_once(tz: ZoneInfo, clock: str, day: datetime) -> None:
    times = sends(f"daily@{clock}", tz, day - timedelta(days=1), day + timedelta(days=2))
    dates = [t.astimezone(tz).date() for t in times]
    assert len(dates) == len(set(dates)) == 3
    repeated = next(
        t for t in times if t.astimezone(tz).date() == (day + timedelta(hours=12)).date()
    )
    assert repeated.astimezone(tz).fold == 0  # the first of the two 01:30 (02:30)


def test_weekly_keeps_the_wall_time_across_dst() -> None:
    times = sends("weekly@MON@08:00", BERLIN, utc(2026, 3, 1), utc(2026, 4, 15))
    assert {f"{t.astimezone(BERLIN):%a %H:%M}" for t in times} == {"Mon 08:00"}
    assert {t.hour for t in times} == {7, 6}  # CET then CEST


def test_hourly_follows_local_full_hours() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    assert next_due("hourly", kolkata, utc(2026, 11, 21, 10, 0)) == utc(2026, 11, 21, 10, 30)
    assert next_due("hourly", "UTC", utc(2026, 11, 21, 10, 0)) == utc(2026, 11, 21, 11, 0)
    fall_back = sends("hourly", BERLIN, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 3, 0))
    assert len(fall_back) == 3  # 01:00 UTC, 02:00 UTC: no hour is lost or doubled


def test_period_is_the_last_complete_one() -> None:
    start, end = period_for("daily@08:00", BERLIN, utc(2026, 11, 21, 9, 0))
    assert (start, end) == (utc(2026, 11, 20, 7, 0), utc(2026, 11, 21, 7, 0))
    assert period_for("daily@08:00", BERLIN, utc(2026, 11, 21, 7, 0))[1] == utc(2026, 11, 21, 7)
    spring = period_for("daily@02:30", BERLIN, utc(2026, 3, 29, 12))
    assert spring[1] - spring[0] == timedelta(hours=24)  # 02:30 CET .. 03:30 CEST
    assert period_key(spring) == "20260328T0130Z"


def test_immediate_and_naive_times() -> None:
    now = utc(2026, 11, 21, 10)
    assert next_due("immediate", "UTC", now) == now
    with pytest.raises(ValueError, match="no digest period"):
        period_for("immediate", "UTC", now)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_due("hourly", "UTC", datetime(2026, 11, 21, 10))


schedules = st.one_of(
    st.just(Schedule("hourly")),
    st.builds(lambda h, m: Schedule("daily", time(h, m)), st.integers(0, 23), st.integers(0, 59)),
    st.builds(
        lambda d, h, m: Schedule("weekly", time(h, m), d),
        st.integers(0, 6),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
)
moments = st.datetimes(datetime(2000, 1, 1), datetime(2037, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(schedule=schedules, zone=st.sampled_from(ZONES), after=moments)
def test_send_times_are_consistent(schedule: Schedule, zone: str, after: datetime) -> None:
    tz = ZoneInfo(zone)
    due = next_due(schedule, tz, after)
    assert due > after and due.tzinfo is UTC
    following = next_due(schedule, tz, due)
    start, end = period_for(schedule, tz, following)
    assert (start, end) == (due, following)  # periods tile with no gap or overlap
    assert period_for(schedule, tz, following - timedelta(microseconds=1))[1] == due
    local = due.astimezone(tz)
    if schedule.at is None:
        assert local.minute == 0 and following - due <= timedelta(hours=1, minutes=30)
        return
    wall = datetime.combine(local.date(), schedule.at, tzinfo=tz)
    exists = wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None)
    if exists:
        assert local.time() == schedule.at
    step = 7 if schedule.weekday is not None else 1
    assert following.astimezone(tz).date() - local.date() == timedelta(days=step)
    if schedule.weekday is not None:
        assert local.weekday() == schedule.weekday
