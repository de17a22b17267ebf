"""The service under load: memory of `monitor run` and latency of the articles API.

    .venv/bin/python bench/service.py [--articles 100000] [--feeds 1000] [--seconds 30]
                                      [--backend both|sqlite|postgresql]

For each database: seed `--feeds` feeds (on a loopback server in another process that
answers 304 to a conditional GET) and `--articles` classified articles, appended to the event
log in batches with `EventLog.append_many` and projected by the read models (on PostgreSQL
then analysed, as autovacuum does with a table that grew). The pipeline stages' positions
are moved to the end of the log, as if they had handled those events: the articles are
synthetic (random stance, topics and actors), so nothing is fetched or classified again.
Then `monitor run` starts as a real subprocess, `/readyz` loads the model, and:

- the load: wrk (`apt-get install wrk`), 20 connections for `--seconds` on a mix of filtered
  `GET /api/articles?limit=50` (stance, topic, actor and all three), then as long on
  `GET /healthz`, the baseline of the same run. Target: p95 under 50 ms. Then the same mix
  over one connection for a third of the time: the latency of a request that does not queue.
  Last, the mix with every request made a distinct query (a `since` that filters nothing
  out), so that no rendered listing is reused: the cost of a listing from scratch.
- the memory: the RSS of the service (and of any child process) sampled every 0.2 s from start
  to stop, through the poll cycles of the feeds and the load. Target: peak under 400 MB.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
from sqlalchemy import create_engine, delete, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import _serve_feeds, _start
from classifiers.labels import STANCES, TOPICS
from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands.feeds import feed_id_for
from monitor.config import Settings
from monitor.eventlog import PendingAppend
from monitor.events import ArticleClassified, ArticleDiscovered, ArticleExtracted, FeedAdded
from monitor.streams import article_stream, feed_stream

POSTGRES = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ACTORS = ("TUR", "USA", "GRC", "RUS", "UKR", "ISR", "IRN", "SYR", "FRA", "DEU", "GBR", "CHN")
ANALYZED = ("events", "tracking", "feeds", "articles", "article_tags")
BATCH = 1000  # articles per append_many (3 events each)
CONNECTIONS = 20
SAMPLE_EVERY = 0.2
FEED_INTERVAL = 60  # seconds: the feeds come due again during the run
P95_TARGET_MS = 50
RSS_TARGET_MB = 400
RESULT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), summary.duration))
end
"""
# The paths in turn: a client that repeats its listings, as dashboards and pollers do.
REPEATING_LUA = (
    """
init = function(args) paths = args; i = 0 end
request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end
"""
    + RESULT_LUA
)
# The same paths, each request made distinct by a `since` that filters nothing out (each
# thread counts its own microseconds): no listing is ever served twice.
DISTINCT_LUA = (
    """
threads = 0
setup = function(thread) thread:set("tid", threads); threads = threads + 1 end
init = function(args) paths = args; i = 0 end
request = function()
  i = i + 1
  local since = string.format("&since=2000-01-01T00:00:%02d.%06dZ", tid, i % 1000000)
  return wrk.format("GET", paths[(i - 1) % #paths + 1] .. since)
end
"""
    + RESULT_LUA
)


@dataclass(frozen=True)
class Load:
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def article_paths(rng: random.Random) -> list[str]:
    """The filtered listings of the load, in the API's query syntax."""
    paths = ["/api/articles?limit=50"]
    for _ in range(4):
        stance, topic, actor = rng.choice(STANCES), rng.choice(TOPICS), rng.choice(ACTORS)
        paths += [
            f"/api/articles?limit=50&stance={stance}",
            f"/api/articles?limit=50&topic={topic}",
            f"/api/articles?limit=50&actor={actor}",
            f"/api/articles?limit=50&stance={stance}&topic={topic}&actor={actor}",
        ]
    return paths


