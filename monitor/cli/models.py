"""`monitor classify`, `monitor label ...` and `monitor model ...`: the analyst loop."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from classifiers.corpus import CorpusError, load_corpus
from classifiers.labels import STANCES, TOPICS, Example
from monitor import queries
from monitor.cli.context import get_app, print_json, print_table
from monitor.cli.progress import Progress
from monitor.cli.timespec import parse_since
from monitor.commands import labels as label_commands
from monitor.commands import models as model_commands
from monitor.errors import InvalidInputError

HEADLINE = model_commands.HEADLINE_METRICS


def _analyst() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "analyst"


analyst_option = click.option(
    "--analyst", default=_analyst, show_default="your user name", help="Who is labelling."
)


# --- classify ------------------------------------------------------------------------------


@click.command()
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--jsonl", is_flag=True, help='Each input line is {"id": ..., "text": ...}.')
@click.pass_context
def classify(ctx: click.Context, source: TextIO, jsonl: bool) -> None:
    """Classify text with the active model, without storing it (FILE or - for stdin)."""
    labeler = get_app(ctx).models.labeler()
    if not jsonl:
        text = source.read()
        if not text.strip():
            raise InvalidInputError("nothing to classify: the input is empty")
        print_json(labeler.classify(text).to_dict())
        return
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text, title = item["text"], item.get("title")
            if not isinstance(text, str):
                raise TypeError("text must be a string")
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"line {number}: not a {{id, text}} object: {exc}") from None
        print_json({"id": item.get("id"), **labeler.classify(text, title).to_dict()})
        sys.stdout.flush()


# --- label ---------------------------------------------------------------------------------


@click.group()
def label() -> None:
    """Analysts' labels: add, import, retract, and the queue of what to label next."""


@label.command("add")
@click.argument("article_id")
@click.option("--relevant", type=click.Choice(["yes", "no"]), help="Is it in the domain?")
@click.option("--stance", type=click.Choice(STANCES))
@click.option("--topic", "topics", multiple=True, type=click.Choice(TOPICS), help="Repeatable.")
@click.option("--actor", "actors", multiple=True, help="ISO alpha-3 or NATO, EU... Repeatable.")
@click.option("--note", help="Why, for the other analysts.")
@analyst_option
@click.pass_context
def label_add(
    ctx: click.Context,
    article_id: str,
    relevant: str | None,
    stance: str | None,
    topics: tuple[str, ...],
    actors: tuple[str, ...],
    note: str | None,
    analyst: str,
) -> None:
    """Label a stored article; prints the label id."""
    label_id = label_commands.add_label(
        get_app(ctx),
        article_id,
        analyst=analyst,
        relevant=None if relevant is None else relevant == "yes",
        stance=stance,
        topics=topics or None,
        actors=actors or None,
        note=note,
    )
    click.echo(label_id)


@label.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the valid lines of a file with errors.")
@analyst_option
@click.pass_context
def label_import(ctx: click.Context, path: Path, skip_invalid: bool, analyst: str) -> None:
    """Import labelled examples (JSON Lines in the LABELS.md format)."""
    report = label_commands.import_labels(
        get_app(ctx), path, analyst=analyst, skip_invalid=skip_invalid
    )
    for error in report.errors:
        click.echo(f"skipped {error}", err=True)
    click.echo(f"imported {report.imported} labels")


@label.command("retract")
@click.argument("label_id")
@click.option("--reason")
@analyst_option
@click.pass_context
def label_retract(ctx: click.Context, label_id: str, reason: str | None, analyst: str) -> None:
    """Withdraw a label; it no longer trains models."""
    label_commands.retract_label(get_app(ctx), label_id, analyst=analyst, reason=reason)


