"""Recording evidence: read, apply the pure rules, store the job with its outbox and ledger rows atomically."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs

from kiegen.core.billing import settlement
from kiegen.core.delivery import InboxEntry, InboxOutcome, delivery_for
from kiegen.core.errors import ConcurrencyConflict, DuplicateEvent, JobNotFound
from kiegen.core.events import EventKind, JobEvent
from kiegen.core.jobs import Evidence, Job, Transition, apply
from kiegen.services.context import Context

__all__ = ["record", "reschedule"]

log = logging.getLogger("kiegen.jobs")

_MAX_CONFLICTS = 20


async def record(
    ctx: Context,
    job_id: str,
    evidence: Evidence,
    *,
    adjust: Callable[[Job], Job] | None = None,
    current: Job | None = None,
    inbox: InboxEntry | None = None,
    events: Sequence[JobEvent] = (),
) -> Transition:
    """Apply ``evidence`` to the stored job; on a terminal change write the delivery and settle the hold in the
    same transaction. ``adjust`` may change bookkeeping fields (check counters, next check) of the result.
    Retries on optimistic-concurrency conflicts; applying the same evidence twice stores nothing new.
    ``current`` is the job as the caller just read it (saves a read; a stale copy only costs a conflict).
    ``inbox`` is the inbound event this evidence came from: it is stored in the same transaction as the change
    (outcome APPLIED), or alone (outcome IGNORED) when the evidence changes nothing; ``DuplicateEvent`` when
    it was stored before. ``events`` go into the job's story with it, and a ``status`` event with any state
    change."""
    for _ in range(_MAX_CONFLICTS):
        job, current = current or await ctx.store.get(job_id), None
        if job is None:
            raise JobNotFound(job_id)
        transition = apply(job, evidence, ctx.clock.now())
        after = adjust(transition.after) if adjust is not None else transition.after
        if after == job:
            if inbox is not None:
                ignored = attrs.evolve(inbox, outcome=InboxOutcome.IGNORED, note=transition.ignored or "")
                if not await ctx.store.record_callback(ignored, events=events):
                    raise DuplicateEvent(inbox.key)
            else:
                await ctx.store.add_events(events)
            return transition
        ledger = [entry for entry in (settlement(transition),) if entry is not None]
        deliveries = [d for d in (delivery_for(transition),) if d is not None]
        try:
            stored = await ctx.store.save(
                after,
                expected_version=job.version,
                ledger=ledger,
                deliveries=deliveries,
                inbox=attrs.evolve(inbox, outcome=InboxOutcome.APPLIED) if inbox is not None else None,
                events=[*events, *_status_change(transition.before, after, evidence, ctx.clock.now())],
                previous=job,
            )
        except ConcurrencyConflict:
            continue
        transition = attrs.evolve(transition, after=stored)
        if transition.before.status is not stored.status:
            log.info(
                "job %s: %s -> %s (%s)",
                job_id,
                job.status.value,
                stored.status.value,
                evidence.source,
                extra={"job_id": job_id},
            )
        if deliveries:
            ctx.poke_outbox()
        await ctx.notifier.publish(job_id)
        return transition
    raise ConcurrencyConflict(job_id)


def _status_change(before: Job, after: Job, evidence: Evidence, now: datetime) -> list[JobEvent]:
    if before.status is after.status:
        return []
    detail: dict[str, Any] = {"from": before.status.value, "to": after.status.value, "source": evidence.source}
    if after.task_id != before.task_id:
        detail["task_id"] = after.task_id
    if after.error_code:
        detail |= {"error_code": after.error_code, "error_message": after.error_message}
    if after.late:
        detail["late"] = True
    return [JobEvent(job_id=after.id, at=now, kind=EventKind.STATUS, detail=detail)]


async def reschedule(
    ctx: Context, job_id: str, change: Callable[[Job], Job], *, events: Sequence[JobEvent] = ()
) -> Job | None:
    """Store a bookkeeping change (next check time, attempts) unless the job became terminal meanwhile;
    ``events`` go into the job's story with the change (never alone: an untrusted hint that changes nothing
    writes nothing)."""
    for _ in range(_MAX_CONFLICTS):
        job = await ctx.store.get(job_id)
        if job is None or job.terminal:
            return job
        changed = change(job)
        if changed == job:
            return job
        try:
            stored = await ctx.store.save(changed, expected_version=job.version, events=events, previous=job)
        except ConcurrencyConflict:
            continue
        await ctx.notifier.publish(job_id)
        return stored
    raise ConcurrencyConflict(job_id)
