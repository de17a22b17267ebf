"""Read functions only the pages need: the dashboard's story rows and stance counts, trend
series, the labelling counter, an article's history, a subscription's preview.

They build on `monitor.queries` where it has the filter (articles by topic, stance, actors
and date), and read the tables directly only for what it does not offer.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, distinct, func, select

from monitor import db
from monitor.bootstrap import App
from monitor.delivery.subscriptions import ArticleView, Filters, match
from monitor.engine import reading
from monitor.modelstore import MODELS_STREAM
from monitor.queries import list_articles
from monitor.streams import article_stream, delivery_stream

STANCES = ("cooperation", "tension", "neutral")
SCAN_LIMIT = 20_000  # articles a page looks at; far above a dashboard period's volume
WHY_CHARS = 160
SPIKE_MARGIN = 0.3  # a tension share this far above the rolling baseline is a spike
SPIKE_BASELINE = 4  # buckets in the rolling baseline
SPIKE_MIN_STORIES = 2


def _published(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["published_at"])


def _story_key(row: dict[str, Any]) -> str:
    return str(row["story_id"] or row["id"])


def relevant_articles(
    engine: Engine, *, topic: str | None, actors: Sequence[str], since: datetime
) -> list[dict[str, Any]]:
    """Relevant, classified articles since `since`, newest first, via `list_articles`."""
    rows = list_articles(engine, topic=topic, actors=actors, since=since, limit=SCAN_LIMIT)
    return [row for row in rows if row["relevant"]]


# --- dashboard -------------------------------------------------------------------------------


@dataclass
class Dashboard:
    stories: list[dict[str, Any]]
    counts: dict[str, int]
    previous: dict[str, int]

    @property
    def changes(self) -> dict[str, int]:
        return {s: self.counts[s] - self.previous[s] for s in STANCES}


def dashboard(
    engine: Engine,
    *,
    topic: str | None = None,
    stance: str | None = None,
    actors: Sequence[str] = (),
    text: str = "",
    days: int = 7,
    now: datetime | None = None,
    limit: int = 100,
) -> Dashboard:
    """The latest relevant stories of the period (one row each, its newest matching copy),
    and stories per stance in this period and the one before (a story counts once)."""
    now = now or datetime.now(UTC)
    start = now - timedelta(days=days)
    rows = relevant_articles(engine, topic=topic, actors=actors, since=start - timedelta(days=days))
    current = [r for r in rows if _published(r) >= start]
    previous = [r for r in rows if _published(r) < start]
    needle = text.casefold().strip()
    shown: dict[str, dict[str, Any]] = {}
    for row in current:
        if stance and row["stance"] != stance:
            continue
        if needle and needle not in (row["title"] or "").casefold():
            continue
        shown.setdefault(_story_key(row), row)
        if len(shown) >= limit:
            break
    stories = _with_story_facts(engine, list(shown.values()))
    return Dashboard(stories, _stance_counts(current), _stance_counts(previous))


def _stance_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    stories: dict[str, set[str]] = {s: set() for s in STANCES}
    for row in rows:
        stories.setdefault(row["stance"], set()).add(_story_key(row))
    return {s: len(stories[s]) for s in STANCES}


def _with_story_facts(engine: Engine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with its story's outlet count and its classification's one-line "why"."""
    a = db.articles
    story_ids = [r["story_id"] for r in rows if r["story_id"]]
    with reading(engine) as conn:
        outlets: dict[str, int] = dict(
            conn.execute(
                select(a.c.story_id, func.count(distinct(a.c.feed_id)))
                .where(a.c.story_id.in_(story_ids))
                .group_by(a.c.story_id)
            ).all()
        )
        explanations = dict(
            conn.execute(
                select(a.c.article_id, a.c.explanation).where(
                    a.c.article_id.in_([r["id"] for r in rows])
                )
            ).all()
        )
    return [
        {**row, "outlets": outlets.get(row["story_id"], 1), "why": why(explanations.get(row["id"]))}
        for row in rows
    ]


