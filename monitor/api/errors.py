"""How errors become HTTP responses: `{"detail": "<one line naming the field>"}`.

Use cases raise `MonitorError` subclasses whose message is meant for the user (the CLI
prints the same line); request validation errors are flattened to the same shape, with the
individual problems under `errors`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from monitor.errors import (
    ConcurrencyError,
    EventLogBusyError,
    IdempotencyError,
    InvalidInputError,
    MonitorError,
    NotFoundError,
    StoredEventError,
)
from monitor.modelstore import ModelUnavailableError

STATUS_OF: tuple[tuple[type[MonitorError], int], ...] = (
    (NotFoundError, 404),
    (InvalidInputError, 422),
    (ConcurrencyError, 409),
    (IdempotencyError, 409),
    (StoredEventError, 500),
    (EventLogBusyError, 503),
    (ModelUnavailableError, 503),
)


def monitor_error(_: Request, exc: Exception) -> JSONResponse:
    code = next((code for kind, code in STATUS_OF if isinstance(exc, kind)), 400)
    headers = {"Retry-After": "1"} if isinstance(exc, EventLogBusyError) else None
    return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)


def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """422 with each problem as `field: message` (the input is not echoed back)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(error), "in": str(error["loc"][0]), "message": error["msg"]}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


def _field(error: dict[str, Any]) -> str:
    """`url`, `filters.topics.0`; the whole body when it is not JSON at all."""
    location = [str(part) for part in error["loc"]]
    if error["type"] == "json_invalid" or len(location) == 1:
        return location[0]
    return ".".join(location[1:])


def install(api: FastAPI) -> None:
    api.add_exception_handler(MonitorError, monitor_error)
    api.add_exception_handler(RequestValidationError, validation_error)
