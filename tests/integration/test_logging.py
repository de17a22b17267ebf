"""Logs as operators read them: JSON lines with the same keys everywhere, readable text by
default, and never a secret, from real `monitor` processes."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from monitor import logs
from tests.integration.test_cli import free_port, monitor

KEYS = {"time", "level", "logger", "message", *logs.CONTEXT_KEYS}
# The shape of a text log line: "2026-01-01 12:00:00,000 WARNING name: message".
# uvicorn's own format, when it keeps its handlers: "WARNING:  message".
TEXT_LOG_LINE = re.compile(r"^(\S+ \S+ )?(DEBUG|INFO|WARNING|ERROR|CRITICAL):? ")
TOKEN = "tok-Vx9qLr2mZ8sKp4"
SMTP_PASSWORD = "pw-Hq7nC3vB"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def json_records(stderr: str) -> list[dict]:
    """Every log line of a JSON-logging process, checked; command messages are let through."""
    records = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            assert record.keys() >= KEYS, line
            records.append(record)
        else:  # a command's own message for people, never a log record or a traceback
            assert not TEXT_LOG_LINE.match(line) and "Traceback" not in line, line
    return records


def test_a_failing_feed_is_logged_with_its_feed_id(database_url: str, tmp_path: Path) -> None:
    env = {"MONITOR_ALLOW_PRIVATE_NETWORKS": "true", "MONITOR_DATA_DIR": str(tmp_path)}
    feed_id = monitor(
        "feeds", "add", f"http://127.0.0.1:{free_port()}/feed.xml", url=database_url, env=env
    ).stdout.strip()

    polled = monitor("poll", url=database_url, env={**env, "MONITOR_LOG_FORMAT": "json"})
    failures = [r for r in json_records(polled.stderr) if r["feed_id"] == feed_id]
    assert failures and failures[0]["level"] == "WARNING"
    assert failures[0]["logger"] == "monitor.stages.polling"
    assert "connect" in failures[0]["message"]

    text = monitor("poll", url=database_url, env=env).stderr
    assert "WARNING monitor.stages.polling: feed poll failed" in text
    assert f"[feed_id={feed_id}]" in text


def test_log_level_setting_and_debug_flag(tmp_path: Path) -> None:
    env = {"MONITOR_DATA_DIR": str(tmp_path), "MONITOR_LOG_FORMAT": "json"}
    quiet = monitor("feeds", "list", url=f"sqlite:///{tmp_path / 'a.db'}", env=env)
    assert json_records(quiet.stderr) == []  # WARNING by default: one-shot commands are quiet
    info = {**env, "MONITOR_LOG_LEVEL": "INFO"}
    told = monitor("feeds", "list", url=f"sqlite:///{tmp_path / 'b.db'}", env=info)
    assert {(r["logger"], r["level"]) for r in json_records(told.stderr)} == {
        ("monitor.bootstrap", "INFO")  # alembic's own chatter stays below WARNING
    }
    debug = monitor("--debug", "feeds", "list", url=f"sqlite:///{tmp_path / 'c.db'}", env=env)
    assert {r["logger"] for r in json_records(debug.stderr)} >= {
        "monitor.bootstrap",
        "alembic.runtime.migration",
    }


@pytest.mark.slow
def test_the_service_logs_json_lines_and_never_a_secret(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": sqlite_url,
        "MONITOR_DATA_DIR": str(tmp_path),
        "MONITOR_LOG_FORMAT": "json",
        "MONITOR_API_TOKEN": TOKEN,
        "MONITOR_SMTP_PASSWORD": SMTP_PASSWORD,
        "MONITOR_ALLOW_PRIVATE_NETWORKS": "true",
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--debug", "run", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        _wait_until_serving(base)
        created = httpx.post(
            f"{base}/api/subscriptions",
            json={"webhook": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET},
            headers=auth,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        assert httpx.get(f"{base}/api/subscriptions", headers=auth, timeout=10).is_success
        with socket.create_connection(("127.0.0.1", port)) as raw:  # uvicorn logs a warning
            raw.sendall(b"NOT HTTP\r\n\r\n")
            raw.recv(1024)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    finally:
        if service.poll() is None:
            service.kill()
    assert service.stderr is not None
    stderr = service.stderr.read()

    records = json_records(stderr)
    loggers = {r["logger"] for r in records}
    assert any(name.startswith("apscheduler") for name in loggers), loggers
    assert "uvicorn.error" in loggers, loggers
    for secret in (TOKEN, SMTP_PASSWORD, WEBHOOK_SECRET):
        assert secret not in stderr


def test_secrets_that_reach_a_log_call_are_redacted() -> None:
    stream = io.StringIO()
    handler = logs.configure(
        log_format="json", level="INFO", secrets=[TOKEN, SMTP_PASSWORD], stream=stream
    )
    log = logging.getLogger("monitor.test")
    try:
        log.warning("token %s in a message", TOKEN, extra={"feed_id": "f1"})
        log.warning("headers: {'authorization': 'Bearer %s'}", "any-bearer-value")
        log.warning("signing with %s", WEBHOOK_SECRET, extra={"subscription_id": "s1"})
        log.warning("connect to postgresql://monitor:%s@db/monitor failed", SMTP_PASSWORD)
        try:
            raise RuntimeError(f"login refused for password {SMTP_PASSWORD}")
        except RuntimeError:
            log.exception("while sending a digest")
    finally:
        logging.getLogger().removeHandler(handler)

    output = stream.getvalue()
    for secret in (TOKEN, SMTP_PASSWORD, WEBHOOK_SECRET, "any-bearer-value"):
        assert secret not in output
    records = json_records(output)
    assert len(records) == 5 and all(logs.REDACTED in r["message"] for r in records[:4])
    assert records[0]["feed_id"] == "f1" and records[2]["subscription_id"] == "s1"
    assert logs.REDACTED in records[4]["exc_info"]


def _wait_until_serving(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the service did not start serving in time")
