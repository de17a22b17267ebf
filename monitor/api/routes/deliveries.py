"""`/api/deliveries`: delivery attempts, dead letters and manual redelivery."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status

from monitor.api.deps import ActorDep, AppDep
from monitor.commands.subscriptions import retry_delivery
from monitor.queries import list_deliveries

router = APIRouter(prefix="/deliveries", tags=["deliveries"])
Status = Literal["pending", "retrying", "delivered", "dead", "failed"]


@router.get("")
def deliveries(
    app: AppDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 200,
) -> list[dict[str, Any]]:
    """Newest first; `status=dead` lists the dead letters."""
    app.catch_up()
    return list_deliveries(app.engine, status=status, limit=limit)


@router.post("/{delivery_id}/retry", status_code=status.HTTP_202_ACCEPTED)
def retry(delivery_id: str, app: AppDep, actor: ActorDep) -> dict[str, str]:
    """Queue a webhook delivery for another attempt now, with its original webhook-id; the
    delivery workers send it (the request does not wait for the receiver)."""
    retry_delivery(app, delivery_id, requested_by=actor)
    app.catch_up()
    return {"id": delivery_id, "status": "queued"}
