"""``kiegen.Client``: the SDK as an embedder uses it.

    async with kiegen.Client() as kg:                      # in-memory store + built-in KIE simulator
        job = await kg.generate("z-image", {"prompt": "a red fox in the snow"})

    async with kiegen.Client.from_env() as kg:             # KIE_API_KEY, KIEGEN_DATABASE_URL, ...
        job = await kg.submit("qwen/image-edit", {...}, recipient="webhook:https://example.com/hook")
        done = await kg.wait(job.id)

The client owns the lifecycles of what it was given or built (store, HTTP clients, simulator) and, unless
``workers=False``, runs the poller and the deliverer while it is open. It works under asyncio and trio.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from decimal import Decimal
from functools import partial
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import anyio.abc
import attrs

from kiegen.adapters.memory import ConsoleMessenger, InMemoryJobStore, InProcessNotifier
from kiegen.adapters.system import SystemClock
from kiegen.composition import client_options
from kiegen.core.jobs import EvidenceSource, Job
from kiegen.core.models import Media
from kiegen.core.registry import ModelRegistry
from kiegen.ports.clock import Clock
from kiegen.ports.kie import KieGateway
from kiegen.ports.messaging import Messenger
from kiegen.ports.notify import Notifier, Subscription
from kiegen.ports.store import JobStore
from kiegen.services import (
    CALLBACK_PATH,
    CallbackOutcome,
    CallbackResult,
    Cancellation,
    Config,
    Context,
    DeliveryStats,
    Drain,
    MessengerRouter,
    cancel,
    handle_callback,
    run_workers,
    submit,
    wait,
)
from kiegen.settings import Settings
from kiegen.simulator.engine import SimulatedKie, SimulatorConfig

__all__ = ["IN_PROCESS_URL", "Client", "parse_callback_url"]

IN_PROCESS_URL = "http://kiegen.in-process"
"""The public URL given to the built-in simulator: its callbacks are handed to this client directly."""


def parse_callback_url(url: str) -> tuple[str | None, str | None, dict[str, str]]:
    """(job id, token, query) from a callBackUrl built by ``Config.callback_url``; job id None for bare paths."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    path = parts.path.rstrip("/")
    job_id = None
    if path.startswith(CALLBACK_PATH + "/"):
        job_id = unquote(path[len(CALLBACK_PATH) + 1 :]) or None
    return job_id, query.pop("token", None), query


class _Background:
    """Runs a task for the lifetime of a block. Unlike a bare task group, it lets the block's own exception
    reach the caller as it is (not wrapped in an exception group). ``before_cancel`` runs first at the end."""

    def __init__(self, target: Any, *, before_cancel: Callable[[], None] = lambda: None) -> None:
        self._target = target
        self._before_cancel = before_cancel
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> None:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        try:
            await tg.start(self._target)
        except BaseException as exc:
            tg.cancel_scope.cancel()
            await tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._tg = tg

    async def __aexit__(self, *exc_info: object) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            self._before_cancel()
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)


