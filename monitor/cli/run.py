"""`monitor run`: the long-running service."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from monitor.cli.context import get_app

log = logging.getLogger(__name__)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP bind address.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.pass_context
def run(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Run the service (migrates first; stops on SIGTERM/SIGINT)."""
    app = get_app(ctx)  # migrates on start
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.warning("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"monitor running on {app.settings.redacted()['database_url']}", err=True)
    app.runner.run_forever(app.projections, stop, idle_wait=app.settings.follower_poll_interval)
    click.echo("monitor stopped", err=True)
