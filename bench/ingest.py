"""Ingestion throughput and polling cost, each against a baseline measured in the same run.

    .venv/bin/python bench/ingest.py [--feeds 2000] [--part both|pipeline|polling] [--repeat 3]

1. Pipeline throughput: the 330 fixture pages (../shared/fixtures/pages) behind one generated
   feed on a loopback server (another process); `poll` from an empty database until drained
   (fetch, extract, stories, classify, store), against bare `trafilatura.extract` over the same
   page bytes in a process pool of the same size. Target: >= 85 % of the bare throughput.
2. Polling cost: `--feeds` feeds on a loopback server that answers 304 to a conditional GET;
   one full poll cycle (read who is due, fetch, record, project), against plain httpx GETs of
   the same URLs. Target: >= 500 feeds/s, peak RSS of this process under 300 MB. The server
   runs in its own process, so the RSS is the poller's. All feeds share one loopback host,
   standing in for many hosts; the default per-host limit of 2 connections applies.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.bootstrap import App, bootstrap
from monitor.commands import feeds as feed_commands
from monitor.config import Settings
from monitor.pipeline.extract import Extracted, ExtractJob, ExtractorPool
from monitor.stages.polling import Poller
from tests.page_scoring import trafilatura_direct

PAGES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pages"
ETAG = '"bench-1"'
CONCURRENCY = 2  # the default per-host limit (httpcore slows down with many at once)


def _pages() -> list[dict]:
    return [json.loads(line) for line in (PAGES / "expected.jsonl").open()]


def _serve_pages(port_queue: multiprocessing.Queue) -> None:
    """The loopback site: the fixture pages (gzip-encoded where stored so) and one feed."""
    rows = _pages()
    bodies = {f"/p/{n}.html": (PAGES / row["file"]).read_bytes() for n, row in enumerate(rows)}
    gzipped = {f"/p/{n}.html" for n, row in enumerate(rows) if row["gzip"]}
    site: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def do_GET(self) -> None:
            if self.path in bodies:
                self._send(200, bodies[self.path], "text/html", self.path in gzipped)
            elif self.path == "/feed.xml":
                self._send(200, site["feed"], "application/rss+xml")
            else:
                self._send(404, b"", "text/plain")

        def _send(self, status: int, body: bytes, kind: str, gz: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
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
    site["feed"] = f'<rss version="2.0"><channel><title>s</title>{items}</channel></rss>'.encode()
    port_queue.put(port)
    server.serve_forever()


def _serve_feeds(port_queue: multiprocessing.Queue) -> None:
    """A minimal keep-alive HTTP/1.1 responder for the polling part: 304 to a matching ETag.

    Python's threaded `http.server` needs about 3.5 ms a request here, which would measure
    the server rather than the poller.
    """
    small = b'<rss version="2.0"><channel><title>t</title></channel></rss>'
    not_modified = (
        f"HTTP/1.1 304 Not Modified\r\nETag: {ETAG}\r\nContent-Length: 0\r\n\r\n".encode()
    )
    full = (
        f"HTTP/1.1 200 OK\r\nETag: {ETAG}\r\nContent-Type: application/rss+xml\r\n"
        f"Content-Length: {len(small)}\r\n\r\n"
    ).encode() + small
    validator = f"if-none-match: {ETAG}".encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                writer.write(not_modified if validator in head.lower() else full)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def _start(target: Callable[[multiprocessing.Queue], None]) -> tuple[multiprocessing.Process, int]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(queue,), daemon=True)
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


class _Run(NamedTuple):
    seconds: float  # wall clock
    cpu: float  # CPU seconds of this process and the extraction workers


def _cpu(pool: ExtractorPool) -> float:
    """CPU seconds used so far by this process and the pool's workers (Linux /proc).

    Unlike wall time this hardly depends on what else the machine runs, so it shows the cost
    even on a busy machine; on an idle one with N cores, wall time tends to CPU / N.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for worker in pool._workers:
        fields = Path(f"/proc/{worker.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _bare(jobs: list[ExtractJob]) -> tuple[_Run, int]:
    """Bare `trafilatura.extract` over `jobs` in a pool; and its process count."""
    with ExtractorPool(extractor=trafilatura_direct) as pool:
        started, cpu = time.perf_counter(), _cpu(pool)
        results = pool.extract_many(jobs)
        run = _Run(time.perf_counter() - started, _cpu(pool) - cpu)
        workers = len(pool._workers)
    assert all(isinstance(r, Extracted) for r in results)
    return run, workers


def _ours(port: int, pages: int) -> _Run:
    """From `poll` on an empty database until the pipeline is drained."""
    with tempfile.TemporaryDirectory() as folder:
        app = _app(folder, port, concurrency=4)
        app.models.labeler()  # a fresh install trains its first model: not timed
        pool = app.extractor()  # nor is starting the worker processes
        feed_id = feed_commands.add_feed(app, f"http://127.0.0.1:{port}/feed.xml")
        app.catch_up()
        started, cpu = time.perf_counter(), _cpu(pool)
        (report,) = Poller(app).poll([feed_id])
        app.drain()
        run = _Run(time.perf_counter() - started, _cpu(pool) - cpu)
        app.close()
    assert report.new_items == pages, report
    return run


def pipeline(repeat: int) -> None:
    """Best of `repeat` runs of each, interleaved: on a shared machine the best run is the one
    least disturbed by other processes, for the baseline and the pipeline alike."""
    rows = _pages()
    jobs = []
    for row in rows:
        raw = (PAGES / row["file"]).read_bytes()
        html = gzip.decompress(raw) if row["gzip"] else raw
        jobs.append(ExtractJob(html, row["url"], "text/html"))
    server, port = _start(_serve_pages)
    try:
        runs = []
        for _ in range(repeat):
            bare, workers = _bare(jobs)
            runs.append((bare, _ours(port, len(rows))))
    finally:
        server.terminate()
    bare, ours = min(b.seconds for b, _ in runs), min(o.seconds for _, o in runs)
    bare_cpu, ours_cpu = min(b.cpu for b, _ in runs), min(o.cpu for _, o in runs)
    print(
        f"| pipeline: poll -> fetch, extract, cluster, classify, store ({len(rows)} pages; "
        f"best of {repeat}) | {len(rows) / ours:.1f} pages/s ({ours:.1f} s) | bare "
        f"trafilatura.extract, {workers} processes: {len(rows) / bare:.1f} pages/s "
        f"({bare:.1f} s) | {bare / ours:.0%} | >= 85% |",
        flush=True,
    )
    print(
        f"| pipeline: CPU seconds (this process and the workers; best of {repeat}) | "
        f"{ours_cpu:.1f} s | {bare_cpu:.1f} s | {bare_cpu / ours_cpu:.0%} | - |",
        flush=True,
    )
    print(
        "runs (bare s/cpu, pipeline s/cpu):",
        ", ".join(f"({b.seconds:.1f}/{b.cpu:.1f}, {o.seconds:.1f}/{o.cpu:.1f})" for b, o in runs),
    )


def _bare_client(urls: list[str]) -> float:
    """The baseline: plain httpx GETs with the same validator and connection limit."""

    async def run() -> float:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits) as client:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(url: str) -> int:
                async with gate:
                    response = await client.get(url, headers={"If-None-Match": ETAG})
                    return response.status_code

            started = time.perf_counter()
            codes = await asyncio.gather(*(one(url) for url in urls))
            assert set(codes) == {304}, set(codes)
            return time.perf_counter() - started

    return asyncio.run(run())


