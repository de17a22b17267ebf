"""Loopback test servers (127.0.0.1, port 0 only) with hit and connection counters.

``LoopbackServer`` is a threaded ``http.server`` whose routes are small handler functions built
by the factories below (slow drip, huge bodies, gzip bomb, redirects, conditional GET, ...).
``SilentServer`` accepts TCP connections and never answers. Every loop in a handler is
bounded, handlers stop quietly when the client goes away, and ``close()`` never waits for
handler threads, so a test that aborts a download does not hang on teardown.
"""

from __future__ import annotations

import functools
import socket
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Handler = Callable[[BaseHTTPRequestHandler], None]
KiB = 1024
MiB = 1024 * KiB


@dataclass
class Hit:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    at: float
    body: bytes = b""


@dataclass
class _Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: int = 0
    hits: list[Hit] = field(default_factory=list)
    active: int = 0
    max_active: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never join handler threads that may still be dripping
    allow_reuse_address = True

    def __init__(self, stats: _Stats, handler_class: type[BaseHTTPRequestHandler]) -> None:
        self.stats = stats
        super().__init__(("127.0.0.1", 0), handler_class)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-request are expected here; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.stats.lock:
            self.stats.connections += 1
        super().process_request(request, client_address)


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1:0; routes map exact paths to handlers."""

    def __init__(
        self, routes: Mapping[str, Handler] | None = None, default: Handler | None = None
    ) -> None:
        self.routes = dict(routes or {})
        self.default = default or respond(404, b"not found")
        self.stats = _Stats()
        self._server = _Server(self.stats, self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.origin}{path}"

    @property
    def hits(self) -> list[Hit]:
        with self.stats.lock:
            return list(self.stats.hits)

    def hit_count(self, path: str | None = None) -> int:
        return sum(1 for hit in self.hits if path is None or hit.path == path)

    def path_counts(self) -> Counter[str]:
        return Counter(hit.path for hit in self.hits)

    @property
    def connections(self) -> int:
        with self.stats.lock:
            return self.stats.connections

    @property
    def max_active(self) -> int:
        with self.stats.lock:
            return self.stats.max_active

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # a stuck client cannot pin a thread forever

            def do_GET(self) -> None:
                server._dispatch(self)

            do_POST = do_PUT = do_HEAD = do_DELETE = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        return _Handler

    def _dispatch(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(min(length, 1 * MiB)) if length else b""
        hit = Hit(request.command, path, dict(request.headers.items()), time.monotonic(), body)
        stats = self.stats
        with stats.lock:
            stats.hits.append(hit)
            stats.active += 1
            stats.max_active = max(stats.max_active, stats.active)
        try:
            self.routes.get(path, self.default)(request)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            request.close_connection = True  # the client gave up; that is the point
        finally:
            with stats.lock:
                stats.active -= 1


class SilentServer:
    """Accepts TCP connections on 127.0.0.1:0 and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def origin(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.origin}{path}"

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():  # bounded by close()
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._accepted:
            conn.close()
        self._sock.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- handler factories -------------------------------------------------------------------


def _head(
    request: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str] | None = None
) -> None:
    request.send_response(status)
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()


def respond(
    status: int = 200, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> Handler:
    """A fixed response with Content-Length."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        _head(request, status, {"Content-Length": str(len(body)), **(headers or {})})
        if request.command != "HEAD":
            request.wfile.write(body)

    return handle


def redirect(location: str, status: int = 302) -> Handler:
    return respond(status, b"", {"Location": location})


def drip(interval: float, count: int, declared: int | None = None) -> Handler:
    """Headers at once, then one byte every ``interval`` seconds, ``count`` bytes in all."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        _head(request, 200, {"Content-Length": str(declared or count), "Content-Type": "text/xml"})
        request.wfile.flush()
        for _ in range(count):
            time.sleep(interval)
            request.wfile.write(b"x")
            request.wfile.flush()

    return handle


def large_body(total: int, *, content_length: bool, chunk: int = 64 * KiB) -> Handler:
    """``total`` bytes of XML-ish filler, with Content-Length or chunked without it."""
    block = (b"<item>spam</item>" * (chunk // 17 + 1))[:chunk]

    def handle(request: BaseHTTPRequestHandler) -> None:
        framing = (
            {"Content-Length": str(total)} if content_length else {"Transfer-Encoding": "chunked"}
        )
        _head(request, 200, {"Content-Type": "application/rss+xml", **framing})
        sent = 0
        for _ in range(total // chunk + 1):
            piece = block[: min(chunk, total - sent)]
            if not piece:
                break
            request.wfile.write(piece if content_length else _chunk(piece))
            sent += len(piece)
        if not content_length:
            request.wfile.write(b"0\r\n\r\n")

    return handle


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@functools.cache
def gzip_bomb_bytes(decoded_size: int = 200 * 1000 * 1000) -> bytes:
    """gzip of ``decoded_size`` zero bytes (200 MB -> about 200 KB), built once per run."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 * MiB)
    parts = [compressor.compress(zeros) for _ in range(decoded_size // len(zeros))]
    parts.append(compressor.compress(bytes(decoded_size % len(zeros))))
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(content_type: str = "application/rss+xml", *, encoded: bool = True) -> Handler:
    """The bomb with ``Content-Encoding: gzip``, or (``encoded=False``) as plain bytes."""
    encoding = {"Content-Encoding": "gzip"} if encoded else {}
    return respond(200, gzip_bomb_bytes(), {"Content-Type": content_type, **encoding})


def conditional(etag: str, last_modified: str, body: bytes) -> Handler:
    """200 with validators, or 304 when If-None-Match matches."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        validators = {"ETag": etag, "Last-Modified": last_modified}
        if request.headers.get("If-None-Match") == etag:
            _head(request, 304, validators)
            return
        respond(200, body, {"Content-Type": "application/rss+xml", **validators})(request)

    return handle


def slow(seconds: float, status: int = 200, body: bytes = b"ok") -> Handler:
    """Answer after ``seconds`` (concurrency and slow-receiver tests)."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        respond(status, body)(request)

    return handle
