"""Log in with an API token (the events of UI writes name it, as API writes do); log out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from monitor.web.forms import redirect, safe_next
from monitor.web.session import FormDep, flash, log_in
from monitor.web.templating import render

router = APIRouter()


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", title="Log in", next=safe_next(next))


@router.post("/login")
async def login(request: Request, form: FormDep) -> Response:
    target = safe_next(form.get("next"))
    caller = await run_in_threadpool(log_in, request, str(form.get("token") or ""))
    if caller is None:
        flash(request, "That token is not valid.", "error")
        return render(request, "login.html", status_code=401, title="Log in", next=target)
    flash(request, f"Logged in as {caller.name} ({caller.role}).")
    return redirect(target)


@router.post("/logout")
def logout(request: Request, _: FormDep) -> Response:
    request.session.clear()
    return redirect("/")