def polling(feeds: int) -> None:
    server, port = _start(_serve_feeds)
    urls = [f"http://127.0.0.1:{port}/f/{n}.xml" for n in range(feeds)]
    try:
        with tempfile.TemporaryDirectory() as folder:
            app = _app(folder, port, concurrency=CONCURRENCY)
            ids = [feed_commands.add_feed(app, url) for url in urls]
            app.catch_up()
            Poller(app).poll(ids)  # first cycle: 200s, stores the ETag
            app.catch_up()
            bare = _bare_client(urls)
            started = time.perf_counter()
            reports = Poller(app).poll(ids)
            app.catch_up()
            elapsed = time.perf_counter() - started
            app.close()
    finally:
        server.terminate()
    not_modified = sum(r.detail == "not modified" for r in reports)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| polling: one full cycle, {feeds} feeds answering 304 ({not_modified} did) | "
        f"{feeds / elapsed:,.0f} feeds/s ({elapsed:.1f} s) | bare httpx GETs of the same "
        f"URLs: {feeds / bare:,.0f} req/s ({bare:.1f} s) | {bare / elapsed:.0%} | "
        ">= 500 feeds/s |",
        flush=True,
    )
    print(
        f"| polling: peak RSS of the polling process | {peak_mb:.0f} MB | - | - | < 300 MB |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--part", choices=["both", "pipeline", "polling"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="pipeline runs (best is shown)")
    args = parser.parse_args()
    print("| what | monitor | baseline | ratio | target |")
    print("|---|---|---|---|---|")
    if args.part in ("both", "polling"):
        polling(args.feeds)
    if args.part in ("both", "pipeline"):
        pipeline(args.repeat)


if __name__ == "__main__":
    main()
