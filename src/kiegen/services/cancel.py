"""Cancelling a job that is still running: the caller no longer wants it.

``cancel`` records ``Evidence.cancelled`` through the same path as every other piece of evidence
(``record``), so in one transaction the job becomes CANCELLED and a paid job's hold is released (the
``settle:<job id>`` RELEASE entry: the key that also makes a hold resolve at most once). No delivery is
written for a cancelled job, and any delivery still pending for it is voided when a deliverer claims it (its
id no longer matches the job's status: ``deliver_claim`` marks it superseded). Waiters wake and return the
cancelled job; the poller stops checking it (it is terminal). KIE cannot be told to stop: if it still
finishes, the callback or a check records the result URLs on the cancelled job (history) and nothing is
delivered or charged (``kiegen.core.jobs``).

A job that has already ended is left as it is: ``Cancellation.cancelled`` is False and ``job`` says how it
ended (a success is not undone and stays charged).
"""

from __future__ import annotations

import attrs

from kiegen.core.jobs import Evidence, EvidenceSource, Job, JobStatus
from kiegen.services.context import Context
from kiegen.services.record import record

__all__ = ["Cancellation", "cancel"]


@attrs.frozen(kw_only=True)
class Cancellation:
    job: Job
    """The job as stored after the attempt."""
    cancelled: bool
    """True when this call cancelled it; False when it had ended (or been cancelled) before."""

    @property
    def released(self) -> int:
        """Credits given back by this cancellation (0 for a free job, or when nothing was cancelled)."""
        return self.job.price if self.cancelled and self.job.user_id is not None else 0


async def cancel(
    ctx: Context, job_id: str, *, reason: str = "cancelled by the user", source: EvidenceSource = EvidenceSource.USER
) -> Cancellation:
    """Cancel ``job_id`` if it is still running. Raises ``JobNotFound`` for an unknown id."""
    transition = await record(ctx, job_id, Evidence.cancelled(reason, source=source))
    after = transition.after
    cancelled = after.status is JobStatus.CANCELLED and transition.before.status is not JobStatus.CANCELLED
    return Cancellation(job=after, cancelled=cancelled)
