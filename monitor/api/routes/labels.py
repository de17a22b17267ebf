"""`/api/labels`: analysts' labels (events naming the analyst) and what to label next."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from monitor.api.deps import ActorDep, AppDep
from monitor.commands.labels import add_label, labelling_queue
from monitor.queries import list_labels

router = APIRouter(prefix="/labels", tags=["labels"])


class NewLabel(BaseModel):
    """Judge some fields of a stored article; the others keep its current classification."""

    model_config = ConfigDict(extra="forbid")

    article_id: str = Field(min_length=1, max_length=36)
    relevant: bool | None = None
    stance: Literal["cooperation", "tension", "neutral"] | None = None
    topics: list[str] | None = Field(default=None, max_length=20)
    actors: list[str] | None = Field(default=None, max_length=50)
    note: str | None = Field(default=None, max_length=2000)
    analyst: str | None = Field(
        default=None, min_length=1, max_length=200, description="Default: the token's name."
    )


@router.get("")
def labels(app: AppDep, limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
    """Newest first."""
    app.catch_up()
    return list_labels(app.engine, limit=limit)


@router.post("", status_code=status.HTTP_201_CREATED)
def add(body: NewLabel, app: AppDep, actor: ActorDep) -> dict[str, str]:
    label_id = add_label(
        app,
        body.article_id,
        analyst=body.analyst or actor.removeprefix("token:"),
        relevant=body.relevant,
        stance=body.stance,
        topics=body.topics,
        actors=body.actors,
        note=body.note,
        source="api",
        actor=actor,
    )
    app.catch_up()
    return {"id": label_id}


@router.get("/queue")
def queue(app: AppDep, limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[dict[str, Any]]:
    """Classified, unlabelled articles the model is least sure of, one per story."""
    return labelling_queue(app, limit=limit)
