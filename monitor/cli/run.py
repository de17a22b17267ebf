"""`monitor run`: the long-running service, whole or one role of it.

Roles: `api` serves HTTP (uvicorn); `worker` runs the followers (pipeline stages, read
models, matching), a fair share of them per worker through leases; `scheduler` runs the
clock's jobs (poll due feeds, send due digests and webhooks) while it holds the leader
lease; `all` (the default) is all three in one process. Migrations run first, in every role.
SIGTERM or SIGINT stops taking new work; work in flight is abandoned safely (each step
commits all or nothing and the next start resumes from the committed positions), and the
leases are given back so that the other processes take over at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import ExitStack
from types import FrameType

import click
import uvicorn

from monitor.api.app import create_app
from monitor.bootstrap import App
from monitor.cli.context import get_app
from monitor.errors import ConfigError
from monitor.leases import Leases
from monitor.scheduler import Leader, build_scheduler
from monitor.single_writer import sole_worker
from monitor.workers import Worker

log = logging.getLogger(__name__)

STOP_SECONDS = 20  # then in-flight work is abandoned (it is redone after a restart)
ROLES = {
    "api": {"api"},
    "worker": {"worker"},
    "scheduler": {"scheduler"},
    "all": {"api", "worker", "scheduler"},
}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP bind address.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--role",
    type=click.Choice(sorted(ROLES)),
    default="all",
    show_default=True,
    help="What this process runs: the HTTP API, the followers (worker), the scheduler's "
    "jobs (one leader among all scheduler processes), or all of them. To scale out on "
    "PostgreSQL, start several worker processes.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Follower loops in this process (roles worker and all); more than one needs PostgreSQL.",
)
@click.pass_context
def run(ctx: click.Context, host: str, port: int, role: str, workers: int) -> None:
    """Run the service (migrates first; stops on SIGTERM/SIGINT)."""
    parts = ROLES[role]
    app = get_app(ctx)  # migrates on start
    if "worker" in parts and workers > 1 and app.settings.is_sqlite:
        raise ConfigError(
            f"--workers {workers} needs PostgreSQL: SQLite takes one writer at a time, so "
            "more follower loops would only wait on its lock"
        )
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.warning("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    with ExitStack() as guards:
        if "worker" in parts:
            guards.enter_context(sole_worker(app.settings.database_url))
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        threads = _work_threads(app, parts, workers, stop)
        http = _http_server(app, host, port) if "api" in parts else None
        if http is not None:
            threads.append(threading.Thread(target=http.run, name="http", daemon=True))
        where = f", http://{host}:{port}/" if http is not None else ""
        click.echo(  # the first line: scripts wait for it
            f"monitor running ({role}) on {app.settings.redacted()['database_url']}{where}",
            err=True,
        )
        for thread in threads:
            thread.start()
        while not stop.wait(0.5):
            pass
        if http is not None:
            http.should_exit = True
        deadline = time.monotonic() + STOP_SECONDS
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    click.echo("monitor stopped", err=True)


def _work_threads(
    app: App, parts: set[str], workers: int, stop: threading.Event
) -> list[threading.Thread]:
    """The scheduler's leader loop and the follower loops this role asks for."""
    settings = app.settings
    threads = []
    if "scheduler" in parts:
        leases = Leases(app.engine, duration=settings.lease_duration)
        leader = Leader(build_scheduler(app), leases, settings.lease_renew_interval)
        threads.append(threading.Thread(target=leader.run, args=(stop,), name="scheduler"))
    for number in range(workers if "worker" in parts else 0):
        worker = Worker(
            app.runner,
            app.followers,
            Leases(app.engine, duration=settings.lease_duration),
            renew_interval=settings.lease_renew_interval,
            idle_wait=settings.follower_poll_interval,
        )
        threads.append(
            threading.Thread(target=worker.run, args=(stop,), name=f"worker-{number}", daemon=True)
        )
    return threads


def _http_server(app: App, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(app), host=host, port=port, log_level="warning", log_config=None, lifespan="on"
    )
    return uvicorn.Server(config)  # in a thread, it leaves signal handling to us
