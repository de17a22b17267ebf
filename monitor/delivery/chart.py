"""The digest's stance-trend chart: daily mean ``stance_score`` (line) and volume (bars).

PNG rather than SVG because mail clients (Gmail, Outlook) do not display SVG; the digest
attaches it inline (``cid:``). matplotlib is imported on first use and driven through its
object API (no pyplot), so there is no global figure state and it is safe in threads.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from monitor.delivery.subscriptions import ArticleView

MIN_DAYS = 7  # a trend over less than a week says nothing


@dataclass(frozen=True)
class DayPoint:
    day: date
    mean_stance_score: float
    volume: int


@dataclass(frozen=True)
class Chart:
    """An inline image: ``content`` is PNG bytes, ``alt`` a one-line text summary."""

    content: bytes
    alt: str
    subtype: str = "png"


def daily_series(articles: Iterable[ArticleView], tz: ZoneInfo) -> list[DayPoint]:
    """Group by local publication day; articles without a date are left out."""
    scores: dict[date, list[float]] = defaultdict(list)
    for article in articles:
        if article.published_at is not None:
            scores[article.published_at.astimezone(tz).date()].append(article.stance_score)
    return [DayPoint(day, sum(s) / len(s), len(s)) for day, s in sorted(scores.items())]


def stance_trend_chart(points: Sequence[DayPoint]) -> Chart | None:
    """The chart, or None when the points span less than ``MIN_DAYS`` calendar days."""
    if not points:
        return None
    points = sorted(points, key=lambda p: p.day)
    if (points[-1].day - points[0].day).days + 1 < MIN_DAYS:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 2.0), dpi=100)
    FigureCanvasAgg(figure)
    volume_axes = figure.add_subplot()
    days = date2num([p.day for p in points])
    volume_axes.bar(days, [p.volume for p in points], color="#d0d7de", width=0.8)
    volume_axes.set_ylabel("articles", fontsize=7)
    score_axes = volume_axes.twinx()
    score_axes.plot(days, [p.mean_stance_score for p in points], color="#0969da", marker=".")
    score_axes.axhline(0, color="#57606a", linewidth=0.5)
    score_axes.set_ylim(-1, 1)
    score_axes.set_ylabel("stance", fontsize=7)
    for axes in (volume_axes, score_axes):
        axes.tick_params(labelsize=7)
    volume_axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return Chart(buffer.getvalue(), _summary(points))


def _summary(points: Sequence[DayPoint]) -> str:
    total = sum(p.volume for p in points)
    mean = sum(p.mean_stance_score * p.volume for p in points) / total if total else 0.0
    return (
        f"Stance trend {points[0].day} to {points[-1].day}: {total} articles, "
        f"mean stance score {mean:+.2f} (-1 tension, +1 cooperation)"
    )
