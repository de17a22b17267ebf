"""Render a digest email from matched articles: a pure function, no I/O.

Everything that comes from a feed or a page is hostile: titles and snippets are escaped by
Jinja2's autoescape in HTML, only ``http``/``https`` URLs become links, control, bidi-override
and invisible characters are removed, and header values are cleaned to one line before they
reach ``EmailMessage`` (so a title with CR/LF cannot add a ``Bcc:``). The Message-ID depends
only on the subscription and the period, so a retried send is recognisable as the same mail.
"""

from __future__ import annotations

import email.policy
import email.utils
import functools
import re
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from monitor.delivery.chart import Chart
from monitor.delivery.schedule import period_key as default_period_key
from monitor.delivery.subscriptions import ArticleView, MatchReasons

STANCE_ORDER = ("cooperation", "tension", "neutral")
TOPIC_NAMES = {
    "security_counterterrorism": "Security and counterterrorism",
    "defense_industry": "Defence industry",
    "military_operations": "Military operations",
    "regional_conflicts": "Regional conflicts",
    "alliance_diplomacy": "Alliance diplomacy",
    "economy_energy": "Economy and energy",
}
OTHER_TOPIC = "Other"
MAX_SUBJECT = 200
SNIPPET_CHARS = 400
# Bidi embeddings/overrides/isolates and invisible characters that can disguise text; ZWJ and
# ZWNJ stay in bodies because scripts such as Persian need them (headers drop all of Cf).
_HIDDEN = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, 0x2060, 0xFEFF, 0x061C]
)
_SENTENCE_END = re.compile(r"(?<=[.!?…。])\s+")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Envelope:
    """Who the digest is for and how to leave; ``public_url`` has no trailing slash."""

    subscription_id: str
    recipient: str
    sender: str
    public_url: str
    unsubscribe_url: str
    unsubscribe_mailto: str | None = None


def clean_text(value: str) -> str:
    """Body text: drop control characters (except newline and tab) and hidden characters."""
    value = value.translate(_HIDDEN)
    return "".join(c for c in value if c in "\n\t" or unicodedata.category(c) != "Cc")


