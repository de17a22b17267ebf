"""Errors a user may see. The CLI prints their message on one line; the API maps them to HTTP.

Anything that is not a `MonitorError` is a bug and is reported as such.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error whose message is meant for the user."""


class ConfigError(MonitorError):
    """A setting is missing or invalid; start-up stops."""


class NotFoundError(MonitorError):
    """The thing asked for does not exist."""


class InvalidInputError(MonitorError):
    """A command was given a value it cannot accept."""


class EventLogError(MonitorError):
    """Base of the event log's errors."""


class ConcurrencyError(EventLogError):
    """A stream moved on since the caller read it (optimistic concurrency conflict)."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        super().__init__(
            f"concurrency conflict on stream {stream_id!r}: expected version {expected}, "
            f"found {actual}; reload and retry"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class IdempotencyError(EventLogError):
    """An event id was reused for a different event."""


class EventLogBusyError(EventLogError):
    """The write lock was not granted in time; the append may simply be retried."""


class StoredEventError(EventLogError):
    """A stored event cannot be turned back into an event object."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"event at position {position}: {message}")
        self.position = position
