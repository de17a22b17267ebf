"""Limits on what one request or one client may cost: body size and request rate.

Body size: a pure ASGI middleware in front of everything. A declared Content-Length over the
limit is refused before the body is read; a body that streams past the limit (chunked, or
lying about its length) is cut off as it arrives, so a large upload never sits in memory.

Rate: `RateLimits` keeps a moving window per client (the `limits` library, in memory), one
budget for writes and one for reads; the API guard (monitor.api.auth) asks it before
checking roles, so failed token guesses count too. Each process counts on its own: with N
API processes a client gets up to N times the budget.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = f"request body larger than {MAX_BODY_BYTES // 1024} KiB"


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse({"detail": TOO_LARGE}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes FastAPI's body parsing and becomes the response.
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, limited, send)


class RateLimits:
    """Per-client request budgets: `writes` for POST/PUT/PATCH/DELETE, `reads` for the rest."""

    def __init__(self, writes: str, reads: str) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._budgets = {True: parse_many(writes), False: parse_many(reads)}

    def hit(self, client: str, *, write: bool) -> int | None:
        """Count a request; None if it is within budget, else the seconds to wait."""
        kind = "write" if write else "read"
        items: list[RateLimitItem] = self._budgets[write]
        for item in items:
            if not self._limiter.hit(item, kind, client):
                reset = self._limiter.get_window_stats(item, kind, client).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None