class Client:
    def __init__(
        self,
        *,
        store: JobStore | None = None,
        kie: KieGateway | None = None,
        messengers: Sequence[Messenger] = (),
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        config: Config | None = None,
        workers: bool = True,
        resources: Sequence[AbstractAsyncContextManager[Any]] = (),
        simulator: SimulatorConfig | None = None,
    ) -> None:
        """Adapters not given get the embedded defaults: an in-memory store, the built-in KIE simulator (its
        callbacks delivered in process), the system clock, an in-process notifier and a console messenger.
        ``resources`` are entered and closed with the client (e.g. a SQL store or an httpx client)."""
        self.clock = clock or SystemClock()
        config = config or Config()
        if not config.callback_secret:
            config = attrs.evolve(config, callback_secret=secrets.token_bytes(32))
        self._resources: list[AbstractAsyncContextManager[Any]] = list(resources)
        self.simulator: SimulatedKie | None = None
        if kie is None:
            sim_config = simulator or SimulatorConfig(delay_s=2.0)
            if sim_config.video_models is None:
                # The simulator makes videos for the registry's video models, as KIE does.
                videos = frozenset(spec.id for spec in config.registry if spec.media is Media.VIDEO)
                sim_config = attrs.evolve(sim_config, video_models=videos)
            self.simulator = SimulatedKie(self.clock, sim_config, callback_sink=self.receive_callback)
            self._resources.append(self.simulator)
            kie = self.simulator
            if config.public_url is None:
                config = attrs.evolve(config, public_url=IN_PROCESS_URL)
        if isinstance(kie, SimulatedKie):
            # The simulator's own files are results kiegen itself serves: allowed in callbacks (KIEGEN_RESULT_HOSTS).
            own = f"{kie.config.result_base_url}/"
            if own not in config.own_result_urls:
                config = attrs.evolve(config, own_result_urls=(*config.own_result_urls, own))
        self.ctx = Context(
            store=store or InMemoryJobStore(),
            kie=kie,
            messenger=MessengerRouter([*messengers, ConsoleMessenger()]),
            clock=self.clock,
            notifier=notifier or InProcessNotifier(),
            config=config,
        )
        self.delivery_stats = DeliveryStats()
        self.drain = Drain()
        self.shutdown_grace_s = 10.0
        """On exit, work already claimed (a poll round, deliveries) gets this long to finish."""
        self._workers = workers
        self._stack: AsyncExitStack | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Client:
        """Build from the environment variables of DESIGN.md (see ``from_settings``)."""
        return cls.from_settings(Settings.from_env(environ), **overrides)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Client:
        """Build from ``settings``; any adapter given in ``overrides`` replaces the one the settings would build
        (``kiegen.composition.client_options``)."""
        return cls(**client_options(settings, **overrides))

    @property
    def registry(self) -> ModelRegistry:
        return self.ctx.config.registry

    @property
    def store(self) -> JobStore:
        return self.ctx.store

    async def __aenter__(self) -> Client:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            for resource in self._resources:
                await stack.enter_async_context(resource)
            if self._workers:
                self.drain = Drain()
                stop = partial(self.drain.begin, self.shutdown_grace_s)
                await stack.enter_async_context(_Background(self._run_workers, before_cancel=stop))
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def _run_workers(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await run_workers(self.ctx, stats=self.delivery_stats, drain=self.drain, task_status=task_status)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def submit(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        recipient: str = "none",
        user_id: str | None = None,
        idempotency_key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        raw: bool = False,
    ) -> Job:
        """Validate, charge, store and submit; returns at once with the stored job (``InvalidInput`` lists
        every problem and nothing is stored).

        ``raw=True`` skips kiegen's schema: ``inputs`` go to KIE as given (for a model KIE added after this
        release, or an input kiegen does not list yet). The job is marked (``kiegen.core.validation.is_raw``);
        KIE itself still refuses what it cannot take."""
        return await submit(
            self.ctx,
            model,
            inputs,
            recipient=recipient,
            user_id=user_id,
            idempotency_key=idempotency_key,
            metadata=metadata,
            raw=raw,
        )

    async def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """The job once terminal (storage first; KIE is asked only when a check is due)."""
        return await wait(self.ctx, job_id, timeout=timeout)

    async def generate(self, model: str, inputs: Mapping[str, Any], **options: Any) -> Job:
        """``submit`` then ``wait``: the finished job (SUCCEEDED, FAILED or TIMED_OUT)."""
        timeout = options.pop("timeout", None)
        job = await self.submit(model, inputs, **options)
        return await self.wait(job.id, timeout=timeout)

    async def cancel(
        self, job_id: str, *, reason: str = "cancelled by the user", source: EvidenceSource = EvidenceSource.USER
    ) -> Cancellation:
        """Withdraw a job that is still running: it ends CANCELLED, its hold is released, nothing is delivered
        for it (a result KIE still sends is kept on the job, not delivered, not charged). A job that has ended
        is left as it is (``cancelled=False``). ``source`` says who withdrew it (``OPERATOR`` for the console).
        Raises ``JobNotFound`` for an unknown id."""
        return await cancel(self.ctx, job_id, reason=reason, source=source)

    async def credits(self) -> Decimal:
        """The KIE account's balance (the simulator's when there is no KIE key)."""
        return await self.ctx.kie.credits()

    async def get(self, job_id: str) -> Job | None:
        return await self.ctx.store.get(job_id)

    @property
    def free_quota(self) -> int | None:
        """Free generations per user per UTC day (None: unlimited)."""
        return self.ctx.config.free_quota

    async def upload(self, data: bytes, *, filename: str, mime: str) -> str:
        """Upload an input file to KIE's file API; returns the URL to pass as an image input."""
        return await self.ctx.kie.upload(data, filename=filename, mime=mime)

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[Subscription]:
        """Wake-ups for changes of one job (a hint: re-read the job after each ``wait``)."""
        return self.ctx.notifier.subscribe(job_id)

    def wrap_messenger(self, wrap: Callable[[Messenger], Messenger]) -> None:
        """Put ``wrap(messenger)`` around the client's messenger (e.g. to count deliveries). Before the client is
        entered: its workers run on the context they start with."""
        if self._stack is not None:
            raise RuntimeError("wrap_messenger() must be called before the client is entered")
        self.ctx = attrs.evolve(self.ctx, messenger=wrap(self.ctx.messenger))

    async def handle_callback(
        self,
        *,
        job_id: str | None,
        token: str | None,
        body: bytes,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CallbackResult:
        """A KIE callback as the HTTP layer received it (path job id, ``token`` query value, raw body)."""
        return await handle_callback(self.ctx, job_id=job_id, token=token, body=body, query=query, headers=headers)

    async def jobs(self, *, user_id: str | None = None, limit: int = 50) -> list[Job]:
        return await self.ctx.store.list_jobs(user_id=user_id, limit=limit)

    async def receive_callback(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> CallbackResult:
        """Handle a KIE callback addressed to ``url`` (a callBackUrl this client built)."""
        job_id, token, query = parse_callback_url(url)
        if not url.startswith((self.ctx.config.public_url or "\0", IN_PROCESS_URL)):
            return CallbackResult(404, CallbackOutcome.UNKNOWN_JOB, job_id)
        return await handle_callback(self.ctx, job_id=job_id, token=token, body=body, query=query, headers=headers)
