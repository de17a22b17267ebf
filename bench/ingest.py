"""Ingestion throughput and polling cost, each against a baseline measured in the same run.

    .venv/bin/python bench/ingest.py [--feeds 2000] [--part both|pipeline|polling]

1. Pipeline throughput: the 330 fixture pages (../shared/fixtures/pages) behind one generated
   feed on a loopback server (another process); `poll` from an empty database until drained
   (fetch, extract, stories, classify, store), against bare `trafilatura.extract` over the same
   page bytes in a process pool of the same size. Target: >= 85 % of the bare throughput.
2. Polling cost: `--feeds` feeds on a loopback server that answers 304 to a conditional GET;
   one full poll cycle (load each feed's state, fetch, record, project). Target: >= 500
   feeds/s and peak RSS of this process under 300 MB. The server runs in its own process, so
   the RSS is the poller's. All feeds share one loopback host, standing in for many hosts, so
   the per-host concurrency limit is raised for this run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.bootstrap import App, bootstrap
from monitor.commands import feeds as feed_commands
from monitor.config import Settings
from monitor.pipeline.extract import Extracted, ExtractJob, ExtractorPool
from monitor.stages.polling import Poller
from tests.page_scoring import trafilatura_direct

PAGES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pages"
ETAG = '"bench-1"'


def _pages() -> list[dict]:
    return [json.loads(line) for line in (PAGES / "expected.jsonl").open()]


def _serve(port_queue: multiprocessing.Queue, feeds: int) -> None:
    """The loopback site: fixture pages, one feed listing them, and `feeds` small feeds."""
    rows = _pages()
    bodies = {f"/p/{n}.html": (PAGES / row["file"]).read_bytes() for n, row in enumerate(rows)}
    gzipped = {f"/p/{n}.html" for n, row in enumerate(rows) if row["gzip"]}
    small = b'<rss version="2.0"><channel><title>t</title></channel></rss>'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in bodies:
                self._send(200, bodies[self.path], "text/html", self.path in gzipped)
            elif self.path == "/feed.xml":
                self._send(200, self.server.site_feed, "application/rss+xml")  # type: ignore[attr-defined]
            elif self.path.startswith("/f/"):
                if self.headers.get("If-None-Match") == ETAG:
                    self.send_response(304)
                    self.send_header("ETag", ETAG)
                    self.end_headers()
                else:
                    self._send(200, small, "application/rss+xml")
            else:
                self._send(404, b"", "text/plain")

        def _send(self, status: int, body: bytes, kind: str, gz: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", ETAG)
            if gz:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    items = "".join(
        f"<item><title>{n}</title><link>http://127.0.0.1:{port}/p/{n}.html</link></item>"
        for n in range(len(rows))
    )
    site_feed = f'<rss version="2.0"><channel><title>s</title>{items}</channel></rss>'
    server.site_feed = site_feed.encode()  # type: ignore[attr-defined]
    port_queue.put(port)
    server.serve_forever()


def _start_server(feeds: int) -> tuple[multiprocessing.Process, int]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=_serve, args=(queue, feeds), daemon=True)
    process.start()
    return process, int(queue.get(timeout=30))


def _app(folder: str, port: int, concurrency: int) -> App:
    return bootstrap(
        Settings(
            database_url=f"sqlite:///{folder}/bench.db",
            data_dir=Path(folder) / "data",
            fetch_allowlist=(f"127.0.0.1:{port}",),
            per_host_delay=0.0,
            per_host_concurrency=concurrency,
        )
    )


def pipeline(port: int) -> None:
    rows = _pages()
    jobs = []
    for row in rows:
        raw = (PAGES / row["file"]).read_bytes()
        jobs.append(
            ExtractJob(gzip.decompress(raw) if row["gzip"] else raw, row["url"], "text/html")
        )
    with ExtractorPool(extractor=trafilatura_direct) as pool:
        workers = len(pool._workers)
        started = time.perf_counter()
        results = pool.extract_many(jobs)
        bare = time.perf_counter() - started
    assert all(isinstance(r, Extracted) for r in results)

    with tempfile.TemporaryDirectory() as folder:
        app = _app(folder, port, concurrency=4)
        app.models.labeler()  # a fresh install trains its first model; not part of the timing
        app.extractor()  # nor is starting the worker processes
        feed_id = feed_commands.add_feed(app, f"http://127.0.0.1:{port}/feed.xml")
        app.catch_up()
        started = time.perf_counter()
        (report,) = Poller(app).poll([feed_id])
        app.drain()
        ours = time.perf_counter() - started
        app.close()
    assert report.new_items == len(rows), report
    print(
        f"| pipeline: poll -> fetch, extract, cluster, classify, store ({len(rows)} pages) | "
        f"{len(rows) / ours:.1f} pages/s ({ours:.1f} s) | bare trafilatura.extract, "
        f"{workers} processes: {len(rows) / bare:.1f} pages/s ({bare:.1f} s) | "
        f"{bare / ours:.0%} | >= 85% |",
        flush=True,
    )


def polling(port: int, feeds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = _app(folder, port, concurrency=50)
        ids = [
            feed_commands.add_feed(app, f"http://127.0.0.1:{port}/f/{n}.xml") for n in range(feeds)
        ]
        app.catch_up()
        Poller(app).poll(ids)  # first cycle: 200s, stores the ETag
        app.catch_up()
        started = time.perf_counter()
        reports = Poller(app).poll(ids)
        app.catch_up()
        elapsed = time.perf_counter() - started
        app.close()
    not_modified = sum(r.detail == "not modified" for r in reports)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| polling: one cycle, {feeds} feeds answering 304 ({not_modified} were) | "
        f"{feeds / elapsed:,.0f} feeds/s ({elapsed:.1f} s) | target 500 feeds/s | "
        f"{feeds / elapsed / 500:.0%} of target | >= 100% |",
        flush=True,
    )
    print(
        f"| polling: peak RSS of the polling process | {peak_mb:.0f} MB | limit 300 MB | "
        f"{peak_mb / 300:.0%} of limit | <= 100% |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--part", choices=["both", "pipeline", "polling"], default="both")
    args = parser.parse_args()
    server, port = _start_server(args.feeds)
    print("| what | monitor | baseline | ratio | target |")
    print("|---|---|---|---|---|")
    try:
        if args.part in ("both", "polling"):
            polling(port, args.feeds)
        if args.part in ("both", "pipeline"):
            pipeline(port)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
