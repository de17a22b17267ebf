"""Polling to stored articles against a real loopback server serving real article pages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import feeds as feed_commands
from monitor.config import Settings
from monitor.queries import article_detail, list_articles
from monitor.stages.polling import Poller
from tests.conftest import SHARED, require_shared
from tests.servers import LoopbackServer, conditional, gzip_bomb, respond

PAGES = SHARED / "fixtures" / "pages"
HELICOPTER = "aeb-aljazeera.com-7916ecca96.html"  # US helicopter crash in Afghanistan
MOON = "aeb-aljazeera.com-42aad16bde.html"
ETAG = '"v1"'


def rss(items: list[tuple[str, str | None, str]]) -> bytes:
    """A small RSS 2.0 document: (title, link or None, description) per item."""
    entries = "".join(
        f"<item><title>{title}</title>"
        + (f"<link>{link}</link><guid>{link}</guid>" if link else "")
        + f"<description>{text}</description>"
        "<pubDate>Wed, 19 Nov 2026 10:00:00 GMT</pubDate></item>"
        for title, link, text in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Test wire</title><link>http://example.org/</link>{entries}</channel></rss>"
    ).encode()


@pytest.fixture
def wire() -> Iterator[LoopbackServer]:
    require_shared(PAGES)
    helicopter = (PAGES / HELICOPTER).read_bytes()
    moon = (PAGES / MOON).read_bytes()
    server = LoopbackServer()
    base = server.url("")
    main_feed = rss(
        [
            ("US helicopter crash", f"{base}/crash.html", "Two service members were killed."),
            ("Moon base", f"{base}/moon.html?utm_source=rss", "Staying on the Moon is hard."),
            ("Page gone", f"{base}/gone.html", "Only this summary is left of it."),
            ("No link at all", None, "A wire brief that has no web page."),
        ]
    )
    other_feed = rss(
        [
            ("Moon base (copy)", f"{base}/moon.html", "The same article from another feed."),
            ("Crash, syndicated", f"{base}/crash-syndicated.html", "Same story elsewhere."),
        ]
    )
    html = {"Content-Type": "text/html; charset=utf-8"}
    server.routes.update(
        {
            "/feed.xml": conditional(ETAG, "Wed, 19 Nov 2026 10:00:00 GMT", main_feed),
            "/other.xml": respond(200, other_feed, {"Content-Type": "application/rss+xml"}),
            "/crash.html": respond(200, helicopter, html),
            "/crash-syndicated.html": respond(
                200, helicopter.replace(b"Al Jazeera", b"Wire"), html
            ),
            "/moon.html": respond(200, moon, html),
            "/bomb.xml": gzip_bomb(),
            "/not-a-feed.xml": respond(200, b"<html><body>Hello</body></html>", html),
        }
    )
    yield server
    server.close()


@pytest.fixture
def wired_app(settings: Settings, wire: LoopbackServer) -> Iterator[App]:
    configured = settings.model_copy(
        update={"fetch_allowlist": (wire.origin,), "per_host_delay": 0.0, "fetch_deadline": 10.0}
    )
    application = bootstrap(configured)
    yield application
    application.close()


def _add(app: App, server: LoopbackServer, path: str) -> str:
    return feed_commands.add_feed(app, server.url(path))


def test_poll_extract_dedupe_and_cluster(wired_app: App, wire: LoopbackServer) -> None:
    app = wired_app
    main = _add(app, wire, "/feed.xml")
    other = _add(app, wire, "/other.xml")
    app.catch_up()

    reports = {r.feed_id: r for r in Poller(app).poll([main, other])}
    app.drain()
    assert reports[main].ok and reports[main].new_items == 4
    assert reports[other].ok and reports[other].new_items == 1  # the moon copy is known

    stored = list_articles(app.engine, limit=100)
    assert len(stored) == 5
    by_title = {a["title"]: article_detail(app.engine, a["id"]) for a in stored}

    crash = by_title["US helicopter crash"]
    assert crash is not None and crash["text_source"] == "page"
    assert "helicopter crash in Afghanistan" in crash["text"]
    moon = by_title["Moon base"]
    assert moon is not None and moon["url"] == f"{wire.url('')}/moon.html"  # utm_source gone

    gone = by_title["Page gone"]
    assert gone is not None and gone["text_source"] == "feed"
    assert gone["extraction_error"].startswith("http_status")
    assert gone["text"] == "Only this summary is left of it."
    brief = by_title["No link at all"]
    assert brief is not None and brief["extraction_error"].startswith("no_url")

    syndicated = by_title["Crash, syndicated"]
    assert syndicated is not None and syndicated["story_id"] == crash["story_id"]
    assert [a["id"] for a in crash["story"]["articles"]] == [syndicated["id"]]
    assert moon["story_id"] != crash["story_id"]

    # The second poll: 304 for the conditional feed, nothing new anywhere.
    again = {r.feed_id: r for r in Poller(app).poll([main, other])}
    app.drain()
    assert again[main].detail == "not modified"
    assert sum(r.new_items for r in again.values()) == 0
    assert wire.hits[-1].headers.get("If-None-Match") or any(
        h.headers.get("If-None-Match") == ETAG for h in wire.hits
    )
    assert len(list_articles(app.engine, limit=100)) == 5


def test_a_json_feed_is_polled_like_rss(wired_app: App, wire: LoopbackServer) -> None:
    """JSON Feed 1.1 over HTTP: entries become articles, pages are extracted, copies dedupe."""
    app = wired_app
    base = wire.url("")
    items = [
        {
            "id": "crash-1",
            "url": f"{base}/crash-syndicated.html",
            "title": "Crash, by JSON",
            "authors": [{"name": "Wire Desk"}],
            "date_published": "2026-11-19T10:00:00Z",
        },
        {"id": "brief-1", "title": "JSON brief", "content_text": "A brief with no web page."},
        {"id": "moon-1", "url": f"{base}/moon.html?utm_source=json", "title": "Moon again"},
    ]
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "JSON wire", "items": items}
    wire.routes["/feed.json"] = respond(
        200, json.dumps(document).encode(), {"Content-Type": "application/feed+json"}
    )
    rss_feed = _add(app, wire, "/feed.xml")
    json_feed = _add(app, wire, "/feed.json")
    app.catch_up()
    reports = {r.feed_id: r for r in Poller(app).poll([rss_feed, json_feed])}
    app.drain()
    assert reports[json_feed].ok and reports[json_feed].new_items == 2  # moon.html is known

    by_title = {a["title"]: article_detail(app.engine, a["id"]) for a in list_articles(app.engine)}
    crash = by_title["Crash, by JSON"]
    assert crash is not None and crash["text_source"] == "page"
    assert crash["author"] and crash["published_at"].startswith("2026-11-19T10:00:00")
    assert crash["story_id"] == by_title["US helicopter crash"]["story_id"]
    brief = by_title["JSON brief"]
    assert brief is not None and brief["text"] == "A brief with no web page."


def test_hostile_feeds_fail_alone_and_visibly(wired_app: App, wire: LoopbackServer) -> None:
    app = wired_app
    bomb = _add(app, wire, "/bomb.xml")
    html = _add(app, wire, "/not-a-feed.xml")
    good = _add(app, wire, "/other.xml")
    app.catch_up()
    reports = {r.feed_id: r for r in Poller(app).poll([bomb, html, good])}
    app.drain()
    assert not reports[bomb].ok and reports[bomb].detail.startswith("too_large")
    assert not reports[html].ok and reports[html].detail.startswith("not_a_feed")
    assert reports[good].ok and reports[good].new_items == 2

    with app.engine.connect() as conn:
        health = {row.feed_id: row for row in conn.execute(select(db.feeds)).all()}
    assert health[bomb].health == "failing" and health[bomb].consecutive_errors == 1
    assert health[bomb].last_error.startswith("too_large")
    assert health[good].health == "ok" and health[good].new_items == 2
    assert health[bomb].next_check_at > health[bomb].last_polled_at


def test_feed_registration_refuses_unsafe_urls(app: App, tmp_path: Path) -> None:
    from monitor.errors import InvalidInputError

    for url in (
        "file:///etc/passwd",
        "http://127.0.0.1/feed",
        "http://169.254.169.254/",
        "gopher://x",
    ):
        with pytest.raises(InvalidInputError, match="refused"):
            feed_commands.add_feed(app, url)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>Laughs &lol9;</title><link>http://example.org/lol</link></item>
</channel></rss>"""