def one_line(value: str, limit: int) -> str:
    """Whitespace (including CR, LF and U+2028) collapsed to single spaces, then cut."""
    text = " ".join(value.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def body_line(value: str, limit: int) -> str:
    """A feed string for one line of the body: hidden characters removed, one line."""
    return one_line(clean_text(value), limit)


def clean_header(value: str, limit: int = 998) -> str:
    """One line with every control and format character (bidi, zero-width) removed."""
    return one_line("".join(c for c in value if not _invisible(c)), limit)


def _invisible(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char)[0] == "C"


def safe_url(url: str | None) -> str | None:
    """The URL if it may be a link (http or https with a host, nothing hidden), else None."""
    if not url or any(c.isspace() or _invisible(c) for c in url):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def snippet(text: str, sentences: int = 2) -> str:
    """The first two sentences, cut at ``SNIPPET_CHARS``."""
    flat = body_line(text[: SNIPPET_CHARS * 4], SNIPPET_CHARS * 4)
    return one_line(
        " ".join(_SENTENCE_END.split(flat, maxsplit=sentences)[:sentences]), SNIPPET_CHARS
    )


def why(article: ArticleView) -> str:
    """One line from the explanation: the stance and the terms that pushed it."""
    explanation: Mapping[str, Any] = article.explanation or {}
    for key in ("stance", "relevance"):
        part = explanation.get(key)
        terms = part.get("terms") if isinstance(part, Mapping) else None
        words = [str(t[0]) for t in terms or () if isinstance(t, list | tuple) and t][:4]
        if words:
            return body_line(f"{article.stance}: {', '.join(words)}", 200)
    return article.stance


def count_stances(articles: Sequence[ArticleView]) -> dict[str, int]:
    counts = dict.fromkeys(STANCE_ORDER, 0)
    for article in articles:
        counts[article.stance] = counts.get(article.stance, 0) + 1
    return counts


def summary_line(counts: Mapping[str, int], previous: Mapping[str, int] | None) -> str:
    """``12 articles: 5 cooperation (+2), 4 tension (-1), 3 neutral (±0) vs the previous
    period``; the deltas are left out when there is no previous period."""
    total = sum(counts.values())
    parts = []
    for stance in STANCE_ORDER:
        part = f"{counts.get(stance, 0)} {stance}"
        if previous is not None:
            delta = counts.get(stance, 0) - previous.get(stance, 0)
            part += f" ({delta:+d})" if delta else " (±0)"
        parts.append(part)
    tail = " vs the previous period" if previous is not None else ""
    noun = "article" if total == 1 else "articles"
    return f"{total} {noun}: {', '.join(parts)}{tail}"


def _item(
    article: ArticleView, reasons: MatchReasons, env: Envelope, tz: ZoneInfo
) -> dict[str, Any]:
    published = article.published_at.astimezone(tz) if article.published_at else None
    details = f"{env.public_url}/articles/{urllib.parse.quote(article.id, safe='')}"
    return {
        "title": body_line(article.title, 300) or "(untitled)",
        "href": safe_url(article.url),
        "details": safe_url(details),
        "source": body_line(article.source, 200),
        "date": f"{published:%Y-%m-%d %H:%M}" if published else "",
        "stance": article.stance,
        "confidence": f"{reasons.confidence:.0%}",
        "snippet": snippet(article.text),
        "topics": [TOPIC_NAMES.get(t, body_line(t, 60)) for t in article.topics],
        "why": why(article),
    }


def _primary_topic(article: ArticleView, reasons: MatchReasons) -> str:
    """The matched (or else any) topic the model is surest of; one group per article."""
    candidates = reasons.topics or article.topics
    if not candidates:
        return OTHER_TOPIC
    best = max(candidates, key=lambda t: (article.topic_scores.get(t, 0.0), t))
    return TOPIC_NAMES.get(best, body_line(best, 60))


def group(
    items: Sequence[tuple[ArticleView, MatchReasons]], env: Envelope, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Topics in a fixed order, stories newest first, articles newest first in a story."""
    topics: dict[str, dict[str, list[tuple[ArticleView, MatchReasons]]]] = {}
    for article, reasons in items:
        story = article.story_id or f"article:{article.id}"
        topics.setdefault(_primary_topic(article, reasons), {}).setdefault(story, []).append(
            (article, reasons)
        )
    order = [*TOPIC_NAMES.values(), OTHER_TOPIC]
    groups = []
    for name in sorted(topics, key=lambda n: (order.index(n) if n in order else len(order), n)):
        stories = [
            sorted(members, key=lambda m: _when(m[0]), reverse=True)
            for members in topics[name].values()
        ]
        stories.sort(key=lambda members: _when(members[0][0]), reverse=True)
        rendered = [[_item(a, r, env, tz) for a, r in members] for members in stories]
        groups.append({"topic": name, "stories": rendered})
    return groups


def _when(article: ArticleView) -> float:
    return article.published_at.timestamp() if article.published_at else float("-inf")


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _domain(env: Envelope) -> str:
    host = urllib.parse.urlsplit(env.public_url).hostname or ""
    if "." in host and not host.replace(".", "").isdigit() and ":" not in host:
        return host
    return env.sender.rpartition("@")[2].strip("<> ") or "localhost"


def message_id(subscription_id: str, key: str, env: Envelope) -> str:
    """``<digest.{subscription}.{period}@{domain}>``: the same for every retry of a digest."""
    sub = _ID_UNSAFE.sub("-", subscription_id)
    return f"<digest.{sub}.{_ID_UNSAFE.sub('-', key)}@{_domain(env)}>"


def render_digest(
    items: Sequence[tuple[ArticleView, MatchReasons]],
    envelope: Envelope,
    period: tuple[datetime, datetime],
    *,
    now: datetime,
    timezone: ZoneInfo | str = "UTC",
    previous_counts: Mapping[str, int] | None = None,
    chart: Chart | None = None,
    period_key: str | None = None,
    send_empty: bool = False,
) -> EmailMessage | None:
    """The digest as a ``multipart/alternative`` message, or None when nothing matched
    (unless ``send_empty``). ``period_key`` defaults to the period's UTC start."""
    if not items and not send_empty:
        return None
    unsubscribe = safe_url(envelope.unsubscribe_url)
    mailto = envelope.unsubscribe_mailto
    if unsubscribe is None or any(c in f"{unsubscribe}{mailto or ''}" for c in "<>,\"' \r\n"):
        raise ValueError(f"unusable unsubscribe target {envelope.unsubscribe_url!r} {mailto!r}")
    tz = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    key = period_key or default_period_key(period)
    counts = count_stances([article for article, _ in items])
    start, end = (moment.astimezone(tz) for moment in period)
    context = {
        "summary": summary_line(counts, previous_counts),
        "period": f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({tz.key})",
        "groups": group(items, envelope, tz),
        "unsubscribe_url": unsubscribe,
        "chart": chart,
        "chart_cid": message_id(envelope.subscription_id, f"chart.{key}", envelope)[1:-1],
    }
    templates = _templates()
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = clean_header(envelope.sender)
    message["To"] = clean_header(envelope.recipient)
    message["Subject"] = _subject(items, counts, end)
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = message_id(envelope.subscription_id, key, envelope)
    links = [f"<{unsubscribe}>"]
    if mailto:
        links.append(f"<mailto:{mailto}>")
    message["List-Unsubscribe"] = ", ".join(links)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    text = templates.get_template("digest.txt.j2").render(context)
    html = templates.get_template("digest.html.j2").render(context)
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    if chart is not None:
        html_part = list(message.iter_parts())[-1]
        cid = f"<{context['chart_cid']}>"
        html_part.add_related(chart.content, "image", chart.subtype, cid=cid, disposition="inline")
    return message


def _subject(
    items: Sequence[tuple[ArticleView, MatchReasons]], counts: Mapping[str, int], end: datetime
) -> str:
    if len(items) == 1:
        subject = f"[monitor] {items[0][0].stance}: {items[0][0].title}"
    else:
        mix = ", ".join(f"{counts[s]} {s}" for s in STANCE_ORDER if counts.get(s))
        subject = f"[monitor] {len(items)} articles ({mix or 'none'}) to {end:%d %b %Y %H:%M}"
    return clean_header(subject, MAX_SUBJECT)
