"""ConsoleQueries: what the operator console reads and changes, beside the JobStore (which stays about jobs).

Contract (every adapter passes ``tests/contract/test_console_contract.py``):

Jobs
- ``find_jobs(JobFilter, before=None, limit=50)`` lists the jobs that match every given field of the filter,
  newest first (``created_at`` then ``id``, both descending), at most ``limit``; ``JobPage.next`` is the cursor of
  the page after it (None on the last page), and ``before=cursor`` continues strictly after that cursor, so paging
  through shows every job exactly once. ``created_from`` is inclusive, ``created_to`` exclusive.
  ``api_key`` matches a tenant's jobs (stored user id ``apikey:<owner>`` or ``apikey:<owner>:<user>``, see
  ``kiegen.core.tenancy``), ``telegram_user`` a Telegram user's (``tg:<id>``); matches are exact and case-sensitive.
- ``job_counts()`` gives the number of jobs by status value (statuses without jobs are absent).
- ``ledger_of_job(user_id, job_id)`` lists the ledger entries of one job of that user (its hold and its
  settlement), oldest first.

Health
- ``health(now)`` reads, at ``now``: pending deliveries (all, and those due), the creation time of the oldest
  pending one; over the hour before ``now``: callbacks by outcome (stored ones by their inbox outcome, untrusted
  ones that only hinted as ``untrusted``), KIE calls (createTask accepted and refused, recordInfo answered and
  failed, tasks KIE said failed), delivery attempts by outcome and Telegram throttling (attempts deferred because
  Telegram answered 429 with a wait too long to take inline); and KIE credits by model for jobs created since
  midnight UTC of ``now``'s day.

Operator figures and adjustments (the Telegram bot's /stats, /take, refunds)
- ``job_stats(since, until)`` reads the jobs created in ``[since, until)``: their number by model and status,
  the failed and timed-out ones by ``error_code`` (``unknown`` when a job has none), and the KIE credits KIE
  reported for them (``kie_credits``, summed; jobs without a figure count 0).
- ``take_credits(entry, up_to=False)`` writes a DEBIT ``entry`` only while the user's balance covers it, atomically
  with respect to every other write that lowers that balance (holds, other debits): a balance never goes below
  zero. Keyed like every ledger entry: when an entry with ``entry.key`` exists, nothing is written and
  ``Taken(entry=<the stored one>, created=False)`` comes back. A balance below ``entry.amount`` raises
  ``InsufficientCredits`` (writing nothing), unless ``up_to``: then the entry is written for what there is
  (``min(amount, balance)``, possibly 0, which still claims the key). ``Taken.balance`` is the balance after.
  An entry that is not a DEBIT is refused with ``ValueError``.

Deliveries
- ``retry_delivery(delivery_id, now=..., events=...)`` puts a FAILED or GONE delivery back in the outbox (PENDING,
  due at ``now``, no lease, its attempt number kept: it stays the fencing token) and appends ``events`` in the same
  transaction; returns the delivery as stored, or None (writing nothing) when there is no such delivery or it is
  not FAILED or GONE.

Audit
- ``record_audit(entry)`` appends one entry (its ``seq`` is assigned); ``audit_log(job_id=None, before=None,
  limit=50)`` lists entries newest first (``seq`` descending), of one job when ``job_id`` is given, with ``seq``
  below ``before`` when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import attrs

from kiegen.core.billing import LedgerEntry
from kiegen.core.delivery import Delivery
from kiegen.core.events import JobEvent
from kiegen.core.jobs import Job, JobStatus

__all__ = [
    "TELEGRAM_THROTTLED_PREFIX",
    "AuditEntry",
    "ConsoleQueries",
    "Cursor",
    "Health",
    "JobFilter",
    "JobPage",
    "JobStats",
    "KieCalls",
    "Taken",
]

TELEGRAM_THROTTLED_PREFIX = "Telegram asked to wait"
"""How a delivery error reads when Telegram answered 429 (``kiegen.adapters.aiogram.messenger``)."""


def _frozen(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@attrs.frozen(kw_only=True)
class JobFilter:
    """Which jobs: every field given must match (None: any)."""

    status: JobStatus | None = None
    model: str | None = None
    user_id: str | None = None
    """The stored user id, exactly (``tg:42``, ``apikey:acme:alice``, an embedder's own id)."""
    api_key: str | None = None
    """A tenant of the HTTP API: the key's name or fingerprint."""
    telegram_user: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@attrs.frozen
class Cursor:
    """Where a page ended: the last job's creation time and id."""

    created_at: datetime
    job_id: str


@attrs.frozen
class JobPage:
    jobs: list[Job]
    next: Cursor | None


@attrs.frozen(kw_only=True)
class KieCalls:
    """KIE traffic as the jobs' stories tell it (every process that shares the database)."""

    created: int = 0
    """createTask answered with a task id."""
    create_errors: int = 0
    """createTask refused, failed or unanswered."""
    checks: int = 0
    """recordInfo answered."""
    check_errors: int = 0
    """recordInfo failed (error, unknown task)."""
    tasks_failed: int = 0
    """Tasks KIE reported failed (by callback or check)."""

    @property
    def create_error_rate(self) -> float | None:
        total = self.created + self.create_errors
        return self.create_errors / total if total else None

    @property
    def check_error_rate(self) -> float | None:
        total = self.checks + self.check_errors
        return self.check_errors / total if total else None


@attrs.frozen(kw_only=True)
class Health:
    at: datetime
    pending_deliveries: int
    due_deliveries: int
    oldest_pending_delivery: datetime | None
    callbacks: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen)
    """Last hour, by outcome (``applied``, ``ignored``, ``unreadable``, ``hint``, ``untrusted``)."""
    kie: KieCalls = attrs.field(factory=KieCalls)
    """Last hour."""
    deliveries: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen)
    """Delivery attempts in the last hour, by outcome (``sent``, ``deferred``, ``gone``, ``failed``)."""
    telegram_throttled: int = 0
    """Last hour: Telegram deliveries deferred because Telegram answered 429."""
    kie_credits_today: Mapping[str, float] = attrs.field(factory=dict, converter=_frozen)
    """KIE credits by model, jobs created since 00:00 UTC."""


