"""A worker: runs its fair share of the followers, each owned through a lease.

Every worker announces itself with a `worker:<owner>` lease and owns followers through
`follower:<name>` leases. Each round it takes free followers up to its share (followers
divided by live workers, rounded up) and gives back what exceeds it, so followers spread
over the workers and a newcomer gets work within a round. A worker that dies stops
renewing; once its leases expire the others count one worker fewer and take its followers
over. A heartbeat thread renews the leases while a long batch runs.

Leases spread the work; they are not what makes it exactly-once. That is the follower's
tracking row (locked for the step, advanced by compare-and-set, see `monitor.followers`):
if a frozen worker wakes up after its lease passed to another, its step finds the position
moved and records nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence

from monitor.followers import Follower, FollowerRunner
from monitor.leases import Heartbeat, Leases

log = logging.getLogger(__name__)

WORKER = "worker:"
FOLLOWER = "follower:"


class Worker:
    def __init__(
        self,
        runner: FollowerRunner,
        followers: Sequence[Follower],
        leases: Leases,
        *,
        renew_interval: float,
        idle_wait: float = 1.0,
    ) -> None:
        self.runner = runner
        self.followers = list(followers)
        self.leases = leases
        self.renew_interval = renew_interval
        self.idle_wait = idle_wait
        self.owned: list[Follower] = []

    def balance(self) -> list[Follower]:
        """Announce this worker, then take or give back followers to hold its fair share."""
        self.leases.acquire(WORKER + self.leases.owner)
        workers = max(1, len(self.leases.live(WORKER)))
        share = math.ceil(len(self.followers) / workers)
        holders = self.leases.live(FOLLOWER)
        mine = [f for f in self.followers if holders.get(FOLLOWER + f.name) == self.leases.owner]
        if len(mine) > share:
            surplus = mine[share:]
            self.leases.release(FOLLOWER + f.name for f in surplus)
            mine = mine[:share]
        for follower in self.followers:
            if len(mine) >= share:
                break
            name = FOLLOWER + follower.name
            if name not in holders and self.leases.acquire(name):
                mine.append(follower)
        owned = [f for f in self.followers if f in mine]  # pipeline order
        if [f.name for f in owned] != [f.name for f in self.owned]:
            log.info(
                "worker %s runs %s (%d workers)",
                self.leases.owner,
                ", ".join(f.name for f in owned) or "nothing",
                workers,
            )
        self.owned = owned
        return owned

    def run(self, stop: threading.Event) -> None:
        """Step the owned followers until `stop` is set; then hand them back at once."""
        heartbeat = Heartbeat(self.leases, self.renew_interval)
        heartbeat.start()
        next_balance = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_balance:
                    try:
                        self.balance()
                    except Exception:  # the database is away: keep what we had, retry soon
                        log.exception("follower balancing failed")
                    next_balance = time.monotonic() + self.renew_interval
                if not self._round(stop):
                    stop.wait(self.idle_wait)
        finally:
            heartbeat.stop()
            try:
                self.leases.release()
            except Exception:  # they expire on their own
                log.exception("could not release the worker's leases")

    def _round(self, stop: threading.Event) -> bool:
        """One step of each owned follower; tells whether any found work."""
        busy = False
        for follower in self.owned:
            if stop.is_set():
                break
            try:
                busy |= self.runner.step(follower) > 0
            except Exception as exc:  # a StoredEventError names the event's position
                position = getattr(exc, "position", None)
                log.exception(
                    "follower failed", extra={"follower": follower.name, "event_position": position}
                )
        return busy
