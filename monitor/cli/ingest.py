"""`monitor poll` and `monitor articles ...`: ingestion on demand, and what it stored."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from monitor import db
from monitor.cli.context import get_app, print_json, print_table
from monitor.cli.timespec import parse_since
from monitor.commands.retention import prune_article_texts
from monitor.commands.subscriptions import deliver_due
from monitor.engine import reading
from monitor.errors import NotFoundError
from monitor.queries import article_detail, list_articles
from monitor.stages.polling import Poller


@click.command()
@click.option("--feed", "feed_id", help="Poll only this feed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of poll reports.")
@click.pass_context
def poll(ctx: click.Context, feed_id: str | None, as_json: bool) -> None:
    """Poll every active feed (or one) now, then run the pipeline until it is drained."""
    app = get_app(ctx)
    app.catch_up()
    if feed_id:
        feed_ids = [feed_id]
    else:
        with reading(app.engine) as conn:
            query = select(db.feeds.c.feed_id).where(db.feeds.c.status == "active")
            feed_ids = list(conn.execute(query).scalars())
    reports = Poller(app).poll(feed_ids)
    if feed_id and not reports:
        raise NotFoundError(f"no active feed with id {feed_id}")
    app.drain()
    delivered = deliver_due(app)
    app.catch_up()
    if as_json:
        print_json([report.__dict__ for report in reports])
        return
    for report in reports:
        state = f"{report.new_items} new ({report.detail})" if report.ok else report.detail
        click.echo(f"{report.feed_id}  {'ok ' if report.ok else 'FAILED'}  {state}")
    failed = sum(not r.ok for r in reports)
    click.echo(
        f"polled {len(reports)} feeds, {failed} failed; sent {delivered.digests_sent} digests, "
        f"{delivered.webhook_attempts} webhook attempts",
        err=True,
    )


@click.group()
def articles() -> None:
    """Stored articles and their classification."""


@articles.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.option("--topic", help="Only articles with this topic.")
@click.option("--stance", type=click.Choice(["cooperation", "tension", "neutral"]))
@click.option(
    "--actor",
    "actors",
    multiple=True,
    help="Only articles naming this actor (ISO alpha-3 or NATO, EU...); repeat for all of several.",
)
@click.option("--since", help="Published on or after DATE (YYYY-MM-DD) or within a span (7d, 24h).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_context
def list_command(
    ctx: click.Context,
    as_json: bool,
    topic: str | None,
    stance: str | None,
    actors: tuple[str, ...],
    since: str | None,
    limit: int,
) -> None:
    """Stored articles, newest first, with their current classification."""
    app = get_app(ctx)
    app.catch_up()
    rows = list_articles(
        app.engine,
        topic=topic,
        stance=stance,
        actors=actors,
        since=parse_since("--since", since) if since else None,
        limit=limit,
    )
    if as_json:
        print_json(rows)
        return
    print_table(
        ["ID", "PUBLISHED", "STANCE", "CONF", "TOPICS", "TITLE"],
        [
            [
                r["id"],
                r["published_at"][:10],
                r["stance"] or "-",
                "" if r["confidence"] is None else f"{r['confidence']:.2f}",
                ",".join(r["topics"] or []),
                (r["title"] or "")[:70],
            ]
            for r in rows
        ],
    )


@articles.command("show")
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def show(ctx: click.Context, article_id: str, as_json: bool) -> None:
    """One article: text, classification, explanation, story."""
    app = get_app(ctx)
    app.catch_up()
    detail = article_detail(app.engine, article_id)
    if detail is None:
        raise NotFoundError(f"no article with id {article_id}")
    if as_json:
        print_json(detail)
        return
    _print_detail(detail)


def _print_detail(detail: dict[str, Any]) -> None:
    click.echo(detail["title"])
    click.echo(f"{detail['url'] or '(no link)'}")
    click.echo(
        f"published {detail['published_at']}  feed {detail['feed_id']}  "
        f"language {detail['language'] or '?'}"
    )
    if detail["stance"] is not None:
        click.echo(
            f"relevant {detail['relevant']} ({detail['relevance']:.2f})  "
            f"stance {detail['stance']} ({detail['confidence']:.2f}, "
            f"score {detail['stance_score']:+.2f})  model {detail['model_version']}"
        )
        click.echo(
            f"topics {', '.join(detail['topics']) or '-'}  "
            f"actors {', '.join(detail['actors']) or '-'}"
        )
    story = detail["story"]
    if story and story["articles"]:
        click.echo(f"story {story['id']}: also {len(story['articles'])} other copies")
        for other in story["articles"]:
            click.echo(f"  {other['id']}  {other['title'][:70]}")
    if detail["extraction_error"]:
        click.echo(f"page not used: {detail['extraction_error']}")
    click.echo("")
    click.echo(detail["text"] or detail["summary"])


@articles.command("prune")
@click.option(
    "--older-than",
    required=True,
    help="Prune the text of articles discovered before this span or date (365d, 2025-01-01).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be pruned.")
@click.pass_context
def prune(ctx: click.Context, older_than: str, dry_run: bool) -> None:
    """Drop old article bodies; titles, classifications, stories and deliveries stay."""
    app = get_app(ctx)
    report = prune_article_texts(
        app,
        before=parse_since("--older-than", older_than),
        actor="cli",
        dry_run=dry_run,
        progress=lambda message: click.echo(message, err=True),
    )
    verb = "would prune" if report.dry_run else "pruned"
    click.echo(f"{verb} the text of {report.articles} articles discovered before {report.before}")
