"""Webhook workers as separate processes: several on one queue (cases 14, 53) and workers
killed with SIGKILL at random points (cases 13, 54). Real processes, a real receiver."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import random
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess

import pytest

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import subscriptions as commands
from monitor.config import Settings
from monitor.delivery.subscriptions import SubscriptionSpec
from monitor.stages.webhooks import WebhookWorker
from tests.conftest import backend
from tests.delivery_world import classified, rows, settle
from tests.servers import LoopbackServer, slow

LEASE = 1.0


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/hook": slow(0.01, 200)}) as server:
        yield server


@pytest.fixture
def queued(settings: Settings, receiver: LoopbackServer) -> Iterator[App]:
    app = bootstrap(
        settings.model_copy(update={"fetch_allowlist": (receiver.origin,), "delivery_lease": LEASE})
    )
    yield app
    app.close()


def fill(app: App, receiver: LoopbackServer, subscriptions: int, articles: int) -> None:
    for _ in range(subscriptions):
        commands.subscribe(app, SubscriptionSpec("webhook", receiver.url("/hook")))
    for _ in range(articles):
        classified(app)
    settle(app)


def work(settings: Settings) -> None:
    """A worker process: its own engine, working the queue until it is killed."""
    app = bootstrap(settings, migrate=False)
    worker = WebhookWorker(app, batch=5)
    for _ in range(100_000):
        if not worker.run_due():
            time.sleep(0.02)


def spawn(app: App, lease: float = LEASE) -> BaseProcess:
    """Forked from this process, so a worker starts in milliseconds, not a second."""
    settings = app.settings.model_copy(update={"delivery_lease": lease})
    process = multiprocessing.get_context("fork").Process(
        target=work, args=(settings,), daemon=True
    )
    process.start()
    return process


def undelivered(app: App) -> int:
    return sum(r.status != "delivered" for r in rows(app, db.delivery_outbox))


def test_three_workers_deliver_each_webhook_id_once(
    queued: App, receiver: LoopbackServer, database_url: str
) -> None:  # case 14
    if backend(database_url) != "postgresql":
        pytest.skip("several worker processes on one queue is the PostgreSQL deployment")
    fill(queued, receiver, subscriptions=4, articles=50)
    workers = [spawn(queued, lease=30.0) for _ in range(3)]  # longer than any round
    try:
        deadline = time.monotonic() + 60
        while undelivered(queued) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.kill()
            worker.join()
    ids = [hit.headers["webhook-id"] for hit in receiver.hits]
    assert len(ids) == 200 and len(set(ids)) == 200
    assert len(queued.log.read_all(types=["WebhookDelivered"], limit=1000)) == 200


@pytest.mark.slow
def test_workers_killed_at_random_points_lose_nothing(
    queued: App, receiver: LoopbackServer
) -> None:  # cases 13, 54
    fill(queued, receiver, subscriptions=2, articles=40)
    rng = random.Random(20261121)
    kills: list[tuple[float, float]] = []  # from the signal to a little after the death
    for _ in range(20):
        worker = spawn(queued)
        time.sleep(rng.uniform(0.05, 0.4))
        assert worker.pid is not None
        killed_at = time.monotonic()
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
        kills.append((killed_at, time.monotonic() + 0.5))  # requests still in flight
    assert receiver.hit_count() > 0  # the killed workers were delivering
    # A last worker after the leases of killed workers ran out.
    later = datetime.now(UTC) + timedelta(seconds=LEASE + 1)
    WebhookWorker(queued, clock=lambda: later).run_due()

    outbox = rows(queued, db.delivery_outbox)
    assert {r.status for r in outbox} == {"delivered"}
    seen: dict[str, list[float]] = defaultdict(list)
    for hit in receiver.hits:
        seen[hit.headers["webhook-id"]].append(hit.at)
    assert set(seen) == {r.webhook_id for r in outbox}
    for webhook_id, times in seen.items():  # a repeat only after a kill
        for first, second in itertools.pairwise(times):
            assert any(first <= end and start <= second for start, end in kills), webhook_id
    delivered = queued.log.read_all(types=["WebhookDelivered"], limit=1000)
    assert len(delivered) == len(outbox) == 80  # exactly once in the store
