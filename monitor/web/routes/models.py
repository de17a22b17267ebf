"""`/models`: versions with their metrics and training counts, who promoted what when;
promote and roll back (the same commands as `monitor model promote|rollback`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from monitor.api.deps import AppDep
from monitor.commands.models import HEADLINE_METRICS, promote, rollback
from monitor.queries import list_models
from monitor.web.forms import attempt, redirect
from monitor.web.reads import labels_since_training, model_history
from monitor.web.session import AdminDep
from monitor.web.templating import render

router = APIRouter()


@router.get("/models")
def models_page(request: Request, app: AppDep) -> Response:
    app.catch_up()
    return render(
        request,
        "models.html",
        title="Models",
        models=list_models(app.engine),
        metrics=HEADLINE_METRICS,
        history=model_history(app),
        since_training=labels_since_training(app.engine),
    )


@router.post("/models/rollback")
def roll_back(request: Request, write: AdminDep) -> Response:
    attempt(request, "Rolled back to {result}.", lambda: rollback(write.app, by=write.actor))
    write.app.catch_up()
    return redirect("/models")


@router.post("/models/{version}/promote")
def promote_version(request: Request, version: str, write: AdminDep) -> Response:
    attempt(
        request,
        f"Promoted {version}.",
        lambda: promote(write.app, version, by=write.actor, reason=write.text("reason") or None),
    )
    write.app.catch_up()
    return redirect("/models")
