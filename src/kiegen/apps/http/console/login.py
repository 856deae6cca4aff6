"""``/console/login`` (a form with a ``key`` field) and ``/console/logout``; each written to the audit log."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kiegen.apps.http.console import audit
from kiegen.apps.http.console.auth import csrf_ok, new_csrf, same_origin, session_operator
from kiegen.apps.http.console.guard import (
    act,
    address,
    console,
    count_login_failure,
    login_wait,
    page,
    read_form,
    refuse,
)

__all__ = ["form", "login", "logout"]

HOME = "/console/"


def _next(raw: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if raw and raw.startswith("/console") and not raw.startswith(("//", "/\\")) and "\\" not in raw:
        return raw
    return HOME


def _login_page(request: Request, *, status: int = 200, error: str | None = None) -> Response:
    token = request.session.get("login_csrf")
    if not isinstance(token, str):
        token = request.session["login_csrf"] = new_csrf()
    target = _next(request.query_params.get("next"))
    return page(request, "login.html", status=status, login_csrf=token, next=target, error=error)


async def form(request: Request) -> Response:
    state = console(request)
    wait = state.requests.take(address(request))
    if wait:
        raise refuse(
            request, 429, "Slow down", f"Too many requests: try again in {wait} s.", **{"Retry-After": str(wait)}
        )
    if session_operator(state.keys, request.session) is not None:
        return RedirectResponse(HOME, status_code=303)
    return _login_page(request)


async def login(request: Request) -> Response:
    state = console(request)
    if not same_origin(request):
        raise refuse(request, 403, "Refused", "This request came from another site.")
    wait = max(login_wait(state, request), state.requests.take(address(request)))
    if wait:
        raise refuse(
            request, 429, "Slow down", f"Too many attempts: try again in {wait} s.", **{"Retry-After": str(wait)}
        )
    fields = await read_form(request)
    if not csrf_ok(request.session.get("login_csrf"), fields.get("csrf")):
        return _login_page(request, status=403, error="The form had expired: enter the key again.")
    actor = state.keys.match(fields.get("key", "").strip())
    if actor is None:
        count_login_failure(state, request, "form")
        return _login_page(request, status=401, error="That is not the console key.")
    request.session.clear()
    request.session.update({"actor": actor, "csrf": new_csrf(), "since": int(time.time())})
    await audit.write(request, actor, "login", "done")
    return RedirectResponse(_next(fields.get("next")), status_code=303)


async def logout(request: Request) -> Response:
    found, _ = await act(request)
    await audit.write(request, found.actor, "logout", "done")
    request.session.clear()
    return RedirectResponse("/console/login", status_code=303)
