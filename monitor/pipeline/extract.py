"""Main text and metadata of an article page, with a reason whenever there is none.

Why not just `trafilatura.extract(body)`: the body is decoded here first (BOM, valid UTF-8,
HTTP charset, <meta> declaration, then a sniffed guess; a wrong label never raises, replacement
characters at worst), binary and compressed bodies are refused instead of parsed (never
inflated), too large or too short results become named failures the pipeline can record (and
fall back to the feed's own text), metadata comes along, and `ExtractorPool` bounds the time a
page may take (lxml and trafilatura cannot be interrupted inside one process). The text equals
what `trafilatura.extract` gives on the same page (NFC, no comments, tables kept).

Metadata is read from the one parsed tree with trafilatura's own field extractors rather than
`with_metadata=True`, which cost 75 % on top of the text (bench/RESULTS.md): its extensive date
search loads dateparser's locales in every fresh worker, and categories, tags and licence are
not used. The date is htmldate's fast search; the author heuristics, the only costly field
left, run only when neither the page's meta tags nor the feed name an author.
"""

from __future__ import annotations

import codecs
import enum
import logging
import multiprocessing
import os
import re
import resource
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from multiprocessing import connection as mp_connection
from typing import Any, NamedTuple

import charset_normalizer
import trafilatura
from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura import metadata as trafilatura_metadata
from trafilatura.settings import Document
from trafilatura.utils import load_html

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_HTML_BYTES = 5 * MiB  # RELIABILITY 10.2: article HTML cap
MIN_TEXT_CHARS = 100  # below this the feed's own text is the better fallback; CJK briefs pass
SNIFF_BYTES = 64 * 1024
DECLARATION_BYTES = 16 * 1024
BINARY_MAGIC = {
    b"\x1f\x8b": "gzip-compressed data",
    b"\x28\xb5\x2f\xfd": "zstd-compressed data",
    b"BZh": "bzip2-compressed data",
    b"\xfd7zXZ": "xz-compressed data",
    b"PK\x03\x04": "a ZIP archive",
    b"%PDF-": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"RIFF": "a RIFF (WebP, WAV, AVI) file",
    b"\x7fELF": "an executable",
}
BINARY_TYPES = ("image/", "audio/", "video/", "font/", "application/pdf", "application/zip")
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Labels browsers read as windows-1252 (WHATWG Encoding), which is a superset of these.
WINDOWS_1252_ALIASES = frozenset({"latin-1", "iso8859-1", "ascii"})
MAX_REPLACEMENT_RATIO = 0.001  # a declared UTF-8 with a stray bad byte is still UTF-8
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_HTML_LANG = re.compile(r"""<html\b[^>]*?\blang\s*=\s*["']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)""")


class FailureReason(enum.StrEnum):
    """Why a page gave no article text (stored in `ExtractionFailed`; never rename)."""

    EMPTY = "empty"  # an empty body, or no main text found
    BINARY = "binary"  # not HTML: compressed, image, PDF, NUL bytes
    TOO_LARGE = "too_large"  # more markup than MAX_HTML_BYTES, or out of memory in the worker
    TOO_SHORT = "too_short"  # main text under MIN_TEXT_CHARS
    TIMEOUT = "timeout"  # over the pool's per-page time budget; the worker was replaced
    CRASHED = "crashed"  # the worker died (killed by a signal, exited); it was replaced
    ERROR = "error"  # an unexpected exception inside the extractor


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    title: str | None
    author: str | None
    published: date | None
    sitename: str | None
    language: str | None  # as the page declares it (e.g. "en", "de-DE"); None if it does not
    encoding: str  # the codec the body was decoded with


@dataclass(frozen=True, slots=True)
class ExtractionFailure:
    reason: FailureReason
    detail: str


ExtractionResult = Extracted | ExtractionFailure


def extract_article(
    html: bytes, *, url: str, content_type: str | None, author_known: bool = False
) -> ExtractionResult:
    """Extract the main text and metadata of one fetched page (pure; may be slow: use the pool).

    `author_known`: the feed named the author, so the page's byline heuristics can be skipped.
    """
    refusal = _refusal(html, content_type)
    if refusal:
        return refusal
    markup, encoding = decode_html(html, content_type)
    tree = load_html(markup)
    if tree is None:
        return ExtractionFailure(FailureReason.EMPTY, "no HTML document")
    document = trafilatura.bare_extraction(  # works on a copy: `tree` stays whole for metadata
        tree, url=url, include_comments=False, include_tables=True
    )
    if not isinstance(document, Document) or not (text := _nfc(document.text)):
        return ExtractionFailure(FailureReason.EMPTY, "no main text found")
    if len(text) < MIN_TEXT_CHARS:
        return ExtractionFailure(FailureReason.TOO_SHORT, f"{len(text)} characters of text")
    meta = _metadata(tree, url, author_known=author_known)
    return Extracted(
        text=text,
        title=_nfc(meta.title) or None,
        author=_nfc(meta.author) or None,
        published=_date(meta.date),
        sitename=_nfc(meta.sitename) or None,
        language=_declared_language(markup),
        encoding=encoding,
    )


