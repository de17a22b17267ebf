"""`/api/tokens`: API tokens with roles (admin only). A new token is in the creation response
only; the service keeps its sha256."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from monitor.api.deps import ActorDep, AppDep
from monitor.commands.tokens import issue_token, revoke_token
from monitor.queries import list_tokens

router = APIRouter(prefix="/tokens", tags=["tokens"])


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="a-z, 0-9, '.', '_', '-'")
    role: Literal["viewer", "analyst", "admin"]


@router.get("")
def tokens(app: AppDep) -> list[dict[str, Any]]:
    """Every token by name with its role, who issued it and when, and any revocation."""
    app.catch_up()
    return list_tokens(app.engine)


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: NewToken, app: AppDep, actor: ActorDep) -> dict[str, str]:
    """The token: shown this once, never again."""
    issued = issue_token(app, body.name, body.role, actor=actor)
    app.catch_up()
    return {"name": issued.name, "role": issued.role, "token": issued.token}


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def revoke(name: str, app: AppDep, actor: ActorDep) -> None:
    """The token stops working at once in this process (others follow within a second)."""
    revoke_token(app, name, actor=actor)
    app.catch_up()
