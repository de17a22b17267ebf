"""What route handlers receive (FastAPI dependencies): the wired `App`, and who is acting.

Coroutines, though they never wait: FastAPI runs a plain `def` dependency in a worker
thread, a hop per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from monitor.bootstrap import App


async def get_app(request: Request) -> App:
    return request.app.state.monitor  # type: ignore[no-any-return]


async def get_actor(request: Request) -> str:
    """How events name the caller: `token:<name>`, set by the guard (monitor.api.auth)."""
    caller = request.scope.get("state", {}).get("caller")
    return caller.actor if caller is not None else "anonymous"


AppDep = Annotated[App, Depends(get_app)]
ActorDep = Annotated[str, Depends(get_actor)]
