"""The Docker deployment without a Docker engine: the compose file validates, and the
commands its services and the image's health check run work here, with the same arguments
and environment, against the real PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_cli import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ROLES = ("api", "scheduler", "worker")
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _compose_cli() -> list[str]:
    if shutil.which("docker") and _succeeds(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    message = "neither `docker compose` nor `docker-compose` is installed"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _succeeds(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _services() -> dict[str, Any]:
    """The compose services with `${NAME:-default}` resolved to the defaults."""
    text = _DEFAULTED.sub(lambda found: found[2], COMPOSE.read_text())
    return yaml.safe_load(text)["services"]


def _environment(service: dict[str, Any], database_url: str, data: Path) -> dict[str, str]:
    """The service's environment, pointed at this machine's database and a temporary volume."""
    env = {**os.environ, **{key: str(value) for key, value in service["environment"].items()}}
    env |= {
        "MONITOR_DATABASE_URL": database_url,
        "MONITOR_DATA_DIR": str(data),
        "MONITOR_SMTP_HOST": "127.0.0.1",
        "MONITOR_FOLLOWER_POLL_INTERVAL": "0.2",
    }
    return env


def _local(command: list[str], port: int) -> list[str]:
    """A container's command bound to loopback and a free port instead of 0.0.0.0:8080."""
    swapped = {"0.0.0.0": "127.0.0.1", "8080": str(port)}
    return [swapped.get(part, part) for part in command]


def _healthcheck(port: int) -> list[str]:
    """The Dockerfile's HEALTHCHECK command (exec form), aimed at `port`."""
    found = re.search(r"HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])", DOCKERFILE.read_text())
    assert found, "the Dockerfile has no HEALTHCHECK CMD in exec form"
    command = json.loads(found[1])
    command[0] = sys.executable if command[0] == "python" else command[0]
    return [part.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for part in command]


def test_the_compose_file_validates() -> None:
    cli = _compose_cli()
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE), "--profile", "dev", "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_compose_file_orders_start_up_and_keeps_data_on_a_volume() -> None:
    services = _services()
    assert services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["mailpit"]["profiles"] == ["dev"]
    for role in ROLES:
        service = services[role]
        assert service["command"][:3] == ["run", "--role", role]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "monitor-data:/data" in service["volumes"]
        assert service["environment"]["MONITOR_DATA_DIR"] == "/data"
    for role in ("scheduler", "worker"):  # no HTTP there, so the image's check cannot apply
        assert services[role]["healthcheck"] == {"disable": True}


@pytest.mark.slow
def test_the_services_commands_run_here_as_in_their_containers(
    postgres_url: str, tmp_path: Path
) -> None:
    services = _services()
    data = tmp_path / "data"
    migrate = subprocess.run(
        [sys.executable, "-m", "monitor", *services["migrate"]["command"]],
        env=_environment(services["migrate"], postgres_url, data),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr

    port = free_port()
    processes = {
        role: subprocess.Popen(
            [sys.executable, "-m", "monitor", *_local(services[role]["command"], port)],
            env=_environment(services[role], postgres_url, data),
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ROLES
    }
    try:
        for role, process in processes.items():
            assert process.stderr is not None
            line = process.stderr.readline()
            assert f"monitor running ({role})" in line, line
        health = _healthcheck(port)
        deadline = time.monotonic() + 30
        while not _succeeds(health):
            assert time.monotonic() < deadline, "the image's health check never passed"
            time.sleep(0.2)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {role: process.wait(timeout=30) for role, process in processes.items()}
    assert codes == dict.fromkeys(ROLES, 0)
