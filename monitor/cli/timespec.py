"""Spans and moments as users type them on the command line: `7d`, `24h`, `2026-01-31`.

One parser for every option that takes a span back from now or a date, so `--since`,
`--replay-since`, `--grace` and `--older-than` accept the same forms and fail the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from monitor.errors import InvalidInputError
from monitor.eventlog import utcnow

_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_span(option: str, text: str) -> timedelta:
    """`90s`, `15m`, `24h`, `7d` or `2w` as a duration."""
    found = _SPAN.match(text.strip().lower())
    if found is None:
        raise InvalidInputError(f"{option}: expected a span such as 24h or 7d, got {text!r}")
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def parse_since(option: str, text: str) -> datetime:
    """A date or time (ISO 8601, UTC if no offset), or a span back from now (7d, 24h)."""
    if _SPAN.match(text.strip().lower()):
        return utcnow() - parse_span(option, text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{option}: not a date or span: {text!r} (use 2026-01-31 or 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
