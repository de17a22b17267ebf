"""`GET|POST /unsubscribe/{token}`: the RFC 8058 one-click target of every digest.

POST with the body `List-Unsubscribe=One-Click` unsubscribes (mail clients send it without
cookies, so no session or CSRF token is involved; the token itself is the authority). A
repeat answers 200 and changes nothing. GET never changes anything (link scanners follow
links): it shows a page whose button sends that POST. A token that fails its HMAC check gets
400, an unknown subscription 404. No response redirects.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from monitor.commands.subscriptions import unsubscribe, verify_token
from monitor.errors import InvalidInputError, NotFoundError

router = APIRouter()
ONE_CLICK = "List-Unsubscribe=One-Click"
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def confirm(token: str, request: Request) -> HTMLResponse:
    """A confirmation page; nothing changes until its button is pressed."""
    try:
        verify_token(request.app.state.monitor.settings, token)
    except InvalidInputError:
        return _page("Invalid link", "<p>This unsubscribe link is not valid.</p>", 400)
    action = html.escape(f"/unsubscribe/{token}", quote=True)
    form = (
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        "<p>Stop receiving these monitor digests?</p>"
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", form)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def one_click(token: str, request: Request) -> HTMLResponse:
    form = await request.form(max_files=0, max_fields=10)  # urlencoded or multipart, as RFC 8058
    if form.get("List-Unsubscribe") != "One-Click":
        return _page("Bad request", f"<p>Expected {html.escape(ONE_CLICK)}.</p>", 400)
    app = request.app.state.monitor
    try:
        changed = await run_in_threadpool(unsubscribe, app, token)
    except InvalidInputError:
        return _page("Invalid link", "<p>This unsubscribe link is not valid.</p>", 400)
    except NotFoundError:
        return _page("Unknown subscription", "<p>There is no such subscription.</p>", 404)
    if changed:
        await run_in_threadpool(app.catch_up)
    message = "You are unsubscribed." if changed else "You were already unsubscribed."
    return _page("Unsubscribed", f"<p>{message}</p>")
