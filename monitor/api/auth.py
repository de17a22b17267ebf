"""Who may call what under /api: bearer tokens with roles, rate limits, checked up front.

Roles, each allowed what the ones before it are: `viewer` reads; `analyst` also labels,
trains models and manages subscriptions; `admin` does everything (feeds, promoting and
rolling back models, delivery retries, tokens). MONITOR_API_TOKEN is an admin token;
others are issued with `monitor tokens create` or `POST /api/tokens` (monitor.commands.tokens)
and looked up by their sha256. Every route under /api has its minimum role in `ROUTE_ROLES`;
a route missing there needs admin (fail closed), and a test lists the ones missing.

A pure ASGI middleware rather than a route dependency, so that it runs before FastAPI reads
and validates a body (an unauthenticated caller learns nothing about the input format).
Order per request: identify the caller, count the request against its rate budget (so failed
token guesses are limited too), then compare roles: 401 for a missing or unknown token where
one is needed, 403 for too low a role, 429 over budget. With no token configured at all,
writes are refused (403) rather than left open.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy import exists, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor import db
from monitor.api.limits import RateLimits
from monitor.bootstrap import App
from monitor.commands.tokens import ROLES, digest
from monitor.engine import reading

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GUARDED_PREFIX = "/api/"
ENV_TOKEN_NAME = "MONITOR_API_TOKEN"  # noqa: S105 (the name the configured token acts under)
FAIL_CLOSED_ROLE = "admin"  # for a route missing from ROUTE_ROLES

VIEWER, ANALYST, ADMIN = ROLES
ROUTE_ROLES: dict[tuple[str, str], str] = {
    ("GET", "/api/feeds"): VIEWER,
    ("POST", "/api/feeds"): ADMIN,
    ("POST", "/api/feeds/{feed_id}/pause"): ADMIN,
    ("POST", "/api/feeds/{feed_id}/resume"): ADMIN,
    ("DELETE", "/api/feeds/{feed_id}"): ADMIN,
    ("GET", "/api/feeds/opml"): VIEWER,
    ("POST", "/api/feeds/opml"): ADMIN,
    ("GET", "/api/articles"): VIEWER,
    ("GET", "/api/articles/{article_id}"): VIEWER,
    ("GET", "/api/stories"): VIEWER,
    ("GET", "/api/stories/{story_id}"): VIEWER,
    ("GET", "/api/subscriptions"): VIEWER,
    ("POST", "/api/subscriptions"): ANALYST,
    ("PATCH", "/api/subscriptions/{subscription_id}"): ANALYST,
    ("DELETE", "/api/subscriptions/{subscription_id}"): ANALYST,
    ("GET", "/api/deliveries"): VIEWER,
    ("POST", "/api/deliveries/{delivery_id}/retry"): ADMIN,
    ("GET", "/api/labels"): VIEWER,
    ("POST", "/api/labels"): ANALYST,
    ("GET", "/api/labels/queue"): VIEWER,
    ("GET", "/api/models"): VIEWER,
    ("POST", "/api/models/train"): ANALYST,
    ("POST", "/api/models/{version}/promote"): ADMIN,
    ("POST", "/api/models/rollback"): ADMIN,
    ("GET", "/api/events"): VIEWER,
    ("GET", "/api/tokens"): ADMIN,
    ("POST", "/api/tokens"): ADMIN,
    ("DELETE", "/api/tokens/{name}"): ADMIN,
}

NOT_CONFIGURED = (
    "the API has no tokens: set MONITOR_API_TOKEN or create one with `monitor tokens create`"
)
UNAUTHORIZED = "a valid bearer token is required for this request"


@dataclass(frozen=True)
class Caller:
    """The holder of a valid token."""

    name: str
    role: str

    @property
    def actor(self) -> str:
        """How the events of this caller's writes name it."""
        return f"token:{self.name}"

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def authenticate(app: App, token: str) -> Caller | None:
    """The caller a bearer token stands for, or None. Also for the web UI's login."""
    configured = app.settings.api_token
    if configured is not None and hmac.compare_digest(
        token.encode(), configured.get_secret_value().encode()
    ):
        return Caller(ENV_TOKEN_NAME, ADMIN)
    # The lookup is by digest, so its timing can only reveal digests, which do not help to
    # forge a token; the final comparison is constant-time all the same.
    hashed = digest(token)
    found = _active_token(app, hashed)
    if found is None:  # issued a moment ago, perhaps by the CLI in another process
        app.runner.run_once(app.projection("tokens"))
        found = _active_token(app, hashed)
    if found is None or not hmac.compare_digest(found[1], hashed):
        return None
    return Caller(found[0], found[2])


