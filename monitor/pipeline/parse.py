"""Feed documents (RSS 0.9x/1.0/2.0, Atom, JSON Feed) turned into plain, bounded, deduplicable
entries.

Why a layer over feedparser: it is only ever given bytes (a `str` or `bytes` argument would be
opened as a path or fetched as a URL, so the body goes in as a stream); declared entities are
removed before it sees the document (no billion laughs, no XXE, whatever parser it falls back
to); and its loose output (HTML in titles, missing or future dates, shared GUIDs, unbounded
entry lists) becomes plain text, UTC dates and stable dedupe keys. Pure: no I/O, no clock.

JSON Feed 1.0/1.1 (https://www.jsonfeed.org/version/1.1/), which feedparser does not read, is
recognised by its leading `{` and read with the json module into the same entries, under the
same caps (the fetcher's size limit, MAX_ENTRIES and the per-field limits).
"""

from __future__ import annotations

import calendar
import codecs
import io
import json
import re
import xml.sax
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import charset_normalizer
import feedparser

from monitor.errors import MonitorError
from monitor.pipeline.canonical import NotWebUrlError, canonical_url, dedupe_key, shared_guids

MAX_ENTRIES = 500
SNIFF_BYTES = 256 * 1024
MAX_TITLE_CHARS = 1_000
MAX_SUMMARY_CHARS = 10_000
MAX_CONTENT_CHARS = 200_000
UPDATE_PERIOD_SECONDS = {
    "hourly": 3_600,
    "daily": 86_400,
    "weekly": 604_800,
    "monthly": 2_592_000,
    "yearly": 31_536_000,
}
_DECLARATION_TOKEN = re.compile(rb"""[>"']""")
_WIDE_ENTITY_DECLS = tuple(
    "<!ENTITY".encode(codec) for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
_XML_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption"}
    | {"figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main"}
    | {"nav", "ol", "p", "pre", "section", "table", "tr", "ul"}
)
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title"})
JSON_FEED_VERSION = "https://jsonfeed.org/version/"
_LEADING_NOISE = b"\xef\xbb\xbf \t\r\n"


