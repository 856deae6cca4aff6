"""Submitting a generation: validate, hold credits, write the job, then (and only then) call createTask.

The job row exists before createTask is called, so a callback can never find no job; its callBackUrl carries
the job id and a per-job token. A definite refusal fails the job and releases the hold. A failure that leaves
the task's existence unknown (timeout after sending) or that only defers it (rate limit, maintenance) leaves
the job PENDING: the poller submits it again after a pause, at most ``max_submit_attempts`` times in all, and
times it out after that. The only way to get two upstream tasks is an ambiguous first attempt; a callback of
the first one is recognised (its task id differs) and is treated as a hint, never delivered twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from kiegen.core.errors import KieError, KieTransportError, KieUnavailable
from kiegen.core.events import EventKind, JobEvent
from kiegen.core.frozen import thaw
from kiegen.core.jobs import Evidence, EvidenceSource, Job, JobStatus
from kiegen.core.models import VIDEO_DEADLINE_S, Media
from kiegen.core.polling import first_check_at
from kiegen.core.validation import RAW_MARK, check_raw
from kiegen.services.context import Context, new_job_id
from kiegen.services.record import record, reschedule

__all__ = ["resubmit", "submit"]

log = logging.getLogger("kiegen.submit")


async def submit(
    ctx: Context,
    model: str,
    inputs: Mapping[str, Any],
    *,
    recipient: str = "none",
    user_id: str | None = None,
    idempotency_key: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    raw: bool = False,
) -> Job:
    """Validate and submit. Raises ``InvalidInput`` (nothing stored), ``InsufficientCredits`` or
    ``QuotaExceeded`` (nothing stored). Returns the job as stored after createTask answered (or failed).

    ``raw=True`` sends ``inputs`` to KIE as given, for a model kiegen does not know yet or inputs its schema
    lacks: only the model id and the shape of ``inputs`` are checked, the job's metadata says ``kiegen_raw``, a
    known model keeps its price and deadline, an unknown one is free to end users and waits like a video."""
    registry = ctx.config.registry
    if raw:
        spec = registry.find(model)
        normalized = check_raw(model, inputs)
        metadata = {**(metadata or {}), RAW_MARK: True}
        price, deadline_s = (spec.price, spec.deadline_s) if spec else (0, float(VIDEO_DEADLINE_S))
        # An unknown model's results are sent as images; the messenger's ladder still gets a video through.
        media = spec.media if spec else Media.IMAGE
        log.warning("job for %s: input sent to KIE unvalidated (raw)", model)
    else:
        known = registry.get(model)
        normalized = registry.validate(model, inputs)
        price, deadline_s, media = known.price, known.deadline_s, known.media
    now = ctx.clock.now()
    deadline = now + timedelta(seconds=deadline_s)
    job = Job(
        id=new_job_id(),
        model=model,
        inputs=normalized,
        recipient=recipient,
        user_id=user_id,
        price=price,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
        deadline_at=deadline,
        next_check_at=min(deadline, now + timedelta(seconds=ctx.config.policy.submit_grace_s)),
        submit_attempts=1,
        metadata=metadata or {},
        media=media,
    )
    created = await ctx.store.create_job(job, free_quota=ctx.config.free_quota if user_id else None)
    if not created.created:
        return created.job
    return await _create_task(ctx, created.job)


async def resubmit(ctx: Context, job: Job) -> Job:
    """Called by the poller for a PENDING job whose submission was interrupted or deferred."""
    if job.submit_attempts >= ctx.config.max_submit_attempts:
        transition = await record(
            ctx,
            job.id,
            attrs.evolve(
                Evidence.deadline(),
                source=EvidenceSource.RECOVERY,
                error_code="submit_failed",
                error_message=f"KIE did not accept the task after {job.submit_attempts} attempts",
            ),
        )
        return transition.after
    now = ctx.clock.now()
    grace = timedelta(seconds=ctx.config.policy.submit_grace_s)
    claimed = await reschedule(
        ctx,
        job.id,
        lambda j: attrs.evolve(
            j, submit_attempts=j.submit_attempts + 1, next_check_at=min(j.deadline_at, now + grace), updated_at=now
        ),
    )
    if claimed is None or claimed.status is not JobStatus.PENDING:
        return claimed or job
    log.info("job %s: submitting again (attempt %d)", job.id, claimed.submit_attempts, extra={"job_id": job.id})
    return await _create_task(ctx, claimed)


async def _create_task(ctx: Context, job: Job) -> Job:
    policy = ctx.config.policy
    try:
        # Plain JSON for the gateway: the job's frozen inputs hold tuples where KIE's JSON has arrays.
        inputs = thaw(job.inputs)
        task_id = await ctx.kie.create_task(job.model, inputs, callback_url=ctx.config.callback_url(job.id))
    except (KieTransportError, KieUnavailable) as exc:
        # A 5xx answer may come after KIE created the task, just like a timeout after sending; 455
        # (maintenance) and failures before sending did not create anything.
        ambiguous = exc.sent if isinstance(exc, KieTransportError) else exc.code != 455
        if ambiguous:
            # The task may exist upstream. Leave the job PENDING: its callback can still complete it, and the
            # poller submits again after the submit grace if nothing arrives.
            log.warning("job %s: createTask outcome unknown: %s", job.id, exc.message, extra={"job_id": job.id})
            await ctx.store.add_events([_submit_error(ctx, job, exc, "outcome unknown")])
            return await ctx.store.get(job.id) or job
        return await _defer(ctx, job, exc)
    except KieError as exc:
        if exc.retryable:
            return await _defer(ctx, job, exc)
        log.warning("job %s: createTask refused: %s", job.id, exc.message, extra={"job_id": job.id})
        code = f"kie_{exc.code}" if exc.code is not None else "kie_refused"
        story = [_submit_error(ctx, job, exc, "refused")]
        transition = await record(ctx, job.id, Evidence.submit_failed(code, exc.message), events=story)
        return transition.after
    transition = await record(
        ctx,
        job.id,
        Evidence.submitted(task_id),
        adjust=lambda j: (
            j
            if j.terminal or j.next_check_at is None or j.checks
            else attrs.evolve(
                j, next_check_at=first_check_at(j.submitted_at or j.created_at, j.deadline_at, policy, j.media)
            )
        ),
    )
    return transition.after


async def _defer(ctx: Context, job: Job, exc: KieError) -> Job:
    """KIE refused for now (the request was dropped or never left): try again after a pause."""
    delay = exc.retry_after if exc.retry_after is not None else ctx.config.policy.backoff_base_s
    retry_at = ctx.clock.now() + timedelta(seconds=min(delay, ctx.config.policy.backoff_cap_s))
    log.warning("job %s: createTask deferred: %s", job.id, exc.message, extra={"job_id": job.id})
    story = [_submit_error(ctx, job, exc, "deferred", retry_at=retry_at.isoformat())]
    stored = await reschedule(
        ctx, job.id, lambda j: attrs.evolve(j, next_check_at=min(j.deadline_at, retry_at)), events=story
    )
    return stored or job


def _submit_error(ctx: Context, job: Job, exc: KieError, outcome: str, **detail: Any) -> JobEvent:
    return JobEvent(
        job_id=job.id,
        at=ctx.clock.now(),
        kind=EventKind.SUBMIT_ERROR,
        detail={"attempt": job.submit_attempts, "outcome": outcome, "error": exc.message, "code": exc.code, **detail},
    )
