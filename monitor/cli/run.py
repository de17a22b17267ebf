"""`monitor run`: the long-running service.

One process: migrations (when the App is built), the scheduler's fixed jobs (poll due feeds,
deliver due digests and webhooks), every follower (pipeline stages, then read models) in the
main thread, and the HTTP app (uvicorn) in a thread of its own. SIGTERM or SIGINT stops taking
new work; work in flight is abandoned safely (each step commits all or nothing and the next
start resumes from the committed positions).
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

import click
import uvicorn

from monitor.api.app import create_app
from monitor.bootstrap import App
from monitor.cli.context import get_app
from monitor.scheduler import build_scheduler

log = logging.getLogger(__name__)

HTTP_STOP_SECONDS = 10


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

    http = _http_server(app, host, port)
    http_thread = threading.Thread(target=http.run, name="http", daemon=True)
    http_thread.start()
    scheduler = build_scheduler(app)
    scheduler.start()
    for job in scheduler.get_jobs():
        job.modify(next_run_time=datetime.now(UTC))  # the first round at once
    click.echo(
        f"monitor running on {app.settings.redacted()['database_url']}, http://{host}:{port}/",
        err=True,
    )
    try:
        app.runner.run_forever(app.followers, stop, idle_wait=app.settings.follower_poll_interval)
    finally:
        scheduler.shutdown(wait=False)
        http.should_exit = True
        http_thread.join(timeout=HTTP_STOP_SECONDS)
    click.echo("monitor stopped", err=True)


def _http_server(app: App, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(app), host=host, port=port, log_level="warning", lifespan="on"
    )
    return uvicorn.Server(config)  # in a thread, it leaves signal handling to us
