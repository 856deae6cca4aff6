"""From settings to adapters: what the environment of DESIGN.md asks for, built and not yet opened. No work
happens at import or here: connections open and migrations run when the client is entered (``async with``).

``client_options(settings, **overrides)`` gives the keyword arguments of ``kiegen.Client`` (its constructor is
the one place the parts are put together into a ``Context``); ``Client.from_settings`` and ``Client.from_env``
use it, and so does ``kiegen.bootstrap.build``. The factories of single parts (``sql_store_for``,
``kie_gateway_for``, ``registry_for``) serve whoever wants one part only, or wraps one (the crash harness).

Defaults: SQLite at ``KIEGEN_DATABASE_URL`` (``kiegen.db``), the httpx gateway when ``KIE_API_KEY`` is set and
the built-in simulator (in process) when it is not, an in-process notifier (PostgreSQL LISTEN/NOTIFY when the
database is PostgreSQL), the console messenger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiegen.catalogue import build_registry
from kiegen.core.callbacks import DEFAULT_RESULT_HOSTS
from kiegen.core.errors import ConfigurationError
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

if TYPE_CHECKING:
    from kiegen.adapters.kie_httpx import HttpxKieGateway, RetryPolicy
    from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore

__all__ = ["SECRET_FILE", "client_options", "kie_gateway_for", "registry_for", "sql_store_for"]

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


def sql_store_for(settings: Settings, **options: Any) -> SqlAlchemyJobStore:
    """The SQL job store of ``settings`` (not opened: enter it, or hand it to a ``Client``, which does);
    ``options`` go to ``SqlAlchemyJobStore.from_url``."""
    from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore

    return SqlAlchemyJobStore.from_url(settings.database_url, **options)


def kie_gateway_for(
    settings: Settings,
    *,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
    retry: RetryPolicy | None = None,
) -> HttpxKieGateway:
    """The HTTP gateway to the KIE of ``settings`` (needs ``KIE_API_KEY``); enter it to close its client."""
    from kiegen.adapters.kie_httpx import HttpxKieGateway
    from kiegen.adapters.kie_httpx.limiter import shared_limiter

    if settings.kie_api_key is None:
        raise ConfigurationError("KIE_API_KEY is not set: there is no KIE to talk to (the simulator needs none)")
    return HttpxKieGateway(
        settings.kie_api_key,
        base_url=settings.kie_base_url,
        upload_url=settings.kie_upload_url,
        limiter=shared_limiter(*settings.kie_rate_limit) if settings.kie_rate_limit else None,
        event_hooks=event_hooks,
        user_agent=settings.user_agent,
        retry=retry,
    )


def client_options(
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
) -> dict[str, Any]:
    """``kiegen.Client``'s arguments for ``settings``; any adapter given here replaces the one the settings
    would build. ``kie_event_hooks`` go to the httpx client of the gateway built here (the HTTP service counts
    KIE requests with them)."""
    resources: list[Any] = []
    if store is None:
        # Entered with the client: migrations run, the writer and readers start; closed after the workers.
        sql_store = sql_store_for(settings)
        resources.append(sql_store)
        store = sql_store
        if notifier is None and sql_store.dialect == "postgresql":
            from kiegen.adapters.sqlalchemy.notify import PostgresNotifier

            # The store NOTIFYs inside the transactions that change jobs; this listens (after the store opens).
            pg_notifier = PostgresNotifier(sql_store)
            resources.append(pg_notifier)
            notifier = pg_notifier
    if kie is None and not settings.simulated:
        gateway = kie_gateway_for(settings, event_hooks=kie_event_hooks)
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
    return {
        "store": store,
        "kie": kie,
        "messengers": messengers,
        "clock": clock,
        "notifier": notifier,
        "config": config,
        "workers": workers,
        "resources": resources,
        "simulator": simulator,
    }
