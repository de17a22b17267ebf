"""`/`: the latest relevant stories with filters, and stance counts against the last period."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from classifiers.labels import STANCES, TOPICS
from monitor.api.deps import AppDep
from monitor.web import forms
from monitor.web.reads import actor_pairs, dashboard
from monitor.web.templating import render

router = APIRouter()


@router.get("/")
def dashboard_page(
    request: Request,
    app: AppDep,
    pair: str = "",
    topic: str = "",
    stance: str = "",
    days: str = "7",
    q: str = "",
) -> Response:
    app.catch_up()
    period = forms.period_days(days)
    board = dashboard(
        app.engine,
        topic=forms.topic(topic),
        stance=forms.stance(stance),
        actors=forms.actor_pair(pair),
        text=q[:200],
        days=period,
    )
    return render(
        request,
        "dashboard.html",
        title="Dashboard",
        board=board,
        pairs=actor_pairs(app.engine),
        topics=TOPICS,
        stances=STANCES,
        periods=forms.PERIODS,
        chosen={"pair": pair, "topic": topic, "stance": stance, "days": str(period), "q": q},
    )
