"""Progress of long CLI work (replay, re-score, OPML import) on stderr, so stdout stays data.

On a terminal: click's progress bar. Otherwise (a pipe, a log file, CI): a plain line at every
tenth of the work and one at the end, so logs show that work moves without a line per item.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

import click

STEPS = 10  # plain lines per piece of work, besides the last one


class Progress:
    """A `(done, total)` callback for the commands layer; use it as a context manager."""

    def __init__(self, label: str, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.done = 0
        self.total = 0
        self._bar: Any = None
        self._shown_step = -1

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, max(total, done)
        if self.interactive:
            self._draw()
            return
        step = self.done * STEPS // self.total if self.total else STEPS
        if step > self._shown_step and step < STEPS:
            self._shown_step = step
            self._line()

    def _draw(self) -> None:
        if self._bar is None:
            self._bar = click.progressbar(
                length=self.total, label=self.label, file=self.stream, show_pos=True
            )
            self._bar.__enter__()
        self._bar.length = self.total
        self._bar.update(self.done - self._bar.pos)

    def _line(self) -> None:
        percent = f" ({self.done * 100 // self.total}%)" if self.total else ""
        click.echo(f"{self.label}: {self.done}/{self.total}{percent}", file=self.stream)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:  # finished: a replay's last event may lie before the log's head
            self.done = self.total
            if self._bar is not None:
                self._draw()
            elif not self.interactive:
                self._line()  # the final count, also for work that turned out empty
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, traceback)
