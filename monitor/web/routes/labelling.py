"""`/label`: the articles the model is least sure of, one at a time, answered with one key.

Each answer is a `LabelAdded` (through `add_label`, as the CLI and the API do). Skipped
articles are remembered in the session, so the next one comes up. "Train now" trains a
candidate with cross-validation and shows it against the active model before promotion.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from classifiers.labels import STANCES, TOPICS
from monitor.api.deps import AppDep
from monitor.commands.labels import add_label, labelling_queue
from monitor.commands.models import HEADLINE_METRICS, train_version
from monitor.queries import article_detail, list_models
from monitor.web.forms import attempt, redirect
from monitor.web.reads import labels_since_training
from monitor.web.session import AnalystDep, ViewerDep
from monitor.web.templating import render

router = APIRouter()
MAX_SKIPPED = 200
ANSWERS = ("confirm", "relevant", "irrelevant", *STANCES)


@router.get("/label")
def queue_page(request: Request, app: AppDep) -> Response:
    skipped = set(request.session.get("skipped", []))
    queue = labelling_queue(app, limit=len(skipped) + 1)
    item = next((entry for entry in queue if entry["id"] not in skipped), None)
    return render(
        request,
        "label.html",
        title="Labelling queue",
        item=item,
        topics=TOPICS,
        stances=STANCES,
        skipped=len(skipped),
        since_training=labels_since_training(app.engine),
    )


@router.post("/label/skip/{article_id}")
def skip(request: Request, article_id: str, _: ViewerDep) -> Response:
    skipped = [*request.session.get("skipped", []), article_id][-MAX_SKIPPED:]
    request.session["skipped"] = skipped
    return redirect("/label")


@router.post("/label/reset-skipped")
def reset_skipped(request: Request, _: ViewerDep) -> Response:
    request.session.pop("skipped", None)
    return redirect("/label")


@router.post("/label/{article_id}")
def answer(request: Request, article_id: str, write: AnalystDep) -> Response:
    """confirm: the model was right; relevant / irrelevant; or the right stance. Topics are
    the boxes ticked (for a relevant answer)."""
    choice = write.text("answer")
    if choice not in ANSWERS:
        return redirect("/label")
    item = article_detail(write.app.engine, article_id) or {}
    if choice == "irrelevant" or (choice == "confirm" and item.get("relevant") is False):
        fields: dict[str, Any] = {"relevant": False}
    else:
        stance = choice if choice in STANCES else (item.get("stance") or "neutral")
        topics = [t for t in write.texts("topics") if t in TOPICS]
        fields = {"relevant": True, "stance": stance, "topics": topics}
    attempt(
        request,
        "Label recorded.",
        lambda: add_label(write.app, article_id, analyst=write.actor, source="web", **fields),
    )
    write.app.catch_up()
    return redirect("/label")


@router.post("/models/train")
def train(request: Request, write: AnalystDep) -> Response:
    """Train a candidate (with cross-validation) and compare it with the active model."""
    active = next((m for m in list_models(write.app.engine) if m["status"] == "active"), None)
    report = attempt(
        request,
        "Candidate {result.version} trained.",
        lambda: train_version(write.app, trained_by=write.actor, cross_validation=True),
    )
    write.app.catch_up()
    if report is None:
        return redirect("/models")
    return render(
        request,
        "trained.html",
        title="Candidate model",
        report=report,
        active=active,
        metrics=HEADLINE_METRICS,
    )
