"""Feed parsing: dates, GUIDs, hostile text, charsets, non-feeds (RELIABILITY 32-35, 39)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.pipeline.parse import (
    MAX_ENTRIES,
    NotAFeedError,
    ParsedFeed,
    html_to_text,
    parse_feed,
)

FETCHED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
FEED_URL = "https://feed.example/rss"


def rss(items: str, channel: str = "", declaration: str = '<?xml version="1.0"?>') -> bytes:
    return (
        f'{declaration}<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>Example</title><link>https://site.example/</link>{channel}"
        f"{items}</channel></rss>"
    ).encode()


def item(guid: str | None = None, link: str | None = None, title: str = "T", **extra: str) -> str:
    parts = [f"<title>{title}</title>"]
    if guid is not None:
        parts.append(f"<guid isPermaLink='false'>{guid}</guid>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    parts += [f"<{tag}>{value}</{tag}>" for tag, value in extra.items()]
    return f"<item>{''.join(parts)}</item>"


def parse(body: bytes, content_type: str | None = "application/rss+xml") -> ParsedFeed:
    return parse_feed(body, content_type=content_type, url=FEED_URL, fetched_at=FETCHED)


def test_a_plain_item_is_mapped_field_by_field() -> None:
    body = rss(
        item(
            guid="id-1",
            link="https://news.example/a?utm_source=rss#top",
            title="Ankara &amp; Washington",
            pubDate="Fri, 20 Nov 2026 10:30:00 +0300",
            description="&lt;p&gt;First &lt;b&gt;para&lt;/b&gt;.&lt;/p&gt;",
            **{"dc:creator": "A. Writer", "content:encoded": "<![CDATA[<p>One</p><p>Two</p>]]>"},
        ),
        channel="<language>en-GB</language><ttl>45</ttl>",
    )
    feed = parse(body)
    assert (feed.title, feed.link, feed.ttl_seconds, feed.problem) == (
        "Example",
        "https://site.example/",
        45 * 60,
        None,
    )
    [entry] = feed.entries
    assert entry.guid == "id-1"
    assert entry.url == "https://news.example/a"
    assert entry.title == "Ankara & Washington"
    assert entry.published == datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    assert entry.summary == "First para."
    assert entry.content == "One\n\nTwo"
    assert (entry.author, entry.language) == ("A. Writer", "en-GB")
    assert entry.dedupe_key.startswith("guid:")


def test_update_period_gives_the_ttl() -> None:
    channel = "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>"
    assert parse(rss(item("a"), channel=channel)).ttl_seconds == 900
    assert parse(rss(item("a"), channel="<ttl>never</ttl>")).ttl_seconds is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Thu, 99 Foo 20x3", FETCHED),  # unparsable: fetch time
        ("Mon, 01 Jan 3000 00:00:00 GMT", FETCHED),  # future: clamped
        ((FETCHED + timedelta(minutes=5)).strftime("%a, %d %b %Y %H:%M:%S GMT"), FETCHED),
        ("2026-11-20T23:00:00-05:00", datetime(2026, 11, 21, 4, 0, tzinfo=UTC)),
    ],
)
def test_dates_are_utc_never_in_the_future(raw: str, expected: datetime) -> None:
    [entry] = parse(rss(item("a", pubDate=raw))).entries
    assert entry.published == expected and entry.published.tzinfo is UTC


def test_missing_date_is_the_fetch_time_in_utc() -> None:
    fetched = datetime(2026, 11, 21, 12, 0, tzinfo=timezone(timedelta(hours=3)))
    feed = parse_feed(rss(item("a")), content_type=None, url=FEED_URL, fetched_at=fetched)
    assert feed.entries[0].published == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_feed(rss(item("a")), content_type=None, url=FEED_URL, fetched_at=datetime(2026, 1, 1))


def test_a_guid_shared_by_every_item_does_not_merge_them() -> None:
    body = rss("".join(item("same", f"https://news.example/{n}", f"T{n}") for n in range(3)))
    keys = [e.dedupe_key for e in parse(body).entries]
    assert len(set(keys)) == 3 and all(k.startswith("guid+link:") for k in keys)
    assert keys == [e.dedupe_key for e in parse(body).entries]  # a second poll: same keys


def test_a_guid_equal_to_the_site_address_is_not_trusted_alone() -> None:
    [entry] = parse(rss(item("https://site.example/", "https://news.example/1"))).entries
    assert entry.dedupe_key.startswith("guid+link:")


def test_items_without_guid_fall_back_to_link_then_text() -> None:
    body = rss(
        item(None, "https://news.example/1?utm_medium=feed")
        + item(None, "https://news.example/1")
        + item(None, None, "Only a title", description="and a body")
        + item(None, None, "Another title", description="and a body")
    )
    keys = [e.dedupe_key for e in parse(body).entries]
    assert keys[0] == keys[1] and keys[0].startswith("link:")  # one article, two spellings
    assert keys[2] != keys[3] and keys[2].startswith("text:")


def test_script_in_title_summary_and_link_stays_inert_text() -> None:
    body = rss(
        item(
            "x",
            "javascript:alert(1)",
            "&lt;img src=x onerror=alert(1)&gt;",
            description="&lt;script&gt;alert(1)&lt;/script&gt;Hello &lt;b&gt;world&lt;/b&gt;",
        )
    )
    [entry] = parse(body).entries
    assert entry.title == "<img src=x onerror=alert(1)>"  # the literal; templates escape it
    assert entry.summary == "Hello world"
    assert entry.url is None


def test_html_titles_lose_their_tags_and_entities() -> None:
    [entry] = parse(rss(item("x", title="A &lt;b&gt;bold&lt;/b&gt; move &amp;amp; more"))).entries
    assert entry.title == "A bold move & more"


def test_relative_links_resolve_against_the_feed_address() -> None:
    [entry] = parse(rss(item("x", "/2026/story"))).entries
    assert entry.url == "https://feed.example/2026/story"


def test_control_characters_never_reach_the_text() -> None:
    [entry] = parse(rss(item("x", title="Bad&#x7f;Title"))).entries
    assert entry.title == "BadTitle"


RUSSIAN_ITEMS = [
    ("Министр обороны встретился с коллегами", "Переговоры в Анкаре продолжались весь день."),
    ("Новые поставки вооружений обсуждаются", "Стороны не раскрыли подробности соглашения."),
    ("Дипломаты готовят совместное заявление", "Ожидается, что документ будет подписан завтра."),
]


@pytest.mark.parametrize(
    ("declaration", "content_type"),
    [
        ('<?xml version="1.0" encoding="utf-8"?>', "application/rss+xml; charset=utf-8"),
        ('<?xml version="1.0"?>', "text/xml"),
        ('<?xml version="1.0"?>', None),
    ],
)
def test_windows_1251_with_a_wrong_or_no_label_keeps_its_items(
    declaration: str, content_type: str | None
) -> None:
    items = "".join(
        f"<item><guid>{n}</guid><title>{title}</title><description>{text}</description></item>"
        for n, (title, text) in enumerate(RUSSIAN_ITEMS)
    )
    body = f'{declaration}<rss version="2.0"><channel><title>Новости</title>{items}</channel></rss>'
    feed = parse(body.encode("windows-1251"), content_type)
    assert [(e.title, e.summary) for e in feed.entries] == RUSSIAN_ITEMS
    assert [e.guid for e in feed.entries] == ["0", "1", "2"]
    assert feed.problem and "windows-1252" in feed.problem


def test_ill_formed_xml_is_ingested_with_a_readable_problem() -> None:
    body = rss(item("a", "https://news.example/a", "One") + "<item><title>Two</titl></item>")
    feed = parse(body)
    assert [e.title for e in feed.entries][:1] == ["One"]
    assert feed.problem and "not well-formed XML at line" in feed.problem


def test_entries_beyond_the_limit_are_dropped_and_reported() -> None:
    body = rss("".join(item(str(n), f"https://news.example/{n}") for n in range(MAX_ENTRIES + 7)))
    feed = parse(body)
    assert len(feed.entries) == MAX_ENTRIES and feed.dropped_entries == 7
    assert feed.problem == f"kept the first {MAX_ENTRIES} of {MAX_ENTRIES + 7} entries"


def test_atom_entries_use_id_and_alternate_link() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="tr"><title>Haber</title>
<link href="https://site.example/"/><id>urn:feed</id><updated>2026-11-20T00:00:00Z</updated>
<entry><id>urn:e1</id><title type="html">&lt;em&gt;Savunma&lt;/em&gt; haberi</title>
<link rel="alternate" href="https://site.example/e1"/><updated>2026-11-20T00:00:00Z</updated>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Metin</p></div></content>
</entry></feed>"""
    [entry] = parse(body, "application/atom+xml").entries
    assert (entry.guid, entry.url, entry.title, entry.content, entry.language) == (
        "urn:e1",
        "https://site.example/e1",
        "Savunma haberi",
        "Metin",
        "tr",
    )


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (
            b"<!DOCTYPE html><html><head><title>Home</title></head><body>x</body></html>",
            "text/html",
            "HTML page",
        ),
        (b"<html><body><p>hello</p></body></html>", None, "HTML page"),
        (b"", None, "empty"),
        (b'{"rss": {"channel": {"title": "x"}}}', None, "JSON document that is not a JSON Feed"),
        (b"[1, 2]", "application/json", "JSON document that is not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', None, "does not parse"),
        (b'{"version": "https://jsonfeed.org/version/1"}', None, "without an items list"),
        (gzip.compress(rss(item("a"))), None, "gzip"),
        (b"/etc/passwd", None, "no RSS, RDF or Atom"),  # bytes are never opened as a path
    ],
)
def test_documents_that_are_not_feeds_say_why(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(NotAFeedError, match=reason) as caught:
        parse(body, content_type)
    assert str(caught.value).startswith("not a feed: ")


def test_a_valid_feed_without_items_is_not_an_error() -> None:
    feed = parse(rss(""))
    assert feed.entries == [] and feed.title == "Example"


def test_html_to_text_drops_scripts_and_breaks_blocks() -> None:
    text = html_to_text("<p>a&nbsp;b</p><script>x()</script><style>p{}</style><div>c</div>")
    assert text.split() == ["a", "b", "c"] and "\n" in text


# ---- JSON Feed ------------------------------------------------------------------------------


def json_feed(*items: dict, **top: object) -> bytes:
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "JSON site", **top}
    return json.dumps({**document, "items": list(items)}).encode()


