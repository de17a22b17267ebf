"""The FastAPI application factory. The wired `App` comes from the caller (the service or a
test), so importing this module opens nothing and reads no settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from monitor import __version__
from monitor.api import auth, errors
from monitor.api.limits import BodySizeLimit
from monitor.api.metrics import registry_for
from monitor.api.routes import (
    articles,
    deliveries,
    events,
    feeds,
    health,
    labels,
    models,
    stories,
    subscriptions,
    unsubscribe,
)
from monitor.bootstrap import App

RESOURCES = (feeds, articles, stories, subscriptions, deliveries, labels, models, events)


def create_app(app: App, *, close_on_shutdown: bool = False) -> FastAPI:
    """The HTTP application over `app`; with `close_on_shutdown` it owns and closes it."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            app.close()

    api = FastAPI(title="monitor", version=__version__, lifespan=lifespan)
    api.state.monitor = app
    api.state.metrics = registry_for(app)
    api.add_middleware(BodySizeLimit)
    api.add_middleware(auth.WriteGuard)  # added last, runs first: no body is read for a refusal
    errors.install(api)
    resources = APIRouter(prefix="/api")
    for module in RESOURCES:
        resources.include_router(module.router)
    api.include_router(resources)
    api.include_router(health.router)
    api.include_router(unsubscribe.router)
    auth.document(api)
    return api
