"""Analysts' labels: add, import, retract, the labelling queue, and labels as examples.

A label judges some fields of an article (or of a text that comes with it); the fields left
out are taken from the article's current classification when the label becomes a training
example. Every label is a `LabelAdded` event naming the analyst.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from classifiers.labels import Example, LabelError, example_from_dict, validate_labels
from monitor import db
from monitor.engine import reading
from monitor.errors import InvalidInputError, NotFoundError
from monitor.eventlog import new_id
from monitor.events import LabelAdded, LabelRetracted

if TYPE_CHECKING:
    from monitor.bootstrap import App


def label_stream(label_id: str) -> str:
    return f"label-{label_id}"


def add_label(
    app: App,
    article_id: str,
    *,
    analyst: str,
    relevant: bool | None = None,
    stance: str | None = None,
    topics: Sequence[str] | None = None,
    actors: Sequence[str] | None = None,
    note: str | None = None,
    source: str = "cli",
    actor: str | None = None,
) -> str:
    """Record a label; `actor` (default: the analyst) is who asked, e.g. an API token."""
    app.catch_up()
    article = _article(app, article_id)
    if article is None:
        raise NotFoundError(f"no article with id {article_id}")
    if relevant is None and stance is None and topics is None and actors is None:
        raise InvalidInputError("a label needs at least one of relevant, stance, topic, actor")
    merged = _merged(article, relevant, stance, topics, actors)
    try:
        validate_labels(merged["relevant"], merged["actors"], merged["topics"], merged["stance"])
    except LabelError as exc:
        raise InvalidInputError(f"label refused: {exc}") from None
    label_id = new_id()
    evt = LabelAdded(
        label_id=label_id,
        analyst=analyst,
        article_id=article_id,
        relevant=relevant,
        stance=stance,
        topics=tuple(topics) if topics is not None else None,
        actors=tuple(a.upper() for a in actors) if actors is not None else None,
        note=note,
        source=source,
    )
    app.log.append(label_stream(label_id), 0, [evt], metadata={"actor": actor or analyst})
    return label_id


@dataclass(frozen=True)
class ImportReport:
    imported: int
    errors: list[str]


def import_labels(
    app: App, path: Path, *, analyst: str, skip_invalid: bool = False
) -> ImportReport:
    """Examples in the LABELS.md format; with any invalid line nothing is imported."""
    events: list[LabelAdded] = []
    errors: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            example = example_from_dict(json.loads(line))
        except (json.JSONDecodeError, LabelError) as exc:
            errors.append(f"line {number}: {exc}")
            continue
        events.append(
            LabelAdded(
                label_id=new_id(),
                analyst=analyst,
                text=example.text,
                title=example.title,
                relevant=example.relevant,
                stance=example.stance,
                topics=example.topics,
                actors=example.actors,
                note=f"imported from {path.name}, id {example.id}",
                source=f"import:{path.name}",
            )
        )
    if errors and not skip_invalid:
        shown = "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        raise InvalidInputError(f"{path}: nothing imported, {len(errors)} invalid line(s): {shown}")
    for evt in events:
        app.log.append(label_stream(evt.label_id), 0, [evt], metadata={"actor": analyst})
    return ImportReport(len(events), errors)


def retract_label(app: App, label_id: str, *, analyst: str, reason: str | None = None) -> None:
    version = app.log.stream_version(label_stream(label_id))
    if version == 0:
        raise NotFoundError(f"no label with id {label_id}")
    app.log.append(
        label_stream(label_id),
        version,
        [LabelRetracted(label_id, analyst, reason)],
        metadata={"actor": analyst},
    )


def label_examples(app: App) -> list[Example]:
    """Every label that stands, as a training example (one per label)."""
    app.catch_up()
    with reading(app.engine) as conn:
        labels = (
            conn.execute(
                select(db.labels)
                .where(db.labels.c.retracted_at.is_(None))
                .order_by(db.labels.c.added_at)
            )
            .mappings()
            .all()
        )
        ids = [label["article_id"] for label in labels if label["article_id"]]
        articles = {
            row["article_id"]: row
            for row in conn.execute(
                select(db.articles).where(db.articles.c.article_id.in_(ids))
            ).mappings()
        }
    examples = []
    for label in labels:
        article = articles.get(label["article_id"]) if label["article_id"] else None
        text = label["text"] or (article["text"] if article else None)
        if not text:
            continue
        merged = _merged(
            article, label["relevant"], label["stance"], label["topics"], label["actors"]
        )
        examples.append(
            example_from_dict(
                {
                    "id": f"label-{label['label_id']}",
                    "text": text,
                    "title": label["title"] or (article["title"] if article else None),
                    "source": f"label:{label['analyst']}",
                    **merged,
                }
            )
        )
    return examples


def labelling_queue(app: App, *, limit: int = 20) -> list[dict[str, Any]]:
    """Classified, unlabelled articles the model is least sure of, one per story."""
    app.catch_up()
    a = db.articles
    labelled = select(db.labels.c.article_id).where(db.labels.c.article_id.is_not(None))
    with reading(app.engine) as conn:
        rows = conn.execute(
            select(
                a.c.article_id,
                a.c.title,
                a.c.story_id,
                a.c.relevant,
                a.c.relevance,
                a.c.stance,
                a.c.confidence,
                a.c.topics,
                a.c.published_at,
                a.c.url,
            )
            .where(a.c.stage == "classified", a.c.article_id.not_in(labelled))
            .order_by(a.c.published_at.desc())
            .limit(5000)
        ).all()
    seen_stories: set[str] = set()
    queue = []
    for row in sorted(rows, key=_uncertainty, reverse=True):
        story = row.story_id or row.article_id
        if story in seen_stories:
            continue
        seen_stories.add(story)
        queue.append(
            {
                "id": row.article_id,
                "title": row.title,
                "url": row.url,
                "published_at": row.published_at.isoformat(),
                "relevant": row.relevant,
                "relevance": row.relevance,
                "stance": row.stance,
                "confidence": row.confidence,
                "topics": row.topics or [],
                "uncertainty": round(_uncertainty(row), 4),
            }
        )
        if len(queue) >= limit:
            break
    return queue


def _uncertainty(row: Any) -> float:
    """1 when the model could not decide relevance, or (if relevant) the stance."""
    relevance = row.relevance if row.relevance is not None else 0.5
    doubt = 1 - abs(2 * relevance - 1)
    if row.relevant and row.confidence is not None:
        doubt = max(doubt, 1 - row.confidence)
    return float(doubt)


def _article(app: App, article_id: str) -> Any:
    with reading(app.engine) as conn:
        return (
            conn.execute(select(db.articles).where(db.articles.c.article_id == article_id))
            .mappings()
            .first()
        )


def _merged(
    article: Any,
    relevant: bool | None,
    stance: str | None,
    topics: Sequence[str] | None,
    actors: Sequence[str] | None,
) -> dict[str, Any]:
    """The label's fields, the unjudged ones from the article's current classification."""
    current = article or {}
    is_relevant = relevant if relevant is not None else bool(current.get("relevant"))
    if not is_relevant:
        return {"relevant": False, "stance": "neutral", "topics": [], "actors": []}
    return {
        "relevant": True,
        "stance": stance or current.get("stance") or "neutral",
        "topics": list(topics if topics is not None else current.get("topics") or []),
        "actors": [
            a.upper() for a in (actors if actors is not None else current.get("actors") or [])
        ],
    }
