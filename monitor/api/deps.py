"""What route handlers receive (FastAPI dependencies): the wired `App`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from monitor.bootstrap import App

ACTOR = "api"  # who the events of an API write name (one token, one identity)


def get_app(request: Request) -> App:
    return request.app.state.monitor  # type: ignore[no-any-return]


AppDep = Annotated[App, Depends(get_app)]