def seed(app: App, feeds: int, articles: int, feed_port: int) -> None:
    """Feeds and classified articles in the log, projected; the stages' work marked done."""
    rng = random.Random(7)
    urls = [f"http://127.0.0.1:{feed_port}/f/{n}.xml" for n in range(feeds)]
    feed_ids = [feed_id_for(url) for url in urls]
    app.log.append_many(
        [
            PendingAppend(feed_stream(fid), 0, [FeedAdded(fid, url, f"feed {n}", FEED_INTERVAL)])
            for n, (fid, url) in enumerate(zip(feed_ids, urls, strict=True))
        ]
    )
    version = app.models.labeler().version  # a fresh install trains its first model
    now = datetime.now(UTC)
    for start in range(0, articles, BATCH):
        app.log.append_many(
            [
                _article(rng, n, rng.choice(feed_ids), now, version)
                for n in range(start, min(start + BATCH, articles))
            ]
        )
    head, stages = app.log.head(), [stage.name for stage in app.stages]
    with app.engine.begin() as conn:
        conn.execute(delete(db.tracking).where(db.tracking.c.follower.in_(stages)))
        conn.execute(
            insert(db.tracking),
            [{"follower": name, "position": head, "updated_at": now} for name in stages],
        )
    for projection in app.projections:
        app.runner.run_once(projection, batch_size=5000)
    if not app.settings.is_sqlite:  # autovacuum analyses a table that grew; seeding is faster
        with app.engine.begin() as conn:
            conn.execute(text(f"ANALYZE {', '.join(ANALYZED)}"))


def _article(
    rng: random.Random, n: int, feed_id: str, now: datetime, version: str
) -> PendingAppend:
    article_id = str(uuid.UUID(int=rng.getrandbits(128)))
    published = now - timedelta(minutes=rng.randrange(365 * 24 * 60))
    relevant = rng.random() < 0.6
    topics = tuple(rng.sample(TOPICS, rng.randint(1, 2))) if relevant else ()
    actors = tuple(rng.sample(ACTORS, rng.randint(1, 3))) if relevant else ()
    stance = rng.choice(STANCES) if relevant else "neutral"
    body = f"Article {n} on {', '.join(actors) or 'sports'}. " * 20
    return PendingAppend(
        article_stream(article_id),
        0,
        [
            ArticleDiscovered(
                article_id,
                feed_id,
                f"https://news.example/{n}",
                None,
                f"Title {n}",
                published,
                published,
                summary=body[:200],
            ),
            ArticleExtracted(article_id, "page", body, title=f"Title {n}"),
            ArticleClassified(
                article_id,
                version,
                relevant,
                0.9 if relevant else 0.1,
                stance,
                0.7,
                actors=actors,
                topics=topics,
                topic_scores={t: 0.8 for t in topics},
                stance_scores={stance: 0.7},
            ),
        ],
    )


