"""The operator console: ``/console`` on the HTTP service, server-rendered HTML (Starlette + Jinja2), no scripts.

Pages: ``/console`` (jobs by status at the top, the job list filtered and paged newest first, ``?q=`` finds a
job by its id or KIE task id), ``/console/jobs/{id}`` (one job's story: where it is and why, inputs, price and
ledger, task id and KIE credits, results inline, deliveries, every event; cancel and retry actions, each
confirmed on a page of its own), ``/console/health`` (the figures at a glance) and ``/console/audit``.

It is off unless ``KIEGEN_CONSOLE_KEY`` is set (every ``/console`` path then answers 404 saying so) and needs
a store that answers the console's queries (``kiegen.ports.console.ConsoleQueries``: the memory and SQL stores
do). See ``auth`` for credentials, sessions and CSRF, ``limits`` for the rate limits, ``headers`` for the
security headers and ``views`` for what is shown (every value escaped and redacted).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from kiegen.adapters.kie_httpx import install_log_redaction
from kiegen.apps.http.console import routes, views
from kiegen.apps.http.console.auth import SESSION_S, ConsoleKeys, session_secret
from kiegen.apps.http.console.headers import SecurityHeaders
from kiegen.apps.http.console.limits import Window
from kiegen.apps.http.console.state import ConsoleState
from kiegen.apps.http.metrics import Metrics
from kiegen.client import Client
from kiegen.core.errors import KiegenError
from kiegen.ports.console import ConsoleQueries
from kiegen.settings import Settings

__all__ = ["PREFIX", "ConsoleState", "console_app", "mount"]

PREFIX = "/console"
HERE = Path(__file__).parent


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template is HTML: a prompt of <script> is shown, not run
        finalize=views.shown,  # every printed value is redacted first
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(when=views.when, age=views.age, recipient=views.recipient_label, PREFIX=PREFIX)
    return Jinja2Templates(env=env)


def _off(reason: str) -> Starlette:
    async def off(_request: Request) -> Response:
        return PlainTextResponse(reason, status_code=404, headers={"Cache-Control": "no-store"})

    paths = [Route("/", off), Route("/{path:path}", off, methods=["GET", "HEAD", "POST"])]
    return Starlette(routes=paths)


def console_app(client: Client, settings: Settings, metrics: Metrics) -> Starlette:
    """The console as an app to mount at ``PREFIX``; one that only says why when it is off."""
    if not settings.console_keys:
        return _off("The operator console is off: set KIEGEN_CONSOLE_KEY (see docs/OPERATIONS.md).\n")
    store = client.store
    if not isinstance(store, ConsoleQueries):
        return _off(f"The operator console is off: the store {type(store).__name__} cannot answer its queries.\n")
    install_log_redaction(*settings.console_keys)
    state = ConsoleState(
        client=client,
        queries=store,
        keys=ConsoleKeys(settings.console_keys),
        metrics=metrics,
        templates=_templates(),
        login_failures=Window(5, 300.0),
        all_login_failures=Window(30, 60.0),
        requests=Window(240, 60.0),
    )
    app = Starlette(
        routes=[
            *routes.routes(),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=session_secret(settings.console_keys),
                session_cookie="kiegen_console",
                max_age=SESSION_S,
                path=PREFIX,
                same_site="strict",
                https_only=bool(settings.public_url and settings.public_url.startswith("https://")),
            ),
        ],
        exception_handlers={404: routes.not_found, 405: routes.not_allowed, KiegenError: routes.failed},
    )
    app.state.console = state
    return app


def mount(client: Client, settings: Settings, metrics: Metrics) -> Mount:
    """The ``/console`` mount of the HTTP service."""
    return Mount(PREFIX, app=console_app(client, settings, metrics))
