"""`/feeds`: each feed's health; add, pause, resume, remove; OPML import and export."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from monitor.api.deps import AppDep
from monitor.commands import feeds as commands
from monitor.errors import InvalidInputError
from monitor.model import DEFAULT_FEED_INTERVAL, parse_interval
from monitor.queries import list_feeds
from monitor.web.forms import attempt, redirect
from monitor.web.session import AdminDep, Writer, flash
from monitor.web.templating import render

router = APIRouter()
MAX_OPML_BYTES = 1_000_000


@router.get("/feeds")
def feeds_page(request: Request, app: AppDep) -> Response:
    app.catch_up()
    return render(
        request,
        "feeds.html",
        title="Feeds",
        feeds=list_feeds(app.engine),
        default_interval=f"{DEFAULT_FEED_INTERVAL // 60}m",
    )


@router.get("/feeds/opml")
def export(app: AppDep) -> Response:
    return Response(
        commands.export_feeds_opml(app),
        media_type="text/x-opml+xml",
        headers={"Content-Disposition": 'attachment; filename="feeds.opml"'},
    )


@router.post("/feeds")
def add(request: Request, write: AdminDep) -> Response:
    def added() -> str:
        return commands.add_feed(
            write.app,
            write.text("url"),
            name=write.text("name") or None,
            interval_seconds=_seconds(write),
            categories=[c for c in write.text("category").split(",") if c.strip()],
            actor=write.actor,
        )

    attempt(request, "Feed added ({result}).", added)
    write.app.catch_up()
    return redirect("/feeds")


@router.post("/feeds/opml")
async def import_opml(request: Request, write: AdminDep) -> Response:
    upload = write.upload("file")
    data = await upload.read(MAX_OPML_BYTES + 1) if isinstance(upload, UploadFile) else b""
    if not data or len(data) > MAX_OPML_BYTES:
        return _refused(request, "file: choose an OPML file of at most 1 MB")

    def imported() -> str:
        report = commands.import_opml(write.app, data, actor=write.actor)
        for reason in report.skipped[:10]:
            flash(request, f"skipped {reason}", "error")
        return f"{len(report.added)} feeds added, {len(report.skipped)} skipped"

    await run_in_threadpool(attempt, request, "OPML imported: {result}.", imported)
    await run_in_threadpool(write.app.catch_up)
    return redirect("/feeds")


@router.post("/feeds/{feed_id}/{action}")
def change(request: Request, feed_id: str, action: str, write: AdminDep) -> Response:
    commands_by_action = {
        "pause": commands.pause_feed,
        "resume": commands.resume_feed,
        "remove": commands.remove_feed,
    }
    command = commands_by_action.get(action)
    if command is None:
        return _refused(request, f"unknown action {action!r}")
    attempt(request, f"Feed {action}d.", lambda: command(write.app, feed_id, actor=write.actor))
    write.app.catch_up()
    return redirect("/feeds")


def _seconds(write: Writer) -> int:
    try:
        return parse_interval(write.text("interval") or f"{DEFAULT_FEED_INTERVAL}")
    except ValueError as exc:
        raise InvalidInputError(f"interval: {exc}") from None


def _refused(request: Request, message: str) -> Response:
    flash(request, message, "error")
    return redirect("/feeds")
