"""Retention: `monitor articles prune` drops old bodies and keeps every other fact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from monitor import db
from monitor.bootstrap import App
from monitor.events import ArticleExtracted, ArticleTextsPruned
from monitor.streams import article_stream
from tests.delivery_world import WHEN, classified, rows, settle


def _articles(app: App) -> dict[str, Any]:
    return {row.article_id: row for row in rows(app, db.articles)}


def _seed(app: App) -> tuple[list[str], list[str]]:
    old = [classified(app, published_at=WHEN - timedelta(days=400 + i)) for i in range(3)]
    recent = [classified(app, published_at=WHEN - timedelta(days=10))]
    settle(app)
    return old, recent


def test_prune_empties_old_bodies_and_keeps_their_classification(
    app: App, in_process_cli: Any
) -> None:
    old, recent = _seed(app)
    before = _articles(app)
    url = app.settings.database_url
    cutoff = (WHEN - timedelta(days=365)).date().isoformat()

    dry = in_process_cli("articles", "prune", "--older-than", cutoff, "--dry-run", url=url)
    assert "would prune the text of 3 articles" in dry.stdout
    assert _articles(app) == before

    done = in_process_cli("articles", "prune", "--older-than", cutoff, url=url)
    assert "pruned the text of 3 articles" in done.stdout
    app.catch_up()
    after = _articles(app)
    for article_id in old:
        assert after[article_id].text is None
        assert after[article_id].stance == before[article_id].stance == "cooperation"
        assert after[article_id].title == before[article_id].title
        extracted = [
            r.event
            for r in app.log.read_stream(article_stream(article_id))
            if r.event_type == ArticleExtracted.type_name
        ]
        assert [e.text for e in extracted] == [""]
    assert after[recent[0]].text == before[recent[0]].text

    pruned = [r for r in app.log.read_all() if r.event_type == ArticleTextsPruned.type_name]
    assert len(pruned) == 1
    assert sorted(pruned[0].event.article_ids) == sorted(old)
    assert pruned[0].metadata["actor"] == "cli"

    again = in_process_cli("articles", "prune", "--older-than", cutoff, url=url)
    assert "pruned the text of 0 articles" in again.stdout


def test_replay_after_pruning_rebuilds_the_same_articles(app: App) -> None:
    from monitor.commands.retention import prune_article_texts

    _seed(app)
    prune_article_texts(app, before=WHEN - timedelta(days=365), actor="test")
    incremental = _articles(app)
    app.runner.rebuild(app.projection("articles"))
    assert _articles(app) == incremental
