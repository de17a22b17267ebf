"""The FastAPI application factory. The wired `App` comes from the caller (the service or a
test), so importing this module opens nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from monitor import __version__
from monitor.api.routes import unsubscribe
from monitor.bootstrap import App


def create_app(app: App, *, close_on_shutdown: bool = False) -> FastAPI:
    """The HTTP application over `app`; with `close_on_shutdown` it owns and closes it."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            app.close()

    api = FastAPI(title="monitor", version=__version__, lifespan=lifespan)
    api.state.monitor = app
    api.include_router(unsubscribe.router)
    return api
