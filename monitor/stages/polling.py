"""Polling: fetch feeds, parse them, and record what was found as events.

A poll cycle fetches every chosen feed concurrently (the fetcher bounds connections and
politeness per host), then records each feed's outcome in a transaction of its own:
`FeedPolled` with the entries that are new as `ArticleDiscovered`, or `FeedPollFailed`. One
feed's failure, however strange, never touches another's. An entry is new when none of its
keys (canonical URL, GUID) is in `article_keys`; the keys are claimed in the same
transaction as the events, so a copy seen later in another feed is recognised.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, or_, select
from sqlalchemy.exc import IntegrityError

from monitor import db
from monitor.engine import reading
from monitor.eventlog import PendingAppend, derived_id, new_id, utcnow
from monitor.events import ArticleDiscovered, Event, FeedPolled, FeedPollFailed
from monitor.leases import new_owner
from monitor.model import (
    Feed,
    max_age_seconds,
    next_check_after_failure,
    next_check_after_success,
    parse_http_date,
)
from monitor.pipeline.canonical import shared_guids
from monitor.pipeline.fetch import Fetcher, FetchError, FetchResult
from monitor.pipeline.parse import NotAFeedError, ParsedEntry, ParsedFeed, parse_feed
from monitor.sql import upsert
from monitor.streams import article_stream, feed_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App

log = logging.getLogger(__name__)

RECORD_ATTEMPTS = 3  # a key claimed concurrently by another process: re-check and retry
RECORD_CHUNK = 100  # feeds recorded per transaction (each in a savepoint of its own)
CLAIM_FOR = timedelta(minutes=10)  # longer than any poll cycle: then a dead poller's claim lapses


@dataclass(frozen=True)
class PollReport:
    feed_id: str
    url: str
    ok: bool
    new_items: int
    detail: str


@dataclass(frozen=True)
class _Failure:
    reason: str
    message: str
    http_status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class _Outcome:
    """A feed's fetch, parsed, waiting to be recorded."""

    feed: Feed
    polled_at: datetime
    result: FetchResult | _Failure
    parsed: ParsedFeed | None = None
    elapsed: float = 0.0


