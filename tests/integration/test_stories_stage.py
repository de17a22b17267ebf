"""The stories stage on a real database: copies within one batch and across batches share a
story, other stories stay apart, and a re-extracted article keeps its story (both databases)."""

from __future__ import annotations

from sqlalchemy import select

from monitor import db
from monitor.bootstrap import App
from monitor.events import ArticleExtracted, StoryAssigned
from monitor.stages.stories import StoriesStage
from monitor.streams import article_stream
from tests.unit.test_stories import REWRITE, SAME_TOPIC_1, WIRE


def _extracted(app: App, article_id: str, text: str) -> None:
    app.log.append(
        article_stream(article_id),
        None,
        [ArticleExtracted(article_id, "page", text, title=None)],
    )


def _stories(app: App) -> dict[str, list[StoryAssigned]]:
    assigned: dict[str, list[StoryAssigned]] = {}
    for recorded in app.log.read_all(types=[StoryAssigned.type_name]):
        event = recorded.event
        assert isinstance(event, StoryAssigned)
        assigned.setdefault(event.article_id, []).append(event)
    return assigned


def test_copies_share_a_story_within_and_across_batches(app: App) -> None:
    stage = StoriesStage(app)
    _extracted(app, "wire", WIRE)
    _extracted(app, "rewrite", REWRITE)  # same batch: matched against the article before it
    _extracted(app, "other", SAME_TOPIC_1)
    assert app.runner.run_once(stage) == 3
    _extracted(app, "later-copy", WIRE + "\nUpdated with reactions.")
    _extracted(app, "wire", WIRE)  # extracted again: the story stays, nothing is appended
    assert app.runner.run_once(stage) == 2

    stories = _stories(app)
    assert {name: len(events) for name, events in stories.items()} == {
        "wire": 1,
        "rewrite": 1,
        "other": 1,
        "later-copy": 1,
    }
    story = {name: events[0].story_id for name, events in stories.items()}
    assert story["wire"] == "wire" and stories["wire"][0].similar_to is None
    assert story["rewrite"] == story["later-copy"] == "wire"
    assert stories["rewrite"][0].similar_to == "wire" and stories["rewrite"][0].similarity >= 0.3
    assert story["other"] == "other"
    with app.engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(db.story_signatures.c.article_id, db.story_signatures.c.story_id)
            ).all()
        )
    assert stored == story
