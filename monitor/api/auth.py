"""The guard on every write under /api: `Authorization: Bearer $MONITOR_API_TOKEN`.

A pure ASGI middleware rather than a route dependency, so that it runs before FastAPI reads
and validates a body (an unauthenticated caller learns nothing about the input format) and
covers every route under /api, including ones added later. Reads are open. With no token
configured, writes are refused outright rather than left open, so a forgotten setting never
exposes an unauthenticated admin API. The token is compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor.bootstrap import App

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GUARDED_PREFIX = "/api/"
DISABLED = "writes are disabled: set MONITOR_API_TOKEN to allow them"
UNAUTHORIZED = "a valid bearer token is required for writes"


class WriteGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in WRITE_METHODS
            and scope["path"].startswith(GUARDED_PREFIX)
        ):
            refusal = _refusal(scope["app"].state.monitor, Headers(scope=scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refusal(app: App, headers: Headers) -> JSONResponse | None:
    configured = app.settings.api_token
    if configured is None:
        return JSONResponse({"detail": DISABLED}, status_code=403)
    scheme, _, given = headers.get("authorization", "").partition(" ")
    expected = configured.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
        return None
    return JSONResponse(
        {"detail": UNAUTHORIZED},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="monitor"'},
    )


def document(api: FastAPI) -> None:
    """Declare the bearer scheme on every guarded write in the OpenAPI document."""
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = build()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearer"] = {"type": "http", "scheme": "bearer"}
            for path, operations in schema["paths"].items():
                for method, operation in operations.items():
                    if path.startswith(GUARDED_PREFIX) and method.upper() in WRITE_METHODS:
                        operation["security"] = [{"bearer": []}]
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