class NotAFeedError(MonitorError):
    """The document is no RSS/RDF/Atom/JSON feed (an HTML page, empty); `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a feed: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    guid: str | None
    url: str | None  # canonical http(s) URL; None when the link is missing or not http(s)
    title: str
    published: datetime  # UTC; fetch time when missing or unparsable, never later than it
    summary: str
    content: str  # the feed's own full content as plain text ("" when it has none)
    author: str | None
    language: str | None
    dedupe_key: str


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    link: str | None
    ttl_seconds: int | None
    problem: str | None  # readable; the entries were ingested anyway
    entries: list[ParsedEntry]
    dropped_entries: int = 0


def parse_feed(
    body: bytes, *, content_type: str | None, url: str, fetched_at: datetime
) -> ParsedFeed:
    """Parse one fetched feed document; raises `NotAFeedError` for anything that is no feed."""
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware")
    fetched_at = fetched_at.astimezone(UTC)
    if body.lstrip(_LEADING_NOISE).startswith(b"{"):
        return _json_feed(body, url, fetched_at)
    body, problems = _without_entity_declarations(body)
    result = _feedparser(body, content_type)
    if isinstance(result.get("bozo_exception"), feedparser.CharacterEncodingOverride):
        result = _with_guessed_charset(body, result)
    if not result.get("version") and not result.entries:
        raise NotAFeedError(_not_a_feed_reason(body, content_type, result))
    if result.get("bozo"):
        problems.append(describe_parse_problem(result.get("bozo_exception")))
    raw_entries = result.entries[:MAX_ENTRIES]
    dropped = len(result.entries) - len(raw_entries)
    if dropped:
        problems.append(f"kept the first {MAX_ENTRIES} of {len(result.entries)} entries")
    feed = result.feed
    return ParsedFeed(
        title=_text(feed.get("title_detail"), MAX_TITLE_CHARS),
        link=_web_url(feed.get("link"), url),
        ttl_seconds=_ttl_seconds(feed),
        problem="; ".join(problems) or None,
        entries=_entries(raw_entries, feed, url, fetched_at),
        dropped_entries=dropped,
    )


def _without_entity_declarations(body: bytes) -> tuple[bytes, list[str]]:
    """Remove every ENTITY declaration: no expansion bombs, no external entities.

    Internal-subset entities are a legacy feature real feeds do not need; references to them
    then stay unexpanded text. The scan is linear and honours quoted values (which may hold
    '>'). It only sees ASCII-compatible encodings, so a UTF-16/32 document that declares
    entities is refused outright, as is a declaration that never ends.
    """
    if any(pattern in body for pattern in _WIDE_ENTITY_DECLS):
        raise NotAFeedError("a UTF-16/32 document declaring XML entities (refused for safety)")
    kept, position, count = [], 0, 0
    while (start := body.find(b"<!ENTITY", position)) != -1:
        end = _declaration_end(body, start)
        if end < 0:
            raise NotAFeedError("an XML entity declaration that never ends")
        kept.append(body[position:start])
        position, count = end, count + 1
    if not count:
        return body, []
    kept.append(body[position:])
    return b"".join(kept), [f"ignored {count} XML entity declaration(s) (not expanded)"]


def _declaration_end(body: bytes, start: int) -> int:
    """Index just after the '>' closing the declaration at `start`, or -1."""
    position = start
    while match := _DECLARATION_TOKEN.search(body, position):
        if match.group() == b">":
            return match.end()
        close = body.find(match.group(), match.end())
        if close < 0:
            return -1
        position = close + 1
    return -1


def _feedparser(body: bytes, content_type: str | None) -> Any:
    """feedparser on a stream: given `bytes` it would try to open them as a file name."""
    headers = {"content-type": content_type} if content_type else {}
    return feedparser.parse(io.BytesIO(body), response_headers=headers)


def _with_guessed_charset(body: bytes, result: Any) -> Any:
    """Re-read a document whose declared charset was wrong with a sniffed one, if that differs.

    feedparser's fallback is windows-1252, which turns an unlabelled windows-1251 or -1254 feed
    into mojibake; charset-normalizer usually recognises the real code page.
    """
    guess = charset_normalizer.from_bytes(body[:SNIFF_BYTES]).best()
    if not guess or _codec_name(guess.encoding) == _codec_name(result.get("encoding") or ""):
        return result
    text = body.decode(guess.encoding, errors="replace")
    utf8 = _XML_DECLARED_ENCODING.sub(r"\1", text, count=1).encode("utf-8")
    retried = _feedparser(utf8, "application/xml; charset=utf-8")
    retried["bozo"], retried["bozo_exception"] = (
        1,
        feedparser.CharacterEncodingOverride(
            f"{result['bozo_exception']}; read as {guess.encoding} (detected) instead"
        ),
    )
    return retried


def _codec_name(label: str) -> str:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return label


def describe_parse_problem(exc: object) -> str:
    """One readable line for feedparser's `bozo_exception`."""
    if isinstance(exc, xml.sax.SAXParseException):
        return (
            f"not well-formed XML at line {exc.getLineNumber()}, column "
            f"{exc.getColumnNumber()}: {exc.getMessage()}; read with the lenient parser"
        )
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return f"wrong character encoding: {exc}"
    if isinstance(exc, feedparser.NonXMLContentType):
        return f"served with a non-XML content type: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _not_a_feed_reason(body: bytes, content_type: str | None, result: Any) -> str:
    start = body[:2048].lstrip(_LEADING_NOISE).lower()
    if not start:
        return "the document is empty"
    if body.startswith(b"\x1f\x8b"):
        return "gzip-compressed bytes (the body must be decompressed first)"
    if b"<html" in start or start.startswith(b"<!doctype html") or _is_html_type(content_type):
        return "an HTML page (no RSS, RDF or Atom root element)"
    if start[:1] == b"[":
        return "a JSON document that is not a JSON Feed (a list)"
    detail = describe_parse_problem(result["bozo_exception"]) if result.get("bozo") else ""
    return "no RSS, RDF or Atom root element" + (f" ({detail})" if detail else "")


