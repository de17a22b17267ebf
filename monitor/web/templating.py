"""Jinja2 templates (autoescaped) and the page context every template gets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.responses import Response

from monitor.web.session import csrf_token, logged_in, take_flashes

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
NAV = (
    ("/", "Dashboard"),
    ("/trends", "Trends"),
    ("/label", "Labelling"),
    ("/models", "Models"),
    ("/feeds", "Feeds"),
    ("/subscriptions", "Subscriptions"),
    ("/deliveries", "Deliveries"),
)
# Pages hold inline SVG charts with their own <style>; everything else comes from here.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def when(value: str | datetime | None, *, date_only: bool = False) -> str:
    """ISO 8601 (as the queries return it) to a short UTC form."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d" if date_only else "%Y-%m-%d %H:%M")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "—"


environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(when=when, percent=percent, number=number)
templates = Jinja2Templates(env=environment)


def render(request: Any, template: str, status_code: int = 200, **context: Any) -> Response:
    """A page with the navigation, the login state, this session's CSRF token and flashes."""
    context.update(
        nav=NAV,
        path=request.url.path,
        user=logged_in(request),
        csrf=csrf_token(request),
        flashes=take_flashes(request),
    )
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response
