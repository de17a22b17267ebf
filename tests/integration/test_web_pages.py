"""The web UI's guards and escaping, through the FastAPI app in process: writes need this
session's CSRF token (403 without) and a login (a redirect to the login page); strings that
come from feeds are escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from monitor.api.app import create_app
from monitor.bootstrap import App, bootstrap
from monitor.commands.feeds import add_feed
from monitor.config import Settings

TOKEN = "web-pages-test-token-0123456789"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def web(settings: Settings) -> Iterator[tuple[App, TestClient]]:
    app = bootstrap(settings.model_copy(update={"api_token": SecretStr(TOKEN)}))
    with TestClient(create_app(app), follow_redirects=False) as client:
        yield app, client
    app.close()


def csrf(client: TestClient, path: str = "/feeds") -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def log_in(client: TestClient) -> None:
    response = client.post("/login", data={"csrf": csrf(client, "/login"), "token": TOKEN})
    assert response.status_code == 303


def test_a_write_without_the_csrf_token_is_refused(web: tuple[App, TestClient]) -> None:
    app, client = web
    log_in(client)
    response = client.post("/feeds", data={"url": "https://a.example/feed.xml"})
    assert response.status_code == 403
    wrong = client.post("/feeds", data={"url": "https://a.example/feed.xml", "csrf": "forged"})
    assert wrong.status_code == 403
    app.catch_up()
    assert "a.example" not in client.get("/feeds").text


def test_a_write_without_a_login_goes_to_the_login_page(web: tuple[App, TestClient]) -> None:
    _, client = web
    token = csrf(client)
    response = client.post(
        "/feeds",
        data={"url": "https://a.example/feed.xml", "csrf": token},
        headers={"Referer": "http://testserver/feeds"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/feeds"


def test_a_wrong_token_does_not_log_in(web: tuple[App, TestClient]) -> None:
    _, client = web
    response = client.post("/login", data={"csrf": csrf(client, "/login"), "token": "guess"})
    assert response.status_code == 401
    assert "Log out" not in response.text


def test_a_logged_in_write_lands_as_an_event_naming_the_token(
    web: tuple[App, TestClient],
) -> None:
    app, client = web
    log_in(client)
    response = client.post(
        "/feeds", data={"url": "https://a.example/feed.xml", "name": "A", "csrf": csrf(client)}
    )
    assert response.status_code == 303
    added = [e for e in app.log.read_all() if e.event_type == "FeedAdded"]
    assert len(added) == 1 and added[0].metadata["actor"].startswith("token:")


def test_the_session_cookie_is_httponly_and_strict(web: tuple[App, TestClient]) -> None:
    _, client = web
    cookie = client.get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_strings_from_feeds_are_escaped(web: tuple[App, TestClient]) -> None:
    app, client = web
    add_feed(app, "https://hostile.example/feed.xml", name=HOSTILE)
    app.catch_up()
    page = client.get("/feeds").text
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
