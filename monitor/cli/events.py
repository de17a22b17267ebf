"""`monitor events list`: the raw event log."""

from __future__ import annotations

import click

from monitor.cli.context import get_app, print_json, print_table


@click.group()
def events() -> None:
    """The raw, append-only event log."""


@events.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one event a line.")
@click.option("--stream", help="Only this stream (e.g. feed-<id>).")
@click.option("--after", type=click.IntRange(min=0), default=0, help="Start after POSITION.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.pass_context
def list_events(
    ctx: click.Context, as_json: bool, stream: str | None, after: int, limit: int
) -> None:
    """Events in log order."""
    app = get_app(ctx)
    recorded = app.log.read_all(after=after, limit=limit, stream_id=stream)
    if as_json:
        for item in recorded:
            print_json(item.to_json())
        return
    print_table(
        ["POSITION", "RECORDED", "STREAM", "VERSION", "TYPE"],
        [
            [
                r.position,
                r.recorded_at.isoformat(timespec="seconds"),
                r.stream_id,
                r.stream_version,
                r.event_type,
            ]
            for r in recorded
        ],
    )
