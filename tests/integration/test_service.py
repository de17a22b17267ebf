"""`monitor run` as users run it, end to end: a real process with a loopback feed and page, a
real SMTP server and a webhook receiver; the feed and the subscriptions are added through the
HTTP API; the article is polled, extracted, classified, matched and delivered both ways; the
metrics move; SIGTERM stops it cleanly and a restart repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.delivery_servers import Recorder, SmtpServer
from tests.integration.test_cli import free_port
from tests.servers import LoopbackServer, respond

TOKEN = "end-to-end-token"
TITLE = "Turkey and the United States sign a defence cooperation agreement"
PARAGRAPHS = (
    "Turkish and American defence ministers signed a defence cooperation agreement in Ankara "
    "on Tuesday, committing both NATO allies to joint production of drones and armoured "
    "vehicles and to closer intelligence sharing on counter-terrorism.",
    "The agreement follows months of talks between Ankara and Washington and ends a dispute "
    "over Turkey's role in the F-35 programme, officials from both governments said.",
    "Under the deal, Turkish defence firms will supply parts for American aircraft, and the "
    "two militaries will hold joint exercises in the eastern Mediterranean next spring.",
)
PAGE = (
    f"<!doctype html><html><head><title>{TITLE}</title></head><body><article>"
    f"<h1>{TITLE}</h1>{''.join(f'<p>{p}</p>' for p in PARAGRAPHS)}</article></body></html>"
).encode()


def _monitor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _start(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    service = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert service.stderr is not None
    assert "monitor running" in service.stderr.readline()
    _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 30, "the HTTP server")
    return service


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _stop(service: subprocess.Popen[str]) -> str:
    """SIGTERM; the service must exit 0 within 30 s. Returns what it logged."""
    stopping = time.monotonic()
    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0
    assert time.monotonic() - stopping < 30
    assert service.stderr is not None
    return service.stderr.read()


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _metrics(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in text.splitlines())
        if name and not name.startswith("#")
    }


def _event_types(env: dict[str, str]) -> Counter[str]:
    listed = _monitor("events", "list", "--json", "--limit", "10000", env=env).stdout
    return Counter(json.loads(line)["type"] for line in listed.splitlines())


@pytest.mark.slow
def test_the_service_ingests_classifies_and_delivers_until_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    site = LoopbackServer()
    feed = (
        f'<rss version="2.0"><channel><title>wire</title><item><title>{TITLE}</title>'
        f"<link>{site.url('/deal.html')}</link><guid>deal-1</guid></item></channel></rss>"
    ).encode()
    site.routes["/feed.xml"] = respond(200, feed, {"Content-Type": "application/rss+xml"})
    site.routes["/deal.html"] = respond(200, PAGE, {"Content-Type": "text/html"})
    hooks = LoopbackServer({"/hook": respond(204)})
    mail = Recorder()
    smtp = SmtpServer(mail)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": database_url,
        "MONITOR_DATA_DIR": str(tmp_path / "data"),
        "MONITOR_API_TOKEN": TOKEN,
        "MONITOR_PUBLIC_URL": base,
        "MONITOR_FETCH_ALLOWLIST": f"{site.origin},{hooks.origin}",
        "MONITOR_SMTP_HOST": "127.0.0.1",
        "MONITOR_SMTP_PORT": str(smtp.port),
        "MONITOR_PER_HOST_DELAY": "0",
        "MONITOR_FOLLOWER_POLL_INTERVAL": "0.2",
    }
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    service = _start(env, port)
    try:
        hook = api.post("/api/subscriptions", json={"webhook": hooks.url("/hook")})
        assert hook.status_code == 201, hook.text
        email = api.post("/api/subscriptions", json={"email": "analyst@example.org"})
        assert email.status_code == 201, email.text
        before = _metrics(base)
        added = api.post("/api/feeds", json={"url": site.url("/feed.xml")})
        assert added.status_code == 201, added.text

        _wait_for(  # the first start trains the model from the seed corpus: allow for it
            lambda: hooks.hit_count("/hook") >= 1 and len(mail.messages) >= 1,
            240,
            "the webhook and the digest",
        )
        delivered = 'monitor_deliveries{status="delivered"}'
        # The receiver has the request before the service records the answer: wait for it.
        _wait_for(lambda: _metrics(base).get(delivered, 0) >= 1, 30, "the delivery's record")
        after = _metrics(base)
        logged = _stop(service)
    finally:
        if service.poll() is None:
            service.kill()
    assert "monitor stopped" in logged

    request = hooks.hits[0]
    headers = {key.lower(): value for key, value in request.headers.items()}
    payload = Webhook(hook.json()["secret"]).verify(request.body, headers)
    assert payload["type"] == "article.matched"
    assert payload["article"]["title"] == TITLE
    assert TITLE in mail.messages[0].decode()

    assert after['monitor_polls_total{outcome="ok"}'] > before['monitor_polls_total{outcome="ok"}']
    assert after["monitor_matches_total"] >= 2 > before["monitor_matches_total"]
    assert after['monitor_articles{stage="classified"}'] == 1

    # A restart resumes where it stopped: nothing is polled, classified or sent twice.
    counted = _event_types(env)
    restarted = _start(env, port)
    try:
        time.sleep(5)  # a few rounds of every follower and the scheduler's first ticks
        _stop(restarted)
    finally:
        if restarted.poll() is None:
            restarted.kill()
        site.close()
        hooks.close()
        smtp.close()
    again = _event_types(env)
    for kind in ("ArticleDiscovered", "ArticleExtracted", "ArticleClassified", "ArticleMatched"):
        assert again[kind] == counted[kind] == (2 if kind == "ArticleMatched" else 1), kind
    assert hooks.hit_count("/hook") == 1
    assert len(mail.messages) == 1