def test_one_poll_cycle_survives_every_hostile_server(settings: Settings) -> None:
    """Silent, dripping, huge, bomb, loops, metadata redirect, 429, 500, HTML, entity bomb."""
    from tests.servers import SilentServer, drip, large_body, redirect

    silent = SilentServer()
    server = LoopbackServer()
    good = rss([("Fine", "http://example.org/fine", "A normal item.")])
    feed_type = {"Content-Type": "application/rss+xml"}
    server.routes.update(
        {
            "/good.xml": respond(200, good, feed_type),
            "/drip.xml": drip(1.0, 60),
            "/huge.xml": large_body(50 * 1024 * 1024, content_length=False),
            "/bomb.xml": gzip_bomb(),
            "/loop.xml": redirect("/loop.xml"),
            "/metadata.xml": redirect("http://169.254.169.254/latest/meta-data/"),
            "/busy.xml": respond(429, b"slow down", {"Retry-After": "120"}),
            "/broken.xml": respond(500, b"oops"),
            "/page.xml": respond(
                200, b"<html><body>Hi</body></html>", {"Content-Type": "text/html"}
            ),
            "/laughs.xml": respond(200, BILLION_LAUGHS, feed_type),
        }
    )
    configured = settings.model_copy(
        update={
            "fetch_allowlist": (server.origin, silent.origin),
            "per_host_delay": 0.0,
            "per_host_concurrency": 20,
            "fetch_deadline": 3.0,
            "fetch_connect_timeout": 2.0,
        }
    )
    app = bootstrap(configured)
    try:
        ids = {path: feed_commands.add_feed(app, server.url(path)) for path in server.routes}
        ids["silent"] = feed_commands.add_feed(app, silent.url("/feed.xml"))
        app.catch_up()
        started = time.monotonic()
        reports = {r.feed_id: r for r in Poller(app).poll(list(ids.values()))}
        elapsed = time.monotonic() - started
        app.catch_up()
        outcome = {path: reports[feed_id] for path, feed_id in ids.items()}
        with app.engine.connect() as conn:
            feeds = {row.feed_id: row for row in conn.execute(select(db.feeds))}
    finally:
        app.close()
        server.close()
        silent.close()

    assert elapsed < configured.fetch_deadline + 5  # fetched concurrently, each under its deadline
    assert outcome["/good.xml"].ok and outcome["/good.xml"].new_items == 1
    assert outcome["/laughs.xml"].ok  # parsed without expanding the entities
    reasons = {path: r.detail.split(":")[0] for path, r in outcome.items() if not r.ok}
    assert reasons == {
        "silent": "deadline",
        "/drip.xml": "deadline",
        "/huge.xml": "too_large",
        "/bomb.xml": "too_large",
        "/loop.xml": "too_many_redirects",
        "/metadata.xml": "ssrf_blocked",
        "/busy.xml": "http_status",
        "/broken.xml": "http_status",
        "/page.xml": "not_a_feed",
    }
    busy = feeds[ids["/busy.xml"]]
    assert busy.last_http_status == 429
    assert (busy.next_check_at - busy.last_polled_at).total_seconds() >= 120
    laughs = feeds[ids["/laughs.xml"]]
    assert laughs.last_error and "entity" in laughs.last_error  # recorded as a parse warning
