"""Background work of one process: the poller and the deliverer.

Everything runs from the database: a job's next remote check and its deliveries are rows, claimed under
leases, so several processes may run workers on one database and a crash loses nothing (the lease expires and
someone else picks the work up).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import timedelta

import anyio
import anyio.abc

from kiegen.core.delivery import Claim
from kiegen.core.jobs import JobStatus
from kiegen.services.context import Context, sleep_or_wake
from kiegen.services.deliver import DeliveryStats, deliver_claim
from kiegen.services.refresh import expire, refresh
from kiegen.services.submit import resubmit

__all__ = ["Drain", "poll_due", "run_deliverer", "run_poller", "run_workers"]

log = logging.getLogger("kiegen.workers")


async def poll_due(ctx: Context, *, limit: int = 32) -> int:
    """Claim the jobs due for attention and handle each: check KIE, submit again, or time out."""
    now = ctx.clock.now()
    jobs = await ctx.store.claim_due_checks(
        now, lease_until=now + timedelta(seconds=ctx.config.check_lease_s), limit=limit
    )
    if not jobs:
        return 0
    limiter = anyio.CapacityLimiter(ctx.config.worker_concurrency)

    async def handle(job_id: str) -> None:
        async with limiter:
            job = await ctx.store.get(job_id)
            if job is None or job.terminal:
                return
            if ctx.clock.now() >= job.deadline_at:
                await expire(ctx, job)
            elif job.status is JobStatus.PENDING or job.task_id is None:
                await resubmit(ctx, job)
            else:
                await refresh(ctx, job)

    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(handle, job.id)
    return len(jobs)


async def run_poller(ctx: Context, *, drain: Drain | None = None) -> None:
    while drain is None or not drain.stopping:
        handled = 0  # stays 0 when a drained round is cut off at its deadline
        try:
            with drain.protect() if drain is not None else nullcontext():
                handled = await poll_due(ctx)
        except Exception:  # a bad round must not stop the poller; the work stays in the database
            log.exception("poller round failed")
        if not handled:
            await ctx.clock.sleep(ctx.config.worker_interval_s)


class Drain:
    """A graceful stop for the poller and the deliverer: call ``begin(grace_s)``, then cancel the workers. Once
    begun, they claim nothing new; a round already claimed is shielded from the cancellation for at most
    ``grace_s`` seconds to finish. Whatever is still unfinished then is cancelled, and its leases expire so that
    another worker (or this one, restarted) does it. Rounds are never cancelled half-way otherwise: a database
    call cut off mid-query can leave the driver's connection half-closed (SQLAlchemy's aiosqlite adapter then
    never finishes closing it, and the process cannot exit)."""

    def __init__(self) -> None:
        self.stopping = False
        self._deadline = math.inf
        self._rounds: set[anyio.CancelScope] = set()

    def begin(self, grace_s: float) -> None:
        self.stopping = True
        self._deadline = anyio.current_time() + max(0.0, grace_s)
        for scope in self._rounds:
            scope.deadline = min(scope.deadline, self._deadline)

    @contextmanager
    def protect(self) -> Iterator[None]:
        with anyio.CancelScope(shield=True, deadline=self._deadline) as scope:
            self._rounds.add(scope)
            try:
                yield
            finally:
                self._rounds.discard(scope)


async def run_deliverer(ctx: Context, stats: DeliveryStats | None = None, *, drain: Drain | None = None) -> None:
    """Deliver from the outbox continuously: up to ``Config.delivery_concurrency`` deliveries in flight, more
    claimed as soon as one finishes or the outbox is poked (a slow recipient holds its own slot only, not a
    round). Each delivery is shielded by ``drain`` at a graceful stop."""
    stats = stats if stats is not None else DeliveryStats()
    capacity = max(1, ctx.config.delivery_concurrency)
    in_flight: set[str] = set()
    """Ids being sent by this process: never claimed again while they are (their lease may run out first)."""
    freed = anyio.Event()

    async def deliver_one(claim: Claim) -> None:
        try:
            with drain.protect() if drain is not None else nullcontext():
                await deliver_claim(ctx, claim, stats)
        finally:
            in_flight.discard(claim.delivery.id)
            freed.set()

    async with anyio.create_task_group() as tg:
        while drain is None or not drain.stopping:
            if len(in_flight) >= capacity:
                await freed.wait()
                freed = anyio.Event()
                continue
            ctx.reset_outbox()
            claims: list[Claim] = []
            try:
                with drain.protect() if drain is not None else nullcontext():
                    claims = await ctx.store.claim_deliveries(
                        ctx.clock.now(),
                        lease_s=ctx.config.delivery_lease_s,
                        limit=min(capacity - len(in_flight), _CLAIM_BATCH),
                        schemes=ctx.messenger.schemes,
                        exclude=frozenset(in_flight),
                    )
            except Exception:
                log.exception("claiming deliveries failed")
            for claim in claims:
                in_flight.add(claim.delivery.id)
                tg.start_soon(deliver_one, claim)
            if not claims:
                await sleep_or_wake(ctx.clock, ctx.config.worker_interval_s, ctx.outbox.wait)


_CLAIM_BATCH = 32
"""Deliveries claimed at most per claim (a claim is one statement; more would hold rows others could take)."""


async def run_workers(
    ctx: Context,
    *,
    stats: DeliveryStats | None = None,
    drain: Drain | None = None,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run the poller and the deliverer until cancelled (see ``Drain`` for a graceful stop). Nothing needs
    recovering first: deliveries and checks left by a dead process are rows whose leases expire."""
    ctx.poke_outbox()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: run_poller(ctx, drain=drain))
        tg.start_soon(lambda: run_deliverer(ctx, stats, drain=drain))
        task_status.started()
