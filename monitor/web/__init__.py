"""The web UI: server-rendered pages over the same queries and commands as the API.

`install` adds the signed session cookie, the static files and the page routes to the
FastAPI app that also serves `/api`, so `monitor run` serves both from one port.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from monitor.bootstrap import App
from monitor.web.errors import page_error
from monitor.web.routes import router
from monitor.web.session import COOKIE, SESSION_SECONDS, session_secret
from monitor.web.templating import STATIC_DIR


def install(api: FastAPI, app: App) -> None:
    """Serve the UI at `/` beside the API."""
    api.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(app.settings),
        session_cookie=COOKIE,
        max_age=SESSION_SECONDS,
        same_site="strict",
        https_only=app.settings.public_url.startswith("https://"),
    )
    api.add_exception_handler(HTTPException, page_error)
    api.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    api.include_router(router)
