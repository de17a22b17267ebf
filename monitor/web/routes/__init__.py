"""The pages, one router per area, combined here."""

from __future__ import annotations

from fastapi import APIRouter

from monitor.web.routes import (
    articles,
    dashboard,
    feeds,
    labelling,
    login,
    models,
    subscriptions,
    trends,
)

router = APIRouter(include_in_schema=False)
for module in (dashboard, trends, articles, labelling, models, feeds, subscriptions, login):
    router.include_router(module.router)
