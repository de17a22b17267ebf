"""The service's clock: APScheduler with a few fixed jobs; per-feed timing is data.

Each feed's `next_check_at` lives in the feeds read model (computed from its interval, its
TTL, cache headers and backoff); the scheduler only asks "who is due?" every few seconds.
Jobs coalesce and never overlap, so a long poll cycle is not stacked up behind itself.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from monitor.stages.polling import Poller

if TYPE_CHECKING:
    from monitor.bootstrap import App

log = logging.getLogger(__name__)

POLL_EVERY_SECONDS = 15
DELIVER_EVERY_SECONDS = 15


def poll_due_feeds(app: App) -> int:
    """Poll the feeds whose time has come; returns how many were polled."""
    poller = Poller(app)
    due = poller.due()
    if due:
        reports = poller.poll(due)
        failed = sum(not r.ok for r in reports)
        log.info("polled %d due feeds (%d failed)", len(reports), failed)
    return len(due)


def deliver_due_work(app: App) -> None:
    """Send the digests and webhooks that are due (each claim is leased: no double sends)."""
    from monitor.commands.subscriptions import deliver_due

    report = deliver_due(app)
    if report.digests_sent or report.webhook_attempts:
        log.info(
            "sent %d digests, %d webhook attempts", report.digests_sent, report.webhook_attempts
        )


def build_scheduler(app: App) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    scheduler.add_job(
        poll_due_feeds,
        "interval",
        seconds=POLL_EVERY_SECONDS,
        args=[app],
        id="poll-due-feeds",
        next_run_time=None,
    )
    scheduler.add_job(
        deliver_due_work,
        "interval",
        seconds=DELIVER_EVERY_SECONDS,
        args=[app],
        id="deliver-due",
        next_run_time=None,
    )
    return scheduler
