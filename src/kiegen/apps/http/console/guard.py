"""What every console route does first: spend the address's request budget, find the operator (see ``auth``),
read a form safely, and render a page or an error page."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kiegen.apps.http.console.auth import Operator, csrf_ok, header_credential, same_origin, session_operator
from kiegen.apps.http.console.state import ConsoleState

__all__ = ["FORM_LIMIT", "Refused", "act", "address", "console", "operator", "page", "read_form", "refuse"]

log = logging.getLogger("kiegen.console")

FORM_LIMIT = 16 * 1024
"""The console's forms are a few fields: a bigger body is refused unread."""


class Refused(Exception):
    """The request ends here with ``response`` (auth, CSRF, limits, a bad form)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def console(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def page(
    request: Request, name: str, *, status: int = 200, headers: Mapping[str, str] | None = None, **ctx: Any
) -> Response:
    state = console(request)
    now: datetime = state.client.clock.now()
    context = {"operator": getattr(request.state, "operator", None), "now": now, "notice": None, **ctx}
    return state.templates.TemplateResponse(request, name, context, status_code=status, headers=headers)


def refuse(request: Request, status: int, title: str, message: str, **headers: str) -> Refused:
    return Refused(page(request, "error.html", status=status, headers=headers, title=title, message=message))


def _too_many(request: Request, wait: int, what: str) -> Refused:
    return refuse(
        request,
        429,
        "Slow down",
        f"Too many {what} from your address: try again in {wait} s.",
        **{"Retry-After": str(wait)},
    )


def login_wait(state: ConsoleState, request: Request) -> int:
    return max(state.login_failures.retry_after(address(request)), state.all_login_failures.retry_after("*"))


def count_login_failure(state: ConsoleState, request: Request, via: str) -> None:
    state.login_failures.hit(address(request))
    state.all_login_failures.hit("*")
    log.warning("console: wrong key (%s) from %s", via, address(request))


def operator(request: Request) -> Operator:
    """The operator making ``request``, or ``Refused``: 429 past the budgets, 401 (or the login page, for a
    browser's GET) without a valid credential."""
    state = console(request)
    wait = state.requests.take(address(request))
    if wait:
        raise _too_many(request, wait, "requests")
    presented = header_credential(request.headers.get("authorization"))
    if presented is not None:
        via, key = presented
        wait = login_wait(state, request)
        if wait:
            raise _too_many(request, wait, "wrong keys")
        actor = state.keys.match(key)
        if actor is None:
            count_login_failure(state, request, via)
            raise refuse(request, 401, "Not signed in", "That is not a console key.", **_challenge())
        found = Operator(actor, via)
    else:
        session = session_operator(state.keys, request.session)
        if session is None:
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise Refused(RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303))
            raise refuse(request, 401, "Not signed in", "Sign in at /console/login.", **_challenge())
        found = session
    request.state.operator = found
    return found


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="kiegen console"'}


async def read_form(request: Request) -> dict[str, str]:
    """A small ``application/x-www-form-urlencoded`` body as a dict (413 past ``FORM_LIMIT``, 400 unreadable)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", ""):
        raise refuse(request, 415, "Not a form", "Send application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise refuse(request, 413, "Too large", f"Console forms are limited to {FORM_LIMIT} bytes.")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        raise refuse(request, 400, "Unreadable form", "The form could not be read: reload the page.") from None


async def act(request: Request) -> tuple[Operator, dict[str, str]]:
    """The operator of a POST that changes something, and its form: from this site only, with a Bearer header
    or with the session and its CSRF token (HTTP Basic reads only); 403 otherwise."""
    if not same_origin(request):
        raise refuse(request, 403, "Refused", "This request came from another site.")
    found = operator(request)
    form = await read_form(request)
    if found.via == "basic":
        raise refuse(request, 403, "Refused", "HTTP Basic reads only: send the key as a Bearer token to act.")
    if found.via == "session" and not csrf_ok(found.csrf, form.get("csrf")):
        raise refuse(request, 403, "Refused", "The form is stale or forged (CSRF token): reload the page.")
    return found, form