def _json_feed(body: bytes, url: str, fetched_at: datetime) -> ParsedFeed:
    """A JSON Feed document; anything else in JSON raises `NotAFeedError` saying what it is."""
    try:
        document = json.loads(body)  # UTF-8/16/32 with or without a BOM, as RFC 8259 allows
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting beyond the stack
        raise NotAFeedError(f"a JSON document that does not parse ({exc})") from None
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        JSON_FEED_VERSION
    ):
        raise NotAFeedError("a JSON document that is not a JSON Feed (no jsonfeed.org version)")
    items = document.get("items")
    if not isinstance(items, list):
        raise NotAFeedError("a JSON Feed without an items list")
    raw_items = [item for item in items if isinstance(item, dict)]
    problems = [f"skipped {len(items) - len(raw_items)} item(s) that are not objects"]
    problems = problems if len(raw_items) < len(items) else []
    kept = raw_items[:MAX_ENTRIES]
    if len(kept) < len(raw_items):
        problems.append(f"kept the first {MAX_ENTRIES} of {len(raw_items)} entries")
    home = _web_url(_json_str(document.get("home_page_url")), url)
    links = [
        _web_url(_json_str(item.get("url")) or _json_str(item.get("external_url")), url)
        for item in kept
    ]
    guids = [_json_str(item.get("id")) for item in kept]
    shared = shared_guids(guids, (url, home))
    return ParsedFeed(
        title=_text({"value": _json_str(document.get("title"))}, MAX_TITLE_CHARS),
        link=home,
        ttl_seconds=None,
        problem="; ".join(problems) or None,
        entries=[
            _json_entry(item, guid, link, guid in shared, document, fetched_at)
            for item, guid, link in zip(kept, guids, links, strict=True)
        ],
        dropped_entries=len(raw_items) - len(kept),
    )


def _json_entry(
    item: dict[str, Any],
    guid: str | None,
    link: str | None,
    guid_shared: bool,
    document: dict[str, Any],
    now: datetime,
) -> ParsedEntry:
    title = _text({"value": _json_str(item.get("title"))}, MAX_TITLE_CHARS)
    summary = _text({"value": _json_str(item.get("summary"))}, MAX_SUMMARY_CHARS)
    html = _json_str(item.get("content_html"))
    content = _content(
        [{"value": html, "type": "text/html"}]
        if html
        else [{"value": _json_str(item.get("content_text")) or ""}]
    )
    author = _json_authors(item) or _json_authors(document)
    language = _json_str(item.get("language")) or _json_str(document.get("language"))
    return ParsedEntry(
        guid=guid,
        url=link,
        title=title,
        published=_json_date(item.get("date_published") or item.get("date_modified"), now),
        summary=summary,
        content=content,
        author=_text({"value": author or ""}, MAX_TITLE_CHARS) or None,
        language=language,
        dedupe_key=dedupe_key(guid, link, title, content or summary, guid_is_shared=guid_shared),
    )


