"""The job and its forward-only state machine.

    PENDING --submit ok--> SUBMITTED --progress--> RUNNING
       |                      |  \\__________________|__ success --> SUCCEEDED
       |--definite failure--> FAILED <-- fail ------/
       SUBMITTED/RUNNING --deadline--> TIMED_OUT --late success--> SUCCEEDED (late=True, not charged)
       PENDING/SUBMITTED/RUNNING --cancel--> CANCELLED --late success--> CANCELLED (result kept, not delivered)

``TRANSITIONS`` is the whole table as data: (status, evidence kind) -> new status, or ``None`` when the
evidence is recorded and ignored (it would move the job backward, or the job is terminal). ``apply`` is pure
and idempotent: applying the same evidence twice changes nothing the second time.

Cancelling: whoever asked for a job may withdraw it while it runs (``Evidence.cancelled``). CANCELLED is
terminal: nobody waits for the job any more, its hold is released (``billing.settlement``) and nothing is
delivered for it (``delivery.delivery_for``). KIE cannot be told to stop, so a success may still arrive: the
job stays CANCELLED and keeps the result URLs (for history), neither delivered nor charged. A job that has
already ended cannot be cancelled (the evidence is ignored as "terminal").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from kiegen.core.frozen import FrozenDict, frozen_mapping
from kiegen.core.models import Media

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "Evidence",
    "EvidenceKind",
    "EvidenceSource",
    "Job",
    "JobStatus",
    "TaskState",
    "Transition",
    "apply",
]


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED})


class TaskState(enum.StrEnum):
    """KIE's task states; anything else KIE says maps to UNKNOWN (never an endless wait)."""

    WAITING = "waiting"
    QUEUING = "queuing"
    GENERATING = "generating"
    SUCCESS = "success"
    FAIL = "fail"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: object) -> TaskState:
        try:
            return cls(str(raw).strip().lower())
        except ValueError:
            return cls.UNKNOWN


def str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


class EvidenceKind(enum.StrEnum):
    SUBMITTED = "submitted"
    """createTask answered with a task id."""
    PROGRESS = "progress"
    """KIE says the task is waiting, queuing or generating."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """KIE said the task failed, or createTask was definitely refused."""
    DEADLINE = "deadline"
    """The job's deadline passed without a terminal answer."""
    CANCELLED = "cancelled"
    """Whoever asked for the job withdrew it (a person, an operator)."""


class EvidenceSource(enum.StrEnum):
    """Where a piece of evidence came from."""

    SUBMIT = "submit"
    CALLBACK = "callback"
    POLL = "poll"
    CLOCK = "clock"
    RECOVERY = "recovery"
    USER = "user"
    """The person who asked withdrew the job (a cancel)."""
    OPERATOR = "operator"
    """An operator withdrew it (the console)."""


@attrs.frozen(kw_only=True)
class Evidence:
    """Something we learned about a job, from createTask, a callback, a poll or the clock."""

    kind: EvidenceKind
    source: EvidenceSource = attrs.field(converter=EvidenceSource)
    task_id: str | None = None
    result_urls: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    error_code: str | None = None
    error_message: str | None = None
    kie_credits: float | None = None

    @classmethod
    def submitted(cls, task_id: str) -> Evidence:
        return cls(kind=EvidenceKind.SUBMITTED, source=EvidenceSource.SUBMIT, task_id=task_id)

    @classmethod
    def deadline(cls) -> Evidence:
        return cls(
            kind=EvidenceKind.DEADLINE,
            source=EvidenceSource.CLOCK,
            error_code="timeout",
            error_message="KIE did not finish in time",
        )

    @classmethod
    def submit_failed(cls, code: str, message: str) -> Evidence:
        return cls(kind=EvidenceKind.FAILED, source=EvidenceSource.SUBMIT, error_code=code, error_message=message)

    @classmethod
    def cancelled(
        cls, reason: str = "cancelled by the user", *, source: EvidenceSource = EvidenceSource.USER
    ) -> Evidence:
        return cls(kind=EvidenceKind.CANCELLED, source=source, error_code="cancelled", error_message=reason)


