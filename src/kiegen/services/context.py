"""What every use case needs: the ports and the operator's policy, bundled once by the composition root."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import quote, urlencode

import anyio
import attrs

from kiegen.catalogue import default_registry
from kiegen.core.callbacks import DEFAULT_RESULT_HOSTS, callback_token
from kiegen.core.delivery import recipient_scheme
from kiegen.core.errors import RecipientGone
from kiegen.core.jobs import Job
from kiegen.core.polling import PollPolicy
from kiegen.core.registry import ModelRegistry
from kiegen.ports.clock import Clock
from kiegen.ports.kie import KieGateway
from kiegen.ports.messaging import Messenger, Receipt
from kiegen.ports.notify import Notifier
from kiegen.ports.store import JobStore

__all__ = ["CALLBACK_PATH", "Config", "Context", "MessengerRouter", "Outbox", "new_job_id", "sleep_or_wake"]

log = logging.getLogger("kiegen")

CALLBACK_PATH = "/callbacks/kie"
"""callBackUrl = ``<public url>/callbacks/kie/<job id>?token=<per-job token>``."""


def new_job_id() -> str:
    return uuid.uuid4().hex


async def sleep_or_wake(clock: Clock, seconds: float, wake: Callable[[], Awaitable[object]]) -> None:
    """Sleep ``seconds`` of the clock's time, or less if ``wake()`` returns first. A ``ScopedClock`` bounds the
    wait with a cancel scope (no task of its own: 10,000 waiters are 10,000 tasks, not 30,000)."""
    scoped = getattr(clock, "move_on_after", None)
    if scoped is not None:
        with scoped(seconds):
            await wake()
        return
    async with anyio.create_task_group() as tg:

        async def sleeper() -> None:
            await clock.sleep(seconds)
            tg.cancel_scope.cancel()

        async def waker() -> None:
            await wake()
            tg.cancel_scope.cancel()

        tg.start_soon(sleeper)
        tg.start_soon(waker)


@attrs.frozen(kw_only=True)
class Config:
    """The operator's policy. Defaults are the documented behaviour of ``DESIGN.md``."""

    registry: ModelRegistry = attrs.field(factory=default_registry)
    policy: PollPolicy = attrs.field(factory=PollPolicy)
    public_url: str | None = None
    """Where KIE can reach the callback endpoint; None means no callbacks (polling only)."""
    callback_secret: bytes = attrs.field(default=b"", repr=False)
    kie_hmac_key: bytes | None = attrs.field(default=None, repr=False)
    allowed_result_hosts: frozenset[str] | None = DEFAULT_RESULT_HOSTS
    """Result URLs in a token-authenticated callback must be on these hosts (a leading dot allows subdomains;
    None: any public http(s) host); others make the callback a hint, checked with recordInfo."""
    own_result_urls: tuple[str, ...] = ()
    """URL prefixes of files kiegen's own KIE serves (the built-in simulator, a ``kiegen simulate-kie`` at
    ``KIEGEN_KIE_BASE_URL``): allowed in callbacks whatever their host."""
    allow_private_urls: bool = False
    """``KIEGEN_ALLOW_PRIVATE_URLS``: callback result URLs on loopback or private addresses are believed."""
    free_quota: int | None = None
    """Free generations per user per UTC day; None: unlimited."""
    max_submit_attempts: int = 2
    """createTask attempts for one job when an earlier one was interrupted or refused for now."""
    delivery_lease_s: float = 60.0
    check_lease_s: float = 60.0
    max_delivery_attempts: int = 8
    worker_interval_s: float = 0.5
    worker_concurrency: int = 8
    """Remote checks (recordInfo) a poller round runs at once."""
    delivery_concurrency: int = 64
    """Deliveries in flight at once (each waits on its recipient: a webhook, Telegram)."""

    def callback_url(self, job_id: str) -> str | None:
        if not self.public_url:
            return None
        token = callback_token(self.callback_secret, job_id)
        base = self.public_url.rstrip("/")
        return f"{base}{CALLBACK_PATH}/{quote(job_id, safe='')}?{urlencode({'token': token})}"


class MessengerRouter:
    """A Messenger that hands each job to the first messenger serving its recipient scheme. The ``none``
    recipient (results fetched by the caller through the API) is delivered by recording it, nothing more."""

    def __init__(self, messengers: Sequence[Messenger]) -> None:
        self.messengers = tuple(messengers)
        served = [m.schemes for m in self.messengers]
        self.schemes: frozenset[str] | None = (
            None if any(s is None for s in served) else frozenset({"none"}).union(*(s for s in served if s))
        )

    def handles(self, recipient: str) -> bool:
        return recipient == "none" or any(m.handles(recipient) for m in self.messengers)

    async def deliver(self, job: Job) -> Receipt:
        if job.recipient == "none":
            await anyio.lowlevel.checkpoint()
            return Receipt(detail="none")
        for messenger in self.messengers:
            if messenger.handles(job.recipient):
                return await messenger.deliver(job)
        scheme = recipient_scheme(job.recipient)
        raise RecipientGone(f"no messenger is configured for {scheme!r} recipients")


class Outbox:
    """Wakes this process's deliverer the moment a delivery is written (other processes find it by polling the
    outbox)."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def poke(self) -> None:
        self._event.set()

    def reset(self) -> None:
        if self._event.is_set():
            self._event = anyio.Event()

    async def wait(self) -> None:
        await self._event.wait()


@attrs.frozen(kw_only=True)
class Context:
    """The ports plus the policy; frozen (a client that needs another context makes one with ``attrs.evolve``)."""

    store: JobStore
    kie: KieGateway
    messenger: Messenger
    clock: Clock
    notifier: Notifier
    config: Config = attrs.field(factory=Config)
    outbox: Outbox = attrs.field(factory=Outbox)

    def poke_outbox(self) -> None:
        self.outbox.poke()

    def reset_outbox(self) -> None:
        self.outbox.reset()
