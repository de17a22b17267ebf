"""`monitor feeds ...`: the feeds registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from monitor import queries
from monitor.cli.context import get_app, print_json, print_table
from monitor.cli.progress import Progress
from monitor.commands import feeds as feed_commands
from monitor.errors import InvalidInputError
from monitor.model import DEFAULT_FEED_INTERVAL, parse_interval


@click.group()
def feeds() -> None:
    """Register, list, pause and remove RSS/Atom feeds."""


@feeds.command()
@click.argument("url")
@click.option("--name", help="A display name.")
@click.option(
    "--interval",
    default=f"{DEFAULT_FEED_INTERVAL // 60}m",
    show_default=True,
    help="How often to poll: 90s, 15m, 1h...",
)
@click.option("--category", "categories", multiple=True, help="A category (repeatable).")
@click.pass_context
def add(
    ctx: click.Context, url: str, name: str | None, interval: str, categories: tuple[str, ...]
) -> None:
    """Register the feed at URL; prints its id."""
    try:
        seconds = parse_interval(interval)
    except ValueError as exc:
        raise InvalidInputError(f"--interval: {exc}") from None
    app = get_app(ctx)
    feed_id = feed_commands.add_feed(
        app, url, name=name, interval_seconds=seconds, categories=categories
    )
    app.catch_up()
    click.echo(feed_id)


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.pass_context
def list_feeds(ctx: click.Context, as_json: bool) -> None:
    """Feeds with their status."""
    app = get_app(ctx)
    app.catch_up()
    listed = queries.list_feeds(app.engine)
    if as_json:
        print_json(listed)
        return
    print_table(
        ["ID", "STATUS", "HEALTH", "LAST POLL", "HTTP", "NEW", "ERRORS", "NEXT CHECK", "NAME"],
        [
            [
                f["feed_id"],
                f["status"],
                f["health"],
                _when(f["last_polled_at"]),
                f["last_http_status"] or "",
                "" if f["new_items"] is None else f["new_items"],
                f["consecutive_errors"],
                _when(f["next_check_at"]),
                f["name"] or f["url"],
            ]
            for f in listed
        ],
    )
    for f in listed:
        if f["last_error"]:
            click.echo(f"{f['feed_id']}: {f['last_error']}", err=True)


@feeds.command("import-opml")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--interval", default=f"{DEFAULT_FEED_INTERVAL // 60}m", show_default=True)
@click.pass_context
def import_opml(ctx: click.Context, path: Path, interval: str) -> None:
    """Register every feed of an OPML 2.0 file (nothing is added from a broken file)."""
    try:
        seconds = parse_interval(interval)
    except ValueError as exc:
        raise InvalidInputError(f"--interval: {exc}") from None
    app = get_app(ctx)
    with Progress("import") as progress:
        report = feed_commands.import_opml(
            app, path.read_bytes(), interval_seconds=seconds, progress=progress
        )
    app.catch_up()
    for line in report.skipped:
        click.echo(f"skipped {line}", err=True)
    click.echo(f"added {len(report.added)} feeds, skipped {len(report.skipped)}")


@feeds.command("export-opml")
@click.pass_context
def export_opml(ctx: click.Context) -> None:
    """Print every feed as an OPML 2.0 document."""
    click.echo(feed_commands.export_feeds_opml(get_app(ctx)).decode("utf-8"), nl=False)


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


def _feed_action(name: str, summary: str, action: Any) -> click.Command:
    @click.command(name, help=summary)
    @click.argument("feed_id")
    @click.pass_context
    def command(ctx: click.Context, feed_id: str) -> None:
        app = get_app(ctx)
        action(app, feed_id)
        app.catch_up()

    return command


feeds.add_command(
    _feed_action(
        "remove", "Remove a feed (its history stays in the log).", feed_commands.remove_feed
    )
)
feeds.add_command(_feed_action("pause", "Stop polling a feed.", feed_commands.pause_feed))
feeds.add_command(_feed_action("resume", "Poll a paused feed again.", feed_commands.resume_feed))