S, E = JobStatus, EvidenceKind

TRANSITIONS: Mapping[tuple[JobStatus, EvidenceKind], JobStatus | None] = {
    (S.PENDING, E.SUBMITTED): S.SUBMITTED,
    (S.PENDING, E.PROGRESS): S.RUNNING,
    (S.PENDING, E.SUCCEEDED): S.SUCCEEDED,  # the callback beat createTask's answer: the old bot's 80% bug
    (S.PENDING, E.FAILED): S.FAILED,
    (S.PENDING, E.DEADLINE): S.TIMED_OUT,
    (S.PENDING, E.CANCELLED): S.CANCELLED,  # createTask may still answer: its task id is kept (see apply)
    (S.SUBMITTED, E.SUBMITTED): S.SUBMITTED,
    (S.SUBMITTED, E.PROGRESS): S.RUNNING,
    (S.SUBMITTED, E.SUCCEEDED): S.SUCCEEDED,
    (S.SUBMITTED, E.FAILED): S.FAILED,
    (S.SUBMITTED, E.DEADLINE): S.TIMED_OUT,
    (S.SUBMITTED, E.CANCELLED): S.CANCELLED,
    (S.RUNNING, E.SUBMITTED): None,  # backward
    (S.RUNNING, E.PROGRESS): S.RUNNING,
    (S.RUNNING, E.SUCCEEDED): S.SUCCEEDED,
    (S.RUNNING, E.FAILED): S.FAILED,
    (S.RUNNING, E.DEADLINE): S.TIMED_OUT,
    (S.RUNNING, E.CANCELLED): S.CANCELLED,
    (S.SUCCEEDED, E.SUBMITTED): None,
    (S.SUCCEEDED, E.PROGRESS): None,
    (S.SUCCEEDED, E.SUCCEEDED): None,
    (S.SUCCEEDED, E.FAILED): None,
    (S.SUCCEEDED, E.DEADLINE): None,
    (S.SUCCEEDED, E.CANCELLED): None,  # too late: it is done (and charged)
    (S.FAILED, E.SUBMITTED): None,
    (S.FAILED, E.PROGRESS): None,
    (S.FAILED, E.SUCCEEDED): None,
    (S.FAILED, E.FAILED): None,
    (S.FAILED, E.DEADLINE): None,
    (S.FAILED, E.CANCELLED): None,
    (S.TIMED_OUT, E.SUBMITTED): None,
    (S.TIMED_OUT, E.PROGRESS): None,
    (S.TIMED_OUT, E.SUCCEEDED): S.SUCCEEDED,  # the one upgrade: late=True, delivered, not charged
    (S.TIMED_OUT, E.FAILED): None,
    (S.TIMED_OUT, E.DEADLINE): None,
    (S.TIMED_OUT, E.CANCELLED): None,  # already released; a late success is still delivered
    (S.CANCELLED, E.SUBMITTED): None,  # a late task id is kept (see apply)
    (S.CANCELLED, E.PROGRESS): None,
    (S.CANCELLED, E.SUCCEEDED): None,  # stays cancelled; the result URLs are kept for history (see apply)
    (S.CANCELLED, E.FAILED): None,
    (S.CANCELLED, E.DEADLINE): None,
    (S.CANCELLED, E.CANCELLED): None,
}
del S, E


