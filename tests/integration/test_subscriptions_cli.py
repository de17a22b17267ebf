"""`monitor subscriptions / digest / deliveries` as users run them, through the console entry
point in this process (the real-process behaviour of `main` is covered by test_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import assert_one_line_error


@pytest.fixture(autouse=True)
def _data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path))


@pytest.fixture
def monitor(in_process_cli: Any) -> Any:
    return in_process_cli


def test_subscriptions_add_list_remove(monitor: Any, database_url: str) -> None:
    added = monitor(
        "subscriptions",
        "add",
        "--webhook",
        "https://hooks.example.org/monitor",
        "--topic",
        "defense_industry",
        "--actor",
        "tur",
        url=database_url,
    )
    subscription_id, secret = added.stdout.split()
    assert secret.startswith("whsec_") and "not shown again" in added.stderr
    email = monitor(
        "subscriptions",
        "add",
        "--email",
        "analyst@example.org",
        "--schedule",
        "daily@08:00",
        "--timezone",
        "Europe/Istanbul",
        url=database_url,
    ).stdout.split()
    assert len(email) == 1  # no secret for an email

    listed = json.loads(monitor("subscriptions", "list", "--json", url=database_url).stdout)
    assert [s["subscription_id"] for s in listed] == [subscription_id, email[0]]
    assert listed[0]["filters"]["actors"] == ["TUR"]
    assert listed[1]["schedule"] == "daily@08:00" and listed[1]["timezone"] == "Europe/Istanbul"
    assert secret not in json.dumps(listed)
    log = monitor("events", "list", "--json", url=database_url).stdout
    assert secret not in log

    monitor("subscriptions", "remove", subscription_id, url=database_url)
    listed = json.loads(monitor("subscriptions", "list", "--json", url=database_url).stdout)
    assert listed[0]["status"] == "removed"
    again = monitor("subscriptions", "remove", subscription_id, url=database_url, check=False)
    assert_one_line_error(again, subscription_id)


def test_invalid_input_is_refused_naming_the_field(monitor: Any, sqlite_url: str) -> None:
    cases = {
        ("--email", "not-an-address"): "email:",
        ("--email", "a@example.org", "--stance", "friendly"): "stances:",
        ("--email", "a@example.org", "--schedule", "daily@25:00"): "schedule:",
        ("--email", "a@example.org", "--timezone", "Mars/Base"): "timezone:",
        ("--email", "a@example.org", "--min-confidence", "2"): "min_confidence:",
        ("--webhook", "http://169.254.169.254/latest"): "webhook:",
        ("--webhook", "https://hooks.example.org/x", "--secret", "whsec_abc"): "secret:",
    }
    for args, field in cases.items():
        result = monitor("subscriptions", "add", *args, url=sqlite_url, check=False)
        assert_one_line_error(result, field)
    assert json.loads(monitor("subscriptions", "list", "--json", url=sqlite_url).stdout) == []


def test_digest_and_deliveries_commands(monitor: Any, sqlite_url: str) -> None:
    assert "sent 0 digests" in monitor("digest", "send", "--now", url=sqlite_url).stderr
    assert json.loads(monitor("deliveries", "list", "--json", url=sqlite_url).stdout) == []
    listed = monitor("deliveries", "list", "--status", "dead", "--json", url=sqlite_url)
    assert json.loads(listed.stdout) == []
    assert_one_line_error(
        monitor("deliveries", "retry", "nope", url=sqlite_url, check=False), "nope"
    )
