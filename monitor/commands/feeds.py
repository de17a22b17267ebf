"""Use cases shared by the CLI and the HTTP API. Each turns a request into events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from monitor import db
from monitor.bootstrap import App, ssrf_policy
from monitor.engine import reading
from monitor.errors import InvalidInputError, NotFoundError
from monitor.eventlog import derived_id
from monitor.events import FeedAdded, FeedPaused, FeedRemoved, FeedResumed
from monitor.followers import ProgressCallback
from monitor.model import DEFAULT_FEED_INTERVAL, Feed, FeedFold
from monitor.opml import OpmlFeed, export_opml, parse_opml
from monitor.pipeline.canonical import canonical_url
from monitor.pipeline.ssrf import check_url_syntax
from monitor.streams import feed_stream


def feed_id_for(url: str) -> str:
    """One id per feed URL: adding a URL twice meets the same stream, which refuses it."""
    return derived_id("feed", url)


def add_feed(
    app: App,
    url: str,
    *,
    name: str | None = None,
    interval_seconds: int = DEFAULT_FEED_INTERVAL,
    categories: Sequence[str] = (),
    actor: str = "cli",
) -> str:
    url = _valid_feed_url(app, url)
    feed_id = feed_id_for(url)
    feed, version = _load_feed(app, feed_id)
    if feed.registered:
        raise InvalidInputError(f"feed already registered: {url} (id {feed_id})")
    app.log.append(
        feed_stream(feed_id),
        version,
        [FeedAdded(feed_id, url, name, interval_seconds, tuple(categories), actor)],
        metadata={"actor": actor},
    )
    return feed_id


def remove_feed(app: App, feed_id: str, *, actor: str = "cli") -> None:
    _, version = _registered_feed(app, feed_id)
    app.log.append(
        feed_stream(feed_id), version, [FeedRemoved(feed_id, actor)], metadata={"actor": actor}
    )


def pause_feed(
    app: App, feed_id: str, reason: str = "paused by a user", *, actor: str = "cli"
) -> None:
    feed, version = _registered_feed(app, feed_id)
    if feed.status != "paused":
        app.log.append(
            feed_stream(feed_id),
            version,
            [FeedPaused(feed_id, reason, actor)],
            metadata={"actor": actor},
        )


def resume_feed(app: App, feed_id: str, *, actor: str = "cli") -> None:
    feed, version = _registered_feed(app, feed_id)
    if feed.status == "paused":
        app.log.append(
            feed_stream(feed_id), version, [FeedResumed(feed_id, actor)], metadata={"actor": actor}
        )


def _load_feed(app: App, feed_id: str) -> tuple[Feed, int]:
    return app.snapshots.load(feed_stream(feed_id), FeedFold())


def _registered_feed(app: App, feed_id: str) -> tuple[Feed, int]:
    feed, version = _load_feed(app, feed_id)
    if not feed.registered:
        raise NotFoundError(f"no feed with id {feed_id}")
    return feed, version


def _valid_feed_url(app: App, url: str) -> str:
    """Refuse what could never be fetched safely, before any network call."""
    rejection = check_url_syntax(url.strip(), ssrf_policy(app.settings))
    if rejection is not None:
        raise InvalidInputError(f"feed URL refused: {rejection.message}")
    return canonical_url(url.strip())


@dataclass(frozen=True)
class OpmlImport:
    added: list[str]
    skipped: list[str]  # URLs registered already, or refused, with the reason


def import_opml(
    app: App,
    data: bytes,
    *,
    interval_seconds: int = DEFAULT_FEED_INTERVAL,
    actor: str = "cli",
    progress: ProgressCallback | None = None,
) -> OpmlImport:
    """Register every feed of an OPML file. A broken file is refused before anything is added."""
    entries = parse_opml(data)
    added, skipped = [], []
    for done, entry in enumerate(entries, 1):
        try:
            added.append(
                add_feed(
                    app,
                    entry.xml_url,
                    name=entry.title or None,
                    interval_seconds=interval_seconds,
                    categories=entry.categories,
                    actor=actor,
                )
            )
        except InvalidInputError as exc:
            skipped.append(f"{entry.xml_url}: {exc}")
        if progress:
            progress(done, len(entries))
    return OpmlImport(added, skipped)


def export_feeds_opml(app: App) -> bytes:
    app.catch_up()
    with reading(app.engine) as conn:
        rows = conn.execute(select(db.feeds).order_by(db.feeds.c.added_at)).mappings().all()
    return export_opml(
        OpmlFeed(row["url"], row["name"] or row["url"], None, tuple(row["categories"] or ()))
        for row in rows
    )
