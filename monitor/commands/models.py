"""Training, evaluating, promoting and rolling back models; re-scoring stored articles.

Training data is the seed corpus shipped with the code plus every analyst label that is not
retracted. A new version is saved under the data directory and registered as a candidate
(`ModelTrained`); only a promotion makes it classify articles. `--promote` refuses a
candidate that is worse than the active model by more than `PROMOTION_TOLERANCE` on any
headline metric, unless forced.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from monitor import db
from monitor.commands.labels import label_examples
from monitor.engine import reading
from monitor.errors import ConcurrencyError, InvalidInputError
from monitor.eventlog import derived_id
from monitor.events import ArticleClassified, ModelPromoted, ModelRolledBack, ModelTrained
from monitor.followers import ProgressCallback
from monitor.modelstore import MODELS_STREAM
from monitor.resources import resource_dir
from monitor.streams import article_stream

if TYPE_CHECKING:
    from classifiers.labels import Example
    from classifiers.predict import Classification, Labeler
    from monitor.bootstrap import App

# scikit-learn is imported inside the functions that train or evaluate: the CLI starts fast.

HEADLINE_METRICS = ("relevance_f1", "stance_macro_f1", "topics_micro_f1", "actors_micro_f1")
PROMOTION_TOLERANCE = 0.02
SYSTEM = "system"


@dataclass(frozen=True)
class TrainingReport:
    version: str
    counts: dict[str, int]
    cv_metrics: dict[str, Any]
    dev_metrics: dict[str, Any] | None
    active_version: str | None
    active_dev_metrics: dict[str, Any] | None
    promoted: bool
    refusal: str | None = None


def seed_examples() -> list[Example]:
    from classifiers.corpus import load_corpus

    return load_corpus(resource_dir("seed_corpus"))


def train_first_model(app: App) -> str:
    """A fresh install's model: trained on the seed corpus, promoted by the system."""
    report = train_version(app, trained_by=SYSTEM, cross_validation=False)
    promote(app, report.version, by=SYSTEM, reason="first model of this installation")
    return report.version


