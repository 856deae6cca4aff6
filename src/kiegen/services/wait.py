"""Waiting for a job, storage first.

The waiter re-reads storage whenever the Notifier fires and at ``policy.reread_s`` (backing off to
``reread_max_s`` while the job does not change); it asks KIE only when
``decide`` says a check is due, and only after claiming that check (so concurrent waiters and the poller never
ask twice); it times the job out at its deadline. A job whose callback has been stored is answered from
storage at once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from kiegen.core.errors import JobNotFound
from kiegen.core.jobs import Job
from kiegen.core.polling import Verdict, decide
from kiegen.services.context import Context, sleep_or_wake
from kiegen.services.refresh import claim_check, expire, refresh

__all__ = ["wait"]


async def wait(ctx: Context, job_id: str, *, timeout: float | None = None) -> Job:
    """Return the job once it is terminal, or as it stands when ``timeout`` (clock seconds) has passed.
    Raises ``JobNotFound`` for an unknown id."""
    give_up: datetime | None = None
    policy = ctx.config.policy
    seen: Job | None = None
    reread_s = policy.reread_s
    async with ctx.notifier.subscribe(job_id) as subscription:
        while True:
            job = await ctx.store.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
            # An idle re-read backs off; a change (or a first read) starts again from the short pause.
            reread_s = policy.reread_s if seen is None or job != seen else min(policy.reread_max_s, 2 * reread_s)
            seen = job
            now = ctx.clock.now()
            if give_up is None and timeout is not None:
                give_up = now + _seconds(timeout)
            decision = decide(job, now, policy)
            if decision.verdict is Verdict.DONE:
                return job
            if decision.verdict is Verdict.TIME_OUT:
                return await expire(ctx, job)
            if decision.verdict is Verdict.CHECK:
                claimed = await claim_check(ctx, job)
                if claimed is not None:
                    job = await refresh(ctx, claimed)
                    if job.terminal:
                        return job
                continue
            if give_up is not None and now >= give_up:
                return job
            pause = reread_s
            if decision.until is not None:
                pause = min(pause, max(0.0, (decision.until - now).total_seconds()))
            if give_up is not None:
                pause = min(pause, (give_up - now).total_seconds())
            await sleep_or_wake(ctx.clock, pause, subscription.wait)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value if math.isfinite(value) else 10 * 365 * 86400)
