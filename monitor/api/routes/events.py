"""`/api/events`: the raw, append-only event log, paged by position."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from monitor.api.deps import AppDep

router = APIRouter(prefix="/events", tags=["events"])


@router.get("")
def events(
    app: AppDep,
    after: Annotated[int, Query(ge=0, description="Start after this position.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    stream: Annotated[str | None, Query(description="Only this stream (feed-<id>...).")] = None,
) -> dict[str, Any]:
    """Events in log order; pass `next_after` as `after` for the next page."""
    recorded = app.log.read_all(after=after, limit=limit, stream_id=stream)
    return {
        "events": [item.to_json() for item in recorded],
        "next_after": recorded[-1].position if recorded else after,
    }
