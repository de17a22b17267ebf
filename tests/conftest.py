"""Shared fixtures: databases (SQLite and PostgreSQL), settings and a wired application.

PostgreSQL comes from MONITOR_TEST_POSTGRES_URL (default: the local server, database `test`).
Each test gets its own schema there and its own SQLite file, so tests never see each other's
data. Without a reachable PostgreSQL the PostgreSQL variants are skipped, except under
CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from monitor.bootstrap import App, bootstrap
from monitor.config import Settings
from tests.servers import LoopbackServer, respond

POSTGRES_URL = os.environ.get(
    "MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their own settings; the developer's MONITOR_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("MONITOR_") and name != "MONITOR_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the test PostgreSQL, or a skip (a failure under CI=true)."""
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections live in a fresh, private schema (dropped afterwards)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    options = quote(f"-csearch_path={schema}")
    yield f"{postgres_server}?options={options}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    application = bootstrap(settings)
    yield application
    application.close()


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained once per test session on the seed corpus, saved with skops."""
    from classifiers import artifacts
    from classifiers.corpus import load_corpus
    from classifiers.train import train
    from monitor.resources import resource_dir

    directory = tmp_path_factory.mktemp("model") / "saved"
    artifacts.save(train(load_corpus(resource_dir("seed_corpus"))), directory)
    return directory


@pytest.fixture
def classifying_app(app: App, trained_model: Path, tmp_path: Path) -> App:
    """The application with the session's model registered and active."""
    from monitor.commands.models import promote, register_saved

    copy = tmp_path / "model-copy"
    shutil.copytree(trained_model, copy)
    version = register_saved(app, copy, trained_by="test")
    promote(app, version, by="test")
    return app


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    """A webhook receiver on loopback answering 204 (modules override it for other answers)."""
    with LoopbackServer({"/hook": respond(204)}) as server:
        yield server


@pytest.fixture
def hook_app(settings: Settings, receiver: LoopbackServer) -> Iterator[App]:
    """The application allowed to reach `receiver`, with a short webhook timeout."""
    configured = settings.model_copy(
        update={"fetch_allowlist": (receiver.origin,), "webhook_timeout": 2.0}
    )
    application = bootstrap(configured)
    yield application
    application.close()


@pytest.fixture
def in_process_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Any:
    """`monitor ARGS...` run in this process (fast), returning what a subprocess would."""
    from monitor.cli import main

    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path))

    def run(*args: str, url: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        monkeypatch.setenv("MONITOR_DATABASE_URL", url)
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        if check:
            assert code == 0, err
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run


def backend(url: str) -> str:
    return make_url(url).get_backend_name()


def require_shared(path: Path) -> Path:
    """A path under ../shared, or a skip when it is missing (a failure under CI=true)."""
    if not path.exists():
        message = f"shared test material missing: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
