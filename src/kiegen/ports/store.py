"""JobStore: jobs, the callback inbox, the delivery outbox and the credits ledger, with atomic writes.

Contract (every adapter passes ``tests/contract/test_store_contract.py``):

Values: inputs and metadata must be JSON-compatible (tuples come back as lists); datetimes must be
timezone-aware (SQL adapters return UTC). A duplicate job id on create, or a task id that already belongs to
another job (on create or save), raises ``ValueError`` and writes nothing.

Jobs
- ``create_job(job, free_quota=None)`` writes a new job atomically with its side effects and returns
  ``Created(job, created=True)``. If ``job.user_id`` and ``job.idempotency_key`` match an existing job, nothing
  is written and that job comes back with ``created=False``. A paid job (``price > 0`` with a user) writes its
  HOLD entry in the same transaction, and raises ``InsufficientCredits`` (writing nothing) if the balance is
  short, also under concurrency. A free job of a user with ``free_quota`` set counts one use for the UTC day of
  ``job.created_at`` and raises ``QuotaExceeded`` (writing nothing) when ``free_quota`` uses are already counted.
- ``get(job_id)`` / ``get_by_task(task_id)`` return None for unknown ids; ``get_with_inbox(job_id, key)`` returns
  the job (or None) and whether an inbox entry with ``key`` is stored (a duplicate callback is recognised by
  one read, without a write).
- ``save(job, expected_version=v, ledger=..., deliveries=..., inbox=...)`` stores ``job`` with
  ``version = v + 1`` only if the stored version is ``v`` (else ``ConcurrencyConflict``; ``JobNotFound`` if
  absent), together with the ledger entries, the deliveries and the inbox entry, in one transaction. Entries
  and deliveries whose key/id already exists are skipped silently (idempotent). An ``inbox`` entry whose key
  already exists raises ``DuplicateEvent`` and nothing is written: an inbound event is deduplicated in the
  same transaction as the change it causes. ``events`` are appended to the job's story in the same
  transaction. ``previous`` (optional) is the job as stored at ``expected_version``: an adapter may then
  write only what changed. Returns the stored job.
- ``list_jobs(user_id=None, limit=50)`` lists newest first.
- ``claim_due_checks(now, lease_until=..., limit=...)`` returns non-terminal jobs with ``next_check_at <= now``
  (oldest due first), having set their ``next_check_at`` to ``lease_until`` (and bumped ``version``) so that no
  other worker claims them meanwhile.

Inbox
- ``record_callback(entry, events=...)`` returns True when stored (with ``events``), False when an entry with the
  same key exists (nothing written). ``callbacks_for(job_id)`` lists a job's stored callbacks (raw bodies
  and verdicts), oldest first.

Outbox
- ``claim_deliveries(now, lease_s=..., limit=..., schemes=..., exclude=...)`` claims PENDING deliveries whose
  ``next_attempt_at <= now`` and whose lease is absent or expired, incrementing ``attempt``; returns one
  ``Claim`` each. With ``schemes``, only deliveries whose ``recipient_scheme`` is one of them (None: any); never
  those whose id is in ``exclude`` (the ones the caller is still sending, whatever their lease says). Two
  concurrent callers never receive the same delivery attempt.
- ``complete_delivery(claim, receipt=..., now=...)`` marks SENT; ``fail_delivery(claim, error=..., now=...,
  retry_at=... | None, status=...)`` records a failure and either reschedules (``retry_at``) or ends it with
  ``status`` GONE/FAILED. Both raise ``LeaseLost`` when the delivery's attempt is no longer ``claim.attempt`` or
  it is no longer PENDING (a newer claim owns it). The attempt number is the fence: a worker whose lease ran
  out may still mark the delivery as long as nobody claimed it again (that saves a duplicate send).
- ``deliveries_for(job_id)`` lists a job's deliveries.
- ``complete_delivery`` and ``fail_delivery`` append a ``delivery`` event (attempt, outcome, error, next try) to
  the job's story in the same transaction.

Story
- ``create_job`` appends a ``created`` event (and ``events``); ``add_events(events)`` appends events alone;
  ``events_for(job_id)`` lists a job's events in the order they were stored.

Ledger
- ``add_entry(entry)`` appends (True) or finds the key already present (False).
- ``balance(user_id)`` = top-ups - holds + releases; ``ledger(user_id)`` lists entries oldest first;
  ``free_uses(user_id, day)`` counts free generations on that UTC day.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Protocol

import attrs

from kiegen.core.billing import LedgerEntry
from kiegen.core.delivery import Claim, Delivery, DeliveryStatus, InboxEntry
from kiegen.core.events import JobEvent
from kiegen.core.jobs import Job

__all__ = ["Created", "JobStore"]


@attrs.frozen
class Created:
    job: Job
    created: bool


class JobStore(Protocol):
    async def create_job(
        self, job: Job, *, free_quota: int | None = None, events: Sequence[JobEvent] = ()
    ) -> Created: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def get_by_task(self, task_id: str) -> Job | None: ...

    async def get_with_inbox(self, job_id: str, inbox_key: str) -> tuple[Job | None, bool]: ...

    async def save(
        self,
        job: Job,
        *,
        expected_version: int,
        ledger: Sequence[LedgerEntry] = (),
        deliveries: Sequence[Delivery] = (),
        inbox: InboxEntry | None = None,
        events: Sequence[JobEvent] = (),
        previous: Job | None = None,
    ) -> Job: ...

    async def list_jobs(self, *, user_id: str | None = None, limit: int = 50) -> list[Job]: ...

    async def claim_due_checks(self, now: datetime, *, lease_until: datetime, limit: int) -> list[Job]: ...

    async def record_callback(self, entry: InboxEntry, *, events: Sequence[JobEvent] = ()) -> bool: ...

    async def callbacks_for(self, job_id: str) -> list[InboxEntry]: ...

    async def claim_deliveries(
        self,
        now: datetime,
        *,
        lease_s: float,
        limit: int,
        schemes: frozenset[str] | None = None,
        exclude: Collection[str] = (),
    ) -> list[Claim]: ...

    async def complete_delivery(self, claim: Claim, *, receipt: str | None, now: datetime) -> Delivery: ...

    async def fail_delivery(
        self,
        claim: Claim,
        *,
        error: str,
        now: datetime,
        retry_at: datetime | None,
        status: DeliveryStatus = DeliveryStatus.FAILED,
    ) -> Delivery: ...

    async def deliveries_for(self, job_id: str) -> list[Delivery]: ...

    async def add_entry(self, entry: LedgerEntry) -> bool: ...

    async def balance(self, user_id: str) -> int: ...

    async def ledger(self, user_id: str) -> list[LedgerEntry]: ...

    async def free_uses(self, user_id: str, day: date) -> int: ...

    async def add_events(self, events: Sequence[JobEvent]) -> None: ...

    async def events_for(self, job_id: str) -> list[JobEvent]: ...
