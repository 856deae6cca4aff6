"""Handling a KIE callback: decide trust, persist, then answer.

- With a per-job token (in the callBackUrl) that matches the job id, or with a valid KIE HMAC signature, the
  callback is *authenticated*: it is stored in the inbox (deduplicated) before the answer and answered 200
  whether or not its body was readable (an unreadable body is kept and the job checked with KIE).
- Only a **token-authenticated** body may complete a job. KIE's signature covers ``taskId.timestamp``, not the
  body: a signed callback's headers replayed on a crafted body must not make a job succeed, so a signed-only
  body may report progress but its success or failure is a *hint*, confirmed with recordInfo.
- A wrong token is answered 403, a token for no known job 404; nothing is stored or changed.
- A callback without a token (bare path) and without a valid signature that names a known task is only a
  *hint*: the job is checked with KIE soon; its body changes nothing (202). One naming no known task gets 404.
- An authenticated body whose task id is not the job's, whose result URLs are not allowed (hosts outside
  ``KIEGEN_RESULT_HOSTS``, or loopback/private/reserved addresses), or that names no state (KIE's
  verification sample: ``callbackType`` and the task id only) is a hint too: "check this task now".
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence

import attrs

from kiegen.core.callbacks import (
    CallbackReading,
    Unreadable,
    kie_signature_valid,
    read_callback,
    result_urls_allowed,
    token_matches,
)
from kiegen.core.delivery import InboxEntry, InboxOutcome, inbox_key
from kiegen.core.errors import DuplicateEvent
from kiegen.core.events import EventKind, JobEvent
from kiegen.core.jobs import Evidence, EvidenceKind, EvidenceSource, Job
from kiegen.core.tasks import evidence_from_snapshot
from kiegen.services.context import Context
from kiegen.services.record import record, reschedule

__all__ = ["CallbackOutcome", "CallbackResult", "check_soon", "handle_callback"]

log = logging.getLogger("kiegen.callbacks")


class CallbackOutcome(enum.StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    UNREADABLE = "unreadable"
    HINT = "hint"
    FORGED = "forged"
    UNKNOWN_JOB = "unknown_job"


@attrs.frozen
class CallbackResult:
    status: int
    outcome: CallbackOutcome
    job_id: str | None = None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


async def handle_callback(
    ctx: Context,
    *,
    job_id: str | None,
    token: str | None,
    body: bytes,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> CallbackResult:
    query = query or {}
    headers = headers or {}
    reading = read_callback(body, query, headers)
    body_task = reading.snapshot.task_id if isinstance(reading, CallbackReading) else reading.task_id
    job: Job | None
    if job_id is not None:
        if not token_matches(ctx.config.callback_secret, job_id, token):
            log.warning("callback for job %s refused: bad token", job_id, extra={"job_id": job_id})
            return CallbackResult(403, CallbackOutcome.FORGED, job_id)
        # One read finds the job and whether this very body was stored before: a duplicate costs no write.
        job, seen = await ctx.store.get_with_inbox(job_id, inbox_key(job_id, body))
        if job is None:
            return CallbackResult(404, CallbackOutcome.UNKNOWN_JOB, job_id)
        if seen:
            return CallbackResult(200, CallbackOutcome.DUPLICATE, job.id)
        trust = "token"
    else:
        job = await ctx.store.get_by_task(body_task) if body_task else None
        if job is None:
            return CallbackResult(404, CallbackOutcome.UNKNOWN_JOB)
        signed = ctx.config.kie_hmac_key is not None and kie_signature_valid(
            ctx.config.kie_hmac_key,
            body_task or "",
            _header(headers, "X-Webhook-Timestamp"),
            _header(headers, "X-Webhook-Signature"),
            ctx.clock.now(),
        )
        if not signed:
            await check_soon(ctx, job.id, events=[_heard(ctx, job, trust="none", outcome="hint")])
            return CallbackResult(202, CallbackOutcome.HINT, job.id)
        trust = "signature"
    entry = InboxEntry(
        key=inbox_key(job.id, body),
        job_id=job.id,
        task_id=body_task,
        body=body,
        received_at=ctx.clock.now(),
    )
    ruling = _judge(ctx, job, reading, body_trusted=job_id is not None)
    story = [_heard(ctx, job, trust=trust, inbox=entry.key)]
    if ruling.evidence is not None:
        # The inbox row is written in the same transaction as the change it causes (or alone, when the
        # evidence changes nothing); a copy stored before is a duplicate and changes nothing.
        try:
            transition = await record(ctx, job.id, ruling.evidence, current=job, inbox=entry, events=story)
        except DuplicateEvent:
            return CallbackResult(200, CallbackOutcome.DUPLICATE, job.id)
        applied = transition.ignored is None
        return CallbackResult(200, CallbackOutcome.APPLIED if applied else CallbackOutcome.IGNORED, job.id)
    stored = attrs.evolve(entry, outcome=ruling.outcome, note=ruling.note)
    if not await ctx.store.record_callback(stored, events=story):
        return CallbackResult(200, CallbackOutcome.DUPLICATE, job.id)
    if ruling.check:
        await check_soon(ctx, job.id)
    return CallbackResult(200, CallbackOutcome(ruling.outcome.value), job.id)


@attrs.frozen
class _Ruling:
    outcome: InboxOutcome
    note: str = ""
    evidence: Evidence | None = None
    check: bool = False
    """Ask KIE about the task soon (the body was not believed or not readable)."""


def _judge(ctx: Context, job: Job, reading: CallbackReading | Unreadable, *, body_trusted: bool) -> _Ruling:
    """What an authenticated callback body may do to ``job``. ``body_trusted``: the per-job token came with
    it (a KIE signature alone authenticates the task id and the time, not the body)."""
    if isinstance(reading, Unreadable):
        return _Ruling(InboxOutcome.UNREADABLE, reading.reason, check=True)
    snapshot = reading.snapshot
    config = ctx.config
    if job.task_id is not None and snapshot.task_id != job.task_id:
        return _Ruling(InboxOutcome.HINT, "task id is not the job's", check=True)
    if not result_urls_allowed(
        snapshot.result_urls,
        config.allowed_result_hosts,
        allow_private=config.allow_private_urls,
        own=config.own_result_urls,
    ):
        return _Ruling(InboxOutcome.HINT, "result URL not allowed", check=True)
    evidence = evidence_from_snapshot(snapshot, source=EvidenceSource.CALLBACK)
    if evidence is None:
        kind = f"callbackType {reading.callback_type}, " if reading.callback_type else ""
        return _Ruling(InboxOutcome.HINT, f"{kind}state {snapshot.state.value}: checking with KIE", check=True)
    if not body_trusted and evidence.kind is not EvidenceKind.PROGRESS:
        return _Ruling(InboxOutcome.HINT, f"signed {evidence.kind.value}: confirming with KIE", check=True)
    return _Ruling(InboxOutcome.APPLIED, evidence=evidence)


def _heard(ctx: Context, job: Job, *, trust: str, **detail: str) -> JobEvent:
    """A callback in the job's story: how far it was trusted (``token``, ``signature`` or ``none``) and, when
    stored, its inbox key (the row holds its body and verdict)."""
    return JobEvent(job_id=job.id, at=ctx.clock.now(), kind=EventKind.CALLBACK, detail={"trust": trust, **detail})


async def check_soon(ctx: Context, job_id: str, *, events: Sequence[JobEvent] = ()) -> None:
    """Make the job due for a remote check now (the poller or a waiter will ask KIE)."""
    now = ctx.clock.now()
    await reschedule(
        ctx,
        job_id,
        lambda j: j if j.next_check_at is not None and j.next_check_at <= now else attrs.evolve(j, next_check_at=now),
        events=events,
    )
