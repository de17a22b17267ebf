"""Long CLI work shows progress on stderr: a bar on a terminal, a few plain lines otherwise,
and stdout keeps only the command's result."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from monitor.bootstrap import App
from monitor.cli import cli
from monitor.eventlog import utcnow
from monitor.events import ArticleDiscovered, ArticleExtracted
from monitor.streams import article_stream

FEEDS = 40
PLAIN_LINE = re.compile(r"^(?P<label>[\w -]+): (?P<done>\d+)/(?P<total>\d+)( \(\d+%\))?$")


def opml(count: int) -> str:
    outlines = "\n".join(
        f'<outline type="rss" text="F{i}" xmlUrl="https://f{i}.example.org/rss"/>'
        for i in range(count)
    )
    return f'<opml version="2.0"><head/><body>{outlines}</body></opml>'


def invoke(*args: str, url: str, data_dir: Path) -> tuple[str, str]:
    runner = CliRunner()  # stdout and stderr are pipes, not terminals
    env = {"MONITOR_DATABASE_URL": url, "MONITOR_DATA_DIR": str(data_dir)}
    result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout, result.stderr


def progress_lines(stderr: str, label: str) -> list[tuple[int, int]]:
    """The (done, total) pairs of the plain lines; every stderr line must be one of them."""
    pairs = []
    for line in stderr.splitlines():
        match = PLAIN_LINE.match(line)
        assert match, f"not a progress line: {line!r}"
        if match["label"] == label:
            pairs.append((int(match["done"]), int(match["total"])))
    return pairs


def test_opml_import_and_replay_print_a_few_plain_lines(sqlite_url: str, tmp_path: Path) -> None:
    listing = tmp_path / "feeds.opml"
    listing.write_text(opml(FEEDS))
    out, err = invoke("feeds", "import-opml", str(listing), url=sqlite_url, data_dir=tmp_path)
    assert out.strip() == f"added {FEEDS} feeds, skipped 0"
    imported = progress_lines(err, "import")
    assert 2 <= len(imported) <= 11  # a line per tenth, not per feed
    assert imported[-1] == (FEEDS, FEEDS)
    assert [done for done, _ in imported] == sorted(done for done, _ in imported)

    out, err = invoke("replay", "--projection", "feeds", url=sqlite_url, data_dir=tmp_path)
    assert out.strip() == f"feeds: rebuilt from {FEEDS} events"
    replayed = progress_lines(err, "replay feeds")
    assert replayed and replayed[-1][0] == replayed[-1][1] >= FEEDS  # log positions


def test_rescore_reports_progress(classifying_app: App) -> None:
    app = classifying_app
    now = utcnow()
    for i in range(25):
        article_id = f"a{i}"
        app.log.append(
            article_stream(article_id),
            0,
            [
                ArticleDiscovered(article_id, "feed", f"https://e.org/{i}", None, "t", now, now),
                ArticleExtracted(article_id, "page", f"Turkey and Greece talk, round {i}."),
            ],
        )
    app.drain()
    settings = app.settings
    out, err = invoke(
        "model", "rescore", "--since", "1d", url=settings.database_url, data_dir=settings.data_dir
    )
    assert out.startswith("re-scored 25 articles with ")
    lines = progress_lines(err, "re-score")
    assert 2 <= len(lines) <= 11 and lines[-1] == (25, 25)

    out, err = invoke(
        "model", "train", "--no-cv", url=settings.database_url, data_dir=settings.data_dir
    )
    assert out.startswith("version ")
    assert progress_lines(err, "train") == [(1, 1)]  # with cross-validation: each fold too


def test_a_terminal_gets_a_progress_bar(sqlite_url: str, tmp_path: Path) -> None:
    listing = tmp_path / "feeds.opml"
    listing.write_text(opml(FEEDS))
    invoke("feeds", "import-opml", str(listing), url=sqlite_url, data_dir=tmp_path)
    controller, terminal = pty.openpty()
    env = {**os.environ, "MONITOR_DATABASE_URL": sqlite_url, "MONITOR_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "replay", "--projection", "feeds"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    out, _ = process.communicate(timeout=120)
    drawn = _read_all(controller)
    assert process.returncode == 0
    assert out.strip() == f"feeds: rebuilt from {FEEDS} events"
    assert "replay feeds" in drawn and "[####" in drawn and f"{FEEDS}/{FEEDS}" in drawn
    assert "\r" in drawn  # redrawn in place


def _read_all(controller: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal side closed: everything is read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return b"".join(chunks).decode()
