"""Delivering terminal jobs from the outbox, under leases.

A claim's attempt number fences: once the lease expired and another worker claimed the delivery again, the
first worker's ``complete``/``fail`` raise ``LeaseLost`` and change nothing. The one duplicate window is a
crash after the messenger accepted and before ``complete`` was stored; it is counted by the crash harness.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio
import attrs

from kiegen.core.delivery import Claim, DeliveryStatus, retry_delay_s
from kiegen.core.errors import DeliveryDeferred, KiegenError, LeaseLost, RecipientGone
from kiegen.services.context import Context

__all__ = ["DeliveryStats", "deliver_claim", "deliver_due"]

log = logging.getLogger("kiegen.deliver")


@attrs.define
class DeliveryStats:
    sent: int = 0
    deferred: int = 0
    gone: int = 0
    failed: int = 0
    superseded: int = 0
    lease_lost: int = 0


async def deliver_due(ctx: Context, *, limit: int = 16, stats: DeliveryStats | None = None) -> int:
    """Claim and deliver up to ``limit`` due deliveries concurrently; returns how many were claimed. Only
    deliveries this process has a messenger for are claimed: the others wait for the process that has one."""
    stats = stats if stats is not None else DeliveryStats()
    claims = await ctx.store.claim_deliveries(
        ctx.clock.now(), lease_s=ctx.config.delivery_lease_s, limit=limit, schemes=ctx.messenger.schemes
    )
    if not claims:
        return 0
    async with anyio.create_task_group() as tg:
        for claim in claims:
            tg.start_soon(deliver_claim, ctx, claim, stats)
    return len(claims)


async def deliver_claim(ctx: Context, claim: Claim, stats: DeliveryStats) -> None:
    delivery = claim.delivery
    ctx.crash_hook("after_delivery_claimed")
    try:
        job = await ctx.store.get(delivery.job_id)
        if job is None:
            await ctx.store.fail_delivery(
                claim, error="job not found", now=ctx.clock.now(), retry_at=None, status=DeliveryStatus.FAILED
            )
            stats.failed += 1
            return
        if not delivery.id.endswith(":" + job.status.value):
            # A late success replaced the timeout this delivery was about; the success has its own delivery.
            await ctx.store.complete_delivery(claim, receipt="superseded", now=ctx.clock.now())
            stats.superseded += 1
            return
        try:
            receipt = await ctx.messenger.deliver(job)
        except RecipientGone as exc:
            log.warning("job %s: recipient gone: %s", job.id, exc.message, extra={"job_id": job.id})
            await ctx.store.fail_delivery(
                claim, error=exc.message, now=ctx.clock.now(), retry_at=None, status=DeliveryStatus.GONE
            )
            stats.gone += 1
            return
        except KiegenError as exc:
            await _retry_later(ctx, claim, exc, stats)
            return
        ctx.crash_hook("after_messenger_accepted")
        await ctx.store.complete_delivery(claim, receipt=receipt.detail, now=ctx.clock.now())
        stats.sent += 1
    except LeaseLost:
        stats.lease_lost += 1
        log.warning("delivery %s: lease lost (attempt %d)", delivery.id, claim.attempt)


async def _retry_later(ctx: Context, claim: Claim, exc: KiegenError, stats: DeliveryStats) -> None:
    now = ctx.clock.now()
    if claim.attempt >= ctx.config.max_delivery_attempts:
        await ctx.store.fail_delivery(claim, error=exc.message, now=now, retry_at=None, status=DeliveryStatus.FAILED)
        stats.failed += 1
        return
    retry_after = exc.retry_after if isinstance(exc, DeliveryDeferred) else None
    delay = retry_after if retry_after is not None else retry_delay_s(claim.attempt)
    await ctx.store.fail_delivery(claim, error=exc.message, now=now, retry_at=now + timedelta(seconds=delay))
    stats.deferred += 1
