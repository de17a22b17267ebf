"""Probes and metrics for orchestrators: `/healthz`, `/readyz`, `/metrics`.

Liveness touches nothing (a slow database must not get the process restarted); readiness
reports each dependency and answers 503 until all of them are fine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from monitor.api.deps import AppDep
from monitor.bootstrap import App
from monitor.engine import reading
from monitor.errors import MonitorError
from monitor.leases import Leases
from monitor.modelstore import ModelUnavailableError
from monitor.scheduler import LEADER

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers; nothing else is checked."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready; see `checks`."}})
def readyz(app: AppDep) -> JSONResponse:
    """Database reachable, a model loaded (or loadable), a scheduler leading somewhere."""
    checks = {
        "database": _check(_database, app),
        "model": _check(_model, app),
        "scheduler": _check(_scheduler, app),
    }
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format, computed at scrape time."""
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


def _database(app: App) -> str:
    with reading(app.engine) as conn:
        conn.execute(text("SELECT 1"))
    return "reachable"


def _model(app: App) -> str:
    """The active model, loaded once (later probes reuse it). Never trains: a fresh install
    without a model is not ready until one is trained and promoted."""
    if app.models.active_version() is None:
        raise ModelUnavailableError("no active model (monitor model train --promote)")
    return f"version {app.models.labeler().version} loaded"


def _scheduler(app: App) -> str:
    """Some process (this one or another) holds the scheduler's unexpired leader lease."""
    leases = Leases(app.engine, duration=app.settings.lease_duration)
    owner = leases.live(LEADER).get(LEADER)
    if owner is None:
        raise SchedulerDownError("no scheduler holds the leader lease (monitor run --role ...)")
    return f"led by {owner}"


class SchedulerDownError(MonitorError):
    """No live scheduler: feeds are not polled and nothing due is delivered."""


def _check(probe: Callable[[App], str], app: App) -> dict[str, Any]:
    try:
        return {"ok": True, "detail": probe(app)}
    except (MonitorError, SQLAlchemyError, OSError) as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}".splitlines()[0]}
