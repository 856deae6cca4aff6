"""``python -m kiegen.apps.http``: settings from the environment, adapters built, the app served by uvicorn.

With no environment at all it serves on 127.0.0.1:8080 with a SQLite file ``kiegen.db`` and the in-process
KIE simulator. Besides the variables of DESIGN.md it reads:

- ``KIEGEN_LOG_LEVEL`` (default INFO): JSON lines on stderr, secrets redacted;
- ``KIEGEN_KIE_RATE_LIMIT`` (default ``20/10``): createTask starts per seconds, ``N/S``. KIE's documented
  budget is 20 per 10 s per account; raise it only for an account with a higher limit, or for a simulator;
- ``KIEGEN_HTTP_HEADER_TIMEOUT_S``, ``KIEGEN_HTTP_BODY_TIMEOUT_S``, ``KIEGEN_HTTP_MAX_CONNECTIONS``,
  ``KIEGEN_HTTP_KEEP_ALIVE_S``: the bounds on slow clients and connection floods (``kiegen.apps.http.limits``).

Without ``KIEGEN_API_KEYS``, ``/v1`` accepts one key generated on first start and kept in ``.kiegen/api_key``
(read it there; it is never logged). Without ``KIEGEN_WEBHOOK_SECRET`` no webhooks are sent and requests with
a ``webhook_url`` are refused (422).

Shutdown (SIGINT/SIGTERM): uvicorn stops accepting connections and lets requests in flight finish (up to
``GRACEFUL_S``), then the lifespan stops the workers, giving deliveries in flight ``DRAIN_S`` to finish.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import attrs
import httpx
from starlette.applications import Starlette

from kiegen.adapters.kie_httpx import HttpxKieGateway
from kiegen.adapters.kie_httpx.gateway import DEFAULT_TIMEOUT
from kiegen.adapters.kie_httpx.limiter import shared_limiter
from kiegen.adapters.webhook import WebhookMessenger
from kiegen.apps.http.app import create_app
from kiegen.apps.http.limits import ServerLimits
from kiegen.apps.http.logs import configure_logging
from kiegen.apps.http.metrics import Metrics
from kiegen.bootstrap import build
from kiegen.core.errors import ConfigurationError
from kiegen.ports.kie import KieGateway
from kiegen.ports.messaging import Messenger
from kiegen.settings import Settings, load_or_create_secret

__all__ = ["API_KEY_FILE", "DRAIN_S", "GRACEFUL_S", "app_from_env", "main"]

log = logging.getLogger("kiegen.http")

API_KEY_FILE = Path(".kiegen") / "api_key"
GRACEFUL_S = 10
DRAIN_S = 10.0


def app_from_env(environ: dict[str, str] | None = None) -> tuple[Starlette, Settings]:
    env = dict(os.environ if environ is None else environ)
    settings = Settings.from_env(env)
    if not settings.api_keys:
        settings = attrs.evolve(settings, api_keys=(load_or_create_secret(API_KEY_FILE).decode(),))
    configure_logging(
        env.get("KIEGEN_LOG_LEVEL", "INFO"),
        settings.kie_api_key,
        settings.webhook_secret,
        settings.callback_secret,
        settings.kie_hmac_key,
        *settings.api_keys,
    )
    metrics = Metrics()
    resources: list[AbstractAsyncContextManager[Any]] = []
    messengers: list[Messenger] = []
    if settings.webhook_secret:
        webhook = WebhookMessenger(settings.webhook_secret, allow_private=settings.allow_private_urls)
        messengers.append(webhook)
        resources.append(webhook)
    kie: KieGateway | None = None
    if settings.kie_api_key:
        # The gateway's client is ours, so that its requests can be counted by endpoint and status.
        http = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, event_hooks=metrics.kie_hooks())
        resources.append(http)
        kie = HttpxKieGateway(
            settings.kie_api_key,
            client=http,
            base_url=settings.kie_base_url,
            upload_url=settings.kie_upload_url,
            limiter=shared_limiter(*settings.kie_rate_limit) if settings.kie_rate_limit else None,
        )
    client = build(settings, kie=kie, messengers=messengers)
    limits = ServerLimits.from_env(env)
    app = create_app(client, settings, drain_s=DRAIN_S, metrics_=metrics, resources=resources, limits=limits)
    log.info(
        "kiegen HTTP service on %s:%d (KIE: %s; callbacks: %s; webhooks: %s)",
        settings.host,
        settings.port,
        "simulated in process" if settings.simulated else settings.kie_base_url,
        settings.public_url or "in process" if settings.simulated else settings.public_url or "off, polling only",
        "on" if settings.webhook_secret else "off (KIEGEN_WEBHOOK_SECRET unset)",
    )
    if not os.environ.get("KIEGEN_API_KEYS") and environ is None:
        log.warning("KIEGEN_API_KEYS is not set: /v1 accepts the key kept in %s", API_KEY_FILE)
    return app, settings


def main() -> int:
    import uvicorn

    try:
        app, settings = app_from_env()
        limits = ServerLimits.from_env(os.environ)
    except ConfigurationError as exc:
        print(f"kiegen: {exc.message}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_S,
        ws="none",
        **limits.uvicorn_options(),  # slow clients and connection floods: see kiegen.apps.http.limits
    )
    return 0
