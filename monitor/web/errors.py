"""HTTP errors of the pages as pages; `/api` keeps FastAPI's JSON answers."""

from __future__ import annotations

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from monitor.web.templating import render


async def page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return await http_exception_handler(request, exc)
    if exc.status_code == 303 and exc.headers:
        return RedirectResponse(exc.headers["Location"], status_code=303)
    return render(
        request, "error.html", status_code=exc.status_code, title="Error", detail=exc.detail
    )
