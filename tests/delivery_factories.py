"""Sample data for the delivery tests: one classified article, varied with keyword changes."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.delivery.subscriptions import ArticleView


def article(**changes: object) -> ArticleView:
    values: dict[str, object] = {
        "id": "art-1",
        "url": "https://news.example/a",
        "title": "Ankara ve Washington F-16 anlaşması — “çok önemli” ✓",
        "text": "not sent",
        "source": "Haber",
        "published_at": datetime(2026, 11, 21, 8, 30, tzinfo=UTC),
        "language": "tr",
        "relevant": True,
        "actors": ("TUR", "USA"),
        "topics": ("defense_industry",),
        "topic_scores": {"defense_industry": 0.91},
        "stance": "cooperation",
        "stance_scores": {"cooperation": 0.8, "tension": 0.15, "neutral": 0.05},
        "stance_score": 0.6,
        "explanation": {"stance": {"terms": [["anlaşma", 0.4]], "passages": [{"text": "ü"}]}},
        "story_id": "story-9",
        "model_version": "m-3",
    }
    values.update(changes)
    return ArticleView(**values)  # type: ignore[arg-type]
