"""monitor: an event-sourced news monitoring service."""

__version__ = "0.1.0"
