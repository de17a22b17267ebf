"""What every command shares: the wired application (built lazily) and output helpers."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from monitor.bootstrap import App, bootstrap


def get_app(ctx: click.Context) -> App:
    """The application for this invocation, built on first use and closed at exit."""
    root = ctx.find_root()
    app = root.meta.get("monitor.app")
    if app is None:
        app = bootstrap()
        root.meta["monitor.app"] = app
        root.call_on_close(app.close)
    return app


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table for people; scripts use --json."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
