"""Delivery throughput against a bare httpx client, in the same run, on loopback only.

    .venv/bin/python bench/delivery.py [--articles 200] [--endpoints 50] [--in-flight 50]
        [--rounds 3] [--backend both]

Measures:
- webhook fan-out: `--articles` matched articles to `--endpoints` webhook subscriptions
  (10,000 deliveries by default), each endpoint on its own loopback address (127.0.0.N), sent
  by `WebhookWorker.run_due()` (claim, sign, POST, record an event per delivery), against a
  bare `httpx.AsyncClient` posting the same bodies to the same endpoints with the same number
  of requests in flight (target: >= 60 %). httpx itself slows down with many connections in
  flight (on the reference machine about 1,000 req/s at 10, 600 at 50, far less at 200), so
  the default of 50 is a fair middle, not a handicap for the baseline;
- digest rendering: `render_digest` of 500 items, with and without the trend chart
  (target: < 1 s).
The receiver is a minimal asyncio HTTP/1.1 server in its own process answering 204.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands.subscriptions import subscribe
from monitor.config import Settings
from monitor.delivery.chart import daily_series, stance_trend_chart
from monitor.delivery.digest import Envelope, render_digest
from monitor.delivery.subscriptions import MatchReasons, SubscriptionSpec
from monitor.delivery.webhook import sign
from monitor.eventlog import new_id
from monitor.events import ArticleClassified, ArticleDiscovered, ArticleExtracted
from monitor.stages.matching import MatchingStage, view_from_json
from monitor.stages.webhooks import WebhookWorker
from monitor.streams import article_stream

POSTGRES = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RESPONSE = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


# --- the receiver ----------------------------------------------------------------------------


async def _serve(count: int, ready: Connection) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = [
        await asyncio.start_server(handle, f"127.0.0.{n}", 0, backlog=1024)
        for n in range(1, count + 1)
    ]
    ready.send([s.sockets[0].getsockname()[:2] for s in servers])
    await asyncio.Event().wait()


def _receiver(count: int, ready: Connection) -> None:
    asyncio.run(_serve(count, ready))


# --- the fan-out -----------------------------------------------------------------------------


def setup(url: str, data_dir: Path, origins: list[str], articles: int) -> App:
    app = bootstrap(Settings(database_url=url, data_dir=data_dir, fetch_allowlist=tuple(origins)))
    for origin in origins:
        subscribe(app, SubscriptionSpec("webhook", f"http://{origin}/hook"))
    now = datetime.now(UTC)
    for n in range(articles):
        article_id = new_id()
        app.log.append(
            article_stream(article_id),
            None,
            [
                ArticleDiscovered(
                    article_id, "feed", f"https://news.example/{n}", None, f"Item {n}", now, now
                ),
                ArticleExtracted(article_id, "page", "Ankara and Washington agreed. " * 20),
                ArticleClassified(
                    article_id,
                    "bench",
                    True,
                    0.9,
                    "cooperation",
                    0.5,
                    actors=("TUR", "USA"),
                    topics=("defense_industry",),
                    topic_scores={"defense_industry": 0.9},
                    stance_scores={"cooperation": 0.8, "neutral": 0.2},
                ),
            ],
        )
    app.runner.run_once(MatchingStage(app))
    return app


def ours(app: App, in_flight: int) -> tuple[float, int]:
    started = time.perf_counter()
    attempts = WebhookWorker(app, batch=in_flight).run_due()
    return time.perf_counter() - started, attempts


def bare(app: App, in_flight: int) -> tuple[float, int]:
    """The same bodies to the same URLs, signed, as many in flight, nothing recorded."""
    o, t = db.delivery_outbox, db.subscription_targets
    with app.engine.connect() as conn:
        jobs = conn.execute(
            select(o.c.webhook_id, o.c.body, t.c.target, t.c.secret).join(
                t, t.c.subscription_id == o.c.subscription_id
            )
        ).all()

    async def main() -> int:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=in_flight)) as client:

            async def post(job: object) -> int:
                webhook_id, body, url, secret = job  # type: ignore[misc]
                data = body.encode()
                headers = sign(secret, webhook_id, datetime.now(UTC), data)
                response = await client.post(
                    url, content=data, headers={"Content-Type": "application/json", **headers}
                )
                return response.status_code

            done = 0
            for start in range(0, len(jobs), in_flight):
                chunk = jobs[start : start + in_flight]
                statuses = await asyncio.gather(*(post(j) for j in chunk))
                done += sum(200 <= s < 300 for s in statuses)
            return done

    started = time.perf_counter()
    sent = asyncio.run(main())
    return time.perf_counter() - started, sent


def reset(app: App) -> None:
    with app.engine.begin() as conn:
        conn.execute(
            db.delivery_outbox.update().values(
                status="pending", next_attempt_at=datetime.now(UTC) - timedelta(1)
            )
        )


def fan_out(
    url: str, articles: int, endpoints: int, in_flight: int, rounds: int
) -> list[list[str]]:
    parent, child = multiprocessing.Pipe()
    receiver = multiprocessing.Process(target=_receiver, args=(endpoints, child), daemon=True)
    receiver.start()
    origins = [f"{host}:{port}" for host, port in parent.recv()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        app = setup(url, Path(tmp), origins, articles)
        try:
            mine, theirs = [], []
            for _ in range(rounds):
                reset(app)
                mine.append(ours(app, in_flight))
                theirs.append(bare(app, in_flight))
            count = articles * endpoints
            assert all(n == count for _, n in mine + theirs), (mine, theirs)
            ours_rate = count / statistics.median(s for s, _ in mine)
            bare_rate = count / statistics.median(s for s, _ in theirs)
            rows.append(
                [
                    app.engine.dialect.name,
                    f"webhook fan-out, {count:,} deliveries to {endpoints} endpoints, "
                    f"{in_flight} in flight",
                    f"{ours_rate:,.0f} deliveries/s",
                    f"bare httpx {bare_rate:,.0f} req/s",
                    f"{ours_rate / bare_rate:.0%}",
                    "✔" if ours_rate / bare_rate >= 0.6 else "✘",
                ]
            )
        finally:
            app.close()
            receiver.kill()
    return rows


# --- digest rendering ------------------------------------------------------------------------


def digest_rows() -> list[list[str]]:
    now = datetime.now(UTC)
    items = []
    for n in range(500):
        view = view_from_json(
            {
                "id": f"a{n}",
                "url": f"https://news.example/{n}",
                "title": f"Item {n} <b>with</b> markup",
                "text": "Ankara and Washington agreed. It matters. " * 10,
                "source": "Wire",
                "published_at": (now - timedelta(hours=n)).isoformat(),
                "language": "en",
                "relevant": True,
                "actors": ["TUR"],
                "topics": ["defense_industry" if n % 2 else "economy_energy"],
                "topic_scores": {"defense_industry": 0.7, "economy_energy": 0.6},
                "stance": ("cooperation", "tension", "neutral")[n % 3],
                "stance_scores": {"cooperation": 0.5, "tension": 0.3, "neutral": 0.2},
                "stance_score": 0.2,
                "explanation": {},
                "story_id": f"s{n // 3}",
                "model_version": "bench",
            }
        )
        items.append((view, MatchReasons((), None, (), (), None, 0.5)))
    envelope = Envelope(
        "sub", "a@example.org", "m@example.org", "https://m.example", "https://m.example/u/t"
    )
    rows = []
    for with_chart in (False, True):
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            chart = None
            if with_chart:
                chart = stance_trend_chart(daily_series([v for v, _ in items], UTC))  # type: ignore[arg-type]
            message = render_digest(
                items, envelope, (now - timedelta(days=21), now), now=now, chart=chart
            )
            assert message is not None
            message.as_bytes()
            timings.append(time.perf_counter() - started)
        seconds = statistics.median(timings)
        what = "digest of 500 items" + (" with the trend chart" if with_chart else "")
        rows.append(["-", what, f"{seconds:.2f} s", "-", "-", "✔" if seconds < 1 else "✘"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=50, help="requests at a time, both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            rows += fan_out(
                f"sqlite:///{tmp}/bench.db",
                args.articles,
                args.endpoints,
                args.in_flight,
                args.rounds,
            )
    if args.backend in ("postgresql", "both"):
        schema = f"bench_{new_id()[:8]}"
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            url = f"{POSTGRES}?options={quote(f'-csearch_path={schema}')}"
            rows += fan_out(url, args.articles, args.endpoints, args.in_flight, args.rounds)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    rows += digest_rows()
    print("| database | what | monitor | baseline | ratio | target |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
