"""`/articles/{id}` and `/stories/{id}`: the text with its decisive passages marked, the
classification, the other outlets, and the article's history from the event log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from monitor.api.deps import AppDep
from monitor.queries import article_detail, list_deliveries, story_articles
from monitor.web.reads import article_history
from monitor.web.templating import render

router = APIRouter()


@router.get("/articles/{article_id}")
def article_page(request: Request, article_id: str, app: AppDep) -> Response:
    app.catch_up()
    article = article_detail(app.engine, article_id)
    if article is None:
        raise HTTPException(404, f"no article with id {article_id}")
    explanation = article["explanation"]
    return render(
        request,
        "article.html",
        title=article["title"],
        article=article,
        segments=highlighted(article["text"] or article["summary"] or "", decisive(explanation)),
        explanation=explanation,
        history=article_history(app, article_id),
        deliveries=list_deliveries(app.engine, article_id=article_id),
    )


@router.get("/stories/{story_id}")
def story_page(request: Request, story_id: str, app: AppDep) -> Response:
    app.catch_up()
    articles = story_articles(app.engine, story_id)
    if not articles:
        raise HTTPException(404, f"no story with id {story_id}")
    return render(
        request,
        "story.html",
        title=articles[0]["title"],
        story_id=story_id,
        articles=articles,
        outlets=len({a["feed_id"] for a in articles}),
    )


def decisive(explanation: dict[str, Any]) -> list[dict[str, Any]]:
    """The passages that decided the stance, else the most relevant ones."""
    stance = explanation.get("stance") or {}
    return list(stance.get("passages") or explanation.get("passages") or [])


def highlighted(text: str, passages: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, decisive) runs. A passage is marked where its offsets still
    point at its own words (the text may have been re-extracted since), else where its
    snippet is found."""
    spans: list[tuple[int, int]] = []
    for passage in passages:
        snippet = str(passage.get("text", "")).rstrip("…")
        start, end = int(passage.get("start", -1)), int(passage.get("end", -1))
        if not (0 <= start < end <= len(text) and text[start:end].startswith(snippet[:40])):
            length = max(len(snippet), end - start)
            start = text.find(snippet[:80]) if snippet else -1
            end = start + length
        if start >= 0:
            spans.append((start, min(end, len(text))))
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in sorted(spans):
        start = max(start, cursor)
        if start >= end:
            continue
        if start > cursor:
            pieces.append((text[cursor:start], False))
        pieces.append((text[start:end], True))
        cursor = end
    if cursor < len(text):
        pieces.append((text[cursor:], False))
    return pieces
