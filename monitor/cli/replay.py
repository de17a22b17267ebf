"""`monitor replay`: rebuild read models from the event log."""

from __future__ import annotations

import click

from monitor.cli.context import get_app
from monitor.cli.progress import Progress
from monitor.errors import InvalidInputError


@click.command()
@click.option("--projection", "name", help="Only this read model (default: all).")
@click.pass_context
def replay(ctx: click.Context, name: str | None) -> None:
    """Rebuild read models from the whole event log."""
    app = get_app(ctx)
    try:
        chosen = [app.projection(name)] if name else app.projections
    except KeyError as exc:
        raise InvalidInputError(exc.args[0]) from None
    for projection in chosen:
        with Progress(f"replay {projection.name}") as progress:
            count = app.runner.rebuild(projection, progress=progress)
        click.echo(f"{projection.name}: rebuilt from {count} events")