@attrs.frozen(kw_only=True)
class JobStats:
    """The jobs created in ``[since, until)``."""

    since: datetime
    until: datetime
    jobs: Mapping[str, Mapping[str, int]] = attrs.field(factory=dict, converter=_frozen)
    """Model -> status value -> number of jobs (only what occurred)."""
    failures: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen)
    """Failed and timed-out jobs by error code (``unknown`` without one)."""
    kie_credits: float = 0.0
    """What KIE reported it charged for them."""

    @property
    def total(self) -> int:
        return sum(n for by_status in self.jobs.values() for n in by_status.values())

    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for by_status in self.jobs.values():
            for status, n in by_status.items():
                counts[status] = counts.get(status, 0) + n
        return counts


@attrs.frozen(kw_only=True)
class Taken:
    entry: LedgerEntry
    """The debit as stored (an earlier one under the same key, when there was one)."""
    created: bool
    balance: int
    """The user's balance after it."""


@attrs.frozen(kw_only=True)
class AuditEntry:
    at: datetime
    actor: str
    """Who: the console key's fingerprint (``console:<12 hex>``), never the key; a bot operator as
    ``telegram:<user id>``."""
    action: str
    """``login``, ``logout``, ``cancel``, ``retry_delivery``; from the bot ``grant``, ``take``, ``refund``."""
    outcome: str
    """``done``, or why nothing was done (``refused: ...``)."""
    job_id: str | None = None
    target: str | None = None
    """What the action was on besides the job (a delivery id)."""
    remote: str | None = None
    """The client's address as the server saw it."""
    detail: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)
    seq: int = 0
    """Order of the entries (assigned when stored; 0 before)."""


@runtime_checkable
class ConsoleQueries(Protocol):
    async def find_jobs(self, where: JobFilter, *, before: Cursor | None = None, limit: int = 50) -> JobPage: ...

    async def job_counts(self) -> dict[str, int]: ...

    async def ledger_of_job(self, user_id: str, job_id: str) -> list[LedgerEntry]: ...

    async def health(self, now: datetime) -> Health: ...

    async def retry_delivery(
        self, delivery_id: str, *, now: datetime, events: Sequence[JobEvent] = ()
    ) -> Delivery | None: ...

    async def job_stats(self, since: datetime, until: datetime) -> JobStats: ...

    async def take_credits(self, entry: LedgerEntry, *, up_to: bool = False) -> Taken: ...

    async def record_audit(self, entry: AuditEntry) -> None: ...

    async def audit_log(
        self, *, job_id: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[AuditEntry]: ...