def train_version(
    app: App,
    *,
    trained_by: str,
    cross_validation: bool = True,
    dev: Sequence[Example] | None = None,
    promote_if_better: bool = False,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> TrainingReport:
    """Train on the seed corpus and every label, register the version (and promote it if
    asked and no worse); `progress(done, total)` counts the cross-validation folds (grouped
    by source document) and the final fit."""
    from classifiers import artifacts
    from classifiers.evaluate import cross_validate, evaluate
    from classifiers.train import train_with_labels

    corpus, labels = seed_examples(), label_examples(app)
    cv_metrics: dict[str, Any] = {}
    if cross_validation:
        on_fold = (lambda done, folds: progress(done, folds + 1)) if progress else None
        cv_metrics = cross_validate([*corpus, *labels], on_fold=on_fold)
    model = train_with_labels(corpus, labels)
    if progress:
        steps = cv_metrics.get("folds", 0) + 1
        progress(steps, steps)
    staging = app.models.directory / f".staging-{uuid.uuid4().hex}"
    artifacts.save(model, staging, {"metrics": {"cross_validation": cv_metrics}})
    dev_metrics = evaluate(model, dev) if dev else None
    active = app.models.active_version()
    active_dev = evaluate(app.models.load_version(active), dev) if dev and active else None
    version = register_saved(
        app, staging, trained_by=trained_by, cv_metrics=cv_metrics, dev_metrics=dev_metrics
    )
    refusal = None
    promoted = False
    if promote_if_better:
        refusal = None if force else _regression(dev_metrics, active_dev)
        if refusal is None:
            promote(app, version, by=trained_by, forced=force)
            promoted = True
    return TrainingReport(
        version,
        dict(model.info["counts"]),
        cv_metrics,
        dev_metrics,
        active,
        active_dev,
        promoted,
        refusal,
    )


def promote(
    app: App, version: str, *, by: str, forced: bool = False, reason: str | None = None
) -> None:
    registered, active, stream_version = _registry(app)
    if version not in registered:
        raise InvalidInputError(f"no model version {version} (see `monitor model list`)")
    if version == active:
        return
    app.models.load_version(version)  # refuse a version that would not load
    try:
        app.log.append(
            MODELS_STREAM,
            stream_version,
            [ModelPromoted(version, active, by, forced, reason)],
            metadata={"actor": by},
        )
    except ConcurrencyError:
        raise InvalidInputError("the model registry changed meanwhile; try again") from None


def rollback(app: App, *, by: str) -> str:
    """Make the version that was active before the current one active again."""
    _, active, stream_version = _registry(app)
    stack = _promotion_stack(app)
    if active is None or len(stack) < 2:
        raise InvalidInputError("there is no earlier active model to roll back to")
    target = stack[-2]
    app.models.load_version(target)
    app.log.append(
        MODELS_STREAM,
        stream_version,
        [ModelRolledBack(active, target, by)],
        metadata={"actor": by},
    )
    return target


def rescore(
    app: App, *, since: datetime, progress: ProgressCallback | None = None
) -> tuple[str, int]:
    """Classify stored articles published since `since` with the active model again."""
    labeler = app.models.labeler()
    with reading(app.engine) as conn:
        rows = conn.execute(
            select(db.articles.c.article_id, db.articles.c.title, db.articles.c.text)
            .where(db.articles.c.published_at >= since, db.articles.c.text.is_not(None))
            .order_by(db.articles.c.published_at)
        ).all()
    done = 0
    for index, row in enumerate(rows, 1):
        evt = classified(row.article_id, labeler.classify(row.text, row.title), labeler.version)
        result = app.log.append(
            article_stream(row.article_id),
            None,
            [evt],
            event_ids=[derived_id("rescore", row.article_id, labeler.version)],
            metadata={"actor": "rescore"},
        )
        done += not result.duplicate
        if progress:
            progress(index, len(rows))
    return labeler.version, done


def classified(article_id: str, result: Classification, version: str) -> ArticleClassified:
    return ArticleClassified(
        article_id=article_id,
        model_version=version,
        relevant=result.relevant,
        relevance=result.relevance,
        stance=result.stance,
        stance_score=result.stance_score,
        actors=tuple(result.actors),
        topics=tuple(result.topics),
        topic_scores=dict(result.topic_scores),
        stance_scores=dict(result.stance_scores),
        explanation=result.explanation,
    )


def evaluate_version(app: App, data: Sequence[Example], version: str | None) -> dict[str, Any]:
    from classifiers.evaluate import evaluate

    labeler: Labeler = app.models.load_version(version) if version else app.models.labeler()
    metrics = evaluate(labeler, data)
    metrics["model_version"] = labeler.version
    return metrics


def _regression(candidate: dict[str, Any] | None, active: dict[str, Any] | None) -> str | None:
    if not candidate or not active:
        return None
    worse = [
        f"{name} {candidate[name]:.3f} < {active[name]:.3f}"
        for name in HEADLINE_METRICS
        if candidate.get(name, 0.0) < active.get(name, 0.0) - PROMOTION_TOLERANCE
    ]
    return ("worse than the active model: " + ", ".join(worse)) if worse else None


def register_saved(
    app: App,
    directory: Path,
    *,
    trained_by: str,
    cv_metrics: dict[str, Any] | None = None,
    dev_metrics: dict[str, Any] | None = None,
) -> str:
    """Move a directory written by `artifacts.save` to models/<version> and register it.

    The model is loaded (hash, version and type checks) before it is registered.
    """
    from classifiers import artifacts

    meta = artifacts.read_metadata(directory)
    artifacts.load(directory)
    version = str(meta["version"])
    if version in _registry(app)[0]:
        shutil.rmtree(directory)
        return version
    final = app.models.directory / version
    if final.exists():
        shutil.rmtree(directory)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(directory, final)
    app.log.append(
        MODELS_STREAM,
        None,
        [
            ModelTrained(
                version=version,
                trained_by=trained_by,
                path=str(Path("models") / version),
                model_sha256=str(meta["sha256"]),
                sklearn_version=str(meta["sklearn_version"]),
                data_hash=str(meta["data_hash"]),
                counts=dict(meta.get("counts") or {}),
                params=_jsonable(meta.get("params") or {}),
                cv_metrics=cv_metrics or {},
                dev_metrics=dev_metrics,
            )
        ],
        metadata={"actor": trained_by},
    )
    return version


def _registry(app: App) -> tuple[set[str], str | None, int]:
    app.runner.run_once(app.projection("models"))
    with reading(app.engine) as conn:
        rows = conn.execute(select(db.models.c.version, db.models.c.status)).all()
    active = next((r.version for r in rows if r.status == "active"), None)
    return {r.version for r in rows}, active, app.log.stream_version(MODELS_STREAM)


def _promotion_stack(app: App) -> list[str]:
    """Active versions in promotion order; a rollback pops the top one."""
    stack: list[str] = []
    for recorded in app.log.read_stream(MODELS_STREAM):
        evt = recorded.event
        if isinstance(evt, ModelPromoted):
            stack.append(evt.version)
        elif isinstance(evt, ModelRolledBack) and stack:
            stack.pop()
    return stack


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    plain = (str, int, float, bool, type(None))
    return {k: v if isinstance(v, plain) else repr(v) for k, v in params.items()}