def test_a_json_feed_item_is_mapped_like_an_rss_item() -> None:
    body = json_feed(
        {
            "id": "post-1",
            "url": "https://news.example/a?utm_source=json#top",
            "title": "Ankara & Washington",
            "summary": "A short summary.",
            "content_html": "<p>One</p><p>Two <script>x()</script></p>",
            "date_published": "2026-11-20T10:30:00+03:00",
            "authors": [{"name": "A. Writer"}, {"name": "B. Writer"}],
            "language": "en-GB",
        },
        home_page_url="https://site.example/",
    )
    feed = parse(body, "application/feed+json")
    assert (feed.title, feed.link, feed.ttl_seconds, feed.problem) == (
        "JSON site",
        "https://site.example/",
        None,
        None,
    )
    (entry,) = feed.entries
    assert entry.guid == "post-1"
    assert entry.url == "https://news.example/a"
    assert entry.title == "Ankara & Washington"  # JSON Feed titles are plain text
    assert (entry.summary, entry.content) == ("A short summary.", "One\n\nTwo")
    assert entry.published == datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    assert (entry.author, entry.language) == ("A. Writer, B. Writer", "en-GB")


def test_json_feed_1_0_fields_and_fallbacks() -> None:
    body = json_feed(
        {"id": 42, "external_url": "https://elsewhere.example/story", "content_text": "Text"},
        {"id": "future", "url": "/relative", "date_published": "2999-01-01T00:00:00Z"},
        {"id": "bad-date", "url": "https://news.example/b", "date_modified": "yesterday"},
        "not an object",
        version="https://jsonfeed.org/version/1",
        author={"name": "Feed Author"},
    )
    feed = parse(b"\xef\xbb\xbf  " + body, None)
    first, future, bad = feed.entries
    assert (first.guid, first.url, first.content) == (
        "42",
        "https://elsewhere.example/story",
        "Text",
    )
    assert first.author == "Feed Author" and first.published == FETCHED
    assert future.url == "https://feed.example/relative" and future.published == FETCHED
    assert bad.published == FETCHED
    assert feed.problem == "skipped 1 item(s) that are not objects"


def test_json_feed_entries_are_capped_and_dedupe_like_rss() -> None:
    items = [{"id": "same", "url": f"https://news.example/{n}"} for n in range(MAX_ENTRIES + 5)]
    feed = parse(json_feed(*items), None)
    assert len(feed.entries) == MAX_ENTRIES and feed.dropped_entries == 5
    keys = {entry.dedupe_key for entry in feed.entries}
    assert len(keys) == MAX_ENTRIES  # one GUID shared by every item identifies none of them


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    with pytest.raises(NotAFeedError, match="does not parse"):
        parse(b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 100_000, None)
