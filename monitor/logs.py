"""Logging for every process, configured once: readable text or JSON lines on stderr.

Every record carries the same context keys (`CONTEXT_KEYS`), passed by log calls as
`extra={"feed_id": ...}`, so one `jq 'select(.feed_id == "...")'` follows a feed through
polling, extraction and delivery. Third-party loggers (uvicorn, APScheduler, httpx) propagate
to the root logger and get the same format. Secrets are kept out of log calls by design; the
redacting formatter is the safety net for a value that slips through (an exception message
quoting a URL with a password, a header dump).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Literal, TextIO

from pydantic import SecretStr
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.engine import make_url

from monitor.config import Settings, load_settings
from monitor.errors import ConfigError

CONTEXT_KEYS = ("feed_id", "article_id", "subscription_id", "event_position")
REDACTED = "[redacted]"
DEFAULT_LEVEL = "WARNING"

# Shapes of secrets whatever their value: webhook signing secrets, bearer credentials and
# the password part of a URL.
_SECRET_SHAPES = (
    r"whsec_[A-Za-z0-9+/=_-]+",
    r"(?<=[Bb]earer )[^\s\"',;]+",
    r"(?<=://)[^/\s:@\"]+:[^/\s@\"]+(?=@)",
)
# Chatty at INFO (a line per request or per job run): shown from WARNING unless debugging.
_CHATTY = ("httpx", "httpcore", "apscheduler.executors", "alembic.runtime.migration")
# Attributes never copied into a JSON line (uvicorn adds an ANSI-coloured copy of messages).
_NOT_FIELDS = [*RESERVED_ATTRS, "color_message", "taskName"]

_installed: logging.Handler | None = None


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current `sys.stderr`."""


class Redacting(logging.Formatter):
    """Wraps a formatter and masks known secret values and secret-shaped text in its output."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.inner = inner
        known = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self.pattern = re.compile("|".join([*map(re.escape, known), *_SECRET_SHAPES]))

    def format(self, record: logging.LogRecord) -> str:
        return self.pattern.sub(REDACTED, self.inner.format(record))


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [feed_id=...]` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{key}={getattr(record, key)}"
            for key in CONTEXT_KEYS
            if getattr(record, key, None) is not None
        )
        line = super().formatMessage(record)
        return f"{line} [{context}]" if context else line


def json_formatter() -> JsonFormatter:
    """One JSON object per line; the context keys are always present (null when unrelated)."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        defaults=dict.fromkeys(CONTEXT_KEYS),
        reserved_attrs=_NOT_FIELDS,
        json_ensure_ascii=False,
    )


def configure(
    *,
    log_format: Literal["text", "json"] = "text",
    level: str = DEFAULT_LEVEL,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger's records through one handler (on stderr unless `stream` is given);
    calling it again replaces that handler."""
    global _installed
    handler = logging.StreamHandler(stream) if stream else StderrHandler()
    inner = json_formatter() if log_format == "json" else TextFormatter()
    handler.setFormatter(Redacting(inner, secrets))
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level)
    _installed = handler
    for name in _CHATTY:
        logging.getLogger(name).setLevel(level if level == "DEBUG" else "WARNING")
    return handler


def configure_from_settings(settings: Settings | None, *, debug: bool = False) -> None:
    """The service's and the CLI's logging; `--debug` lowers the level to DEBUG."""
    if settings is None:
        configure(level="DEBUG" if debug else DEFAULT_LEVEL)
        return
    configure(
        log_format=settings.log_format,
        level="DEBUG" if debug else settings.log_level,
        secrets=secret_values(settings),
    )


def configure_for_cli(*, debug: bool) -> None:
    """Logging before a command runs; invalid settings are reported by the command itself."""
    try:
        settings = load_settings()
    except ConfigError:
        settings = None
    configure_from_settings(settings, debug=debug)


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret: the SecretStr settings and the database password."""
    values = [
        value.get_secret_value()
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    ]
    password = make_url(settings.database_url).password
    return [*values, *([str(password)] if password else [])]
