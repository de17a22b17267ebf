"""The FastAPI application factory. The wired `App` comes from the caller (the service or a
test), so importing this module opens nothing and reads no settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI

from monitor import __version__, web
from monitor.api import auth, errors
from monitor.api.limits import BodySizeLimit, RateLimits
from monitor.api.listings import ListingCache
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
    tokens,
    unsubscribe,
)
from monitor.bootstrap import App

API_THREADS = 8
RESOURCES = (feeds, articles, stories, subscriptions, deliveries, labels, models, events, tokens)


def create_app(app: App, *, close_on_shutdown: bool = False) -> FastAPI:
    """The HTTP application over `app`; with `close_on_shutdown` it owns and closes it."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in worker threads. Beyond a few they only queue on the GIL, each
        # holding a database connection (bench/service.py: same throughput, less memory).
        anyio.to_thread.current_default_thread_limiter().total_tokens = API_THREADS
        yield
        if close_on_shutdown:
            app.close()

    api = FastAPI(title="monitor", version=__version__, lifespan=lifespan)
    api.state.monitor = app
    api.state.metrics = registry_for(app)
    api.add_middleware(BodySizeLimit)
    listed = {"/api/articles": articles.sources(app), "/api/stories": stories.sources(app)}
    api.add_middleware(ListingCache, monitor=app, sources=listed)  # behind the guard
    limits = RateLimits(app.settings.api_rate_limit, app.settings.api_read_rate_limit)
    api.add_middleware(auth.ApiGuard, limits=limits)  # added last, runs first: no body read
    errors.install(api)
    resources = APIRouter(prefix="/api")
    for module in RESOURCES:
        resources.include_router(module.router)
    api.include_router(resources)
    api.include_router(health.router)
    api.include_router(unsubscribe.router)
    web.install(api, app)  # the UI at / (session cookie, static files, pages)
    auth.document(api, public_reads=app.settings.api_public_reads)
    return api
