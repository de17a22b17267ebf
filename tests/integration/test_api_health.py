"""Probes and metrics: `/healthz`, `/readyz` (each check reported, 503 until ready) and
`/metrics` in the Prometheus text format, computed at scrape time from the read models."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from monitor.api.app import create_app
from monitor.bootstrap import App
from monitor.commands import subscriptions as commands
from monitor.commands.feeds import add_feed
from monitor.delivery.subscriptions import SubscriptionSpec
from monitor.events import FeedPolled
from monitor.leases import Leases
from monitor.scheduler import LEADER
from monitor.streams import feed_stream
from tests.delivery_world import WHEN, classified, settle


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_liveness_needs_no_database(app: App) -> None:
    with pytest.MonkeyPatch.context() as patch, TestClient(create_app(app)) as client:
        patch.setattr(app, "engine", None)
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_not_ready_without_a_model(app: App) -> None:
    with TestClient(create_app(app)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True, "detail": "reachable"}
    assert checks["model"]["ok"] is False and "no active model" in checks["model"]["detail"]


def test_ready_once_a_model_is_loaded_and_a_scheduler_leads(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.models, "active_version", lambda: "v-test")
    monkeypatch.setattr(app.models, "labeler", lambda: SimpleNamespace(version="v-test"))
    with TestClient(create_app(app)) as client:
        leaderless = client.get("/readyz")
        leases = Leases(app.engine, owner="host-a:1", duration=15)
        assert leases.acquire(LEADER)
        response = client.get("/readyz")
        leases.release()
        after = client.get("/readyz")
    assert leaderless.status_code == 503
    assert leaderless.json()["checks"]["scheduler"]["ok"] is False
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": {"ok": True, "detail": "reachable"},
            "model": {"ok": True, "detail": "version v-test loaded"},
            "scheduler": {"ok": True, "detail": "led by host-a:1"},
        },
    }
    assert after.status_code == 503


def test_not_ready_when_the_database_is_unreachable(app: App) -> None:
    dead = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with pytest.MonkeyPatch.context() as patch, TestClient(create_app(app)) as client:
        patch.setattr(app, "engine", dead)
        response = client.get("/readyz")
    dead.dispose()
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False


def test_metrics_are_computed_at_scrape_time(app: App) -> None:
    feed_id = add_feed(app, "https://news.example.com/feed.xml")
    polled = FeedPolled(feed_id, WHEN, 200, False, 3, 3, WHEN + timedelta(minutes=15))
    app.log.append(feed_stream(feed_id), None, [polled])
    commands.subscribe(app, SubscriptionSpec("email", "reader@example.test"))
    classified(app)
    classified(app)
    api = create_app(app)
    with TestClient(api) as client:
        before = samples(client.get("/metrics").text)
        settle(app)
        response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)
    matching = ("monitor_follower_lag_events", (("follower", "matching"),))
    assert before[matching] == 2 and after[matching] == 0
    assert after[("monitor_feeds", (("health", "ok"),))] == 1
    assert after[("monitor_articles", (("stage", "classified"),))] == 2
    assert after[("monitor_deliveries", (("status", "pending"),))] == 2
    assert after[("monitor_dead_letters", ())] == 0
    assert after[("monitor_polls_total", (("outcome", "ok"),))] == 1
    assert after[("monitor_polls_total", (("outcome", "failed"),))] == 0
    assert after[("monitor_matches_total", ())] == 2
    assert after[("monitor_extraction_failures_total", ())] == 0
    assert after[("monitor_feeds_not_modified_ratio", ())] == 0
    # Classification latency is observed where the model runs (none ran here).
    assert after[("monitor_classification_seconds_count", ())] == 0
    # Each application has a registry of its own: a second one registers without a clash.
    with TestClient(create_app(app)) as other:
        assert samples(other.get("/metrics").text) == after
