"""The composition root: settings in, adapters built, a ``Client`` out. No work happens at import or here:
connections open and migrations run when the client is entered (``async with``).

    client = build(Settings.from_env())
    async with client:
        ...

Defaults: SQLite at ``KIEGEN_DATABASE_URL`` (``kiegen.db``), the httpx gateway when ``KIE_API_KEY`` is set and
the built-in simulator (in process) when it is not, an in-process notifier (PostgreSQL LISTEN/NOTIFY when the
database is PostgreSQL), the console messenger.

``KIEGEN_CRASH_AT`` (tests only, see ``kiegen.settings``) arms ``crash_hook``: the process SIGKILLs itself at
the nth pass of a named crash point of the services.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kiegen.catalogue import build_registry
from kiegen.client import Client
from kiegen.core.callbacks import DEFAULT_RESULT_HOSTS
from kiegen.core.polling import PollPolicy
from kiegen.core.pricing import DEFAULT_MARKUP
from kiegen.core.registry import ModelRegistry
from kiegen.ports.clock import Clock
from kiegen.ports.kie import KieGateway
from kiegen.ports.messaging import Messenger
from kiegen.ports.notify import Notifier
from kiegen.ports.store import JobStore
from kiegen.services import Config
from kiegen.settings import Settings, load_or_create_secret
from kiegen.simulator.engine import SimulatorConfig

__all__ = ["SECRET_FILE", "build", "crash_hook", "registry_for"]

SECRET_FILE = Path(".kiegen") / "callback_secret"
"""Where a generated callback secret is kept when KIEGEN_CALLBACK_SECRET is unset (one host only)."""


def registry_for(settings: Settings) -> ModelRegistry:
    """The shipped catalogue with the operator's models, prices, markup and enabled list."""
    return build_registry(
        markup=DEFAULT_MARKUP if settings.price_markup is None else settings.price_markup,
        models_file=settings.models_file,
        prices_file=settings.prices_file,
        prices=settings.prices,
        enabled=settings.models_enabled,
    )


def crash_hook(point: str, nth: int) -> Callable[[str], None]:
    """For the crash harness only: a hook that SIGKILLs this process the ``nth`` time ``point`` is passed
    (no clean-up, no flush: exactly what an OOM kill or a power cut leaves behind)."""
    hits = 0

    def hook(name: str) -> None:
        nonlocal hits
        if name != point:
            return
        hits += 1
        if hits >= nth:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _timings(settings: Settings, *, callbacks: bool) -> dict[str, Any]:
    """Config and PollPolicy fields for the timing knobs that are set (the rest keep their defaults)."""
    policy = PollPolicy(
        callbacks=callbacks,
        **_given(
            grace_with_callback_s=settings.callback_grace_s,
            grace_without_callback_s=settings.poll_grace_s,
            submit_grace_s=settings.submit_grace_s,
        ),
    )
    return {
        "policy": policy,
        **_given(
            delivery_lease_s=settings.delivery_lease_s,
            check_lease_s=settings.check_lease_s,
            worker_interval_s=settings.worker_interval_s,
        ),
    }


def build(
    settings: Settings,
    *,
    kie: KieGateway | None = None,
    store: JobStore | None = None,
    messengers: Sequence[Messenger] = (),
    clock: Clock | None = None,
    notifier: Notifier | None = None,
    workers: bool = True,
    simulator: SimulatorConfig | None = None,
    kie_event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
) -> Client:
    """Build a client from ``settings``; any adapter given here replaces the one the settings would build.
    ``kie_event_hooks`` go to the httpx client of the gateway built here (the HTTP service counts KIE
    requests with them)."""
    resources: list[Any] = []
    if store is None:
        from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore

        # Entered with the client: migrations run, the writer and readers start; closed after the workers.
        sql_store = SqlAlchemyJobStore.from_url(settings.database_url)
        resources.append(sql_store)
        store = sql_store
        if notifier is None and sql_store.dialect == "postgresql":
            from kiegen.adapters.sqlalchemy.notify import PostgresNotifier

            # The store NOTIFYs inside the transactions that change jobs; this listens (after the store opens).
            pg_notifier = PostgresNotifier(sql_store)
            resources.append(pg_notifier)
            notifier = pg_notifier
    if kie is None and not settings.simulated:
        from kiegen.adapters.kie_httpx import HttpxKieGateway
        from kiegen.adapters.kie_httpx.limiter import shared_limiter

        assert settings.kie_api_key is not None
        gateway = HttpxKieGateway(
            settings.kie_api_key,
            base_url=settings.kie_base_url,
            upload_url=settings.kie_upload_url,
            limiter=shared_limiter(*settings.kie_rate_limit) if settings.kie_rate_limit else None,
            event_hooks=kie_event_hooks,
            user_agent=settings.user_agent,
        )
        resources.append(gateway)
        kie = gateway
    secret = settings.callback_secret.encode() if settings.callback_secret else b""
    if not secret and settings.public_url:
        secret = load_or_create_secret(SECRET_FILE)
    # Without a public URL KIE sends no callbacks (the embedded simulator calls back in process): the first
    # check then comes after the short grace.
    callbacks = bool(settings.public_url) or kie is None
    config = Config(
        registry=registry_for(settings),
        public_url=settings.public_url,
        callback_secret=secret,
        kie_hmac_key=settings.kie_hmac_key.encode() if settings.kie_hmac_key else None,
        allowed_result_hosts=settings.result_hosts if settings.result_hosts is not None else DEFAULT_RESULT_HOSTS,
        # The KIE kiegen talks to (with its key) may serve results from its own origin: a `kiegen simulate-kie`.
        own_result_urls=() if settings.simulated else (f"{settings.kie_base_url}/", f"{settings.kie_upload_url}/"),
        allow_private_urls=settings.allow_private_urls,
        free_quota=settings.free_quota,
        **_timings(settings, callbacks=callbacks),
    )
    client = Client(
        store=store,
        kie=kie,
        messengers=messengers,
        clock=clock,
        notifier=notifier,
        config=config,
        workers=workers,
        resources=resources,
        simulator=simulator,
    )
    if settings.crash_at is not None:
        client.ctx.crash_hook = crash_hook(*settings.crash_at)
    return client
