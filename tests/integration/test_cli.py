"""The `monitor` command as users run it: a real process, real output, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

INTERFACE_GROUPS = [
    "run",
    "db",
    "feeds",
    "poll",
    "articles",
    "classify",
    "subscriptions",
    "digest",
    "deliveries",
    "label",
    "model",
    "replay",
    "events",
    "config",
]


def monitor(
    *args: str, url: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MONITOR_DATABASE_URL": url, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("monitor: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_every_command_group(sqlite_url: str) -> None:
    listing = monitor("--help", url=sqlite_url).stdout
    for group in INTERFACE_GROUPS:
        assert f"\n  {group} " in listing


def test_feeds_events_and_replay(database_url: str) -> None:
    feed_id = monitor(
        "feeds",
        "add",
        "https://example.org/rss",
        "--name",
        "Example",
        "--interval",
        "30m",
        url=database_url,
    ).stdout.strip()
    duplicate = monitor("feeds", "add", "https://example.org/rss", url=database_url, check=False)
    assert_one_line_error(duplicate, "already registered")
    monitor("feeds", "pause", feed_id, url=database_url)

    listed = json.loads(monitor("feeds", "list", "--json", url=database_url).stdout)
    assert [(f["feed_id"], f["status"], f["interval_seconds"]) for f in listed] == [
        (feed_id, "paused", 1800)
    ]

    lines = monitor("events", "list", "--json", url=database_url).stdout.splitlines()
    logged = [json.loads(line) for line in lines]
    assert [e["type"] for e in logged] == ["FeedAdded", "FeedPaused"]
    assert {
        "position",
        "event_id",
        "stream_id",
        "stream_version",
        "data",
        "metadata",
        "recorded_at",
    } <= set(logged[0])
    after_first = monitor(
        "events", "list", "--json", "--after", str(logged[0]["position"]), url=database_url
    ).stdout.splitlines()
    assert len(after_first) == 1

    replayed = monitor("replay", url=database_url).stdout
    assert "feeds: rebuilt from 2 events" in replayed
    assert json.loads(monitor("feeds", "list", "--json", url=database_url).stdout) == listed
    only = monitor("replay", "--projection", "feeds", url=database_url).stdout
    assert only.strip() == "feeds: rebuilt from 2 events"
    assert_one_line_error(
        monitor("replay", "--projection", "nope", url=database_url, check=False), "nope"
    )


def test_errors_are_one_line_without_traceback(sqlite_url: str) -> None:
    bad = monitor("feeds", "list", url=sqlite_url, env={"MONITOR_SMTP_PORT": "x"}, check=False)
    assert_one_line_error(bad, "MONITOR_SMTP_PORT")
    assert_one_line_error(monitor("feeds", "pause", "nope", url=sqlite_url, check=False), "nope")
    assert_one_line_error(
        monitor("feeds", "add", "file:///etc/passwd", url=sqlite_url, check=False), "http"
    )
    assert_one_line_error(monitor("feeds", "add", url=sqlite_url, check=False), "URL")
    assert_one_line_error(
        monitor("subscriptions", "remove", "nope", url=sqlite_url, check=False), "nope"
    )
    debug = monitor("--debug", "feeds", "pause", "nope", url=sqlite_url, check=False)
    assert "Traceback" in debug.stderr and debug.returncode != 0


def test_config_dump_hides_secrets(sqlite_url: str) -> None:
    env = {"MONITOR_API_TOKEN": "tok-123", "MONITOR_SMTP_PASSWORD": "pw-456"}
    dumped = monitor("config", "--dump", url=sqlite_url, env=env).stdout
    assert "MONITOR_API_TOKEN=********" in dumped
    assert "tok-123" not in dumped and "pw-456" not in dumped
    as_json = json.loads(monitor("config", "--dump", "--json", url=sqlite_url, env=env).stdout)
    assert as_json["smtp_port"] == 25


def test_db_upgrade_and_current(sqlite_url: str) -> None:
    assert "database at revision" in monitor("db", "upgrade", url=sqlite_url).stdout
    assert "up to date" in monitor("db", "current", url=sqlite_url).stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_on_signals(sqlite_url: str, signum: int) -> None:
    env = {**os.environ, "MONITOR_DATABASE_URL": sqlite_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--port", str(free_port())],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    assert "monitor running" in process.stderr.readline()
    time.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signum)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30
    assert "monitor stopped" in process.stderr.read()


OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>mine</title></head><body>
  <outline text="Turkey">
    <outline text="Defence">
      <outline type="rss" text="One" xmlUrl="https://one.example.org/rss" category="/wire"/>
    </outline>
    <outline type="rss" text="Two" xmlUrl="https://two.example.org/feed"/>
  </outline>
  <outline type="rss" text="Three" xmlUrl="https://three.example.org/atom"/>
</body></opml>
"""


def test_opml_import_export_round_trip_and_broken_files(sqlite_url: str, tmp_path) -> None:
    broken = tmp_path / "broken.opml"
    broken.write_text(OPML.replace("</body>", "<outline></body>"))
    refused = monitor("feeds", "import-opml", str(broken), url=sqlite_url, check=False)
    assert_one_line_error(refused, "line ")
    assert json.loads(monitor("feeds", "list", "--json", url=sqlite_url).stdout) == []

    good = tmp_path / "feeds.opml"
    good.write_text(OPML)
    assert "added 3 feeds" in monitor("feeds", "import-opml", str(good), url=sqlite_url).stdout
    again = monitor("feeds", "import-opml", str(good), url=sqlite_url)
    assert "added 0 feeds, skipped 3" in again.stdout
    listed = json.loads(monitor("feeds", "list", "--json", url=sqlite_url).stdout)
    by_name = {f["name"]: f for f in listed}
    assert by_name["One"]["categories"][0] == "Turkey/Defence"

    exported = tmp_path / "exported.opml"
    exported.write_text(monitor("feeds", "export-opml", url=sqlite_url).stdout)
    second = tmp_path / "second.db"
    monitor("feeds", "import-opml", str(exported), url=f"sqlite:///{second}")
    relisted = json.loads(monitor("feeds", "list", "--json", url=f"sqlite:///{second}").stdout)
    assert {(f["url"], f["name"], tuple(f["categories"])) for f in relisted} == {
        (f["url"], f["name"], tuple(f["categories"])) for f in listed
    }