@attrs.frozen(kw_only=True)
class Job:
    """A generation request and everything kiegen knows about it. Changed only through ``apply`` and
    ``attrs.evolve``; ``version`` increases with every stored change (optimistic concurrency)."""

    id: str
    model: str
    inputs: FrozenDict[str, Any] = attrs.field(converter=frozen_mapping)
    """Immutable all the way down: nested mappings are frozen and lists become tuples."""
    recipient: str
    """Where the result goes: ``telegram:<chat_id>``, ``webhook:<url>``, ``console`` or ``none``."""
    user_id: str | None = None
    price: int = 0
    idempotency_key: str | None = None
    status: JobStatus = JobStatus.PENDING
    task_id: str | None = None
    result_urls: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    error_code: str | None = None
    error_message: str | None = None
    late: bool = False
    kie_credits: float | None = None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    completed_at: datetime | None = None
    deadline_at: datetime
    next_check_at: datetime | None = None
    """When a remote check (recordInfo) is next due; also the lease of a claimed check."""
    checks: int = 0
    """Remote checks made so far (drives the backoff)."""
    submit_attempts: int = 0
    version: int = 0
    metadata: FrozenDict[str, Any] = attrs.field(factory=dict, converter=frozen_mapping)
    """Caller data carried along untouched (e.g. the Telegram status card's message id)."""
    media: Media = attrs.field(default=Media.IMAGE, converter=Media)
    """What the model makes, fixed when the job is created: it paces the polling (video takes minutes) and
    tells the messengers how to send the results (photos or videos)."""

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def charged(self) -> bool:
        """A paid job whose hold is captured: succeeded in time."""
        return self.price > 0 and self.status is JobStatus.SUCCEEDED and not self.late


@attrs.frozen(kw_only=True)
class Transition:
    before: Job
    after: Job
    evidence: Evidence
    ignored: str | None = None
    """Why the evidence changed nothing, or None when it was applied."""

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def became_terminal(self) -> bool:
        return self.after.terminal and (not self.before.terminal or self.before.status is not self.after.status)


def apply(job: Job, evidence: Evidence, now: datetime) -> Transition:
    """Apply one piece of evidence. Pure; never raises for evidence that does not fit (it is ignored)."""
    target = TRANSITIONS[(job.status, evidence.kind)]
    if target is None:
        reason = "terminal" if job.terminal else "backward"
        # A late task id is still worth keeping: the callback may have beaten createTask's answer.
        if evidence.kind is EvidenceKind.SUBMITTED and job.task_id is None and evidence.task_id:
            return Transition(
                before=job,
                after=attrs.evolve(job, task_id=evidence.task_id, updated_at=now),
                evidence=evidence,
                ignored=reason,
            )
        # KIE finished a job that was cancelled meanwhile: the result is kept (history), the job stays cancelled.
        if job.status is JobStatus.CANCELLED and evidence.kind is EvidenceKind.SUCCEEDED and not job.result_urls:
            kept = attrs.evolve(
                job,
                result_urls=evidence.result_urls,
                kie_credits=evidence.kie_credits if evidence.kie_credits is not None else job.kie_credits,
                updated_at=now,
            )
            if kept.result_urls:
                return Transition(before=job, after=kept, evidence=evidence, ignored="cancelled")
        return Transition(before=job, after=job, evidence=evidence, ignored=reason)
    changes: dict[str, Any] = {}
    if evidence.task_id and job.task_id is None:
        changes["task_id"] = evidence.task_id
    if target is JobStatus.SUBMITTED and job.submitted_at is None:
        changes["submitted_at"] = now
    if target.terminal:
        changes["completed_at"] = now
        changes["next_check_at"] = None
        if evidence.kie_credits is not None:
            changes["kie_credits"] = evidence.kie_credits
    if target is JobStatus.SUCCEEDED:
        changes["result_urls"] = evidence.result_urls
        changes["error_code"] = None
        changes["error_message"] = None
        changes["late"] = job.status is JobStatus.TIMED_OUT
    elif target in (JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED):
        changes["error_code"] = evidence.error_code
        changes["error_message"] = evidence.error_message
    if target is not job.status:
        changes["status"] = target
    if not changes:
        return Transition(before=job, after=job, evidence=evidence, ignored="duplicate")
    return Transition(before=job, after=attrs.evolve(job, updated_at=now, **changes), evidence=evidence)