@label.command("queue")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def label_queue(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Articles the model is least sure about, one per story: label these next."""
    queue = label_commands.labelling_queue(get_app(ctx), limit=limit)
    if as_json:
        print_json(queue)
        return
    print_table(
        ["ID", "DOUBT", "RELEVANT", "STANCE", "TITLE"],
        [
            [q["id"], f"{q['uncertainty']:.2f}", q["relevant"], q["stance"], q["title"][:70]]
            for q in queue
        ],
    )


# --- model ---------------------------------------------------------------------------------


@click.group()
def model() -> None:
    """Train, evaluate, promote and roll back classifier versions."""


@model.command("train")
@click.option("--promote", "promote_", is_flag=True, help="Promote unless it is worse.")
@click.option("--force", is_flag=True, help="With --promote: promote even if worse.")
@click.option(
    "--dev",
    "dev_path",
    type=click.Path(exists=True, path_type=Path),
    help="Labelled JSONL to compare the candidate with the active model.",
)
@click.option("--no-cv", is_flag=True, help="Skip cross-validation (faster).")
@click.option("--json", "as_json", is_flag=True)
@analyst_option
@click.pass_context
def model_train(
    ctx: click.Context,
    promote_: bool,
    force: bool,
    dev_path: Path | None,
    no_cv: bool,
    as_json: bool,
    analyst: str,
) -> None:
    """Train on the seed corpus plus every label; register the version."""
    app = get_app(ctx)
    with Progress("train") as progress:  # steps: the cross-validation folds, the final fit
        report = model_commands.train_version(
            app,
            trained_by=analyst,
            cross_validation=not no_cv,
            dev=_examples(dev_path) if dev_path else None,
            promote_if_better=promote_,
            force=force,
            progress=progress,
        )
    if as_json:
        print_json(report.__dict__)
        return
    click.echo(
        f"version {report.version}  trained on {report.counts.get('examples', '?')} examples"
    )
    rows = [["cross-validated", *_figures(report.cv_metrics)]] if report.cv_metrics else []
    if report.dev_metrics:
        rows.append(["dev: this version", *_figures(report.dev_metrics)])
    if report.active_dev_metrics:
        rows.append([f"dev: active {report.active_version}", *_figures(report.active_dev_metrics)])
    if rows:
        print_table(["", *HEADLINE], rows)
    if report.promoted:
        click.echo(f"promoted {report.version}")
    elif report.refusal:
        raise InvalidInputError(f"not promoted: {report.refusal} (use --force to promote)")


@model.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def model_list(ctx: click.Context, as_json: bool) -> None:
    """Registered versions, newest first, with their metrics."""
    app = get_app(ctx)
    app.catch_up()
    listed = queries.list_models(app.engine)
    if as_json:
        print_json(listed)
        return
    print_table(
        ["VERSION", "STATUS", "TRAINED", "BY", "EXAMPLES", "CV STANCE", "DEV STANCE"],
        [
            [
                m["version"],
                m["status"] + (" (refused)" if m["integrity_error"] else ""),
                m["trained_at"][:16],
                m["trained_by"],
                m["counts"].get("examples", ""),
                _metric(m["cv_metrics"], "stance_macro_f1"),
                _metric(m["dev_metrics"], "stance_macro_f1"),
            ]
            for m in listed
        ],
    )


@model.command("promote")
@click.argument("version")
@click.option("--rescore", "since", help="Then re-score articles of this span (e.g. 30d).")
@analyst_option
@click.pass_context
def model_promote(ctx: click.Context, version: str, since: str | None, analyst: str) -> None:
    """Make VERSION the active model (the running service switches to it)."""
    app = get_app(ctx)
    model_commands.promote(app, version, by=analyst)
    click.echo(f"active model: {version}")
    if since:
        _rescore(app, since)


@model.command("rollback")
@analyst_option
@click.pass_context
def model_rollback(ctx: click.Context, analyst: str) -> None:
    """Make the previously active version active again."""
    click.echo(f"active model: {model_commands.rollback(get_app(ctx), by=analyst)}")


@model.command("evaluate")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--version", help="A registered version (default: the active one).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def model_evaluate(ctx: click.Context, data_path: Path, version: str | None, as_json: bool) -> None:
    """Metrics of a model on labelled data (JSONL in the LABELS.md format)."""
    metrics = model_commands.evaluate_version(get_app(ctx), _examples(data_path), version)
    if as_json:
        print_json(metrics)
        return
    click.echo(f"model {metrics['model_version']} on {metrics['n']} examples")
    print_table(["", *HEADLINE], [["", *_figures(metrics)]])
    matrix = metrics.get("stance_confusion", {})
    if matrix:
        click.echo("stance confusion (rows: truth, columns: predicted)")
        print_table(
            ["", *matrix["labels"]],
            [[name, *row] for name, row in zip(matrix["labels"], matrix["matrix"], strict=True)],
        )


@model.command("rescore")
@click.option("--since", default="30d", show_default=True, help="Span of articles: 7d, 30d...")
@click.pass_context
def model_rescore(ctx: click.Context, since: str) -> None:
    """Classify stored articles again with the active model."""
    _rescore(get_app(ctx), since)


def _rescore(app: Any, since: str) -> None:
    with Progress("re-score") as progress:
        version, count = model_commands.rescore(
            app, since=parse_since("--since", since), progress=progress
        )
    app.catch_up()
    click.echo(f"re-scored {count} articles with {version}")


def _examples(path: Path) -> list[Example]:
    try:
        return load_corpus(path, check_duplicates=False)
    except CorpusError as exc:
        raise InvalidInputError(str(exc)) from None


def _figures(metrics: dict[str, Any]) -> list[str]:
    return [_metric(metrics, name) for name in HEADLINE]


def _metric(metrics: dict[str, Any] | None, name: str) -> str:
    value = (metrics or {}).get(name)
    return "" if value is None else f"{value:.3f}"
