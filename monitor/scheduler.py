"""The service's clock: APScheduler with a few fixed jobs; per-feed timing is data.

Each feed's `next_check_at` lives in the feeds read model (computed from its interval, its
TTL, cache headers and backoff); the scheduler only asks "who is due?" every few seconds.
Jobs coalesce and never overlap, so a long poll cycle is not stacked up behind itself, and a
scheduler paused or starved across several intervals catches up with one run (case 57).

However many scheduler processes are started, one runs the jobs: the holder of the
`scheduler` lease (`Leader`). The others keep trying to take the lease and start when the
leader's expires (case 56). Feed polls are also claimed per (feed, due time), so even two
schedulers that both believe they lead poll a feed once per slot (case 55).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from monitor.leases import Leases
from monitor.stages.polling import Poller

if TYPE_CHECKING:
    from monitor.bootstrap import App

log = logging.getLogger(__name__)

POLL_EVERY_SECONDS = 15
DELIVER_EVERY_SECONDS = 15
LEADER = "scheduler"


def poll_due_feeds(app: App) -> int:
    """Poll the due feeds this scheduler could claim; returns how many were polled."""
    poller = Poller(app)
    due = poller.claim_due()
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


class Leader:
    """Runs a scheduler's jobs only while this process holds the `scheduler` lease.

    The lease is taken or renewed every `renew_interval` from a thread of its own (jobs run in
    APScheduler's pool, so a long poll never delays a renewal). On taking the lease every job
    runs at once; on losing it (the database unreachable, the lease taken over after a
    freeze) the scheduler pauses. A job already running finishes; the poll claims keep it
    from polling what the new leader polls.
    """

    def __init__(self, scheduler: BackgroundScheduler, leases: Leases, renew_interval: float):
        self.scheduler = scheduler
        self.leases = leases
        self.renew_interval = renew_interval
        self.leading = False

    def run(self, stop: threading.Event) -> None:
        self.scheduler.start(paused=True)
        try:
            while not stop.is_set():
                self._follow_lease()
                stop.wait(self.renew_interval)
        finally:
            self.scheduler.shutdown(wait=False)
            if self.leading:
                self._release()

    def _follow_lease(self) -> None:
        try:
            holds = self.leases.acquire(LEADER)
        except Exception:  # cannot renew: act as if lost, another may lead by now
            log.exception("could not renew the scheduler lease")
            holds = False
        if holds and not self.leading:
            log.warning("scheduler %s leads: running the jobs", self.leases.owner)
            for job in self.scheduler.get_jobs():
                job.modify(next_run_time=datetime.now(UTC))  # the first round at once
            self.scheduler.resume()
        elif self.leading and not holds:
            log.warning("scheduler %s lost the lease: pausing", self.leases.owner)
            self.scheduler.pause()
        self.leading = holds

    def _release(self) -> None:
        try:
            self.leases.release([LEADER])  # a standby takes over at its next try
        except Exception:
            log.exception("could not release the scheduler lease; it expires on its own")
