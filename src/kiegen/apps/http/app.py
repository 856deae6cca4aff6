"""``create_app(client, settings)``: the Starlette app around a built ``kiegen.Client``. It only wires.

The lifespan enters the client: its store, migrations, gateway and messengers open and, when the client was
built with workers (the default of ``kiegen.bootstrap.build``), its start-up recovery, poller and deliverer
run. At shutdown the client stops taking work and gives deliveries in flight ``drain_s`` seconds to finish
(``Client.shutdown_grace_s``); anything left is picked up through its lease by the next process.

Routes: see ``kiegen.apps.http.openapi`` (also served at ``/openapi.json``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kiegen.apps.http.api import create_generation, get_generation, list_models
from kiegen.apps.http.bodies import error
from kiegen.apps.http.callbacks import kie_callback
from kiegen.apps.http.console import mount as console_mount
from kiegen.apps.http.limits import BodyDeadline, ServerLimits
from kiegen.apps.http.logs import AccessLog
from kiegen.apps.http.metrics import MeteredMessenger, Metrics
from kiegen.apps.http.ops import healthz, metrics, openapi, readyz
from kiegen.apps.http.state import ApiKeys, AppState
from kiegen.client import Client
from kiegen.core.errors import KiegenError
from kiegen.services import CALLBACK_PATH
from kiegen.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("kiegen.http")


async def _kiegen_error(request: Request, exc: Exception) -> Response:
    """A kiegen error no route handled (the database is down, a lease was lost): 503 when worth a retry."""
    assert isinstance(exc, KiegenError)
    log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
    if exc.retryable:
        return error(503, "unavailable", "try again shortly", headers={"Retry-After": "1"})
    return error(500, "internal", type(exc).__name__)


def create_app(
    client: Client,
    settings: Settings,
    *,
    drain_s: float = 10.0,
    metrics_: Metrics | None = None,
    resources: Sequence[AbstractAsyncContextManager[Any]] = (),
    webhooks: bool | None = None,
    limits: ServerLimits | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The app. ``resources`` are entered before the client and closed after it (e.g. a webhook messenger or
    the gateway's HTTP client); ``webhooks`` says whether ``webhook_url`` is accepted (default: the
    settings have a webhook secret); ``limits`` gives the request body deadline (``BodyDeadline``); ``routes``
    are mounted beside the service's own (the Telegram bot's webhook, when the bot serves this app)."""
    limits = limits or ServerLimits()
    metrics_ = metrics_ or Metrics()
    metrics_.delivery_stats = client.delivery_stats
    client.shutdown_grace_s = drain_s
    simulator = client.simulator
    if simulator is not None:
        metrics_.simulator_calls = lambda: dict(simulator.calls)
    client.wrap_messenger(lambda messenger: MeteredMessenger(messenger, metrics_))
    state = AppState(
        client=client,
        metrics=metrics_,
        api_keys=ApiKeys(settings.api_keys),
        webhooks=bool(settings.webhook_secret) if webhooks is None else webhooks,
        allow_private_urls=settings.allow_private_urls,
        kie_hmac_key=settings.kie_hmac_key.encode() if settings.kie_hmac_key else None,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for resource in resources:
                await stack.enter_async_context(resource)
            await stack.enter_async_context(client)
            yield
        stats = client.delivery_stats
        log.info("client closed (deliveries: %d sent, %d deferred)", stats.sent, stats.deferred)

    own_routes = [
        Route(CALLBACK_PATH + "/{job_id}", kie_callback, methods=["POST"]),
        Route(CALLBACK_PATH, kie_callback, methods=["POST"]),
        Route("/v1/generations", create_generation, methods=["POST"]),
        Route("/v1/generations/{job_id}", get_generation, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        console_mount(client, settings, metrics_),  # /console: off unless KIEGEN_CONSOLE_KEY is set
    ]
    app = Starlette(
        routes=[*own_routes, *routes],
        lifespan=lifespan,
        middleware=[Middleware(AccessLog), Middleware(BodyDeadline, timeout_s=limits.body_timeout_s)],
        exception_handlers={KiegenError: _kiegen_error},
    )
    app.state.kiegen = state
    return app
