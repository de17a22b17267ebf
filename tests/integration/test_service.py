"""`monitor run` as users run it: a real process that polls, extracts, classifies and serves
HTTP on its own, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SHARED, require_shared
from tests.integration.test_cli import free_port
from tests.servers import LoopbackServer, respond

PAGE = SHARED / "fixtures" / "pages" / "aeb-aljazeera.com-7916ecca96.html"


def _monitor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.slow
def test_the_service_ingests_classifies_and_serves_until_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    page = require_shared(PAGE).read_bytes()
    site = LoopbackServer()
    feed = (
        '<rss version="2.0"><channel><title>wire</title><item><title>US helicopter crash'
        f"</title><link>{site.url('/crash.html')}</link></item></channel></rss>"
    ).encode()
    site.routes["/feed.xml"] = respond(200, feed, {"Content-Type": "application/rss+xml"})
    site.routes["/crash.html"] = respond(200, page, {"Content-Type": "text/html"})
    port = free_port()
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": database_url,
        "MONITOR_DATA_DIR": str(tmp_path / "data"),
        "MONITOR_FETCH_ALLOWLIST": site.origin,
        "MONITOR_PER_HOST_DELAY": "0",
        "MONITOR_FOLLOWER_POLL_INTERVAL": "0.2",
    }
    _monitor("feeds", "add", site.url("/feed.xml"), env=env)
    service = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        classified: list[dict] = []
        deadline = time.monotonic() + 150  # includes training the first model
        while time.monotonic() < deadline and not classified:
            time.sleep(1)
            listed = json.loads(_monitor("articles", "list", "--json", env=env).stdout)
            classified = [a for a in listed if a["model_version"]]
        assert classified, "the service did not classify the article in time"
        assert classified[0]["title"] == "US helicopter crash"
        assert classified[0]["relevant"] is not None

        openapi = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=10)
        assert openapi.status_code == 200

        stopping = time.monotonic()
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
        assert time.monotonic() - stopping < 30
    finally:
        if service.poll() is None:
            service.kill()
        site.close()
    assert service.stderr is not None
    log = service.stderr.read()
    assert "monitor stopped" in log

    # A restart resumes where it stopped: nothing is polled or classified twice.
    before = _monitor("events", "list", "--json", "--limit", "10000", env=env).stdout
    discovered = [
        e for e in map(json.loads, before.splitlines()) if e["type"] == "ArticleDiscovered"
    ]
    assert len(discovered) == 1
