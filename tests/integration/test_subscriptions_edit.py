"""Editing a subscription (`SubscriptionChanged`) through the CLI, the API and the web UI, on
SQLite and PostgreSQL: matching follows the new filters from the edit on, earlier matches
stay, the next digest follows the new schedule, replay rebuilds the same read model, and a
new destination is refused naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from monitor import db
from monitor.api.app import create_app
from monitor.bootstrap import App, bootstrap
from monitor.commands import subscriptions as commands
from monitor.config import Settings
from monitor.delivery.subscriptions import Filters, SubscriptionSpec
from monitor.errors import ConcurrencyError, InvalidInputError, NotFoundError
from monitor.stages.digests import DigestWorker
from tests.delivery_world import classified, rows, settle
from tests.integration.test_api_roles import World, world_for
from tests.integration.test_cli import assert_one_line_error
from tests.integration.test_web_pages import TOKEN, csrf, log_in


@pytest.fixture
def monitor(in_process_cli: Any) -> Any:
    return in_process_cli


def matched_articles(app: App, subscription_id: str) -> set[str]:
    outbox = db.delivery_outbox
    with app.engine.connect() as conn:
        query = select(outbox.c.article_id).where(outbox.c.subscription_id == subscription_id)
        return set(conn.execute(query).scalars())


def changes(app: App) -> list[Any]:
    return [e for e in app.log.read_all() if e.event_type == "SubscriptionChanged"]


def test_cli_edit_matches_new_articles_under_the_new_filters_only(
    monitor: Any, database_url: str, settings: Settings, tmp_path: Path
) -> None:
    added = monitor(
        "subscriptions", "add", "--email", "a@example.org", "--stance", "cooperation",
        "--actor", "TUR", url=database_url,
    )  # fmt: skip
    subscription_id = added.stdout.strip()
    app = bootstrap(settings)
    try:
        before = classified(app, stance="cooperation")
        settle(app)
        assert matched_articles(app, subscription_id) == {before}
        late = classified(app, stance="cooperation")  # classified before the edit, matched after

        edited = monitor(
            "subscriptions", "edit", subscription_id, "--stance", "tension",
            "--schedule", "daily@18:00", "--timezone", "Europe/Istanbul", url=database_url,
        )  # fmt: skip
        assert edited.stdout.strip() == "changed"
        cooperation = classified(app, stance="cooperation")
        tension = classified(app, stance="tension")
        settle(app)
        assert matched_articles(app, subscription_id) == {before, late, tension}
        assert cooperation not in matched_articles(app, subscription_id)

        listed = json.loads(monitor("subscriptions", "list", "--json", url=database_url).stdout)
        assert listed[0]["filters"]["stances"] == ["tension"]
        assert listed[0]["filters"]["actors"] == ["TUR"]  # not given: kept
        assert (listed[0]["schedule"], listed[0]["timezone"]) == ("daily@18:00", "Europe/Istanbul")
        [change] = changes(app)
        assert change.metadata["actor"] == "cli"
        assert change.data["filters"]["stances"] == ["tension"]

        again = monitor(
            "subscriptions", "edit", subscription_id, "--stance", "tension", url=database_url
        )
        assert again.stdout.startswith("unchanged") and len(changes(app)) == 1
        cleared = monitor(
            "subscriptions", "edit", subscription_id, "--clear", "actors", url=database_url
        )
        assert cleared.stdout.strip() == "changed"
        listed = json.loads(monitor("subscriptions", "list", "--json", url=database_url).stdout)
        assert listed[0]["filters"]["actors"] == [] and listed[0]["filters"]["stances"] == [
            "tension"
        ]

        bad = monitor(
            "subscriptions", "edit", subscription_id, "--stance", "friendly", url=database_url,
            check=False,
        )  # fmt: skip
        assert_one_line_error(bad, "stances:")
        bad = monitor(
            "subscriptions", "edit", subscription_id, "--schedule", "daily@25:00",
            url=database_url, check=False,
        )  # fmt: skip
        assert_one_line_error(bad, "schedule:")
        monitor("subscriptions", "remove", subscription_id, url=database_url)
        gone = monitor(
            "subscriptions", "edit", subscription_id, "--stance", "neutral", url=database_url,
            check=False,
        )  # fmt: skip
        assert_one_line_error(gone, subscription_id)
        assert len(changes(app)) == 2

        # Replay rebuilds what the incremental projection built.
        incremental = rows(app, db.subscriptions)
        assert (
            "rebuilt" in monitor("replay", "--projection", "subscriptions", url=database_url).stdout
        )
        assert rows(app, db.subscriptions) == incremental
    finally:
        app.close()


def test_command_refuses_channel_changes_stale_versions_and_moves_the_next_digest(
    app: App,
) -> None:
    spec = SubscriptionSpec("email", "a@example.org", Filters(), "daily@08:00", "UTC")
    subscription_id = commands.subscribe(app, spec).subscription_id
    current = commands.current_subscription(app, subscription_id)
    assert current.spec == spec and current.version == 1

    with pytest.raises(InvalidInputError, match=r"^email: the address"):
        commands.change_subscription(app, subscription_id, spec.__class__("email", "b@example.org"))
    hook = SubscriptionSpec("webhook", "https://hooks.example.org/h")
    with pytest.raises(InvalidInputError, match=r"^webhook: this is an email subscription"):
        commands.change_subscription(app, subscription_id, hook)
    with pytest.raises(NotFoundError):
        commands.change_subscription(app, "nope", spec)

    evening = SubscriptionSpec("email", "a@example.org", Filters(), "daily@18:00", "UTC")
    assert commands.change_subscription(
        app, subscription_id, evening, actor="someone", expected_version=1
    )
    with pytest.raises(ConcurrencyError):  # an edit based on what was there before
        commands.change_subscription(app, subscription_id, spec, expected_version=current.version)
    assert commands.current_subscription(app, subscription_id).spec.schedule == "daily@18:00"

    tomorrow = datetime.now(UTC).replace(hour=19, minute=0, second=0, microsecond=0)
    tomorrow += timedelta(days=1)
    assert DigestWorker(app, clock=lambda: tomorrow).schedule_due() == 1
    [digest] = rows(app, db.digests)
    assert digest.period_end.hour == 18  # the new schedule's send time, not 08:00


# --- API ---------------------------------------------------------------------------------


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from world_for(
        settings, api_rate_limit="10000/minute", api_read_rate_limit="10000/minute"
    )


def test_api_patch_needs_an_analyst_and_names_the_field(world: World) -> None:
    app, client = world.app, world.client
    created = client.post(
        "/api/subscriptions",
        json={"email": "a@example.org", "stances": ["cooperation"], "actors": ["TUR"]},
        headers=world.auth("analyst"),
    )
    subscription_id = created.json()["id"]
    path = f"/api/subscriptions/{subscription_id}"
    patch = {"stances": ["tension"], "schedule": "weekly@MON@07:30"}

    assert client.patch(path, json=patch).status_code == 401
    refused = client.patch(path, json=patch, headers=world.auth("viewer"))
    assert refused.status_code == 403 and "analyst" in refused.json()["detail"]
    assert changes(app) == []

    answer = client.patch(path, json=patch, headers=world.auth("analyst"))
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["filters"]["stances"] == ["tension"] and shown["filters"]["actors"] == ["TUR"]
    assert shown["schedule"] == "weekly@MON@07:30" and shown["target"] == "a@example.org"
    [change] = changes(app)
    assert change.metadata["actor"] == "token:analyst-1"

    bad_values = {
        "stances": ({"stances": ["friendly"]}, "stances:"),
        "min_confidence": ({"min_confidence": 2}, "min_confidence:"),
        "schedule": ({"schedule": "daily@25:00"}, "schedule:"),
        "timezone": ({"timezone": "Mars/Base"}, "timezone:"),
        "email": ({"email": "b@example.org"}, "email:"),
        "webhook": ({"webhook": "https://hooks.example.org/h"}, "webhook:"),
        "secret": ({"secret": "whsec_x"}, "secret:"),
    }
    for name, (body, field) in bad_values.items():
        answer = client.patch(path, json=body, headers=world.auth("analyst"))
        assert answer.status_code == 422, (name, answer.text)
        assert answer.json()["detail"].startswith(field), (name, answer.text)
    same = client.patch(path, json={"email": "a@example.org"}, headers=world.auth("analyst"))
    assert same.status_code == 200  # the current address is not a change
    assert len(changes(app)) == 1

    client.delete(path, headers=world.auth("analyst"))
    gone = client.patch(path, json=patch, headers=world.auth("analyst"))
    assert gone.status_code == 404
    unknown = client.patch("/api/subscriptions/nope", json=patch, headers=world.auth("analyst"))
    assert unknown.status_code == 404


# --- web UI --------------------------------------------------------------------------------


@pytest.fixture
def web(settings: Settings) -> Iterator[tuple[App, TestClient]]:
    app = bootstrap(settings.model_copy(update={"api_token": SecretStr(TOKEN)}))
    with TestClient(create_app(app), follow_redirects=False) as client:
        yield app, client
    app.close()


def test_the_edit_form_is_prefilled_previews_and_saves(web: tuple[App, TestClient]) -> None:
    app, client = web
    spec = SubscriptionSpec(
        "email", "a@example.org", Filters(stances=("cooperation",), actors=("TUR",)), "daily@08:00"
    )
    subscription_id = commands.subscribe(app, spec).subscription_id
    classified(app, stance="tension")
    settle(app)
    assert "Edit as new" not in client.get("/subscriptions").text

    page = client.get(f"/subscriptions?edit={subscription_id}").text
    assert f'action="/subscriptions/{subscription_id}/edit"' in page
    assert re.search(r'value="cooperation" checked', page)
    assert not re.search(r'value="tension" checked', page)
    assert 'name="actors" value="TUR"' in page and 'value="daily@08:00"' in page
    assert 'name="version" value="1"' in page and 'name="target"' not in page

    previewed = client.get(
        "/subscriptions",
        params={"edit": subscription_id, "version": "1", "preview": "1", "stances": "tension"},
    ).text
    assert f'action="/subscriptions/{subscription_id}/edit"' in previewed
    assert re.search(r"<strong>1</strong> article\(s\) of the last 7 days", previewed)
    assert re.search(r'value="tension" checked', previewed)

    form = {"stances": "tension", "actors": "TUR", "schedule": "daily@09:00", "version": "1"}
    path = f"/subscriptions/{subscription_id}/edit"
    assert client.post(path, data=form).status_code in (303, 403)  # not logged in
    log_in(client)
    assert client.post(path, data=form).status_code == 403  # no CSRF token
    assert changes(app) == []

    saved = client.post(path, data={**form, "csrf": csrf(client)})
    assert saved.status_code == 303 and saved.headers["location"] == "/subscriptions"
    [change] = changes(app)
    assert change.metadata["actor"].startswith("token:")
    assert change.data["filters"]["stances"] == ["tension"]
    assert change.data["schedule"] == "daily@09:00"
    listing = client.get("/subscriptions").text
    assert "changed" in listing and "daily@09:00" in listing

    stale = client.post(path, data={**form, "stances": "neutral", "csrf": csrf(client)})
    assert stale.status_code == 303 and "edit=" in stale.headers["location"]
    assert "concurrency conflict" in client.get(stale.headers["location"]).text
    assert len(changes(app)) == 1
