"""Several workers: leases, a fair share of the followers each, takeover after SIGKILL, and
the refusal of a second worker on SQLite (issue 6; RELIABILITY cases 50, 53, 54)."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import feeds as feed_commands
from monitor.commands import subscriptions as subscription_commands
from monitor.commands.models import promote, register_saved
from monitor.config import Settings
from monitor.delivery.subscriptions import SubscriptionSpec
from monitor.leases import Leases
from monitor.workers import FOLLOWER, Worker
from tests.conftest import SHARED, require_shared
from tests.integration.test_cli import free_port
from tests.servers import Handler, LoopbackServer, respond

DEVSET = SHARED / "realnews" / "devset.jsonl"
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class Clock:
    """A hand-moved UTC clock for lease expiry."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def leases(app: App, owner: str, clock: Callable[[], datetime], duration: float = 15) -> Leases:
    return Leases(app.engine, owner=owner, duration=duration, clock=clock)


# --- leases -------------------------------------------------------------------------------


def test_a_lease_has_one_holder_until_it_expires_or_is_released(app: App) -> None:
    clock = Clock()
    first, second = leases(app, "first", clock), leases(app, "second", clock)
    assert first.acquire("job")
    assert not second.acquire("job")
    clock.advance(10)
    assert first.acquire("job")  # a renewal: 15 s from now
    clock.advance(10)
    assert not second.acquire("job")
    first.renew()
    clock.advance(14)
    assert not second.acquire("job")
    clock.advance(2)  # first stopped renewing: it expired
    assert second.acquire("job")
    assert not first.acquire("job")
    assert first.live("jo") == {"job": "second"}
    second.release()
    assert first.acquire("job")


def test_concurrent_claimants_get_a_lease_once(app: App) -> None:
    owners = [leases(app, f"owner-{n}", Clock()) for n in range(6)]
    barrier = threading.Barrier(len(owners))
    won: list[str] = []

    def claim(owner: Leases) -> None:
        barrier.wait()
        if owner.acquire("leader"):
            won.append(owner.owner)

    threads = [threading.Thread(target=claim, args=(o,)) for o in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(won) == 1


# --- workers share the followers ----------------------------------------------------------


def owners_of(app: App) -> Counter[str]:
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(db.leases.c.owner).where(db.leases.c.name.startswith(FOLLOWER))
        ).scalars()
        return Counter(rows)


def test_workers_split_the_followers_and_take_over_a_dead_ones_share(app: App) -> None:
    clock = Clock()
    workers = [
        Worker(app.runner, app.followers, leases(app, f"w{n}", clock), renew_interval=5)
        for n in range(3)
    ]
    followers = len(app.followers)
    for _ in range(2):  # the first to come takes everything, then gives back its surplus
        for worker in workers:
            worker.balance()
    share = math.ceil(followers / 3)
    assert sum(owners_of(app).values()) == followers
    assert max(owners_of(app).values()) <= share
    names = [f.name for w in workers for f in w.owned]
    assert sorted(names) == sorted(f.name for f in app.followers)  # each owned once

    # w0 dies (stops renewing): after its leases expire, the others take its share.
    dead = workers.pop(0)
    clock.advance(10)
    for worker in workers:
        worker.leases.renew()
    clock.advance(6)
    for _ in range(2):
        for worker in workers:
            worker.balance()
    assert set(owners_of(app)) == {"w1", "w2"}
    assert sum(owners_of(app).values()) == followers
    assert not dead.leases.acquire(FOLLOWER + workers[0].owned[0].name)  # w1's now


def test_a_worker_runs_its_followers_and_hands_them_back_when_stopped(app: App) -> None:
    feed_commands.add_feed(app, "https://forever.example.org/rss")
    worker = Worker(
        app.runner,
        app.projections,
        Leases(app.engine, duration=2),
        renew_interval=0.5,
        idle_wait=0.05,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and app.runner.lag(app.projection("feeds")):
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    with app.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.feeds)).scalar_one() == 1
    assert owners_of(app) == Counter()  # released for the others at once