def token_is_valid(app: App, token: str) -> bool:
    """Any role's token (the web UI's login); `authenticate` tells which role."""
    return authenticate(app, token) is not None


def _active_token(app: App, hashed: str) -> tuple[str, str, str] | None:
    t = db.api_tokens
    query = select(t.c.name, t.c.token_sha256, t.c.role).where(
        t.c.token_sha256 == hashed, t.c.revoked_at.is_(None)
    )
    with reading(app.engine) as conn:
        row = conn.execute(query).first()
    return None if row is None else (row.name, row.token_sha256, row.role)


def _any_token(app: App) -> bool:
    """Whether any credential exists at all (else requests needing one are disabled)."""
    if app.settings.api_token is not None:
        return True
    t = db.api_tokens
    with reading(app.engine) as conn:
        return bool(conn.execute(select(exists().where(t.c.revoked_at.is_(None)))).scalar())


def required_role(method: str, path: str) -> str:
    """The minimum role for a request under /api; an undeclared route needs admin."""
    method = "GET" if method == "HEAD" else method
    for regex, role in _PATTERNS.get(method, ()):
        if regex.fullmatch(path):
            return role
    return FAIL_CLOSED_ROLE


def _patterns() -> dict[str, list[tuple[re.Pattern[str], str]]]:
    """Per method, each declared route's path pattern; literal paths first, so that
    `/api/feeds/opml` is not taken for `/api/feeds/{feed_id}`."""
    patterns: dict[str, list[tuple[re.Pattern[str], str]]] = {}
    for (method, template), role in sorted(ROUTE_ROLES.items(), key=lambda i: i[0][1].count("{")):
        regex, _, _ = compile_path(template)
        patterns.setdefault(method, []).append((regex, role))
    return patterns


_PATTERNS = _patterns()


class ApiGuard:
    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED_PREFIX):
            await self.app(scope, receive, send)
            return
        monitor: App = scope["app"].state.monitor
        token = _bearer(Headers(scope=scope))
        caller = await run_in_threadpool(authenticate, monitor, token) if token else None
        write = scope["method"] in WRITE_METHODS
        client = caller.actor if caller else f"address:{(scope.get('client') or ('?',))[0]}"
        wait = self.limits.hit(client, write=write)
        if wait is not None:
            budget = "api_rate_limit" if write else "api_read_rate_limit"
            limit = getattr(monitor.settings, budget)
            detail = f"too many requests (at most {limit} per client); retry in {wait} s"
            response = JSONResponse(
                {"detail": detail}, status_code=429, headers={"Retry-After": str(wait)}
            )
            await response(scope, receive, send)
            return
        needed = required_role(scope["method"], scope["path"])
        if not _allowed(monitor, token, caller, needed):
            refusal = await run_in_threadpool(_refusal, monitor, caller, needed)
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def _bearer(headers: Headers) -> str | None:
    """The credential presented: the bearer token, "" for another scheme, None for none."""
    if "authorization" not in headers:
        return None
    scheme, _, given = headers["authorization"].partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def _allowed(app: App, token: str | None, caller: Caller | None, needed: str) -> bool:
    """Decided without the database, so that an allowed request waits for no thread."""
    if caller is not None:
        return caller.may(needed)
    return token is None and needed == VIEWER and app.settings.api_public_reads


def _refusal(app: App, caller: Caller | None, needed: str) -> JSONResponse:
    if caller is not None:
        detail = f"this request needs the {needed} role; token {caller.name!r} is {caller.role}"
        return JSONResponse({"detail": detail}, status_code=403)
    if not _any_token(app):
        return JSONResponse({"detail": NOT_CONFIGURED}, status_code=403)
    return JSONResponse(
        {"detail": UNAUTHORIZED},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="monitor"'},
    )


def document(api: FastAPI, public_reads: bool) -> None:
    """Give every /api operation its minimum role (`x-minimum-role`) in the OpenAPI document,
    and the bearer scheme on those that need a token."""
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = build()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearer"] = {"type": "http", "scheme": "bearer"}
            for path, operations in schema["paths"].items():
                if not path.startswith(GUARDED_PREFIX):
                    continue
                for method, operation in operations.items():
                    role = required_role(method.upper(), path)
                    operation["x-minimum-role"] = role
                    if role != VIEWER or not public_reads:
                        operation["security"] = [{"bearer": []}]
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
