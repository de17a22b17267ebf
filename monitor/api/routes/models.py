"""`/api/models`: the model registry: list, train, promote, roll back.

Training runs inside the request (seconds to a minute, longer with cross-validation); the
running service picks up a promoted model without a restart.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict

from monitor.api.deps import ActorDep, AppDep
from monitor.commands import models as commands
from monitor.queries import list_models

router = APIRouter(prefix="/models", tags=["models"])


class Training(BaseModel):
    model_config = ConfigDict(extra="forbid")

    promote: bool = False  # promote unless it is worse than the active model
    force: bool = False  # with promote: promote even if worse
    cross_validation: bool = True


@router.get("")
def models(app: AppDep) -> list[dict[str, Any]]:
    """Registered versions, newest first, with their metrics."""
    app.catch_up()
    return list_models(app.engine)


@router.post("/train", status_code=status.HTTP_201_CREATED)
def train(app: AppDep, actor: ActorDep, body: Training | None = None) -> dict[str, Any]:
    """Train on the seed corpus plus every label and register the new version."""
    options = body or Training()
    report = commands.train_version(
        app,
        trained_by=actor,
        cross_validation=options.cross_validation,
        promote_if_better=options.promote,
        force=options.force,
    )
    app.catch_up()
    return asdict(report)


@router.post("/{version}/promote")
def promote(version: str, app: AppDep, actor: ActorDep) -> dict[str, str]:
    """Make `version` the active model."""
    commands.promote(app, version, by=actor)
    app.catch_up()
    return {"active": version}


@router.post("/rollback")
def rollback(app: AppDep, actor: ActorDep) -> dict[str, str]:
    """Make the previously active version active again."""
    active = commands.rollback(app, by=actor)
    app.catch_up()
    return {"active": active}
