"""Prometheus metrics, computed when scraped from the runner and the read models.

Each FastAPI application has its own `CollectorRegistry` (no process-global state, so tests
and several apps in one process never share or clash on metrics). The collector queries the
database on every scrape: the figures are never stale and nothing has to update them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Column, ColumnElement, Table, func, select

from monitor import db
from monitor.bootstrap import App
from monitor.engine import reading
from monitor.stages.classification import ClassificationStage

POLL_OUTCOMES = {"FeedPolled": "ok", "FeedPollFailed": "failed"}
# Counters read off the activity read model: metric name -> (event type, help).
EVENT_COUNTERS = {
    "monitor_extraction_failures": ("ExtractionFailed", "Pages that gave no usable text."),
    "monitor_matches": ("ArticleMatched", "Articles matched to a subscription."),
}


class MonitorCollector(Collector):
    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "monitor_follower_lag_events",
            "Events a follower (stage or read model) still has to read.",
            labels=["follower"],
        )
        for follower in self.app.followers:
            lag.add_metric([follower.name], self.app.runner.lag(follower))
        yield lag
        yield self._counts("monitor_feeds", "Feeds by health.", db.feeds, db.feeds.c.health)
        yield self._counts(
            "monitor_articles", "Articles by pipeline stage.", db.articles, db.articles.c.stage
        )
        yield self._counts(
            "monitor_deliveries", "Deliveries by status.", db.deliveries, db.deliveries.c.status
        )
        dead = GaugeMetricFamily("monitor_dead_letters", "Deliveries in the dead letter.")
        dead.add_metric([], self._total(db.deliveries, db.deliveries.c.status == "dead"))
        yield dead
        counted = self._event_counts([*POLL_OUTCOMES, *(t for t, _ in EVENT_COUNTERS.values())])
        polls = CounterMetricFamily("monitor_polls", "Feed polls by outcome.", labels=["outcome"])
        for event_type, outcome in POLL_OUTCOMES.items():
            polls.add_metric([outcome], counted.get(event_type, 0))
        yield polls
        for name, (event_type, doc) in EVENT_COUNTERS.items():
            yield CounterMetricFamily(name, doc, value=counted.get(event_type, 0))
        yield self._not_modified_ratio()
        for stage in self.app.stages:
            if isinstance(stage, ClassificationStage):
                yield from stage.latency.collect()

    def _event_counts(self, event_types: list[str]) -> dict[str, int]:
        with reading(self.app.engine) as conn:
            rows = conn.execute(
                select(db.activity.c.event_type, func.sum(db.activity.c.count))
                .where(db.activity.c.event_type.in_(event_types))
                .group_by(db.activity.c.event_type)
            )
            return {event_type: int(count or 0) for event_type, count in rows}

    def _not_modified_ratio(self) -> Metric:
        """Of the feeds polled, the share whose last poll answered 304 (conditional GET)."""
        polled = self._total(db.feeds, db.feeds.c.last_http_status.is_not(None))
        unchanged = self._total(db.feeds, db.feeds.c.last_http_status == 304)
        return GaugeMetricFamily(
            "monitor_feeds_not_modified_ratio",
            "Share of polled feeds whose last poll answered 304 Not Modified.",
            value=unchanged / polled if polled else 0.0,
        )

    def _counts(self, name: str, doc: str, table: Table, column: Column[str]) -> Metric:
        family = GaugeMetricFamily(name, doc, labels=[column.name])
        with reading(self.app.engine) as conn:
            rows = conn.execute(select(column, func.count()).select_from(table).group_by(column))
            for value, count in rows:
                family.add_metric([str(value)], count)
        return family

    def _total(self, table: Table, condition: ColumnElement[bool]) -> int:
        with reading(self.app.engine) as conn:
            query = select(func.count()).select_from(table).where(condition)
            return int(conn.execute(query).scalar_one())


def registry_for(app: App) -> CollectorRegistry:
    """A registry of this application's metrics only (nothing is collected until a scrape)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(app))
    return registry
