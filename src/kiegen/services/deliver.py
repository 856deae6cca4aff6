"""Delivering terminal jobs from the outbox, under leases.

A claim's attempt number fences: once the lease expired and another worker claimed the delivery again, the
first worker's ``complete``/``fail`` raise ``LeaseLost`` and change nothing. The one duplicate window is a
crash after the messenger accepted and before ``complete`` was stored; it is counted by the crash harness.

Faults are isolated (RELIABILITY rule 10): whatever one delivery raises, a kiegen error or a third-party
exception that escaped an adapter (``httpx.InvalidURL`` for a webhook URL with a TAB in it, say), fails that
delivery alone. It is logged with its job id, rescheduled with backoff and counted against its own attempt
limit (``Config.max_delivery_attempts``); it never cancels the other deliveries of the round, which run in
the same task group. A delivery claimed again after its earlier attempts died with their process (each claim
counts an attempt) is given up once it is past the limit, before anything is sent.
"""

from __future__ import annotations

import logging
import traceback
from datetime import timedelta

import anyio
import attrs

from kiegen.core.delivery import Claim, DeliveryStatus, retry_delay_s
from kiegen.core.errors import DeliveryDeferred, KiegenError, LeaseLost, RecipientGone
from kiegen.services.context import Context

__all__ = ["DeliveryStats", "deliver_claim", "deliver_due"]

log = logging.getLogger("kiegen.deliver")

MAX_ERROR_CHARS = 300
"""How much of an unexpected exception's text is kept in the delivery row and the log line."""


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
    """Deliver one claim. Never raises (but for cancellation): see the module docstring."""
    delivery = claim.delivery
    try:
        await _deliver(ctx, claim, stats)
    except LeaseLost:
        stats.lease_lost += 1
        log.warning(
            "delivery %s: lease lost (attempt %d)", delivery.id, claim.attempt, extra={"job_id": delivery.job_id}
        )
    except Exception as exc:  # the store failed while recording: the lease expires and the delivery comes back
        log.error(
            "job %s: delivery %s attempt %d could not be recorded: %s; it is tried again when its lease expires",
            delivery.job_id,
            delivery.id,
            claim.attempt,
            _describe(exc),
            extra={"job_id": delivery.job_id},
        )


async def _deliver(ctx: Context, claim: Claim, stats: DeliveryStats) -> None:
    delivery = claim.delivery
    now = ctx.clock.now()
    if claim.attempt > ctx.config.max_delivery_attempts:
        error = f"gave up: claimed {claim.attempt} times, earlier attempts ended with their process"
        log.error("job %s: delivery %s %s", delivery.job_id, delivery.id, error, extra={"job_id": delivery.job_id})
        await ctx.store.fail_delivery(claim, error=error, now=now, retry_at=None, status=DeliveryStatus.FAILED)
        stats.failed += 1
        return
    job = await ctx.store.get(delivery.job_id)
    if job is None:
        await ctx.store.fail_delivery(
            claim, error="job not found", now=now, retry_at=None, status=DeliveryStatus.FAILED
        )
        stats.failed += 1
        return
    if not delivery.id.endswith(":" + job.status.value):
        # A late success replaced the timeout this delivery was about; the success has its own delivery.
        await ctx.store.complete_delivery(claim, receipt="superseded", now=now)
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
    except DeliveryDeferred as exc:
        await _retry_later(ctx, claim, exc.message, stats, retry_after=exc.retry_after)
        return
    except KiegenError as exc:
        await _retry_later(ctx, claim, exc.message, stats)
        return
    except Exception as exc:  # a messenger let a third-party exception out: this delivery alone pays for it
        await _retry_later(ctx, claim, f"unexpected error: {_describe(exc)}", stats)
        return
    await ctx.store.complete_delivery(claim, receipt=receipt.detail, now=ctx.clock.now())
    stats.sent += 1


async def _retry_later(
    ctx: Context, claim: Claim, error: str, stats: DeliveryStats, *, retry_after: float | None = None
) -> None:
    """Record a failed attempt: rescheduled with backoff (``retry_after`` when the recipient asked for it), or
    ended as FAILED once the attempt limit is reached. Either way one line says what happened and what next."""
    delivery = claim.delivery
    now = ctx.clock.now()
    limit = ctx.config.max_delivery_attempts
    extra = {"job_id": delivery.job_id}
    if claim.attempt >= limit:
        log.error(
            "job %s: delivery %s attempt %d of %d failed: %s; giving up",
            delivery.job_id,
            delivery.id,
            claim.attempt,
            limit,
            error,
            extra=extra,
        )
        await ctx.store.fail_delivery(claim, error=error, now=now, retry_at=None, status=DeliveryStatus.FAILED)
        stats.failed += 1
        return
    delay = retry_after if retry_after is not None else retry_delay_s(claim.attempt)
    retry_at = now + timedelta(seconds=delay)
    log.warning(
        "job %s: delivery %s attempt %d of %d failed: %s; next try in %.0f s (%s)",
        delivery.job_id,
        delivery.id,
        claim.attempt,
        limit,
        error,
        delay,
        retry_at.isoformat(timespec="seconds"),
        extra=extra,
    )
    await ctx.store.fail_delivery(claim, error=error, now=now, retry_at=retry_at)
    stats.deferred += 1


def _describe(exc: BaseException) -> str:
    """The exception's type, text and the place it was raised: enough to find the bug, without the traceback
    (whose frames could carry a URL's token into the log)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    text = str(exc)
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + "..."
    return f"{type(exc).__name__}{where}: {text}" if text else f"{type(exc).__name__}{where}"