def _metadata(tree: HtmlElement, url: str, *, author_known: bool) -> Document:
    """Title, author, date and site name, in the order `trafilatura.extract_metadata` tries."""
    meta = trafilatura_metadata.examine_meta(tree)
    if meta.author and " " not in meta.author:  # trafilatura's rule: a lone word is no byline
        meta.author = None
    try:
        meta = trafilatura_metadata.extract_meta_json(tree, meta)
    except Exception:  # trafilatura guards its JSON-LD reader the same way
        log.debug("unreadable JSON-LD metadata", extra={"url": url})
    meta.title = meta.title or trafilatura_metadata.extract_title(tree)
    if not meta.author and not author_known:
        meta.author = trafilatura_metadata.extract_author(tree)
    meta.date = find_date(tree, url=meta.url or url, extensive_search=False, original_date=True)
    meta.sitename = (meta.sitename or trafilatura_metadata.extract_sitename(tree) or "").lstrip("@")
    meta.clean_and_trim()
    return meta


def _refusal(html: bytes, content_type: str | None) -> ExtractionFailure | None:
    """Bodies that must not reach the HTML parser at all."""
    if len(html) > MAX_HTML_BYTES:
        return ExtractionFailure(FailureReason.TOO_LARGE, f"{len(html)} bytes of markup")
    if not html.strip():
        return ExtractionFailure(FailureReason.EMPTY, "empty body")
    media = (content_type or "").split(";")[0].strip().lower()
    if media.startswith(BINARY_TYPES):
        return ExtractionFailure(FailureReason.BINARY, f"served as {media}")
    for magic, name in BINARY_MAGIC.items():
        if html.startswith(magic):
            return ExtractionFailure(FailureReason.BINARY, f"the body is {name}")
    if not _bom_codec(html) and b"\x00" in html[:1024]:
        return ExtractionFailure(FailureReason.BINARY, "NUL bytes in the body")
    return None


def decode_html(html: bytes, content_type: str | None) -> tuple[str, str]:
    """The page as text, and the codec used: BOM, valid UTF-8, declared charsets, then a guess.

    Bytes that are valid UTF-8 are UTF-8 whatever the label says (legacy text almost never
    forms valid multi-byte sequences); a declaration is trusted only if the bytes decode under
    it (a windows-1251 page labelled UTF-8 is common); the guess never raises and yields
    replacement characters at worst.
    """
    bom_codec = _bom_codec(html)
    if bom_codec:
        return html.decode(bom_codec, errors="replace"), bom_codec
    codecs_ = [c for c in map(_codec, _declared_charsets(html, content_type)) if c]
    seven_bit = [c for c in codecs_ if c.startswith("iso2022")]  # pure ASCII bytes, yet not ASCII
    for codec in [*seven_bit, "strict-utf-8", *codecs_]:
        decoded = _decode_as(html, codec)
        if decoded:
            return decoded
    guess = charset_normalizer.from_bytes(html[:SNIFF_BYTES]).best()
    codec = (_codec(guess.encoding) if guess else None) or "cp1252"
    return html.decode(codec, errors="replace"), codec


def _bom_codec(html: bytes) -> str | None:
    return next((codec for bom, codec in BOMS if html.startswith(bom)), None)


def _declared_charsets(html: bytes, content_type: str | None) -> list[str]:
    labels = _CHARSET_PARAM.findall(content_type or "")
    meta = _META_CHARSET.findall(html[:DECLARATION_BYTES])
    return labels + [label.decode("ascii", "replace") for label in meta]


def _codec(label: str) -> str | None:
    """Python codec for a charset label (None if unknown); latin-1/ascii read as windows-1252."""
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    if name in WINDOWS_1252_ALIASES:
        return "cp1252"
    return "utf-8" if name.startswith("utf-16") else name  # UTF-16 without a BOM is a lie


def _decode_as(html: bytes, codec: str) -> tuple[str, str] | None:
    """Decode if the bytes fit `codec`; a declared UTF-8 tolerates a few stray bytes."""
    strict = codec == "strict-utf-8"
    codec = "utf-8" if strict else codec
    try:
        return html.decode(codec), codec
    except UnicodeDecodeError:
        if strict or codec != "utf-8":
            return None
    text = html.decode(codec, errors="replace")
    return (text, codec) if text.count("\ufffd") <= len(text) * MAX_REPLACEMENT_RATIO else None


def _declared_language(markup: str) -> str | None:
    match = _HTML_LANG.search(markup[:DECLARATION_BYTES])
    return match.group(1).replace("_", "-") if match else None


def _nfc(value: str | None) -> str:
    """NFC, as `trafilatura.extract` returns it (bare_extraction leaves decomposed forms)."""
    return unicodedata.normalize("NFC", value or "").strip()


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