def why(explanation: dict[str, Any] | None) -> str:
    """One line: the passage that decided the stance, else the strongest terms.

    The headline often weighs most, but the row shows it already: the first decisive passage
    of the body is preferred (stance passages, then the article's), the headline only when
    there is nothing else. The headline is the passage at offset 0 (the classifier reads
    title, blank line, body; classifiers/passages.py)."""
    explanation = explanation or {}
    stance = explanation.get("stance") or {}
    passages = [*(stance.get("passages") or ()), *(explanation.get("passages") or ())]
    if passages:
        body = [p for p in passages if not _is_headline(p)]
        line = " ".join(str((body or passages)[0].get("text", "")).split())
        return line if len(line) <= WHY_CHARS else line[: WHY_CHARS - 1] + "…"
    terms = (stance or explanation.get("relevance") or {}).get("terms") or []
    return ", ".join(str(term[0]) for term in terms[:5])


def _is_headline(passage: dict[str, Any]) -> bool:
    return passage.get("start", passage.get("index")) == 0


# --- trends ----------------------------------------------------------------------------------


@dataclass
class Bucket:
    key: str  # the day or the ISO week's Monday, YYYY-MM-DD
    stories: list[dict[str, Any]] = field(default_factory=list)  # one row per story
    baseline: float | None = None

    @property
    def volume(self) -> int:
        return len(self.stories)

    @property
    def score(self) -> float | None:
        """Mean stance score of the bucket's stories (cooperation > 0 > tension)."""
        if not self.stories:
            return None
        return round(statistics.fmean(s["stance_score"] for s in self.stories), 3)

    @property
    def tension_share(self) -> float | None:
        if not self.stories:
            return None
        return sum(s["stance"] == "tension" for s in self.stories) / len(self.stories)

    @property
    def spike(self) -> bool:
        share = self.tension_share
        return (
            share is not None
            and self.baseline is not None
            and self.volume >= SPIKE_MIN_STORIES
            and share >= self.baseline + SPIKE_MARGIN
        )


def bucket_key(moment: datetime, granularity: str) -> str:
    day = moment.astimezone(UTC).date()
    if granularity == "week":
        day -= timedelta(days=day.weekday())
    return day.isoformat()


def trend(
    engine: Engine,
    *,
    actors: Sequence[str] = (),
    topic: str | None = None,
    granularity: str = "day",
    days: int = 90,
    now: datetime | None = None,
) -> list[Bucket]:
    """Every day (or week) of the period, oldest first, with the stories published in it.

    A story counts once per bucket, with the mean stance score of its copies there and their
    most common stance. A bucket's baseline is the mean tension share of the non-empty
    buckets among the previous `SPIKE_BASELINE`."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    buckets: dict[str, Bucket] = {}
    day = since
    while day <= now:
        key = bucket_key(day, granularity)
        buckets.setdefault(key, Bucket(key))
        day += timedelta(days=1)
    copies: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in relevant_articles(engine, topic=topic, actors=actors, since=since):
        copies[(bucket_key(_published(row), granularity), _story_key(row))].append(row)
    for (key, story), rows in sorted(copies.items()):
        oldest = min(rows, key=_published)
        buckets.setdefault(key, Bucket(key)).stories.append(
            {
                "story": story,
                "article_id": oldest["id"],
                "title": oldest["title"],
                "copies": len(rows),
                "stance": Counter(r["stance"] for r in rows).most_common(1)[0][0],
                "stance_score": statistics.fmean(r["stance_score"] or 0.0 for r in rows),
            }
        )
    ordered = [buckets[key] for key in sorted(buckets)]
    history: list[float] = []
    for bucket in ordered:
        recent = history[-SPIKE_BASELINE:]
        bucket.baseline = statistics.fmean(recent) if len(recent) >= 2 else None
        if bucket.tension_share is not None:
            history.append(bucket.tension_share)
    return ordered


def actor_pairs(engine: Engine, *, limit: int = 20) -> list[str]:
    """The most frequent actor pairs among relevant articles, as "TUR-USA"."""
    with reading(engine) as conn:
        rows = conn.execute(
            select(db.articles.c.actors)
            .where(db.articles.c.relevant.is_(True))
            .order_by(db.articles.c.published_at.desc())
            .limit(SCAN_LIMIT)
        ).scalars()
        pairs: Counter[str] = Counter()
        for actors in rows:
            found = sorted(set(actors or ()))
            pairs.update(f"{a}-{b}" for i, a in enumerate(found) for b in found[i + 1 :])
    return [pair for pair, _ in pairs.most_common(limit)]


# --- labelling and models --------------------------------------------------------------------


def labels_since_training(engine: Engine) -> int:
    """Standing labels added after the newest model was trained (all of them if none was)."""
    with reading(engine) as conn:
        last = conn.execute(select(func.max(db.models.c.trained_at))).scalar_one_or_none()
        standing = db.labels.c.retracted_at.is_(None)
        query = select(func.count()).select_from(db.labels).where(standing)
        if last is not None:
            query = query.where(db.labels.c.added_at > last)
        return int(conn.execute(query).scalar_one())


def model_history(app: App) -> list[dict[str, Any]]:
    """Trainings, promotions and roll-backs, newest first, with who did them."""
    return [
        {
            "type": recorded.event_type,
            "at": recorded.recorded_at,
            "actor": recorded.metadata.get("actor"),
            "data": dict(recorded.data),
        }
        for recorded in reversed(app.log.read_stream(MODELS_STREAM))
    ]


# --- article history -------------------------------------------------------------------------


def article_history(app: App, article_id: str) -> list[dict[str, Any]]:
    """The article's own events and those of its deliveries, in log order."""
    with reading(app.engine) as conn:
        delivery_ids = conn.execute(
            select(db.deliveries.c.delivery_id).where(db.deliveries.c.article_id == article_id)
        ).scalars()
        streams = [article_stream(article_id), *(delivery_stream(d) for d in delivery_ids)]
    recorded = [event for stream in streams for event in app.log.read_stream(stream)]
    return [
        {
            "position": event.position,
            "type": event.event_type,
            "at": event.recorded_at,
            "actor": event.metadata.get("actor"),
            "summary": _summary(event.event_type, event.data),
        }
        for event in sorted(recorded, key=lambda e: e.position)
    ]


