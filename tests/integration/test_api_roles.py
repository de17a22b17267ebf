"""API roles, hashed tokens, rate limits, body limits, masked secrets and the audit trail
(RELIABILITY 69 and 70), on SQLite and PostgreSQL.

Routes are enumerated from the OpenAPI document, whose `x-minimum-role` comes from the
guard's table, so every route, including ones added later, is checked for every role.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import inspect, select, text

from monitor import db
from monitor.api.app import create_app
from monitor.api.auth import ROUTE_ROLES
from monitor.bootstrap import App, bootstrap
from monitor.commands.models import register_saved
from monitor.commands.tokens import ROLES, digest, issue_token
from monitor.config import Settings
from tests.delivery_world import classified, settle

ADMIN_TOKEN = "configured-admin-token-for-tests"
ALL_METHODS = ("get", "post", "put", "patch", "delete")
REFUSED = (401, 403, 429)


@dataclass
class World:
    app: App
    client: TestClient
    tokens: dict[str, str]  # role -> a token of that role (issued, not MONITOR_API_TOKEN)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def world_for(settings: Settings, **overrides: Any) -> Iterator[World]:
    configured = settings.model_copy(update={"api_token": SecretStr(ADMIN_TOKEN), **overrides})
    app = bootstrap(configured)
    tokens = {role: issue_token(app, f"{role}-1", role).token for role in ROLES}
    with TestClient(create_app(app)) as client:
        yield World(app, client, tokens)
    app.close()


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    """Tokens of every role, and budgets high enough for the many requests of a test."""
    yield from world_for(
        settings, api_rate_limit="10000/minute", api_read_rate_limit="10000/minute"
    )


@pytest.fixture
def default_world(settings: Settings) -> Iterator[World]:
    """The default rate limits."""
    yield from world_for(settings)


def operations(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, concrete path, minimum role) of every operation under /api."""
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method, path.replace("{", "").replace("}", "-x"), operation["x-minimum-role"])
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method, operation in operations.items()
        if method in ALL_METHODS
    ]


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    """A request that would be refused as input if allowed (a JSON array where an object or
    OPML is expected), so allowed calls change nothing: train, for one, would train."""
    body = {"content": b"[]", "headers": {**headers, "Content-Type": "application/json"}}
    return client.request(method, path, **(body if method != "get" else {"headers": headers}))


def test_every_route_under_api_declares_its_minimum_role(world: World) -> None:
    paths = world.client.get("/openapi.json").json()["paths"]
    declared = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method in operations
        if method in ALL_METHODS
    }
    assert declared - ROUTE_ROLES.keys() == set(), "add these routes to auth.ROUTE_ROLES"
    assert ROUTE_ROLES.keys() - declared == set(), "stale entries in auth.ROUTE_ROLES"


