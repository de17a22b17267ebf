"""Reading the pages' query strings and forms into the values the queries and commands take,
and the post-redirect-get step every write ends with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse

from classifiers.labels import ACTOR_CODES, STANCES, TOPICS
from monitor.errors import MonitorError
from monitor.web.session import flash

PERIODS = {"1": "24 hours", "7": "7 days", "30": "30 days", "90": "90 days", "365": "a year"}
T = TypeVar("T")


def period_days(value: str | None, default: int = 7, allowed: dict[str, str] = PERIODS) -> int:
    """One of the offered periods in days; anything else is the default."""
    return int(value) if value in allowed else default


def actor_pair(value: str | None) -> list[str]:
    """ "TUR-USA" to ["TUR", "USA"]; unknown codes are dropped (never an error on a read)."""
    codes = [code.strip().upper() for code in (value or "").split("-")]
    return [code for code in codes if code in ACTOR_CODES][:2]


def choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def topic(value: str | None) -> str | None:
    return choice(value, TOPICS)


def stance(value: str | None) -> str | None:
    return choice(value, STANCES)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def attempt(request: Request, done: str, action: Callable[[], T]) -> T | None:
    """Run a command; flash `done` (formatted with its result) or the user-facing error."""
    try:
        result = action()
    except MonitorError as exc:
        flash(request, str(exc), "error")
        return None
    flash(request, done.format(result=result))
    return result


def safe_next(value: Any) -> str:
    """A local path to go back to after logging in (never another site)."""
    path = str(value or "/")
    return path if path.startswith("/") and not path.startswith("//") else "/"
