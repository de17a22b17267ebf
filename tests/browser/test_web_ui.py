"""The web UI in a real browser (the system Chromium, driven by Playwright) against a real
`monitor run` serving a known world (tests/browser/world.py) from SQLite.

Screenshots of every page at 1280 and 390 px go to $MONITOR_SCREENSHOT_DIR (or a temp
folder). Without Chromium these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.bootstrap import bootstrap
from monitor.config import Settings
from tests.browser import world
from tests.integration.test_cli import free_port
from tests.servers import LoopbackServer, respond

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-admin-token-0123456789"
PAGES = ("/", "/trends", "/label", "/models", "/feeds", "/subscriptions", "/deliveries", "/login")
WIDTHS = (1280, 390)
# Read at import: the autouse fixture of conftest.py clears MONITOR_* before each test.
SCREENSHOT_DIR = os.environ.get("MONITOR_SCREENSHOT_DIR")


@dataclass
class Service:
    url: str
    env: dict[str, str]
    world: world.World

    def cli(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "monitor", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout

    def events(self, event_type: str) -> list[dict[str, Any]]:
        lines = self.cli("events", "list", "--json", "--limit", "100000").splitlines()
        return [e for e in map(json.loads, lines) if e["type"] == event_type]


@pytest.fixture(scope="module")
def service(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    work = tmp_path_factory.mktemp("web-ui")
    receiver = LoopbackServer({"/hook": respond(400)})
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
        "MONITOR_DATABASE_URL": f"sqlite:///{work / 'monitor.db'}",
        "MONITOR_DATA_DIR": str(work / "data"),
        "MONITOR_API_TOKEN": TOKEN,
        "MONITOR_FETCH_ALLOWLIST": receiver.origin,
        "MONITOR_FOLLOWER_POLL_INTERVAL": "0.2",
        "MONITOR_FETCH_CONNECT_TIMEOUT": "2",
    }
    settings = Settings(
        database_url=env["MONITOR_DATABASE_URL"],
        data_dir=work / "data",
        fetch_allowlist=(receiver.origin,),
    )
    app = bootstrap(settings)
    try:
        seeded = world.build(app, trained_model, work, receiver.url("/hook"))
    finally:
        app.close()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield Service(url, env, seeded)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        receiver.close()


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "monitor run exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("monitor run did not answer in time")


@pytest.fixture(scope="module")
def browser(service: Service) -> Iterator[Any]:
    """Started after the service: the world is built with asyncio, which cannot run inside
    Playwright's event loop."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        message = f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    """A fresh browser context (no cookies) whose console errors fail the test."""
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], f"console errors: {errors}"


def log_in(page: Any) -> None:
    page.goto("/login")
    page.fill("input[name=token]", TOKEN)
    page.click("form[action='/login'] button[type=submit]")
    assert "Logged in as" in page.inner_text("main")


def story_titles(page: Any) -> list[str]:
    return [
        t.strip()
        for t in page.locator("table.stories tbody tr td:nth-child(2) > a").all_inner_texts()
    ]


def test_the_dashboard_lists_the_stories_and_filters_them(page: Any, service: Service) -> None:
    page.goto("/?days=30")
    titles = story_titles(page)
    assert sorted(titles) == sorted(s.title for s in world.STORIES)  # one row per story
    f16 = page.locator("tr", has_text="Ankara and Washington sign an F-16 deal")
    assert f16.locator("td").nth(4).inner_text().strip() == "2"  # two outlets

    page.select_option("select[name=pair]", "TUR-USA")
    page.select_option("select[name=stance]", "tension")
    page.click("form.filters button[type=submit]")
    expected = [s.title for s in world.STORIES if s.stance == "tension" and "GRC" not in s.actors]
    assert sorted(story_titles(page)) == sorted(expected)
    assert "pair=TUR-USA" in page.url

    page.select_option("select[name=days]", "7")
    page.click("form.filters button[type=submit]")
    assert story_titles(page) == ["Turkey and the US clash over strikes in northern Syria"]


def test_the_trend_chart_has_a_point_per_day_and_lists_its_stories(
    page: Any, service: Service
) -> None:
    page.goto("/trends?pair=TUR-USA&by=day&days=30")
    chart = page.locator("#score-chart svg")
    assert chart.locator(".serie-0 .dots").count() == world.TUR_USA_DAYS
    page.locator("#score-chart .serie-0 .dots a").first.click()
    page.wait_for_url("**bucket=**")
    assert page.locator("#stories li").count() >= 1


def test_labelling_with_the_keyboard_records_a_label(page: Any, service: Service) -> None:
    log_in(page)
    page.goto("/label")
    article = page.get_attribute(".queue-item", "data-article")
    assert article == service.world.least_sure  # the least sure comes first
    page.keyboard.press("t")  # tension
    page.wait_for_selector("text=Label recorded.")
    assert page.inner_text("#since-training") == "1"
    labels = [e for e in service.events("LabelAdded") if e["data"]["article_id"] == article]
    assert len(labels) == 1
    assert labels[0]["data"]["stance"] == "tension" and labels[0]["data"]["source"] == "web"
    assert page.get_attribute(".queue-item", "data-article") != article


def test_promoting_and_rolling_back_change_the_active_model(page: Any, service: Service) -> None:
    def active() -> str:
        models = json.loads(service.cli("model", "list", "--json"))
        return next(m["version"] for m in models if m["status"] == "active")

    log_in(page)
    page.goto("/models")
    candidate = service.world.candidate_model
    page.locator(f"tr[data-version='{candidate}'] button", has_text="Promote").click()
    page.wait_for_selector(f"text=Promoted {candidate}.")
    assert active() == candidate
    page.click("#rollback")
    page.wait_for_selector("text=Rolled back to")
    assert active() == service.world.active_model


def test_a_feed_added_in_the_ui_is_listed_by_the_cli(page: Any, service: Service) -> None:
    log_in(page)
    page.goto("/feeds")
    page.fill("input[name=url]", "https://newcomer.example/rss")
    page.fill("input[name=name]", "Newcomer Daily")
    page.click("form[action='/feeds'] button[type=submit]")
    page.wait_for_selector("text=Feed added")
    listed = json.loads(service.cli("feeds", "list", "--json"))
    assert "https://newcomer.example/rss" in [f["url"] for f in listed]


def test_dead_letters_are_listed_with_a_retry_button(page: Any, service: Service) -> None:
    page.goto("/deliveries?status=dead")
    assert page.locator("tr[data-status=dead]").count() >= 1
    assert page.locator("tr[data-status=dead] button", has_text="Retry").count() >= 1


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_renders_without_errors_and_fits(
    page: Any, service: Service, width: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shots = Path(SCREENSHOT_DIR or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    article = service.world.articles["Ankara and Washington sign an F-16 deal"]
    for path in (*PAGES, f"/articles/{article}", "/trends?by=week&days=90"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        name = path.strip("/").replace("/", "_").replace("?", "_").replace("&", "_") or "dashboard"
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{path} is {overflow}px wide at {width}px"
