"""A small, known world for the web UI tests, recorded through the real commands and stages.

Feeds and subscriptions go through the commands; articles are feed entries without a link
(so extraction takes the feed's text and nothing is downloaded), clustered into stories and
classified by the real pipeline, then re-scored with fixed labels so the pages' contents are
known. A webhook subscription whose receiver answers 400 leaves dead letters.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from classifiers import artifacts
from monitor.bootstrap import App
from monitor.commands.feeds import add_feed
from monitor.commands.models import classified, promote, register_saved
from monitor.commands.subscriptions import deliver_due, subscribe
from monitor.delivery.subscriptions import Filters, SubscriptionSpec
from monitor.eventlog import new_id
from monitor.events import ArticleDiscovered
from monitor.streams import article_stream


@dataclass(frozen=True)
class Story:
    title: str
    text: str
    stance: str
    actors: tuple[str, ...]
    topics: tuple[str, ...]
    days_ago: int
    outlets: int = 1
    relevance: float = 0.95


STORIES = (
    Story(
        "Ankara and Washington sign an F-16 deal",
        "Turkey and the United States signed an agreement on Monday for the sale of forty F-16 "
        "fighter jets and modernisation kits, ending years of talks between Ankara and "
        "Washington. Officials of both defence ministries praised the cooperation.",
        "cooperation",
        ("TUR", "USA"),
        ("defense_industry",),
        1,
        outlets=2,
    ),
    Story(
        "Turkey and the US clash over strikes in northern Syria",
        "Ankara summoned the American ambassador after United States officials condemned "
        "Turkish air strikes on Kurdish positions in northern Syria, deepening the dispute "
        "between the NATO allies over the YPG.",
        "tension",
        ("TUR", "USA"),
        ("military_operations",),
        2,
    ),
    Story(
        "Greece protests Turkish survey ship in the Aegean",
        "Athens lodged a formal protest after a Turkish research vessel escorted by warships "
        "entered disputed waters in the eastern Mediterranean, raising tension between Greece "
        "and Turkey over gas exploration rights.",
        "tension",
        ("GRC", "TUR"),
        ("economy_energy",),
        3,
    ),
    Story(
        "Pakistan and Turkey hold joint naval exercise",
        "The navies of Pakistan and Turkey began a week-long joint exercise in the Arabian Sea, "
        "with frigates and submarines training together under a defence cooperation accord "
        "signed last year in Islamabad.",
        "cooperation",
        ("PAK", "TUR"),
        ("alliance_diplomacy",),
        4,
        relevance=0.52,
    ),
    Story(
        "US and Turkish envoys meet on counterterrorism",
        "American and Turkish envoys met in Ankara to discuss intelligence sharing against the "
        "Islamic State, the first such meeting this year, according to a statement issued "
        "after the talks by the foreign ministry.",
        "neutral",
        ("TUR", "USA"),
        ("security_counterterrorism",),
        9,
    ),
    Story(
        "Washington warns Ankara over S-400 missile tests",
        "The State Department warned Turkey of new sanctions after reports that the Turkish "
        "military tested its Russian-made S-400 air defence system near the Black Sea coast, "
        "reviving the long quarrel between the two governments.",
        "tension",
        ("TUR", "USA"),
        ("defense_industry",),
        16,
    ),
)
SCORES = {"cooperation": 0.6, "tension": -0.6, "neutral": 0.0}
# Days with TUR-USA stories: the daily trend of that pair has this many points.
TUR_USA_DAYS = len({s.days_ago for s in STORIES if set(s.actors) == {"TUR", "USA"}})


@dataclass(frozen=True)
class World:
    feeds: list[str]
    active_model: str
    candidate_model: str
    articles: dict[str, str]  # title -> id of its first copy
    least_sure: str  # the article the labelling queue offers first


def build(app: App, trained_model: Path, work: Path, hook_url: str) -> World:
    active = _register(app, trained_model, work / "active", None)
    promote(app, active, by="test", reason="the tests' first model")
    candidate = _register(app, trained_model, work / "candidate", "20260101T000000-candidate")
    feeds = [
        add_feed(app, f"https://{name}.example/feed.xml", name=f"{name.title()} News")
        for name in ("anadolu", "harbor", "capital")
    ]
    subscribe(
        app,
        SubscriptionSpec("webhook", hook_url, Filters(actors=("TUR",))),
        created_by="test",
    )
    subscribe(
        app,
        SubscriptionSpec("email", "analyst@example.org", Filters(stances=("tension",))),
        created_by="test",
    )
    now = datetime.now(UTC)
    articles: dict[str, list[str]] = {}
    for story in STORIES:
        published = now - timedelta(days=story.days_ago, hours=1)
        for copy in range(story.outlets):
            article_id = new_id()
            articles.setdefault(story.title, []).append(article_id)
            app.log.append(
                article_stream(article_id),
                0,
                [
                    ArticleDiscovered(
                        article_id, feeds[copy], None, f"guid-{article_id}", story.title,
                        published, published, content=story.text, language="en",
                    )
                ],
            )  # fmt: skip
    app.drain()  # extraction from the feed text, stories, classification, matching
    labeler = app.models.labeler()
    for story in STORIES:
        for article_id in articles[story.title]:
            result = dataclasses.replace(
                labeler.classify(story.text, story.title),
                relevant=True,
                relevance=story.relevance,
                stance=story.stance,
                stance_score=SCORES[story.stance],
                actors=story.actors,
                topics=story.topics,
                topic_scores=dict.fromkeys(story.topics, 0.8),
                stance_scores={s: (0.7 if s == story.stance else 0.15) for s in SCORES},
            )
            app.log.append(
                article_stream(article_id), None, [classified(article_id, result, labeler.version)]
            )
    app.drain()
    deliver_due(app)  # the receiver answers 400: dead letters
    app.catch_up()
    least_sure = next(s for s in STORIES if s.relevance < 0.6)
    return World(
        feeds,
        active,
        candidate,
        {title: ids[0] for title, ids in articles.items()},
        articles[least_sure.title][0],
    )


def _register(app: App, trained: Path, directory: Path, version: str | None) -> str:
    if version is None:
        shutil.copytree(trained, directory)
    else:
        artifacts.save(artifacts.load(trained).model, directory, {"version": version})
    return register_saved(app, directory, trained_by="test")
