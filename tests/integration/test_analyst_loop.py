"""The analyst loop on both databases: classify, label, train, promote, roll back, re-score."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import db
from monitor.bootstrap import App, bootstrap
from monitor.commands import labels as label_commands
from monitor.commands import models as model_commands
from monitor.config import Settings
from monitor.errors import InvalidInputError, NotFoundError
from monitor.eventlog import utcnow
from monitor.events import ArticleDiscovered, ArticleExtracted
from monitor.streams import article_stream

CLASSIFY_KEYS = {
    "relevant",
    "relevance",
    "actors",
    "topics",
    "topic_scores",
    "stance",
    "stance_scores",
    "stance_score",
    "explanation",
    "model_version",
}

TEXTS = {
    "a1": (
        "Ankara and Washington sign F-16 deal",
        "Turkey and the United States signed an agreement on the sale of F-16 fighter jets.",
    ),
    "a2": (
        "US sanctions Turkey over S-400",
        "Washington imposed sanctions on Ankara's defence procurement agency over the S-400.",
    ),
    "a3": (
        "Galatasaray win the derby",
        "Galatasaray beat Fenerbahce 3-1 in Istanbul on Sunday in front of 50,000 fans.",
    ),
}


def _store_articles(app: App) -> None:
    """Articles as the ingestion stages would record them."""
    now = utcnow()
    for article_id, (title, text) in TEXTS.items():
        app.log.append(
            article_stream(article_id),
            0,
            [
                ArticleDiscovered(
                    article_id, "feed", f"https://e.org/{article_id}", None, title, now, now
                ),
                ArticleExtracted(article_id, "page", text, title=title),
            ],
        )
    app.drain()


def _article(app: App, article_id: str) -> dict:
    with app.engine.connect() as conn:
        return dict(
            conn.execute(select(db.articles).where(db.articles.c.article_id == article_id))
            .mappings()
            .one()
        )


def test_extracted_articles_are_classified_with_the_active_version(classifying_app: App) -> None:
    app = classifying_app
    _store_articles(app)
    active = app.models.active_version()
    deal, sanctions, derby = (_article(app, a) for a in ("a1", "a2", "a3"))
    assert {deal["model_version"], sanctions["model_version"]} == {active}
    assert deal["relevant"] and deal["stance"] == "cooperation"
    assert set(deal["actors"]) >= {"TUR", "USA"}
    assert sanctions["relevant"] and sanctions["stance"] == "tension"
    assert derby["relevant"] is False and derby["topics"] == []
    assert deal["explanation"]  # stored with the classification


def test_labels_train_promote_switch_and_roll_back(classifying_app: App, tmp_path: Path) -> None:
    app = classifying_app
    _store_articles(app)
    first = app.models.active_version()
    assert app.models.labeler().version == first

    label_id = label_commands.add_label(
        app, "a3", analyst="ana", relevant=False, note="football, not security"
    )
    with pytest.raises(NotFoundError):
        label_commands.add_label(app, "nope", analyst="ana", relevant=True)
    with pytest.raises(InvalidInputError, match="at least one"):
        label_commands.add_label(app, "a1", analyst="ana")
    examples = label_commands.label_examples(app)
    assert [(e.id, e.relevant) for e in examples] == [(f"label-{label_id}", False)]
    queue = label_commands.labelling_queue(app, limit=10)
    assert "a3" not in {q["id"] for q in queue}  # labelled already
    assert {q["id"] for q in queue} <= {"a1", "a2"}

    report = model_commands.train_version(app, trained_by="ana", cross_validation=False)
    assert report.counts["examples"] >= examples_in_corpus() + 1
    assert app.models.active_version() == first  # a candidate only

    model_commands.promote(app, report.version, by="ana")
    assert app.models.labeler().version == report.version  # the stage switches, no restart
    rescored_version, count = model_commands.rescore(app, since=utcnow() - timedelta(days=1))
    app.catch_up()
    assert (rescored_version, count) == (report.version, 3)
    assert _article(app, "a1")["model_version"] == report.version
    assert model_commands.rescore(app, since=utcnow() - timedelta(days=1))[1] == 0  # idempotent

    assert model_commands.rollback(app, by="ana") == first
    assert app.models.labeler().version == first
    with pytest.raises(InvalidInputError, match="no earlier"):
        model_commands.rollback(app, by="ana")


def examples_in_corpus() -> int:
    from classifiers.corpus import load_corpus
    from monitor.resources import resource_dir

    return len(load_corpus(resource_dir("seed_corpus")))


def test_a_tampered_model_is_refused_and_the_previous_stays(classifying_app: App) -> None:
    """Case 66."""
    app = classifying_app
    first = app.models.active_version()
    assert app.models.labeler().version == first
    report = model_commands.train_version(app, trained_by="ana", cross_validation=False)
    model_file = Path(app.settings.data_dir) / "models" / report.version / "model.skops"
    model_commands.promote(app, report.version, by="ana")
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))

    assert app.models.labeler().version == first  # refused; the earlier one keeps working
    failures = [
        r.event for r in app.log.read_stream("models") if r.event_type == "ModelIntegrityFailed"
    ]
    assert [f.version for f in failures] == [report.version]
    assert "sha256" in failures[0].reason
    fresh = bootstrap(app.settings)  # a new process falls back to the earlier version too
    try:
        assert fresh.models.labeler().version == first
    finally:
        fresh.close()


def test_label_import_reports_lines_and_imports_nothing_from_a_bad_file(
    classifying_app: App, tmp_path: Path
) -> None:
    app = classifying_app
    good = {
        "id": "x1",
        "text": "Greece and Turkey held talks on the Aegean.",
        "relevant": True,
        "actors": ["GRC", "TUR"],
        "topics": ["alliance_diplomacy"],
        "stance": "neutral",
    }
    bad = {**good, "id": "x2", "stance": "angry"}
    path = tmp_path / "labels.jsonl"
    path.write_text(f"{json.dumps(good)}\n{json.dumps(bad)}\nnot json\n")
    with pytest.raises(InvalidInputError, match=r"nothing imported, 2 invalid line\(s\): line 2"):
        label_commands.import_labels(app, path, analyst="ana")
    assert label_commands.label_examples(app) == []
    report = label_commands.import_labels(app, path, analyst="ana", skip_invalid=True)
    assert (report.imported, len(report.errors)) == (1, 2)
    (example,) = label_commands.label_examples(app)
    assert (example.text, example.actors, example.stance) == (
        good["text"],
        ("GRC", "TUR"),
        "neutral",
    )


def test_classify_cli_speaks_the_interface(
    classifying_app: App, settings: Settings, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": settings.database_url,
        "MONITOR_DATA_DIR": str(settings.data_dir),
    }
    lines = '{"id": "q1", "text": "NATO allies agreed to deploy more troops to the Baltic."}\n'
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "classify", "--jsonl", "-"],
        input=lines,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (output,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert set(output) == CLASSIFY_KEYS | {"id"}
    assert output["id"] == "q1"
    assert output["model_version"] == classifying_app.models.active_version()
    assert -1 <= output["stance_score"] <= 1
    listed = subprocess.run(
        [sys.executable, "-m", "monitor", "model", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert [m["status"] for m in json.loads(listed.stdout)] == ["active"]