class RssSampler:
    """Peak RSS of a process and its children, sampled from a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_mb = 0.0
        self.peak_main_mb = 0.0
        self.started = time.monotonic()
        self.peak_after = 0.0  # seconds after start: which phase set the peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            try:
                main = self.process.memory_info().rss
                children = sum(c.memory_info().rss for c in self.process.children(recursive=True))
            except psutil.Error:
                return  # the service has exited
            self.peak_main_mb = max(self.peak_main_mb, main / 2**20)
            if (main + children) / 2**20 > self.peak_mb:
                self.peak_mb = (main + children) / 2**20
                self.peak_after = time.monotonic() - self.started

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def wrk(base: str, paths: list[str], seconds: int, script: Path, connections: int) -> Load:
    threads = str(min(2, connections))
    command = ["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s"]
    command += ["--timeout", "10s", "-s", str(script), base, "--", *paths]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    requests, errors, p50, p95, p99, micros = map(int, line.split()[1:])
    return Load(requests, errors, p50 / 1000, p95 / 1000, p99 / 1000, micros / 1e6)


@contextmanager
def service(url: str, data_dir: Path, feed_port: int) -> Iterator[tuple[str, RssSampler]]:
    port = _free_port()
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": url,
        "MONITOR_DATA_DIR": str(data_dir),
        "MONITOR_FETCH_ALLOWLIST": f"127.0.0.1:{feed_port}",
        "MONITOR_PER_HOST_DELAY": "0",
        "MONITOR_LOG_LEVEL": "WARNING",
        "MONITOR_API_READ_RATE_LIMIT": "1000000/second",  # one client IP stands for many
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--port", str(port)], env=env
    )
    sampler = RssSampler(process.pid)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base)
        yield base, sampler
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        sampler.stop()


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the service did not become ready in time")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'service.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run(backend: str, feeds: int, articles: int, seconds: int, feed_port: int) -> None:
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    with tempfile.TemporaryDirectory() as folder, database(backend, Path(folder)) as url:
        data_dir = Path(folder) / "data"
        app = bootstrap(Settings(database_url=url, data_dir=data_dir))
        started = time.perf_counter()
        seed(app, feeds, articles, feed_port)
        app.close()
        print(f"<!-- {name}: seeded in {time.perf_counter() - started:.0f} s -->", flush=True)
        repeating, distinct = Path(folder) / "repeating.lua", Path(folder) / "distinct.lua"
        repeating.write_text(REPEATING_LUA)
        distinct.write_text(DISTINCT_LUA)
        paths = article_paths(random.Random(11))
        with service(url, data_dir, feed_port) as (base, sampler):
            loads = [
                (
                    "GET /api/articles?limit=50, filtered (mix)",
                    paths,
                    CONNECTIONS,
                    seconds,
                    repeating,
                ),
                (
                    "GET /healthz (baseline, same run)",
                    ["/healthz"],
                    CONNECTIONS,
                    seconds,
                    repeating,
                ),
                (
                    "GET /api/articles, same mix, 1 connection",
                    paths,
                    1,
                    max(5, seconds // 3),
                    repeating,
                ),
                (
                    "GET /api/articles, same mix, every request a new query",
                    paths,
                    CONNECTIONS,
                    seconds,
                    distinct,
                ),
            ]
            results = []
            for what, load_paths, connections, load_seconds, script in loads:
                print(f"<!-- {what}: from +{time.monotonic() - sampler.started:.0f} s -->")
                results.append((what, wrk(base, load_paths, load_seconds, script, connections)))
            print(f"<!-- peak RSS at +{sampler.peak_after:.0f} s -->", flush=True)
        for (what, load), (_, _, connections, _, _) in zip(results, loads, strict=True):
            met = "✔" if load.p95_ms < P95_TARGET_MS else "✘"
            target = f"p95 < {P95_TARGET_MS} ms {met}" if what == loads[0][0] else "-"
            print(
                f"| {name} | {what} | p50 {load.p50_ms:.1f} ms, p95 {load.p95_ms:.1f} ms, "
                f"p99 {load.p99_ms:.1f} ms | {connections} connections: {load.rate:,.0f} req/s, "
                f"{load.errors} errors | {target} |",
                flush=True,
            )
        met = "✔" if sampler.peak_mb < RSS_TARGET_MB else "✘"
        print(
            f"| {name} | peak RSS of `monitor run` ({feeds:,} feeds, {articles:,} articles, "
            f"model loaded), sampled every {SAMPLE_EVERY} s | {sampler.peak_main_mb:.0f} MB "
            f"(with child processes {sampler.peak_mb:.0f} MB) | during the loads above | "
            f"< {RSS_TARGET_MB} MB {met} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--backend", choices=["both", "sqlite", "postgresql"], default="both")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/service.py needs wrk (apt-get install wrk)")
    server, feed_port = _start(_serve_feeds)
    print("| database | what | monitor | load | target |")
    print("|---|---|---|---|---|")
    try:
        for backend in ("sqlite", "postgresql"):
            if args.backend in ("both", backend):
                run(backend, args.feeds, args.articles, args.seconds, feed_port)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
