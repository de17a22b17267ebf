"""Digest schedules: ``immediate``, ``hourly``, ``daily@HH:MM``, ``weekly@DAY@HH:MM``.

Times are wall-clock times in the subscriber's IANA zone, and every instant returned is
UTC-aware. Why the care: a naive "add 24 hours" drifts by an hour at each DST change and a
wall time can be missing (spring forward) or happen twice (fall back). Here each local date
has exactly one send time: a missing time is taken with the offset in force before the gap
(``02:30`` on the Berlin spring-forward day is sent at 03:30 CEST) and a repeated time at its
first occurrence (``fold=0``), so a day never sends twice and never zero times.

Periods run from one send time to the next; ``hourly`` sends at every local full hour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.errors import InvalidInputError

Kind = Literal["immediate", "hourly", "daily", "weekly"]
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_FULL_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_QUARTER = timedelta(minutes=15)  # every offset in the tz database is a multiple of this
_EXPECTED = "expected immediate, hourly, daily@HH:MM or weekly@DAY@HH:MM"


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; ``str()`` gives the canonical text (``weekly@MON@08:00``)."""

    kind: Kind
    at: time | None = None
    weekday: int | None = None  # Monday is 0

    def __str__(self) -> str:
        if self.at is None:
            return self.kind
        clock = f"{self.at:%H:%M}"
        if self.weekday is None:
            return f"{self.kind}@{clock}"
        return f"{self.kind}@{DAYS[self.weekday]}@{clock}"


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule string; ``InvalidInputError`` starting with ``schedule:`` otherwise."""
    raw = text.strip() if isinstance(text, str) else ""
    parts = raw.split("@")
    kind = parts[0].lower()
    if kind in ("immediate", "hourly") and len(parts) == 1:
        return Schedule(kind)  # type: ignore[arg-type]
    if kind == "daily" and len(parts) == 2:
        return Schedule("daily", _clock(parts[1], text))
    if kind == "weekly" and len(parts) == 3:
        return Schedule("weekly", _clock(parts[2], text), _weekday(parts[1], text))
    raise InvalidInputError(f"schedule: {_EXPECTED}, got {text!r}")


def _clock(value: str, text: str) -> time:
    found = _TIME.match(value.strip())
    if not found:
        raise InvalidInputError(
            f"schedule: {value!r} in {text!r} is not a time HH:MM (00:00-23:59)"
        )
    return time(int(found[1]), int(found[2]))


def _weekday(value: str, text: str) -> int:
    name = value.strip().upper()
    for names in (DAYS, _FULL_DAYS):
        if name in names:
            return names.index(name)
    raise InvalidInputError(f"schedule: {value!r} in {text!r} is not a day such as MON or monday")


def _coerce(schedule: Schedule | str, tz: ZoneInfo | str) -> tuple[Schedule, ZoneInfo]:
    parsed = parse_schedule(schedule) if isinstance(schedule, str) else schedule
    return parsed, tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(UTC)


def local_send_time(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on local ``day`` (see the module docstring)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _instants(schedule: Schedule, tz: ZoneInfo, around: datetime) -> list[datetime]:
    """Every send time from a little over a week before ``around`` to a week after, sorted."""
    if schedule.kind == "hourly":
        start = around - timedelta(hours=3)
        start -= timedelta(
            minutes=start.minute % 15, seconds=start.second, microseconds=start.microsecond
        )
        grid = (start + i * _QUARTER for i in range(25))
        return [t for t in grid if t.astimezone(tz).minute == 0]
    assert schedule.at is not None
    today = around.astimezone(tz).date()
    days = (today + timedelta(days=offset) for offset in range(-16, 9))
    if schedule.weekday is not None:
        days = (d for d in days if d.weekday() == schedule.weekday)
    return sorted(local_send_time(d, schedule.at, tz) for d in days)


def next_due(schedule: Schedule | str, tz: ZoneInfo | str, after: datetime) -> datetime:
    """The first send time strictly after ``after``; ``immediate`` is always due now."""
    parsed, zone = _coerce(schedule, tz)
    after = _aware(after)
    if parsed.kind == "immediate":
        return after
    return min(t for t in _instants(parsed, zone, after) if t > after)


def period_for(
    schedule: Schedule | str, tz: ZoneInfo | str, now: datetime
) -> tuple[datetime, datetime]:
    """The last complete period at ``now``: ``(start, end)`` with ``end <= now``.

    ``immediate`` has no periods (each match is sent on its own), so it is refused.
    """
    parsed, zone = _coerce(schedule, tz)
    now = _aware(now)
    if parsed.kind == "immediate":
        raise ValueError("immediate subscriptions have no digest period")
    instants = _instants(parsed, zone, now)
    end = max(t for t in instants if t <= now)
    return max(t for t in instants if t < end), end


def period_key(period: tuple[datetime, datetime]) -> str:
    """A stable text key for a period (its UTC start), used in Message-IDs and unique keys."""
    return f"{_aware(period[0]):%Y%m%dT%H%MZ}"
