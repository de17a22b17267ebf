"""The scheduler across processes: one leader (case 56), one poll per feed and slot however
many schedulers fire (case 55), one catch-up run after a pause (case 57)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import feeds as feed_commands
from monitor.config import Settings
from monitor.scheduler import LEADER, POLL_EVERY_SECONDS, build_scheduler, poll_due_feeds
from monitor.stages.polling import CLAIM_FOR, Poller
from tests.servers import LoopbackServer, respond

RSS = b'<rss version="2.0"><channel><title>wire</title></channel></rss>'


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    with LoopbackServer(default=respond(200, RSS, {"Content-Type": "application/rss+xml"})) as s:
        yield s


@pytest.fixture
def polling_app(settings: Settings, site: LoopbackServer) -> Iterator[App]:
    app = bootstrap(
        settings.model_copy(update={"fetch_allowlist": (site.origin,), "per_host_delay": 0})
    )
    yield app
    app.close()


def add_feeds(app: App, site: LoopbackServer, count: int, start: int = 0) -> list[str]:
    ids = [
        feed_commands.add_feed(app, site.url(f"/feed-{n}.xml")) for n in range(start, start + count)
    ]
    app.catch_up()  # what the workers do: the feeds read model knows them, due at once
    return ids


def polls(app: App) -> Counter[str]:
    """FeedPolled events per feed stream."""
    with app.engine.connect() as conn:
        streams = conn.execute(
            select(db.events.c.stream_id).where(db.events.c.event_type == "FeedPolled")
        ).scalars()
        return Counter(streams)


def together(count: int, target: object) -> list[object]:
    """Run `target()` in `count` threads released at the same moment; their results."""
    barrier = threading.Barrier(count)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        results.append(target())  # type: ignore[operator]

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_schedulers_firing_together_claim_each_feed_and_slot_once(
    polling_app: App, site: LoopbackServer
) -> None:  # case 55
    ids = add_feeds(polling_app, site, 5)
    claims = together(3, lambda: Poller(polling_app).claim_due())
    claimed = [feed for batch in claims for feed in batch]  # type: ignore[attr-defined]
    assert sorted(claimed) == sorted(ids)  # each once, whoever got it
    assert Poller(polling_app).claim_due() == []  # the slot is taken

    # A poller that died holding claims: they lapse, and the same slot is claimed again.
    later = datetime.now(UTC) + CLAIM_FOR + timedelta(seconds=1)
    assert sorted(Poller(polling_app, clock=lambda: later).claim_due()) == sorted(ids)


def test_three_scheduler_loops_poll_each_due_feed_once(
    polling_app: App, site: LoopbackServer
) -> None:  # case 55, end to end
    add_feeds(polling_app, site, 6)
    polled = together(3, lambda: poll_due_feeds(polling_app))
    assert sum(polled) == 6  # type: ignore[arg-type]
    assert set(site.path_counts().values()) == {1}
    assert len(site.path_counts()) == 6
    assert set(polls(polling_app).values()) == {1}

    # Once the polls are recorded the next slots are in the future: nothing is due.
    polling_app.catch_up()
    assert together(3, lambda: poll_due_feeds(polling_app)) == [0, 0, 0]


def test_a_scheduler_paused_across_three_intervals_runs_once_on_resume(app: App) -> None:
    """Case 57 on a fake clock: coalescing turns the three missed runs into one."""
    runs: list[datetime] = []
    start = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    interval = timedelta(seconds=POLL_EVERY_SECONDS)
    with time_machine.travel(start, tick=False) as clock:
        scheduler = build_scheduler(app)
        scheduler.remove_job("deliver-due")
        job = scheduler.get_job("poll-due-feeds")
        job.modify(func=lambda _app: runs.append(datetime.now(UTC)), next_run_time=start)
        scheduler.start(paused=True)
        try:
            clock.shift(3 * interval + timedelta(seconds=5))  # three slots missed
            scheduler.resume()
            deadline = time.monotonic() + 10
            while not runs and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # room for any further run
            assert len(runs) == 1
            assert scheduler.get_job("poll-due-feeds").next_run_time == start + 4 * interval
        finally:
            scheduler.shutdown(wait=False)


# --- two scheduler processes on PostgreSQL (case 56) --------------------------------------


def _leader(app: App) -> str | None:
    with app.engine.connect() as conn:
        return conn.execute(
            select(db.leases.c.owner).where(
                db.leases.c.name == LEADER, db.leases.c.expires_at > datetime.now(UTC)
            )
        ).scalar_one_or_none()


def _wait(condition: object, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.slow
def test_one_scheduler_leads_and_another_takes_over_after_sigkill(
    postgres_url: str, tmp_path: Path, site: LoopbackServer
) -> None:  # case 56
    settings = Settings(database_url=postgres_url, data_dir=tmp_path / "data")
    app = bootstrap(settings.model_copy(update={"fetch_allowlist": (site.origin,)}))
    add_feeds(app, site, 3)
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": postgres_url,
        "MONITOR_DATA_DIR": str(tmp_path / "data"),
        "MONITOR_FETCH_ALLOWLIST": site.origin,
        "MONITOR_PER_HOST_DELAY": "0",
        "MONITOR_LEASE_DURATION": "3",
        "MONITOR_LEASE_RENEW_INTERVAL": "1",
    }
    schedulers = [
        subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--role", "scheduler"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        _wait(lambda: len(polls(app)) == 3, 60, "the leader's first poll round")
        leader = _leader(app)
        assert leader is not None
        first = next(p for p in schedulers if f":{p.pid}:" in leader)
        standby = next(p for p in schedulers if p is not first)

        first.send_signal(signal.SIGKILL)
        first.wait()
        added = add_feeds(app, site, 1, start=3)  # due now: only a leader will poll it
        handover = _wait(
            lambda: (_leader(app) or "").count(f":{standby.pid}:") == 1,
            3 + 1 + 5,
            "the standby to take the lease",
        )
        _wait(lambda: polls(app)[f"feed-{added[0]}"] == 1, 15, "the new leader to poll")
        time.sleep(2)  # room for a double poll to show
        assert set(polls(app).values()) == {1}  # no feed polled twice in its slot
        assert set(site.path_counts().values()) == {1}
        assert handover <= 3 + 1 + 1
    finally:
        for process in schedulers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        app.close()
