"""One remote check of a job with KIE's recordInfo, and timing jobs out at their deadline."""

from __future__ import annotations

import logging
from datetime import timedelta

import attrs

from kiegen.core.errors import ConcurrencyConflict, KieError, KieTaskNotFound
from kiegen.core.events import JobEvent
from kiegen.core.jobs import Evidence, EvidenceKind, EvidenceSource, Job
from kiegen.core.polling import schedule_after_check
from kiegen.core.tasks import evidence_from_snapshot
from kiegen.services.context import Context
from kiegen.services.record import record, reschedule

__all__ = ["claim_check", "expire", "refresh"]

log = logging.getLogger("kiegen.poll")


async def claim_check(ctx: Context, job: Job) -> Job | None:
    """Take the right to check ``job`` now by moving its next check to the end of a lease (optimistic: if
    anyone else changed the job first, the claim fails and None comes back)."""
    lease_until = ctx.clock.now() + timedelta(seconds=ctx.config.check_lease_s)
    try:
        return await ctx.store.save(attrs.evolve(job, next_check_at=lease_until), expected_version=job.version)
    except ConcurrencyConflict:
        return None


async def refresh(ctx: Context, job: Job) -> Job:
    """Ask KIE about the job's task once and record what it says. Errors reschedule the check with backoff."""
    if job.task_id is None or job.terminal:
        return job
    now = ctx.clock.now()
    policy = ctx.config.policy

    def counted(j: Job) -> Job:
        checked = attrs.evolve(j, checks=j.checks + 1)
        if checked.terminal:
            return checked
        return attrs.evolve(checked, next_check_at=schedule_after_check(checked, ctx.clock.now(), policy))

    try:
        snapshot = await ctx.kie.get_task(job.task_id)
    except KieTaskNotFound as exc:
        story = [JobEvent.checked(job, ctx.clock.now(), error="task not found", code=exc.code)]
        since = (now - (job.submitted_at or job.created_at)).total_seconds()
        if since >= policy.not_visible_grace_s:
            not_found = Evidence(
                kind=EvidenceKind.FAILED,
                source=EvidenceSource.POLL,
                task_id=job.task_id,
                error_code="task_not_found",
                error_message=exc.message,
            )
            return (await record(ctx, job.id, not_found, adjust=counted, events=story)).after
        return await reschedule(ctx, job.id, counted, events=story) or job
    except KieError as exc:
        log.warning("job %s: recordInfo failed: %s", job.id, exc.message, extra={"job_id": job.id})
        story = [JobEvent.checked(job, ctx.clock.now(), error=exc.message, code=exc.code)]
        return await reschedule(ctx, job.id, counted, events=story) or job
    story = [JobEvent.snapshot_checked(job, ctx.clock.now(), snapshot)]
    evidence = evidence_from_snapshot(snapshot, source=EvidenceSource.POLL)
    if evidence is None:
        log.warning("job %s: KIE reports state %r", job.id, snapshot.state.value, extra={"job_id": job.id})
        return await reschedule(ctx, job.id, counted, events=story) or job
    return (await record(ctx, job.id, evidence, adjust=counted, current=job, events=story)).after


async def expire(ctx: Context, job: Job) -> Job:
    """The deadline passed: time the job out (releasing any hold and notifying the recipient)."""
    return (await record(ctx, job.id, Evidence.deadline())).after