def test_each_route_answers_each_role_as_declared(world: World) -> None:
    ops = operations(world.client)
    assert len(ops) >= 27
    for method, path, needed in ops:
        anonymous = call(world.client, method, path, {})
        expected_anonymous = needed == "viewer"  # reads are public by default
        assert (anonymous.status_code not in REFUSED) == expected_anonymous, (method, path)
        if not expected_anonymous:
            assert anonymous.status_code == 401, (method, path, anonymous.text)
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
        for wrong in ("Bearer mtk_not-a-token", f"Bearer {ADMIN_TOKEN}x", f"Basic {ADMIN_TOKEN}"):
            refused = call(world.client, method, path, {"Authorization": wrong})
            assert refused.status_code == 401, (method, path, wrong, refused.text)
        for role in ROLES:
            answer = call(world.client, method, path, world.auth(role))
            if ROLES.index(role) < ROLES.index(needed):
                assert answer.status_code == 403, (method, path, role, answer.text)
                assert needed in answer.json()["detail"]
            else:
                assert answer.status_code not in REFUSED, (method, path, role, answer.text)
        configured = call(world.client, method, path, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert configured.status_code not in REFUSED, (method, path)


def test_case_69_the_named_refusals(world: World) -> None:
    client = world.client
    feed = {"url": "https://news.example.com/feed.xml"}
    assert client.post("/api/feeds", json=feed).status_code == 401
    assert (
        client.post("/api/feeds", json=feed, headers={"Authorization": "Bearer x"}).status_code
        == 401
    )
    assert client.post("/api/feeds", json=feed, headers=world.auth("analyst")).status_code == 403
    assert client.post("/api/models/rollback", headers=world.auth("analyst")).status_code == 403
    assert (
        client.post(
            "/api/tokens", json={"name": "n", "role": "viewer"}, headers=world.auth("analyst")
        ).status_code
        == 403
    )
    retrain = client.post("/api/models/train", json={}, headers=world.auth("viewer"))
    assert retrain.status_code == 403 and "analyst" in retrain.json()["detail"]
    assert client.post("/api/feeds", json=feed, headers=world.auth("admin")).status_code == 201


def test_without_public_reads_a_viewer_token_is_needed(settings: Settings) -> None:
    for world in world_for(settings, api_public_reads=False):
        assert world.client.get("/api/articles").status_code == 401
        assert world.client.get("/api/articles", headers=world.auth("viewer")).status_code == 200
        assert world.client.get("/healthz").status_code == 200


def table_dump(app: App) -> str:
    """Every row of every table, as text."""
    names = inspect(app.engine).get_table_names()
    assert "api_tokens" in names and "events" in names
    with app.engine.connect() as conn:
        return "\n".join(
            repr(row) for name in names for row in conn.execute(text(f'SELECT * FROM "{name}"'))
        )


def test_tokens_are_stored_hashed_and_revoked_by_name(
    world: World, in_process_cli: Any, database_url: str
) -> None:
    created = in_process_cli(
        "tokens", "create", "--role", "analyst", "--name", "ci-bot", url=database_url
    )
    token = created.stdout.strip()
    assert token.startswith("mtk_") and len(token) > 40 and "not shown again" in created.stderr
    over_api = world.client.post(
        "/api/tokens", json={"name": "ops", "role": "admin"}, headers=world.auth("admin")
    )
    assert over_api.status_code == 201
    api_token = over_api.json()["token"]

    dump = table_dump(world.app)
    for secret in (token, api_token, *world.tokens.values()):
        assert secret not in dump
        assert digest(secret) in dump  # what is kept instead
    events = in_process_cli("events", "list", "--json", url=database_url).stdout
    assert token not in events and api_token not in events

    listed = in_process_cli("tokens", "list", "--json", url=database_url).stdout
    assert '"ci-bot"' in listed and '"analyst"' in listed and token not in listed
    assert "token_sha256" not in world.client.get("/api/tokens", headers=world.auth("admin")).text

    # A token issued by another process works at once: the guard catches its read model up.
    label_route = {"Authorization": f"Bearer {token}"}
    assert world.client.post("/api/models/rollback", headers=label_route).status_code == 403
    assert world.client.get("/api/tokens", headers=label_route).status_code == 403
    assert (
        world.client.post(
            "/api/labels", json={"article_id": "x", "relevant": True}, headers=label_route
        ).status_code
        == 404
    )

    in_process_cli("tokens", "revoke", "ci-bot", url=database_url)
    world.app.catch_up()  # what the service's followers do within a second
    assert world.client.post("/api/labels", json={}, headers=label_route).status_code == 401
    again = in_process_cli("tokens", "revoke", "ci-bot", url=database_url, check=False)
    assert again.returncode == 1 and "no active token" in again.stderr

    revoked = world.client.delete("/api/tokens/ops", headers=world.auth("admin"))
    assert revoked.status_code == 204
    assert (
        world.client.get(
            "/api/tokens", headers={"Authorization": f"Bearer {api_token}"}
        ).status_code
        == 401
    )
    duplicate = world.client.post(
        "/api/tokens", json={"name": "admin-1", "role": "viewer"}, headers=world.auth("admin")
    )
    assert duplicate.status_code == 422 and "exists" in duplicate.json()["detail"]
    reissued = world.client.post(
        "/api/tokens", json={"name": "ops", "role": "viewer"}, headers=world.auth("admin")
    )
    assert reissued.status_code == 201 and reissued.json()["token"] != api_token


def test_case_70_quick_requests_get_429_with_retry_after(default_world: World) -> None:
    client = default_world.client
    answers = [client.get("/api/feeds") for _ in range(100)]
    statuses = [a.status_code for a in answers]
    assert statuses[0] == 200 and 429 in statuses
    limited = answers[statuses.index(429)]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "too many requests" in limited.json()["detail"]
    # Per client: a token holder has a budget of its own; probes are never limited.
    assert client.get("/api/feeds", headers=default_world.auth("viewer")).status_code == 200
    assert all(client.get("/healthz").status_code == 200 for _ in range(100))
    assert client.get("/metrics").status_code == 200

    admin = default_world.auth("admin")
    writes = [client.post("/api/feeds/none/pause", headers=admin).status_code for _ in range(100)]
    assert writes[0] == 404 and writes.count(404) == 60 and writes[-1] == 429
    # A wrong token is counted against the address too: guessing is limited.
    guesses = [
        client.post("/api/feeds", json={}, headers={"Authorization": f"Bearer guess-{n}"})
        for n in range(70)
    ]
    assert guesses[-1].status_code == 429


def test_case_70_a_20_megabyte_body_gets_413(world: World) -> None:
    body = b'{"url": "https://e.org/rss", "name": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    for path in ("/api/feeds", "/api/labels", "/api/subscriptions"):
        answer = world.client.post(
            path, content=body, headers={**world.auth("admin"), "Content-Type": "application/json"}
        )
        assert answer.status_code == 413, path
    assert world.client.get("/api/feeds").json() == []


def test_case_70_webhook_secrets_and_tokens_are_masked_and_never_logged(
    world: World,
    in_process_cli: Any,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    given = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    auth = world.auth("analyst")
    mine = world.client.post(
        "/api/subscriptions",
        json={"webhook": "https://hooks.example.org/a", "secret": given},
        headers=auth,
    )
    generated = world.client.post(
        "/api/subscriptions", json={"webhook": "https://hooks.example.org/b"}, headers=auth
    ).json()["secret"]
    assert mine.status_code == 201 and mine.json()["secret"] is None
    rotation = in_process_cli("subscriptions", "rotate-secret", mine.json()["id"], url=database_url)
    rotated = rotation.stdout.strip()
    assert rotated.startswith("whsec_")
    issued = world.client.post(
        "/api/tokens", json={"name": "logged", "role": "viewer"}, headers=world.auth("admin")
    ).json()["token"]
    listing = world.client.get("/api/subscriptions")
    assert [row["secret"] for row in listing.json()] == ["whsec_********"] * 2
    captured = caplog.text + rotation.stderr + capsys.readouterr().err
    for secret in (given, generated, rotated, issued, *world.tokens.values(), ADMIN_TOKEN):
        assert secret not in listing.text
        assert secret not in captured


def test_every_api_write_names_its_token_in_an_event(
    world: World, trained_model: Path, tmp_path: Path
) -> None:
    app, client = world.app, world.client
    admin, analyst = world.auth("admin"), world.auth("analyst")
    shutil.copytree(trained_model, tmp_path / "model")
    saved = register_saved(app, tmp_path / "model", trained_by="test")
    opml = b'<opml version="2.0"><body><outline text="O" xmlUrl="https://o.example.org/rss"/></body></opml>'

    def write(method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        before = app.log.head()
        answer = client.request(method, path, headers=headers, **kwargs)
        assert answer.status_code < 300, (method, path, answer.text)
        actor = "token:admin-1" if headers is admin else "token:analyst-1"
        events = app.log.read_all(after=before)
        assert events, (method, path)
        for recorded in events:
            named = [recorded.metadata.get("actor"), *recorded.data.values()]
            assert actor in named, (method, path, recorded.event_type, recorded.metadata)
        return answer

    feed_id = write("post", "/api/feeds", admin, json={"url": "https://n.example.org/rss"}).json()[
        "id"
    ]
    write("post", f"/api/feeds/{feed_id}/pause", admin)
    write("post", f"/api/feeds/{feed_id}/resume", admin)
    write("delete", f"/api/feeds/{feed_id}", admin)
    write("post", "/api/feeds/opml", admin, content=opml)
    hook = {"webhook": "https://hooks.example.org/h", "actors": ["TUR"]}
    subscription_id = write("post", "/api/subscriptions", analyst, json=hook).json()["id"]
    article_id = classified(app)  # after the subscription, which matches it
    settle(app)
    with app.engine.connect() as conn:
        delivery_id = conn.execute(select(db.delivery_outbox.c.delivery_id)).scalar_one()
    write("post", f"/api/deliveries/{delivery_id}/retry", admin)
    write("delete", f"/api/subscriptions/{subscription_id}", analyst)
    write("post", "/api/labels", analyst, json={"article_id": article_id, "relevant": True})
    assert client.get("/api/labels").json()[0]["analyst"] == "analyst-1"  # the default
    trained = write("post", "/api/models/train", analyst, json={"cross_validation": False})
    active = [m["version"] for m in client.get("/api/models").json() if m["status"] == "active"]
    if active != [saved]:
        write("post", f"/api/models/{saved}/promote", admin)
    write("post", f"/api/models/{trained.json()['version']}/promote", admin)
    write("post", "/api/models/rollback", admin)
    write("post", "/api/tokens", admin, json={"name": "audited", "role": "viewer"})
    write("delete", "/api/tokens/audited", admin)
    # The configured token acts under its variable's name.
    before = app.log.head()
    client.post(
        "/api/feeds",
        json={"url": "https://m.example.org/rss"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    [added] = app.log.read_all(after=before)
    assert added.metadata["actor"] == added.data["actor"] == "token:MONITOR_API_TOKEN"