class Poller:
    def __init__(
        self,
        app: App,
        *,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.app = app
        self.clock = clock
        self.jitter = jitter

    def claim_due(self, *, limit: int = 500) -> list[str]:
        """Claim the active feeds whose next check has come, most overdue first.

        A feed's due time (its `next_check_at`, the slot) is claimed by one poller only, with
        a conditional upsert into `poll_claims`: schedulers that fire together, or a new
        leader taking over mid-cycle, poll each feed once per slot (case 55). The next slot
        exists once the poll is recorded; a claim whose poller died lapses after CLAIM_FOR.
        """
        now = self.clock()
        f, c = db.feeds.c, db.poll_claims.c
        query = (
            select(f.feed_id, f.next_check_at)
            .where(f.status == "active", f.next_check_at <= now)
            .order_by(f.next_check_at)
            .limit(limit)
        )
        with reading(self.app.engine) as conn:
            due = conn.execute(query).all()
        if not due:
            return []
        owner = new_owner()
        with self.app.engine.begin() as conn:
            statement = upsert(conn, db.poll_claims).values(
                [
                    {
                        "feed_id": feed_id,
                        "slot": slot,
                        "owner": owner,
                        "claimed_until": now + CLAIM_FOR,
                    }
                    for feed_id, slot in due
                ]
            )
            wanted = statement.excluded
            statement = statement.on_conflict_do_update(
                index_elements=[c.feed_id],
                set_={
                    "slot": wanted.slot,
                    "owner": wanted.owner,
                    "claimed_until": wanted.claimed_until,
                },
                where=or_(c.slot != wanted.slot, c.claimed_until <= now),
            ).returning(c.feed_id)
            claimed = set(conn.execute(statement).scalars())
        return [feed_id for feed_id, _ in due if feed_id in claimed]

    def poll(self, feed_ids: Sequence[str]) -> list[PollReport]:
        """Poll these feeds now (paused or removed ones are skipped) and record the outcomes."""
        feeds = self._active_feeds(feed_ids)
        if not feeds:
            return []
        fetched = asyncio.run(self._fetch_all(feeds))
        # Parse everything before writing: no transaction waits on feedparser.
        outcomes = [self._parse(feed, *done) for feed, done in zip(feeds, fetched, strict=True)]
        reports: list[PollReport] = []
        for start in range(0, len(outcomes), RECORD_CHUNK):
            chunk = outcomes[start : start + RECORD_CHUNK]
            with self.app.engine.begin() as conn:
                deferred: list[PendingAppend] = []
                reports.extend(self._record(conn, outcome, deferred) for outcome in chunk)
                if deferred:  # the chunk's 304s and failures, in one statement
                    self.app.log.append_many(deferred, conn=conn)
        return reports

    def _active_feeds(self, feed_ids: Sequence[str]) -> list[Feed]:
        """What a poll needs of each feed, from the feeds read model in one query per chunk.

        The scheduler asks storage who is due and what it knows (miniflux's model); the read
        model is brought up to date first, so it reflects every recorded poll.
        """
        self.app.runner.run_once(self.app.projection("feeds"))
        f = db.feeds
        feeds: list[Feed] = []
        with reading(self.app.engine) as conn:
            for start in range(0, len(feed_ids), 500):
                chunk = list(feed_ids[start : start + 500])
                rows = conn.execute(
                    select(f).where(f.c.feed_id.in_(chunk), f.c.status == "active")
                ).mappings()
                by_id = {row["feed_id"]: row for row in rows}
                feeds.extend(
                    Feed(
                        feed_id=row["feed_id"],
                        status="active",
                        url=row["url"],
                        interval_seconds=row["interval_seconds"],
                        consecutive_errors=row["consecutive_errors"],
                        etag=row["etag"],
                        last_modified=row["last_modified"],
                        next_check_at=row["next_check_at"],
                    )
                    for feed_id in chunk
                    if (row := by_id.get(feed_id)) is not None
                )
        return feeds

    async def _fetch_all(self, feeds: list[Feed]) -> list[tuple[FetchResult | _Failure, float]]:
        async with self.app.fetcher() as fetcher:
            return await asyncio.gather(*(self._fetch(fetcher, feed) for feed in feeds))

    async def _fetch(self, fetcher: Fetcher, feed: Feed) -> tuple[FetchResult | _Failure, float]:
        started = time.monotonic()
        assert feed.url is not None
        try:
            result: FetchResult | _Failure = await fetcher.fetch(
                feed.url, kind="feed", etag=feed.etag, last_modified=feed.last_modified
            )
        except FetchError as exc:
            result = _Failure(exc.reason, exc.message, exc.status, exc.retry_after)
        except Exception as exc:  # a bug must cost one feed its poll, not the whole cycle
            log.exception("unexpected error fetching a feed", extra={"feed_id": feed.feed_id})
            result = _Failure("internal_error", f"{type(exc).__name__}: {exc}")
        return result, time.monotonic() - started

    # --- recording ---------------------------------------------------------------------

    def _parse(self, feed: Feed, result: FetchResult | _Failure, elapsed: float) -> _Outcome:
        polled_at = self.clock()
        if isinstance(result, _Failure) or result.not_modified:
            return _Outcome(feed, polled_at, result, None, elapsed)
        try:
            parsed = parse_feed(
                result.body,
                content_type=result.content_type,
                url=result.final_url,
                fetched_at=polled_at,
            )
        except NotAFeedError as exc:
            return _Outcome(feed, polled_at, _Failure("not_a_feed", exc.reason, result.status))
        except Exception as exc:  # feedparser on hostile bytes: record, never crash
            log.exception("feed could not be parsed", extra={"feed_id": feed.feed_id})
            failure = _Failure("parse_error", f"{type(exc).__name__}: {exc}", result.status)
            return _Outcome(feed, polled_at, failure)
        return _Outcome(feed, polled_at, result, parsed, elapsed)

    def _record(
        self, conn: Connection, outcome: _Outcome, deferred: list[PendingAppend]
    ) -> PollReport:
        """Record one feed's outcome. New entries claim article keys in a savepoint, so a key
        another process claimed meanwhile costs a retry of this feed, not the chunk; outcomes
        without entries are deferred to the chunk's single append."""
        if isinstance(outcome.result, _Failure):
            report, appends = self._record_failure(outcome.feed, outcome.polled_at, outcome.result)
            deferred.extend(appends)
            return report
        if outcome.parsed is None or not outcome.parsed.entries:
            report, appends = self._record_success(conn, outcome)
            deferred.extend(appends)
            return report
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                with conn.begin_nested():
                    report, appends = self._record_success(conn, outcome)
                    self.app.log.append_many(appends, conn=conn)
                    return report
            except IntegrityError:
                if attempt == RECORD_ATTEMPTS:
                    raise
                log.info("article key taken meanwhile", extra={"feed_id": outcome.feed.feed_id})
        raise AssertionError("unreachable")

    def _record_success(
        self, conn: Connection, outcome: _Outcome
    ) -> tuple[PollReport, list[PendingAppend]]:
        feed, polled_at, parsed = outcome.feed, outcome.polled_at, outcome.parsed
        result = outcome.result
        assert isinstance(result, FetchResult)
        next_check = next_check_after_success(
            polled_at,
            feed.interval_seconds,
            ttl_seconds=parsed.ttl_seconds if parsed else None,
            max_age_seconds=max_age_seconds(result.headers.get("cache-control")),
            expires=parse_http_date(result.headers.get("expires")),
            jitter=self.jitter(),
        )
        metadata = {"correlation_id": new_id(), "feed_id": feed.feed_id}
        discovered = self._claim_new(conn, feed, parsed, polled_at) if parsed else []
        appends = [
            PendingAppend(
                article_stream(evt.article_id),
                0,
                [evt],
                event_ids=[derived_id("discovered", evt.article_id)],
                metadata=metadata,
            )
            for evt in discovered
        ]
        polled = FeedPolled(
            feed_id=feed.feed_id,
            polled_at=polled_at,
            http_status=result.status,
            not_modified=result.not_modified,
            items_found=len(parsed.entries) if parsed else 0,
            new_items=len(discovered),
            next_check_at=next_check,
            etag=result.etag,
            last_modified=result.last_modified,
            ttl_seconds=parsed.ttl_seconds if parsed else None,
            elapsed_ms=int(outcome.elapsed * 1000),
            problem=parsed.problem if parsed else None,
        )
        appends.append(_feed_append(feed, polled, metadata))
        detail = "not modified" if result.not_modified else f"{polled.items_found} items"
        return PollReport(feed.feed_id, feed.url or "", True, len(discovered), detail), appends

    def _record_failure(
        self, feed: Feed, polled_at: datetime, failure: _Failure
    ) -> tuple[PollReport, list[PendingAppend]]:
        errors = feed.consecutive_errors + 1
        next_check, unhealthy = next_check_after_failure(
            polled_at,
            feed.interval_seconds,
            errors,
            retry_after_seconds=failure.retry_after,
            jitter=self.jitter(),
        )
        evt = FeedPollFailed(
            feed_id=feed.feed_id,
            polled_at=polled_at,
            reason=failure.reason,
            message=failure.message[:2000],
            consecutive_errors=errors,
            next_check_at=next_check,
            http_status=failure.http_status,
            unhealthy=unhealthy,
        )
        detail = f"{failure.reason}: {failure.message}"
        log.warning("feed poll failed: %s", detail, extra={"feed_id": feed.feed_id})
        report = PollReport(feed.feed_id, feed.url or "", False, 0, detail)
        return report, [_feed_append(feed, evt, {"feed_id": feed.feed_id})]

    def _claim_new(
        self, conn: Connection, feed: Feed, parsed: ParsedFeed, discovered_at: datetime
    ) -> list[ArticleDiscovered]:
        shared = shared_guids((e.guid for e in parsed.entries), (feed.url, parsed.link))
        keyed = [(entry, entry_keys(entry, shared)) for entry in parsed.entries]
        wanted = {key for _, keys in keyed for key in keys}
        taken = set(
            conn.execute(
                select(db.article_keys.c.key).where(db.article_keys.c.key.in_(sorted(wanted)))
            ).scalars()
        )
        discovered = []
        for entry, keys in keyed:
            if taken.intersection(keys):
                continue
            article_id = derived_id("article", keys[0])
            conn.execute(
                insert(db.article_keys), [{"key": k, "article_id": article_id} for k in keys]
            )
            taken.update(keys)
            discovered.append(_discovered(article_id, feed.feed_id, entry, discovered_at))
        return discovered


def _feed_append(feed: Feed, evt: Event, metadata: dict[str, str]) -> PendingAppend:
    # A poll outcome is a fact whatever happened to the stream meanwhile (a pause, say): it
    # is appended at the end rather than checked against the version polled.
    return PendingAppend(feed_stream(feed.feed_id), None, [evt], metadata=metadata)


def entry_keys(entry: ParsedEntry, shared: set[str]) -> list[str]:
    """Every identity of an entry across feeds: its canonical URL and its own GUID."""
    keys = []
    if entry.url:
        keys.append(_key("url", entry.url))
    if entry.guid and entry.guid not in shared:
        keys.append(_key("guid", entry.guid))
    return keys or [entry.dedupe_key]


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _discovered(
    article_id: str, feed_id: str, entry: ParsedEntry, discovered_at: datetime
) -> ArticleDiscovered:
    return ArticleDiscovered(
        article_id=article_id,
        feed_id=feed_id,
        url=entry.url,
        guid=entry.guid,
        title=entry.title,
        published_at=entry.published,
        discovered_at=discovered_at,
        summary=entry.summary,
        content=entry.content,
        author=entry.author,
        language=entry.language,
        dedupe_key=entry.dedupe_key,
    )
