"""The JSON resources under /api on SQLite and PostgreSQL: representative writes through the
use cases, cursor paging of articles, stories, events and the masked webhook secret."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from monitor.api.app import create_app
from monitor.bootstrap import App, bootstrap
from monitor.config import Settings
from tests.delivery_world import WHEN, classified

TOKEN = "another-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPML = b"""<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>
<outline text="Defence"><outline text="One" xmlUrl="https://one.example.org/rss"/></outline>
<outline text="Two" xmlUrl="https://two.example.org/atom.xml"/></body></opml>"""


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[App, TestClient]]:
    app = bootstrap(settings.model_copy(update={"api_token": SecretStr(TOKEN)}))
    with TestClient(create_app(app)) as client:
        yield app, client
    app.close()


def test_feeds_are_added_paused_resumed_and_removed(world: tuple[App, TestClient]) -> None:
    _, client = world
    added = client.post(
        "/api/feeds",
        json={"url": "https://news.example.com/feed.xml", "name": "News", "interval": "30m"},
        headers=AUTH,
    )
    assert added.status_code == 201
    feed_id = added.json()["id"]
    [feed] = client.get("/api/feeds").json()
    assert (feed["feed_id"], feed["status"], feed["health"]) == (feed_id, "active", "new")
    assert feed["interval_seconds"] == 1800

    again = client.post(
        "/api/feeds", json={"url": "https://news.example.com/feed.xml"}, headers=AUTH
    )
    assert again.status_code == 422 and "already registered" in again.json()["detail"]

    assert client.post(f"/api/feeds/{feed_id}/pause", headers=AUTH).status_code == 204
    assert client.get("/api/feeds").json()[0]["status"] == "paused"
    assert client.post(f"/api/feeds/{feed_id}/resume", headers=AUTH).status_code == 204
    assert client.get("/api/feeds").json()[0]["status"] == "active"
    assert client.delete(f"/api/feeds/{feed_id}", headers=AUTH).status_code == 204
    assert client.get("/api/feeds").json() == []
    assert client.delete("/api/feeds/no-such-feed", headers=AUTH).status_code == 404


def test_opml_goes_in_and_out(world: tuple[App, TestClient]) -> None:
    _, client = world
    imported = client.post(
        "/api/feeds/opml", content=OPML, headers={**AUTH, "Content-Type": "text/x-opml+xml"}
    )
    assert imported.status_code == 200 and len(imported.json()["added"]) == 2
    exported = client.get("/api/feeds/opml")
    assert exported.headers["content-type"].startswith("text/x-opml+xml")
    assert "https://one.example.org/rss" in exported.text and "Defence" in exported.text
    broken = client.post("/api/feeds/opml", content=b"<opml", headers=AUTH)
    assert broken.status_code == 422


def test_a_webhook_secret_is_shown_once_then_masked(world: tuple[App, TestClient]) -> None:
    _, client = world
    created = client.post(
        "/api/subscriptions",
        json={"webhook": "https://hooks.example.org/monitor", "actors": ["TUR"]},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    email = client.post("/api/subscriptions", json={"email": "analyst@example.org"}, headers=AUTH)
    assert email.status_code == 201 and email.json()["secret"] is None

    listing = client.get("/api/subscriptions")
    assert [row["secret"] for row in listing.json()] == ["whsec_********", None]
    assert secret not in listing.text
    assert secret not in client.get("/api/events", params={"limit": 1000}).text

    both = client.post(
        "/api/subscriptions",
        json={"email": "a@example.org", "webhook": "https://x.org/"},
        headers=AUTH,
    )
    assert both.status_code == 422 and both.json()["detail"].startswith("email/webhook: ")
    subscription_id = created.json()["id"]
    assert client.delete(f"/api/subscriptions/{subscription_id}", headers=AUTH).status_code == 204
    assert client.delete(f"/api/subscriptions/{subscription_id}", headers=AUTH).status_code == 404


def test_labels_are_added_listed_and_queued(world: tuple[App, TestClient]) -> None:
    app, client = world
    article_id = classified(app)
    labelled = client.post(
        "/api/labels",
        json={"article_id": article_id, "stance": "tension", "analyst": "ayse"},
        headers=AUTH,
    )
    assert labelled.status_code == 201, labelled.text
    [label] = client.get("/api/labels").json()
    assert (label["label_id"], label["analyst"], label["stance"]) == (
        labelled.json()["id"],
        "ayse",
        "tension",
    )
    assert client.get("/api/labels/queue").json() == []  # the only article is labelled
    unknown = client.post(
        "/api/labels", json={"article_id": "nope", "relevant": False}, headers=AUTH
    )
    assert unknown.status_code == 404
    bad = client.post("/api/labels", json={"article_id": article_id, "stance": "war"}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("stance: ")


def test_cursor_paging_returns_every_article_once(world: tuple[App, TestClient]) -> None:
    app, client = world
    # Two pairs share a publication time: the cursor must break ties by id.
    moments = [WHEN - timedelta(hours=n // 2) for n in range(7)]
    ids = {classified(app, published_at=when, stance="tension") for when in moments}
    classified(app, published_at=WHEN, stance="cooperation")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, "stance": "tension", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/articles", params=params).json()
        seen += [article["id"] for article in page["articles"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(ids) == 7 and set(seen) == ids
    published = [client.get(f"/api/articles/{i}").json()["published_at"] for i in seen]
    assert published == sorted(published, reverse=True)
    assert client.get("/api/articles/nope").status_code == 404
    everything = client.get("/api/articles", params={"actor": ["TUR", "usa"], "limit": 100})
    assert len(everything.json()["articles"]) == 8


def test_stories_and_events(world: tuple[App, TestClient]) -> None:
    app, client = world
    first = classified(app, story_id="story-1", published_at=WHEN - timedelta(hours=2))
    copy = classified(app, story_id="story-1", title="Copy", published_at=WHEN)
    classified(app, story_id="story-2", published_at=WHEN - timedelta(days=1))

    stories = client.get("/api/stories").json()
    assert [s["id"] for s in stories] == ["story-1", "story-2"]
    assert (stories[0]["articles"], stories[0]["outlets"]) == (2, 1)
    assert stories[0]["title"] == "Ankara and Washington sign an F-16 deal"
    story = client.get("/api/stories/story-1").json()
    assert [a["id"] for a in story["articles"]] == [first, copy]
    assert story["outlets"] == 1
    assert client.get("/api/stories/nope").status_code == 404

    page = client.get("/api/events", params={"limit": 2}).json()
    assert [e["position"] for e in page["events"]] == sorted(e["position"] for e in page["events"])
    rest = client.get("/api/events", params={"after": page["next_after"], "limit": 1000}).json()
    assert rest["events"][0]["position"] > page["next_after"]
    stream = client.get("/api/events", params={"stream": f"article-{first}"}).json()
    assert {e["stream_id"] for e in stream["events"]} == {f"article-{first}"}


def test_deliveries_and_models_answer_with_the_use_case_errors(
    world: tuple[App, TestClient],
) -> None:
    _, client = world
    assert client.get("/api/deliveries", params={"status": "dead"}).json() == []
    assert client.get("/api/deliveries", params={"status": "lost"}).status_code == 422
    assert client.post("/api/deliveries/nope/retry", headers=AUTH).status_code == 404
    assert client.get("/api/models").json() == []
    assert client.post("/api/models/v-none/promote", headers=AUTH).status_code == 422
    assert client.post("/api/models/rollback", headers=AUTH).status_code == 422


def test_listings_are_current_and_carry_an_etag(world: tuple[App, TestClient]) -> None:
    app, client = world
    first = classified(app, stance="tension", published_at=WHEN - timedelta(hours=1))
    listing = client.get("/api/articles", params={"stance": "tension"})
    etag = listing.headers["etag"]
    assert [a["id"] for a in listing.json()["articles"]] == [first]
    unchanged = client.get("/api/articles", params={"stance": "tension"})
    assert unchanged.headers["etag"] == etag and unchanged.json() == listing.json()
    revalidated = client.get(
        "/api/articles", params={"stance": "tension"}, headers={"If-None-Match": etag}
    )
    assert revalidated.status_code == 304 and revalidated.content == b""

    # Events that do not touch articles leave the listing (and its tag) as it was ...
    subscription = {"webhook": "https://hooks.example.org/x", "actors": ["TUR"]}
    assert client.post("/api/subscriptions", json=subscription, headers=AUTH).status_code == 201
    assert client.get("/api/articles", params={"stance": "tension"}).headers["etag"] == etag

    # ... a new article, or a re-score of one, shows at once under a new tag.
    second = classified(app, stance="tension", published_at=WHEN)
    fresh = client.get(
        "/api/articles", params={"stance": "tension"}, headers={"If-None-Match": etag}
    )
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert [a["id"] for a in fresh.json()["articles"]] == [second, first]
    classified(app, article_id=first, stance="cooperation", discovered=False)
    rescored = client.get("/api/articles", params={"stance": "tension"}).json()["articles"]
    assert [a["id"] for a in rescored] == [second]
    assert [s["articles"] for s in client.get("/api/stories").json()] == [1, 1]


def test_filters_combine_and_a_stance_means_relevant_articles(
    world: tuple[App, TestClient],
) -> None:
    app, client = world
    both = classified(app, stance="tension", topics=("defense_industry", "sanctions"))
    classified(app, stance="tension", topics=("sanctions",), published_at=WHEN - timedelta(1))
    classified(app, stance="cooperation", topics=("defense_industry",))
    classified(app, stance="tension", topics=("defense_industry",), relevant=False)
    dropped = classified(app, stance="tension", topics=("defense_industry",))
    # A re-score without the topic takes the article out of the topic's listing.
    classified(app, article_id=dropped, topics=("sanctions",), stance="tension", discovered=False)

    def ids(**params: object) -> list[str]:
        return [a["id"] for a in client.get("/api/articles", params=params).json()["articles"]]

    assert ids(stance="tension", topic="defense_industry", actor=["tur", "USA"]) == [both]
    assert ids(stance="tension", topic="defense_industry", actor=["GRC"]) == []
    assert len(ids(stance="tension")) == 3  # not the irrelevant one