class ExtractJob(NamedTuple):
    html: bytes
    url: str
    content_type: str | None
    author_known: bool = False  # see `extract_article`


Extractor = Callable[..., ExtractionResult]


class ExtractorPool:
    """Long-lived worker processes, one page each at a time, every page under a time budget.

    Why hand-rolled on `multiprocessing` rather than `concurrent.futures` or pebble: a process
    pool executor cannot stop one running task (a page stuck in lxml holds its worker forever),
    and pebble, which can, would be a dependency for about a hundred lines. Here a page over its
    budget, or a worker that dies, gets its worker killed and replaced, and the job a named
    failure. Workers are forked from a forkserver (a clean, single-threaded parent that imported
    this module once), so replacing one is cheap and safe beside the service's threads; each one
    caps its own address space, so a memory bomb fails that page and not the host. The API is
    synchronous, like the followers that call it; a lock serialises concurrent callers.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        timeout: float = 20.0,
        memory_limit: int | None = 1024 * MiB,
        extractor: Extractor = extract_article,
    ) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([__name__])
        self._timeout = timeout
        self._spec = (extractor, memory_limit)
        self._lock = threading.Lock()
        self._workers = [_Worker(self._context, self._spec) for _ in range(workers or _cores())]

    def __enter__(self) -> ExtractorPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        """How many pages can be extracted at once."""
        return len(self._workers)

    def extract(self, html: bytes, *, url: str, content_type: str | None) -> ExtractionResult:
        return self.extract_many([ExtractJob(html, url, content_type)])[0]

    def extract_many(self, jobs: Sequence[ExtractJob]) -> list[ExtractionResult]:
        """Results in the order of `jobs`; every job ends within about `timeout` of its start."""
        with self._lock:
            results: dict[int, ExtractionResult] = {}
            pending = deque(enumerate(jobs))
            while pending or any(w.job is not None for w in self._workers):
                self._dispatch(pending, results)
                self._collect(results)
            return [results[index] for index in range(len(jobs))]

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def _dispatch(
        self, pending: deque[tuple[int, ExtractJob]], results: dict[int, ExtractionResult]
    ) -> None:
        """Give idle workers a job; a worker found dead is replaced once before the job fails."""
        for position, worker in enumerate(self._workers):
            if not pending or worker.job is not None:
                continue
            index, job = pending.popleft()
            if worker.start_job(index, job, self._timeout):
                continue
            self._workers[position] = fresh = _Worker(self._context, self._spec)
            if not fresh.start_job(index, job, self._timeout):
                results[index] = ExtractionFailure(FailureReason.CRASHED, "worker did not start")

    def _collect(self, results: dict[int, ExtractionResult]) -> None:
        busy = [w for w in self._workers if w.job is not None]
        if not busy:
            return
        wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic())
        ready = mp_connection.wait([w.connection for w in busy], timeout=wait_for)
        for position, worker in enumerate(self._workers):
            if worker.job is None:
                continue
            if worker.connection in ready:
                result = worker.receive()
            elif time.monotonic() >= worker.deadline:
                result = ExtractionFailure(FailureReason.TIMEOUT, f"over {self._timeout:g} s")
            else:
                continue
            results[worker.job] = result
            worker.job = None
            if isinstance(result, ExtractionFailure) and result.reason in _FATAL:
                worker.stop()
                self._workers[position] = _Worker(self._context, self._spec)


_FATAL = frozenset({FailureReason.TIMEOUT, FailureReason.CRASHED})


class _Worker:
    """One child process and the pipe to it; `job` is the index of the job it is running."""

    def __init__(self, context: Any, spec: tuple[Extractor, int | None]) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, *spec), daemon=True)
        self.process.start()
        child.close()
        self.job: int | None = None
        self.deadline = 0.0

    def start_job(self, index: int, job: ExtractJob, timeout: float) -> bool:
        try:
            self.connection.send(job)
        except OSError:  # BrokenPipeError: died while idle
            self.stop()
            return False
        self.job, self.deadline = index, time.monotonic() + timeout
        return True

    def receive(self) -> ExtractionResult:
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            self.process.join(1)
            code = self.process.exitcode
            return ExtractionFailure(FailureReason.CRASHED, f"worker exited with code {code}")

    def stop(self) -> None:
        self.connection.close()
        self.process.kill()
        self.process.join(5)


def _serve(connection: Any, extractor: Extractor, memory_limit: int | None) -> None:
    """Worker loop: one job in, one result out, until the pipe closes."""
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    while True:
        try:
            job: ExtractJob = connection.recv()
        except (EOFError, OSError):
            return
        try:
            result = extractor(
                job.html, url=job.url, content_type=job.content_type, author_known=job.author_known
            )
        except MemoryError:
            result = ExtractionFailure(FailureReason.TOO_LARGE, "out of memory while extracting")
        except Exception as exc:  # a bug in the extractor must not end the worker
            result = ExtractionFailure(FailureReason.ERROR, f"{type(exc).__name__}: {exc}")
        connection.send(result)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
