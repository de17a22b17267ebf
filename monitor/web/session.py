"""Login, CSRF and flash messages, kept in Starlette's signed session cookie.

The cookie is signed (itsdangerous), HttpOnly, SameSite=Strict, and Secure when the public
URL is https. It holds the API token the user logged in with, looked up again on every page
and write (`monitor.api.auth.authenticate`), so a revoked token logs its holder out and each
write needs the same role as its API route; and a per-session CSRF token that every form
carries and every POST must return. Events of UI writes name the token, as API writes do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from monitor.api.auth import ADMIN, ANALYST, VIEWER, Caller, authenticate
from monitor.bootstrap import App
from monitor.config import Settings

COOKIE = "monitor_session"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"
MAX_FORM_FIELDS = 200
_PROCESS_SECRET = secrets.token_hex(32)  # no API token: nobody can log in anyway


def session_secret(settings: Settings) -> str:
    """Derived from the API token, so every replica signs alike and a new token ends sessions."""
    if settings.api_token is None:
        return _PROCESS_SECRET
    key = settings.api_token.get_secret_value().encode()
    return hmac.new(key, b"monitor web session", hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(token)


def logged_in(request: Request) -> Caller | None:
    """Who the session's token stands for, or None."""
    token = request.session.get("token")
    return authenticate(request.app.state.monitor, str(token)) if token else None


def log_in(request: Request, token: str) -> Caller | None:
    caller = authenticate(request.app.state.monitor, token.strip()) if token.strip() else None
    if caller is not None:
        request.session.clear()  # a fresh CSRF token for the new identity
        request.session["token"] = token.strip()
    return caller


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", []).append([kind, message])


def take_flashes(request: Request) -> list[list[str]]:
    return list(request.session.pop("flash", []))


async def checked_form(request: Request) -> FormData:
    """The POSTed form, refused with 403 unless it carries this session's CSRF token."""
    form = await request.form(max_fields=MAX_FORM_FIELDS)
    given = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if (
        not isinstance(given, str)
        or not expected
        or not hmac.compare_digest(given.encode(), str(expected).encode())
    ):
        raise HTTPException(403, "the form's CSRF token is missing or stale: reload the page")
    return form


@dataclass(frozen=True)
class Writer:
    """A logged-in user's write: the app, who acts (named in the events), the form."""

    app: App
    actor: str
    form: FormData

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def texts(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def upload(self, name: str) -> Any:
        return self.form.get(name)


def _writer(role: str) -> Any:
    """A dependency: CSRF first (403), then the login (a redirect to the login page), then
    the role (403), as the API route for the same command requires."""

    async def writer(request: Request, form: Annotated[FormData, Depends(checked_form)]) -> Writer:
        caller = await run_in_threadpool(logged_in, request)
        if caller is None:
            back = urlsplit(request.headers.get("referer", "/"))
            location = f"/login?next={quote(back.path or '/')}"
            raise HTTPException(303, "log in first", headers={"Location": location})
        if not caller.may(role):
            raise HTTPException(403, f"this needs the {role} role; your token is a {caller.role}")
        return Writer(request.app.state.monitor, caller.actor, form)

    return Annotated[Writer, Depends(writer)]


ViewerDep = _writer(VIEWER)
AnalystDep = _writer(ANALYST)
AdminDep = _writer(ADMIN)
FormDep = Annotated[FormData, Depends(checked_form)]
