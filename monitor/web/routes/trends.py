"""`/trends`: stance score by day or week for an actor pair or a topic, volume beneath."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from classifiers.labels import TOPICS
from monitor.api.deps import AppDep
from monitor.web import forms
from monitor.web.charts import score_chart, volume_chart
from monitor.web.reads import Bucket, actor_pairs, trend
from monitor.web.templating import render

router = APIRouter()
TREND_PERIODS = {"30": "30 days", "90": "90 days", "365": "a year"}


@router.get("/trends")
def trends_page(
    request: Request,
    app: AppDep,
    pair: str = "",
    topic: str = "",
    by: str = "day",
    days: str = "90",
    bucket: str = "",
) -> Response:
    app.catch_up()
    granularity = "week" if by == "week" else "day"
    period = forms.period_days(days, 90, TREND_PERIODS)
    actors = forms.actor_pair(pair)
    chosen = {"pair": "-".join(actors), "topic": forms.topic(topic) or "", "by": granularity}
    chosen["days"] = str(period)
    buckets = trend(
        app.engine, actors=actors, topic=forms.topic(topic), granularity=granularity, days=period
    )

    def link(b: Bucket) -> str:
        return "/trends?" + urlencode({**chosen, "bucket": b.key}) + "#stories"

    selected = next((b for b in buckets if b.key == bucket), None)
    return render(
        request,
        "trends.html",
        title="Trends",
        score_svg=score_chart(buckets, link),
        volume_svg=volume_chart(buckets),
        buckets=buckets,
        points=sum(b.score is not None for b in buckets),
        spikes=[b for b in buckets if b.spike],
        selected=selected,
        pairs=actor_pairs(app.engine),
        topics=TOPICS,
        periods=TREND_PERIODS,
        chosen=chosen,
    )
