"""The HTTP API's guards: bearer token on every write, body size limit, clear 422s.

The write routes are enumerated from the OpenAPI document, so a route added later is
checked without touching this file. Auth runs before any database work, so SQLite is enough.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from monitor.api.app import create_app
from monitor.bootstrap import bootstrap
from monitor.config import Settings

TOKEN = "s3cret-token-for-tests"
WRITE_METHODS = ("post", "put", "patch", "delete")


def client_for(sqlite_url: str, tmp_path: Path, token: str | None) -> Iterator[TestClient]:
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        api_token=SecretStr(token) if token else None,
        api_rate_limit="10000/minute",  # these tests send many refused requests on purpose
    )
    app = bootstrap(settings)
    with TestClient(create_app(app)) as client:
        yield client
    app.close()


@pytest.fixture
def guarded(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """An API with MONITOR_API_TOKEN set."""
    yield from client_for(sqlite_url, tmp_path, TOKEN)


@pytest.fixture
def tokenless(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """An API without a configured token: writes must be refused, not left open."""
    yield from client_for(sqlite_url, tmp_path, None)


def write_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, concrete path) of every write under /api in the OpenAPI document."""
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method, re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method in operations
        if method in WRITE_METHODS
    ]


def test_the_openapi_document_lists_the_writes_as_guarded(guarded: TestClient) -> None:
    document = guarded.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            guarded_write = path.startswith("/api/") and method in WRITE_METHODS
            needs_token = path.startswith("/api/") and operation["x-minimum-role"] != "viewer"
            assert ("security" in operation) == needs_token, (method, path)
            assert needs_token or not guarded_write, (method, path)
    routes = write_routes(guarded)
    for expected in (
        ("post", "/api/feeds"),
        ("post", "/api/subscriptions"),
        ("post", "/api/labels"),
        ("post", "/api/models/train"),
        ("delete", "/api/feeds/x"),
    ):
        assert expected in routes
    assert len(routes) >= 12


def test_every_write_needs_the_right_bearer_token(guarded: TestClient) -> None:
    for method, path in write_routes(guarded):
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
        ):
            response = guarded.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "bearer token" in response.json()["detail"]
    # The guard runs before the body is read: a malformed body is not even looked at.
    malformed = guarded.post(
        "/api/feeds", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 401


def test_without_a_configured_token_every_write_is_refused(tokenless: TestClient) -> None:
    for method, path in write_routes(tokenless):
        response = tokenless.request(
            method, path, headers={"Authorization": "Bearer anything"}, json={}
        )
        assert response.status_code == 403, (method, path, response.text)
        assert "MONITOR_API_TOKEN" in response.json()["detail"]


def test_reads_and_unsubscribe_need_no_token(tokenless: TestClient) -> None:
    for path in ("/api/feeds", "/api/articles", "/api/events", "/api/models", "/healthz"):
        assert tokenless.get(path).status_code == 200, path
    # RFC 8058: the one-click target takes no token; this one fails its HMAC check instead.
    response = tokenless.post("/unsubscribe/abc.def", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400


def test_the_right_token_is_accepted(guarded: TestClient) -> None:
    response = guarded.post(
        "/api/feeds",
        json={"url": "https://news.example.com/feed.xml"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 201, response.text


def test_a_body_over_one_megabyte_is_refused(guarded: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = '{"url": "https://news.example.com/feed.xml", "name": "' + "x" * 2_000_000 + '"}'
    declared = guarded.post(
        "/api/feeds", content=big, headers={**auth, "Content-Type": "application/json"}
    )
    assert declared.status_code == 413 and "larger than" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size is what counts
        for _ in range(32):
            yield b"<" * 65536

    streamed = guarded.post("/api/feeds/opml", content=chunks(), headers=auth)
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert guarded.get("/api/feeds").json() == []


def test_invalid_input_gets_a_422_naming_the_field(guarded: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    missing = guarded.post("/api/feeds", json={"name": "no url"}, headers=auth)
    assert missing.status_code == 422
    assert missing.json()["detail"].startswith("url: ")
    assert missing.json()["errors"][0]["field"] == "url"

    unknown = guarded.post(
        "/api/subscriptions", json={"email": "a@example.org", "topicz": ["x"]}, headers=auth
    )
    assert unknown.status_code == 422 and unknown.json()["detail"].startswith("topicz: ")

    interval = guarded.post(
        "/api/feeds",
        json={"url": "https://news.example.com/feed.xml", "interval": "soon"},
        headers=auth,
    )
    assert interval.status_code == 422 and interval.json()["detail"].startswith("interval: ")

    malformed = guarded.post(
        "/api/feeds", content=b"{", headers={**auth, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 422 and malformed.json()["detail"].startswith("body: ")

    limit = guarded.get("/api/articles", params={"limit": 0})
    assert limit.status_code == 422 and limit.json()["detail"].startswith("limit: ")

    cursor = guarded.get("/api/articles", params={"cursor": "not-a-cursor"})
    assert cursor.status_code == 422 and cursor.json()["detail"].startswith("cursor: ")