def _json_str(value: object) -> str | None:
    """A JSON string (or number, as some feeds write ids), stripped; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value).strip() or None


def _json_authors(holder: dict[str, Any]) -> str | None:
    """JSON Feed 1.1 `authors` (a list), else 1.0 `author` (one object): their names."""
    authors = holder.get("authors")
    people = authors if isinstance(authors, list) else [holder.get("author")]
    names = [_json_str(p.get("name")) for p in people if isinstance(p, dict)]
    return ", ".join(name for name in names if name) or None


def _json_date(value: object, fetched_at: datetime) -> datetime:
    """An RFC 3339 date in UTC; missing, bad or future -> fetch time (as for XML feeds)."""
    try:
        when = datetime.fromisoformat(str(value).strip()) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        return fetched_at
    return min(when.replace(tzinfo=when.tzinfo or UTC).astimezone(UTC), fetched_at)


def _is_html_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml")


def _entries(
    raw_entries: list[Any], feed: Any, url: str, fetched_at: datetime
) -> list[ParsedEntry]:
    links = [_web_url(_raw_link(raw), url) for raw in raw_entries]
    guids = [(raw.get("id") or "").strip() or None for raw in raw_entries]
    shared = shared_guids(guids, (url, feed.get("link")))
    return [
        _entry(raw, guid, link, guid in shared, feed, fetched_at)
        for raw, guid, link in zip(raw_entries, guids, links, strict=True)
    ]


def _entry(
    raw: Any, guid: str | None, link: str | None, guid_shared: bool, feed: Any, now: datetime
) -> ParsedEntry:
    title = _text(raw.get("title_detail"), MAX_TITLE_CHARS)
    summary = _text(raw.get("summary_detail"), MAX_SUMMARY_CHARS)
    content = _content(raw.get("content") or [])
    return ParsedEntry(
        guid=guid,
        url=link,
        title=title,
        published=_published(raw, now),
        summary=summary,
        content=content,
        author=_text({"value": raw.get("author") or ""}, MAX_TITLE_CHARS) or None,
        language=_language(raw, feed),
        dedupe_key=dedupe_key(guid, link, title, content or summary, guid_is_shared=guid_shared),
    )


def _raw_link(raw: Any) -> str | None:
    """FeedBurner's original link names the article; the proxied one only the redirector."""
    return raw.get("feedburner_origlink") or raw.get("link")


def _web_url(link: str | None, base: str) -> str | None:
    if not link:
        return None
    try:
        return canonical_url(urljoin(base, link.strip()))
    except NotWebUrlError:
        return None


def _published(raw: Any, fetched_at: datetime) -> datetime:
    """Published or updated time in UTC; missing or bad -> fetch time; future -> fetch time."""
    # dict.get: feedparser's own lookup maps a missing key to the other with a warning
    parsed = dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed")
    if not parsed:
        return fetched_at
    try:
        when = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (TypeError, ValueError, OverflowError, OSError):  # e.g. year 10000
        return fetched_at
    return min(when, fetched_at)


def _language(raw: Any, feed: Any) -> str | None:
    details = [raw.get("title_detail"), raw.get("summary_detail"), *(raw.get("content") or [])]
    for candidate in (*(d.get("language") for d in details if d), feed.get("language")):
        if candidate and candidate.strip():
            return candidate.strip()
    return None


def _ttl_seconds(feed: Any) -> int | None:
    """RSS <ttl> (minutes), else sy:updatePeriod / sy:updateFrequency; None when absent or bad."""
    ttl = _positive_int(feed.get("ttl"))
    if ttl:
        return ttl * 60
    period = UPDATE_PERIOD_SECONDS.get((feed.get("sy_updateperiod") or "").strip().lower())
    if not period:
        return None
    return period // (_positive_int(feed.get("sy_updatefrequency")) or 1)


def _positive_int(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None


def _text(detail: Any, limit: int) -> str:
    """One line of plain text from a feedparser text construct.

    HTML is reduced to its text; if that leaves nothing although the publisher wrote something
    (a title like `<img src=x onerror=alert(1)>`), the literal is kept: templates escape it.
    """
    if not detail:
        return ""
    raw = _CONTROL_CHARS.sub("", detail.get("value") or "")
    text = html_to_text(raw) if "html" in (detail.get("type") or "") else raw
    return " ".join((text if text.strip() else raw).split())[:limit]


def _content(contents: list[Any]) -> str:
    """The entry's full content: paragraphs kept as blank-line separated plain text."""
    parts = []
    for item in contents:
        value = _CONTROL_CHARS.sub("", item.get("value") or "")
        parts.append(html_to_text(value) if "html" in (item.get("type") or "") else value)
    paragraphs = (" ".join(line.split()) for part in parts for line in part.splitlines())
    return "\n\n".join(p for p in paragraphs if p)[:MAX_CONTENT_CHARS]


class _TextCollector(HTMLParser):
    """Text of an HTML fragment; script/style contents dropped; block elements break lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment, entities unescaped, line breaks at block elements."""
    collector = _TextCollector()
    collector.feed(fragment)
    collector.close()
    return "".join(collector.parts)
