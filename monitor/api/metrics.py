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

POLL_OUTCOMES = {"FeedPolled": "ok", "FeedPollFailed": "failed"}


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
        polls = CounterMetricFamily("monitor_polls", "Feed polls by outcome.", labels=["outcome"])
        with reading(self.app.engine) as conn:
            counted = dict(
                conn.execute(
                    select(db.activity.c.event_type, func.sum(db.activity.c.count))
                    .where(db.activity.c.event_type.in_(POLL_OUTCOMES))
                    .group_by(db.activity.c.event_type)
                ).all()
            )
        for event_type, outcome in POLL_OUTCOMES.items():
            polls.add_metric([outcome], int(counted.get(event_type) or 0))
        yield polls

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
