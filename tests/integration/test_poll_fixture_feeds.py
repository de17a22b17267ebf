"""Every conformance and real-world fixture feed, served over HTTP and polled by the real
poller in one cycle: each one is recorded as a poll or as a readable failure, none crashes."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import db
from monitor.bootstrap import bootstrap
from monitor.commands import feeds as feed_commands
from monitor.config import Settings
from monitor.stages.polling import Poller
from tests.conftest import SHARED, require_shared
from tests.servers import LoopbackServer, respond

FEEDS = SHARED / "fixtures" / "feeds"


def _fixture_files() -> list[Path]:
    require_shared(FEEDS)
    return sorted(
        path
        for folder in ("conformance", "real")
        for path in (FEEDS / folder).rglob("*")
        if path.is_file() and path.suffix not in (".md", ".jsonl")
    )


@pytest.mark.slow
def test_every_fixture_feed_is_polled_into_a_recorded_outcome(sqlite_url: str, tmp_path) -> None:
    files = _fixture_files()
    server = LoopbackServer()
    for number, path in enumerate(files):
        kind, encoding = mimetypes.guess_type(path.name)
        headers = {"Content-Type": kind or "application/xml"}
        if encoding == "gzip":
            headers["Content-Encoding"] = "gzip"  # stored compressed, served as a server would
        server.routes[f"/{number}"] = respond(200, path.read_bytes(), headers)
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path / "data",
        fetch_allowlist=(server.origin,),
        per_host_delay=0.0,
        per_host_concurrency=50,
    )
    app = bootstrap(settings)
    try:
        ids = [feed_commands.add_feed(app, server.url(f"/{n}")) for n in range(len(files))]
        app.catch_up()
        reports = Poller(app).poll(ids)
        app.catch_up()
        with app.engine.connect() as conn:
            health = dict(conn.execute(select(db.feeds.c.feed_id, db.feeds.c.health)).all())
    finally:
        app.close()
        server.close()

    assert len(reports) == len(files)
    assert set(health.values()) <= {"ok", "failing"}  # every feed has a recorded outcome
    failures = [r.detail for r in reports if not r.ok]
    assert all(d.split(":")[0] in {"not_a_feed", "parse_error"} for d in failures), failures
    assert not any(d.startswith("parse_error") for d in failures)  # no crash of the parser
    assert len(failures) <= 10, failures  # JSON Feeds and the odd non-feed, each with a reason
    print(f"\n{len(files)} feeds polled, {len(failures)} refused: {sorted(set(failures))[:8]}")
