"""``python -m kiegen.apps.http``: settings from the environment, adapters built, the app served by uvicorn.

With no environment at all it serves on 127.0.0.1:8080 with a SQLite file ``kiegen.db`` and the in-process
KIE simulator. Besides the variables of DESIGN.md it reads:

- ``KIEGEN_LOG_LEVEL`` (default INFO): JSON lines on stderr, secrets redacted;
- ``KIEGEN_KIE_RATE_LIMIT`` (default ``20/10``): createTask starts per seconds, ``N/S``. KIE's documented
  budget is 20 per 10 s per account; raise it only for an account with a higher limit, or for a simulator;
- ``KIEGEN_HTTP_HEADER_TIMEOUT_S``, ``KIEGEN_HTTP_BODY_TIMEOUT_S``, ``KIEGEN_HTTP_MAX_CONNECTIONS``,
  ``KIEGEN_HTTP_KEEP_ALIVE_S``: the bounds on slow clients and connection floods (``kiegen.apps.http.limits``).

With no ``KIE_API_KEY`` the embedded simulator's results are served by this service itself, under
``/simulator/`` (``/simulator/results/<task>/<n>.png``), at ``KIEGEN_PUBLIC_URL`` or the listening host and port
(``127.0.0.1`` for a wildcard host), so that a client of ``/v1`` can fetch them.

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
from starlette.applications import Starlette

from kiegen.adapters.webhook import WebhookMessenger
from kiegen.apps.http.app import create_app
from kiegen.apps.http.limits import ServerLimits
from kiegen.apps.http.logs import configure_logging
from kiegen.apps.http.metrics import Metrics
from kiegen.bootstrap import build
from kiegen.core.errors import ConfigurationError
from kiegen.ports.messaging import Messenger
from kiegen.settings import Settings, load_or_create_secret
from kiegen.simulator.engine import SimulatorConfig

__all__ = [
    "API_KEY_FILE",
    "DRAIN_S",
    "GRACEFUL_S",
    "SIMULATOR_PATH",
    "app_from_env",
    "main",
    "own_url",
    "server_options",
]

log = logging.getLogger("kiegen.http")

API_KEY_FILE = Path(".kiegen") / "api_key"
SIMULATOR_PATH = "/simulator"
"""Where the embedded simulator's files are served (no KIE_API_KEY)."""
GRACEFUL_S = 10
DRAIN_S = 10.0


def own_url(settings: Settings) -> str:
    """Where clients reach this service: ``KIEGEN_PUBLIC_URL``, else the listening host and port."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"


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
        webhook = WebhookMessenger(
            settings.webhook_secret, allow_private=settings.allow_private_urls, user_agent=settings.user_agent
        )
        messengers.append(webhook)
        resources.append(webhook)
    simulator = SimulatorConfig(delay_s=2.0, result_base_url=f"{own_url(settings)}{SIMULATOR_PATH}")
    # One gateway, built by bootstrap, with the metrics' hooks on its client (requests by endpoint and status).
    client = build(settings, messengers=messengers, kie_event_hooks=metrics.kie_hooks(), simulator=simulator)
    limits = ServerLimits.from_env(env)
    app = create_app(client, settings, drain_s=DRAIN_S, metrics_=metrics, resources=resources, limits=limits)
    if client.simulator is not None:
        from kiegen.simulator.asgi import files_app

        app.mount(SIMULATOR_PATH, files_app(client.simulator))
    log.info(
        "kiegen HTTP service on %s:%d (KIE: %s; callbacks: %s; webhooks: %s)",
        settings.host,
        settings.port,
        f"simulated in process, results under {simulator.result_base_url}"
        if settings.simulated
        else settings.kie_base_url,
        settings.public_url or "in process" if settings.simulated else settings.public_url or "off, polling only",
        "on" if settings.webhook_secret else "off (KIEGEN_WEBHOOK_SECRET unset)",
    )
    if not os.environ.get("KIEGEN_API_KEYS") and environ is None:
        log.warning("KIEGEN_API_KEYS is not set: /v1 accepts the key kept in %s", API_KEY_FILE)
    return app, settings


def server_options(limits: ServerLimits) -> dict[str, Any]:
    """How uvicorn serves the app (``benchmarks/bench_http.py`` serves its bare baseline endpoint the same way,
    so that the two compare): uvloop when installed (``kiegen[http]``), and the HTTP protocol with the bounds
    on slow clients and connection floods of ``kiegen.apps.http.limits``."""
    return {
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": GRACEFUL_S,
        "ws": "none",
        **limits.uvicorn_options(),
    }


def main() -> int:
    import uvicorn

    try:
        app, settings = app_from_env()
        limits = ServerLimits.from_env(os.environ)
    except ConfigurationError as exc:
        print(f"kiegen: {exc.message}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.host, port=settings.port, **server_options(limits))
    return 0
