"""The outbox: one delivery per terminal outcome of a job, claimed by workers under a lease.

When a job becomes terminal, ``delivery_for`` gives the delivery row that storage writes in the same
transaction. A worker claims it with a lease; the claim's ``attempt`` is a fencing token: after the lease
expires another worker may claim it with ``attempt + 1`` and the first worker can no longer mark it. A late
success after a timeout gets its own delivery (key ``<job id>:succeeded``) because the person was told about
the timeout and now gets the picture. A cancelled job gets no delivery at all: whoever cancelled it knows,
and nothing is sent for it later (a result KIE still delivers is kept on the job, see ``core.jobs``).
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

import attrs

from kiegen.core.jobs import JobStatus, Transition

__all__ = [
    "Claim",
    "Delivery",
    "DeliveryStatus",
    "InboxEntry",
    "InboxOutcome",
    "delivery_for",
    "inbox_key",
    "recipient_scheme",
    "retry_delay_s",
]


def recipient_scheme(recipient: str) -> str:
    """``telegram`` for ``telegram:42``, ``webhook`` for ``webhook:https://...``, ``console`` for ``console``:
    what decides which messenger (and so which process) can deliver to a recipient."""
    return recipient.split(":", 1)[0]


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    GONE = "gone"
    """The recipient is permanently unreachable; not retried."""
    FAILED = "failed"
    """Gave up after ``max_attempts``."""


@attrs.frozen(kw_only=True)
class Delivery:
    id: str
    """``<job id>:<terminal status>``: unique, so a transition can never enqueue two deliveries."""
    job_id: str
    recipient: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempt: int = 0
    lease_until: datetime | None = None
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    receipt: str | None = None
    """What the messenger returned (e.g. a Telegram file_id), kept for history."""
    sent_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Claim:
    delivery: Delivery
    attempt: int
    lease_until: datetime


def delivery_for(transition: Transition) -> Delivery | None:
    if not transition.became_terminal or transition.after.status is JobStatus.CANCELLED:
        return None
    job = transition.after
    return Delivery(
        id=f"{job.id}:{job.status.value}",
        job_id=job.id,
        recipient=job.recipient,
        next_attempt_at=job.updated_at,
        created_at=job.updated_at,
    )


def retry_delay_s(attempt: int, *, base_s: float = 2.0, cap_s: float = 300.0) -> float:
    """Backoff between delivery attempts (attempt is 1-based)."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))


class InboxOutcome(enum.StrEnum):
    """What became of a stored callback; written with it, in the transaction of the change it caused."""

    APPLIED = "applied"
    IGNORED = "ignored"
    """Applied but changed nothing (duplicate, backward, terminal)."""
    UNREADABLE = "unreadable"
    HINT = "hint"
    """Not trusted: only triggered a recordInfo check."""


@attrs.frozen(kw_only=True)
class InboxEntry:
    key: str
    """Deduplication key: the same body for the same job is stored once."""
    job_id: str | None
    task_id: str | None
    body: bytes
    received_at: datetime
    outcome: InboxOutcome = InboxOutcome.APPLIED
    note: str = ""


def inbox_key(job_id: str | None, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return f"{job_id or '-'}:{digest}"
