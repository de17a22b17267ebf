"""Digest rendering, parsed back with the ``email`` package: RELIABILITY.md case 63, hostile
feed strings, header injection, Message-ID stability, the chart, and the 500-item budget."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from monitor.delivery.chart import DayPoint, daily_series, stance_trend_chart
from monitor.delivery.digest import Envelope, render_digest, summary_line
from monitor.delivery.subscriptions import ArticleView, Filters, MatchReasons, match
from tests.delivery_factories import article

ENVELOPE = Envelope(
    subscription_id="sub-1",
    recipient="analyst@example.com",
    sender="monitor@example.org",
    public_url="https://monitor.example.org",
    unsubscribe_url="https://monitor.example.org/unsubscribe/tok123",
    unsubscribe_mailto="unsubscribe+tok123@example.org",
)
PERIOD = (datetime(2026, 11, 20, 7, tzinfo=UTC), datetime(2026, 11, 21, 7, tzinfo=UTC))
ONCE = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)


def matched(*articles: ArticleView) -> list[tuple[ArticleView, MatchReasons]]:
    out = []
    for item in articles:
        reasons = match(Filters(), item)
        assert reasons is not None
        out.append((item, reasons))
    return out


def render(*articles: ArticleView, **kwargs: object) -> EmailMessage:
    kwargs.setdefault("now", PERIOD[1])
    message = render_digest(matched(*articles), ENVELOPE, PERIOD, **kwargs)  # type: ignore[arg-type]
    assert message is not None
    return roundtrip(message)


def roundtrip(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def bodies(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_mime_structure_and_unsubscribe_headers() -> None:  # case 63
    message = render(article(), article(id="art-2", url="https://news.example/b"))
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())
    for name in ONCE:
        assert len(message.get_all(name) or []) == 1, name
    assert message["List-Unsubscribe"] == (
        "<https://monitor.example.org/unsubscribe/tok123>, <mailto:unsubscribe+tok123@example.org>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = bodies(message)
    for link in ("https://news.example/a", "https://news.example/b"):
        assert link in plain and f'href="{link}"' in html


def test_message_id_is_stable_per_subscription_and_period() -> None:
    first, second = render(article()), render(article(title="changed"), now=datetime.now(UTC))
    assert (
        first["Message-ID"]
        == second["Message-ID"]
        == ("<digest.sub-1.20261120T0700Z@monitor.example.org>")
    )
    other = render(article(), period_key="next")
    assert other["Message-ID"] == "<digest.sub-1.next@monitor.example.org>"


def test_hostile_titles_are_escaped_and_bad_links_dropped() -> None:
    message = render(
        article(title="<script>alert(1)</script>"),
        article(id="2", title='<img src=x onerror="alert(2)">', url="https://ok.example/2"),
        article(id="3", title="Click", url="javascript:alert(3)"),
        article(id="4", title="Data", url="data:text/html,<b>x</b>"),
    )
    plain, html = bodies(message)
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    assert "javascript:" not in html and "data:text" not in html and "Click" in html
    assert "javascript:" not in plain
    assert "<script>alert(1)</script>" in plain  # plain text needs no escaping


def test_crlf_in_a_title_cannot_inject_headers() -> None:  # header injection
    message = render(article(title="Deal\r\nBcc: victim@example.com\r\n\r\n<b>body</b>"))
    assert message["Bcc"] is None and "Bcc" not in message
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"].startswith("[monitor] cooperation: Deal Bcc: victim@")


def test_subject_is_one_line_of_at_most_200_characters_and_encoded() -> None:
    message = render(article(title="Türkiye " * 200))
    assert len(message["Subject"]) <= 200 and message["Subject"].endswith("…")
    raw = render_digest(matched(article(title="Türkiye")), ENVELOPE, PERIOD, now=PERIOD[1])
    assert raw is not None
    head = raw.as_bytes().split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?q?T=C3=BCrkiye?=" in head  # RFC 2047


def test_bidi_and_zero_width_characters_are_removed() -> None:
    hostile = "safe\u202etxt.exe\u200b\ufeff\u2066x\u2069"
    message = render(article(title=hostile, text=f"Sentence {hostile}. Two. Three."))
    plain, html = bodies(message)
    for char in "\u202e\u200b\ufeff\u2066\u2069":
        assert char not in message["Subject"] and char not in html and char not in plain
    assert "safetxt.exex" in message["Subject"]
    persian = render(article(title="می\u200cخواهم"))  # ZWNJ is part of the spelling
    assert "می\u200cخواهم" in bodies(persian)[1] and "\u200c" not in persian["Subject"]


def test_summary_grouping_snippet_and_why() -> None:
    items = [
        article(
            id="1",
            story_id="s1",
            stance="tension",
            topics=("economy_energy",),
            published_at=PERIOD[0] + timedelta(hours=1),
            title="Old in s1",
        ),
        article(
            id="2",
            story_id="s1",
            stance="tension",
            topics=("economy_energy",),
            published_at=PERIOD[0] + timedelta(hours=5),
            title="New in s1",
        ),
        article(
            id="3",
            story_id="s2",
            title="Defence item",
            text="First sentence. Second one! Third is dropped.",
        ),
    ]
    previous = {"cooperation": 3, "tension": 0, "neutral": 1}
    plain, html = bodies(render(*items, previous_counts=previous, timezone="Europe/Berlin"))
    assert plain.startswith(
        "3 articles: 1 cooperation (-2), 2 tension (+2), 0 neutral (-1) vs the previous period"
    )
    assert plain.index("Defence industry") < plain.index("Defence item")
    assert plain.index("Defence item") < plain.index("Economy and energy")
    assert plain.index("New in s1") < plain.index("Old in s1")
    assert "One story, 2 articles" in plain
    assert "First sentence. Second one!" in plain and "Third" not in plain
    assert "Why: cooperation: anlaşma" in plain
    assert "2026-11-20 09:00" in plain  # 08:00 UTC shown in Berlin time
    assert "(80%)" in plain and "(80%)" in html
    assert "https://monitor.example.org/articles/3" in html


def test_summary_without_previous_period() -> None:
    assert summary_line({"tension": 1}, None) == "1 article: 0 cooperation, 1 tension, 0 neutral"


def test_nothing_matched_sends_nothing_unless_asked() -> None:
    assert render_digest([], ENVELOPE, PERIOD, now=PERIOD[1]) is None
    message = render_digest([], ENVELOPE, PERIOD, now=PERIOD[1], send_empty=True)
    assert message is not None
    assert "No new articles matched" in bodies(roundtrip(message))[0]


def test_unsubscribe_url_must_be_a_plain_http_link() -> None:
    bad = Envelope(
        "s", "a@example.com", "m@example.org", "https://m.example.org", "javascript:alert(1)"
    )
    with pytest.raises(ValueError, match="unsubscribe"):
        render_digest(matched(article()), bad, PERIOD, now=PERIOD[1])


def test_message_id_falls_back_to_the_sender_domain() -> None:
    local = Envelope(
        "s/1",
        "a@example.com",
        "monitor@mail.example.net",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/unsubscribe/t",
    )
    message = render_digest(matched(article()), local, PERIOD, now=PERIOD[1])
    assert message is not None
    assert message["Message-ID"] == "<digest.s-1.20261120T0700Z@mail.example.net>"


def test_chart_needs_a_week_and_is_an_inline_png() -> None:
    days = [
        DayPoint(date(2026, 11, 1) + timedelta(days=i), (i % 3 - 1) / 2, i + 1) for i in range(7)
    ]
    assert stance_trend_chart(days[:6]) is None
    chart = stance_trend_chart(days)
    assert chart is not None and chart.content.startswith(b"\x89PNG")
    message = render(article(), chart=chart)
    html_part = list(message.iter_parts())[-1]
    assert html_part.get_content_type() == "multipart/related"
    html, image = html_part.iter_parts()
    assert image.get_content_type() == "image/png"
    assert f'src="cid:{image["Content-ID"][1:-1]}"' in html.get_content()
    assert image.get_content() == chart.content
    assert "Stance trend 2026-11-01 to 2026-11-07: 28 articles" in bodies(message)[0]


def test_daily_series_groups_by_local_day() -> None:
    late = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # already the 21st in Berlin
    articles = [
        article(published_at=late, stance_score=1.0),
        article(published_at=late - timedelta(hours=2), stance_score=-1.0),
        article(published_at=None),
    ]
    series = daily_series(articles, ZoneInfo("Europe/Berlin"))
    assert series == [DayPoint(date(2026, 11, 20), -1.0, 1), DayPoint(date(2026, 11, 21), 1.0, 1)]


def test_500_items_render_in_under_a_second() -> None:
    long_text = "Ankara and Washington agreed on the sale. Officials spoke. " * 40
    items = [
        article(
            id=f"a{i}",
            story_id=f"s{i // 4}",
            text=long_text,
            url=f"https://n.example/{i}",
            stance=("cooperation", "tension", "neutral")[i % 3],
            published_at=PERIOD[0] + timedelta(minutes=i),
        )
        for i in range(500)
    ]
    pairs = matched(*items)
    render_digest(pairs[:5], ENVELOPE, PERIOD, now=PERIOD[1])  # templates compiled once
    started = time.perf_counter()
    message = render_digest(pairs, ENVELOPE, PERIOD, now=PERIOD[1])
    assert message is not None
    size = len(message.as_bytes())
    took = time.perf_counter() - started
    print(f"rendered 500 items ({size} bytes) in {took:.3f} s")
    assert took < 1.0