# --- SQLite: one worker per file (case 50) ------------------------------------------------


def _env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MONITOR_DATABASE_URL": database_url,
        "MONITOR_DATA_DIR": str(tmp_path / "data"),
        "MONITOR_FOLLOWER_POLL_INTERVAL": "0.2",
        **extra,
    }


def _start(role: str, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--role", role, *extra],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(process: subprocess.Popen[str], fragment: str, timeout: float = 60) -> None:
    """Read the process's stderr until a line contains `fragment`."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if fragment in line:
            return
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no {fragment!r} from the process")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_second_worker_on_one_sqlite_file_refuses_to_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = _env(sqlite_url, tmp_path)
    first = _start("worker", env)
    try:
        _wait_for_line(first, "monitor running (worker)")
        second = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--role", "worker"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        message = second.stderr.strip()
        assert "another worker" in message
        assert "SQLite takes one writer at a time" in message
        assert "use PostgreSQL" in message
        assert first.poll() is None  # the first one is unharmed

        api = _start("api", env, "--port", str(free_port()))  # readers are welcome
        try:
            _wait_for_line(api, "monitor running (api)")
        finally:
            _stop(api)
    finally:
        first.kill()  # SIGKILL: the kernel drops the lock, a restart must not wait
        first.wait()
    again = _start("worker", env)
    try:
        _wait_for_line(again, "monitor running (worker)")
    finally:
        _stop(again)


def test_several_follower_loops_need_postgresql(in_process_cli: Callable, sqlite_url: str) -> None:
    result = in_process_cli("run", "--workers", "2", url=sqlite_url, check=False)
    assert result.returncode != 0
    assert "--workers 2 needs PostgreSQL" in result.stderr


# --- three worker processes on one PostgreSQL (issue 6) -----------------------------------


def _articles(count: int) -> list[dict]:
    """Relevant Turkey items of the real-news set, as pages to extract and classify."""
    items = [json.loads(line) for line in require_shared(DEVSET).read_text().splitlines()]
    chosen = [i for i in items if i["relevant"] and "TUR" in i["actors"]][:count]
    assert len(chosen) == count
    return chosen


def _page(item: dict) -> bytes:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in item["text"].split("\n") if p.strip())
    title = escape(item["title"])
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"{paragraphs}</article></body></html>"
    ).encode()


def _slow_page(body: bytes) -> Handler:
    """A page that takes a while, so that a worker can be killed while extracting."""
    answer = respond(200, body, {"Content-Type": "text/html; charset=utf-8"})

    def handle(request: BaseHTTPRequestHandler) -> None:
        time.sleep(0.5)
        answer(request)

    return handle


def _feed(site: LoopbackServer, name: str, items: list[dict]) -> bytes:
    entries = "".join(
        f"<item><title>{escape(i['title'])}</title><link>{site.url('/' + i['id'] + '.html')}"
        f"</link><guid>{i['id']}</guid><pubDate>Fri, 20 Nov 2026 09:00:00 GMT</pubDate></item>"
        for i in items
    )
    return f'<rss version="2.0"><channel><title>{name}</title>{entries}</channel></rss>'.encode()


@pytest.fixture
def world(
    postgres_url: str, tmp_path: Path, trained_model: Path, receiver: LoopbackServer
) -> Iterator[tuple[App, LoopbackServer, dict[str, str]]]:
    """PostgreSQL with 3 feeds of 8 pages each, a webhook subscription and an active model."""
    items = _articles(24)
    site = LoopbackServer()
    for item in items:
        site.routes[f"/{item['id']}.html"] = _slow_page(_page(item))
    for n in range(3):
        body = _feed(site, f"wire {n}", items[n * 8 : (n + 1) * 8])
        site.routes[f"/feed-{n}.xml"] = respond(200, body, {"Content-Type": "application/rss+xml"})
    env = _env(
        postgres_url,
        tmp_path,
        MONITOR_FETCH_ALLOWLIST=f"{site.origin},{receiver.origin}",
        MONITOR_PER_HOST_DELAY="0",
        MONITOR_LEASE_DURATION="3",
        MONITOR_LEASE_RENEW_INTERVAL="1",
    )
    settings = Settings(
        database_url=postgres_url,
        data_dir=tmp_path / "data",
        fetch_allowlist=(site.origin, receiver.origin),
    )
    app = bootstrap(settings)
    copy = tmp_path / "model-copy"
    shutil.copytree(trained_model, copy)
    promote(app, register_saved(app, copy, trained_by="test"), by="test")
    for n in range(3):
        feed_commands.add_feed(app, site.url(f"/feed-{n}.xml"))
    subscription_commands.subscribe(app, SubscriptionSpec("webhook", receiver.url("/hook")))
    try:
        yield app, site, env
    finally:
        app.close()
        site.close()


def _event_counts(app: App, event_type: str) -> Counter[str]:
    """How many events of a type each article stream has."""
    with app.engine.connect() as conn:
        streams = conn.execute(
            select(db.events.c.stream_id).where(db.events.c.event_type == event_type)
        ).scalars()
        return Counter(streams)


def _follower_owners(app: App) -> dict[str, str]:
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(db.leases.c.name, db.leases.c.owner).where(db.leases.c.name.startswith(FOLLOWER))
        ).all()
    return {name.removeprefix(FOLLOWER): owner for name, owner in rows}


def _page_hits(site: LoopbackServer) -> int:
    return sum(n for path, n in site.path_counts().items() if path.endswith(".html"))


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.slow
def test_three_workers_share_the_pipeline_and_survive_a_sigkill(
    world: tuple[App, LoopbackServer, dict[str, str]], receiver: LoopbackServer
) -> None:
    app, site, env = world
    workers = [_start("worker", env) for _ in range(3)]
    processes = list(workers)
    try:
        for process in workers:
            _wait_for_line(process, "monitor running")
        followers = len(app.followers)
        share = math.ceil(followers / 3)

        def shared_out() -> bool:
            owners = Counter(_follower_owners(app).values())
            return sum(owners.values()) == followers and len(owners) == 3

        _wait(shared_out, 30, "the followers to be spread over the 3 workers")
        assert max(Counter(_follower_owners(app).values()).values()) <= share
        processes.append(_start("scheduler", env))  # now the feeds are polled

        # SIGKILL the worker extracting while it downloads its batch of pages.
        _wait(lambda: _page_hits(site) > 0, 60, "the extraction to start")
        extractor = _follower_owners(app)["extraction"]
        victim = next(w for w in workers if f":{w.pid}:" in extractor)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        assert not _event_counts(app, "ArticleExtracted"), "killed too late to matter"

        discovered = _event_counts(app, "ArticleDiscovered")
        assert len(discovered) == 24
        _wait(
            lambda: len(_event_counts(app, "ArticleClassified")) == 24,
            30 - (time.monotonic() - killed_at),
            "the other workers to finish the pipeline within 30 s of the kill",
        )
        assert _follower_owners(app)["extraction"] != extractor

        # Each event handled once by each follower: one extraction and one classification
        # per article, whoever ran them.
        assert set(_event_counts(app, "ArticleExtracted").values()) == {1}
        assert set(_event_counts(app, "ArticleClassified").values()) == {1}
        assert _page_hits(site) >= 24 + 1  # the lost batch was downloaded again

        # Each webhook delivered once (the scheduler sends what matching queued).
        def delivered() -> bool:
            with app.engine.connect() as conn:
                statuses = Counter(conn.execute(select(db.delivery_outbox.c.status)).scalars())
            return bool(statuses) and set(statuses) == {"delivered"}

        _wait(delivered, 60, "every matched article to be delivered")
        with app.engine.connect() as conn:
            matched = conn.execute(select(func.count()).select_from(db.delivery_outbox)).scalar()
        ids = Counter(h.headers.get("webhook-id") for h in receiver.hits if h.path == "/hook")
        assert len(ids) == matched > 0
        assert set(ids.values()) == {1}
    finally:
        for process in processes:
            _stop(process)