_SUMMARY_FIELDS = {
    "ArticleDiscovered": ("feed_id", "url"),
    "ArticleExtracted": ("source",),
    "ExtractionFailed": ("reason", "message"),
    "StoryAssigned": ("story_id", "similarity"),
    "ArticleClassified": ("model_version", "relevant", "stance", "topics"),
    "ArticleMatched": ("subscription_id", "channel", "update"),
    "DeliveryRetryRequested": ("requested_by",),
}


def _summary(event_type: str, data: Any) -> str:
    names = _SUMMARY_FIELDS.get(event_type, ())
    return "; ".join(f"{name}: {data.get(name)}" for name in names if data.get(name) is not None)


# --- subscriptions preview -------------------------------------------------------------------


def preview_matches(
    engine: Engine, filters: Filters, *, days: int = 7, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The relevant articles of the last `days` that `filters` would have matched, newest
    first, decided by the matching code itself."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    a = db.articles
    with reading(engine) as conn:
        rows = conn.execute(
            select(a, db.feeds.c.name)
            .outerjoin(db.feeds, db.feeds.c.feed_id == a.c.feed_id)
            .where(a.c.relevant.is_(True), a.c.published_at >= since)
            .order_by(a.c.published_at.desc())
            .limit(SCAN_LIMIT)
        ).mappings()
        matched = []
        for row in rows:
            if match(filters, _view(row)) is not None:
                matched.append(
                    {"id": row["article_id"], "title": row["title"], "at": row["published_at"]}
                )
    return matched


def _view(row: Any) -> ArticleView:
    return ArticleView(
        id=row["article_id"],
        url=row["url"] or "",
        title=row["title"],
        text=row["text"] or row["summary"] or "",
        source=row["name"] or row["site_name"] or "",
        published_at=row["published_at"],
        language=row["language"],
        relevant=bool(row["relevant"]),
        actors=tuple(row["actors"] or ()),
        topics=tuple(row["topics"] or ()),
        topic_scores=row["topic_scores"] or {},
        stance=row["stance"] or "neutral",
        stance_scores=row["stance_scores"] or {},
        stance_score=row["stance_score"] or 0.0,
        explanation=row["explanation"] or {},
        story_id=row["story_id"],
        model_version=row["model_version"] or "",
    )
