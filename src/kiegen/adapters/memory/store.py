"""InMemoryJobStore: the JobStore contract kept in dictionaries, for tests and embedders' own tests.

Every method does its reads and writes without awaiting in between, so each call is atomic under any anyio
backend (one event loop thread). It keeps copies of frozen values only, so callers cannot mutate its state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import anyio.lowlevel
import attrs

from kiegen.core.billing import LedgerEntry, balance_of, hold_for, require_debit, utc_day, within_balance
from kiegen.core.delivery import Claim, Delivery, DeliveryStatus, InboxEntry, recipient_scheme
from kiegen.core.errors import (
    ConcurrencyConflict,
    DuplicateEvent,
    InsufficientCredits,
    JobNotFound,
    LeaseLost,
    QuotaExceeded,
)
from kiegen.core.events import EventKind, JobEvent
from kiegen.core.jobs import Job, JobStatus
from kiegen.ports.console import (
    TELEGRAM_THROTTLED_PREFIX,
    AuditEntry,
    Cursor,
    Health,
    JobFilter,
    JobPage,
    JobStats,
    KieCalls,
    Taken,
)
from kiegen.ports.store import Created

__all__ = ["InMemoryJobStore"]


class InMemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._by_task: dict[str, str] = {}
        self._by_idempotency: dict[tuple[str, str], str] = {}
        self._inbox: dict[str, InboxEntry] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._ledger: dict[str, LedgerEntry] = {}
        self._free_uses: dict[tuple[str, date], int] = {}
        self._events: list[JobEvent] = []
        self._audit: list[AuditEntry] = []

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()

    # jobs

    async def create_job(self, job: Job, *, free_quota: int | None = None, events: Sequence[JobEvent] = ()) -> Created:
        await anyio.lowlevel.checkpoint()
        if job.user_id is not None and job.idempotency_key is not None:
            existing = self._by_idempotency.get((job.user_id, job.idempotency_key))
            if existing is not None:
                return Created(self._jobs[existing], created=False)
        if job.id in self._jobs:
            raise ValueError(f"job id {job.id!r} already exists")
        self._check_task_id(job)  # before any side effect: a refused create writes nothing
        hold = hold_for(job)
        if hold is not None:
            balance = self._balance_now(hold.user_id)
            if balance < hold.amount:
                raise InsufficientCredits(hold.user_id, balance=balance, needed=hold.amount)
        quota_key = None
        if job.price <= 0 and job.user_id is not None and free_quota is not None:
            quota_key = (job.user_id, utc_day(job.created_at))
            if self._free_uses.get(quota_key, 0) >= free_quota:
                raise QuotaExceeded(job.user_id, limit=free_quota)
        # all checks passed: write everything
        if quota_key is not None:
            self._free_uses[quota_key] = self._free_uses.get(quota_key, 0) + 1
        if hold is not None:
            self._ledger.setdefault(hold.key, hold)
        self._put(job)
        if job.user_id is not None and job.idempotency_key is not None:
            self._by_idempotency[(job.user_id, job.idempotency_key)] = job.id
        self._append(JobEvent.created(job), *events)
        return Created(job, created=True)

    def _append(self, *events: JobEvent) -> None:
        for event in events:
            self._events.append(attrs.evolve(event, seq=len(self._events) + 1))

    def _balance_now(self, user_id: str) -> int:
        return balance_of(e for e in self._ledger.values() if e.user_id == user_id)

    def _check_task_id(self, job: Job) -> None:
        owner = self._by_task.get(job.task_id) if job.task_id is not None else None
        if owner is not None and owner != job.id:
            raise ValueError(f"task id {job.task_id!r} already belongs to job {owner!r}")

    def _put(self, job: Job) -> None:
        self._check_task_id(job)
        previous = self._jobs.get(job.id)
        if previous is not None and previous.task_id not in (None, job.task_id):
            self._by_task.pop(previous.task_id, None)
        if job.task_id is not None:
            self._by_task[job.task_id] = job.id
        self._jobs[job.id] = job

    async def get(self, job_id: str) -> Job | None:
        await anyio.lowlevel.checkpoint()
        return self._jobs.get(job_id)

    async def get_by_task(self, task_id: str) -> Job | None:
        await anyio.lowlevel.checkpoint()
        job_id = self._by_task.get(task_id)
        return None if job_id is None else self._jobs[job_id]

    async def get_with_inbox(self, job_id: str, inbox_key: str) -> tuple[Job | None, bool]:
        await anyio.lowlevel.checkpoint()
        job = self._jobs.get(job_id)
        return job, job is not None and inbox_key in self._inbox

    async def save(
        self,
        job: Job,
        *,
        expected_version: int,
        ledger: Sequence[LedgerEntry] = (),
        deliveries: Sequence[Delivery] = (),
        inbox: InboxEntry | None = None,
        events: Sequence[JobEvent] = (),
        previous: Job | None = None,  # noqa: ARG002 (the port's hint for SQL stores; memory has the job itself)
    ) -> Job:
        await anyio.lowlevel.checkpoint()
        current = self._jobs.get(job.id)
        if current is None:
            raise JobNotFound(job.id)
        if inbox is not None and inbox.key in self._inbox:
            raise DuplicateEvent(inbox.key)
        if current.version != expected_version:
            raise ConcurrencyConflict(job.id)
        stored = attrs.evolve(job, version=expected_version + 1)
        self._put(stored)
        for entry in ledger:
            self._ledger.setdefault(entry.key, entry)
        for delivery in deliveries:
            self._deliveries.setdefault(delivery.id, delivery)
        if inbox is not None:
            self._inbox[inbox.key] = inbox
        self._append(*events)
        return stored

    async def list_jobs(self, *, user_id: str | None = None, limit: int = 50) -> list[Job]:
        await anyio.lowlevel.checkpoint()
        jobs = [j for j in self._jobs.values() if user_id is None or j.user_id == user_id]
        jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
        return jobs[:limit]

    async def claim_due_checks(self, now: datetime, *, lease_until: datetime, limit: int) -> list[Job]:
        await anyio.lowlevel.checkpoint()
        due = [
            j for j in self._jobs.values() if not j.terminal and j.next_check_at is not None and j.next_check_at <= now
        ]
        due.sort(key=lambda j: (j.next_check_at or now, j.id))
        claimed = []
        for job in due[:limit]:
            stored = attrs.evolve(job, next_check_at=lease_until, version=job.version + 1)
            self._jobs[job.id] = stored
            claimed.append(stored)
        return claimed

    # inbox

    async def record_callback(self, entry: InboxEntry, *, events: Sequence[JobEvent] = ()) -> bool:
        await anyio.lowlevel.checkpoint()
        if entry.key in self._inbox:
            return False
        self._inbox[entry.key] = entry
        self._append(*events)
        return True

    async def callbacks_for(self, job_id: str) -> list[InboxEntry]:
        await anyio.lowlevel.checkpoint()
        found = [e for e in self._inbox.values() if e.job_id == job_id]
        found.sort(key=lambda e: (e.received_at, e.key))
        return found

    # outbox

    async def claim_deliveries(
        self,
        now: datetime,
        *,
        lease_s: float,
        limit: int,
        schemes: frozenset[str] | None = None,
        exclude: Collection[str] = (),
    ) -> list[Claim]:
        await anyio.lowlevel.checkpoint()
        ready = [
            d
            for d in self._deliveries.values()
            if d.status is DeliveryStatus.PENDING
            and d.next_attempt_at <= now
            and (d.lease_until is None or d.lease_until <= now)
            and (schemes is None or recipient_scheme(d.recipient) in schemes)
            and d.id not in exclude
        ]
        ready.sort(key=lambda d: (d.next_attempt_at, d.id))
        lease_until = now + timedelta(seconds=lease_s)
        claims = []
        for delivery in ready[:limit]:
            stored = attrs.evolve(delivery, attempt=delivery.attempt + 1, lease_until=lease_until)
            self._deliveries[delivery.id] = stored
            claims.append(Claim(delivery=stored, attempt=stored.attempt, lease_until=lease_until))
        return claims

    def _owned(self, claim: Claim) -> Delivery:
        current = self._deliveries.get(claim.delivery.id)
        if current is None or current.attempt != claim.attempt or current.status is not DeliveryStatus.PENDING:
            raise LeaseLost(claim.delivery.id, claim.attempt)
        return current

    async def complete_delivery(self, claim: Claim, *, receipt: str | None, now: datetime) -> Delivery:
        await anyio.lowlevel.checkpoint()
        current = self._owned(claim)
        stored = attrs.evolve(
            current, status=DeliveryStatus.SENT, receipt=receipt, sent_at=now, lease_until=None, last_error=None
        )
        self._deliveries[current.id] = stored
        self._append(JobEvent.delivery_attempt(claim, now=now, outcome="sent"))
        return stored

    async def fail_delivery(
        self,
        claim: Claim,
        *,
        error: str,
        now: datetime,
        retry_at: datetime | None,
        status: DeliveryStatus = DeliveryStatus.FAILED,
    ) -> Delivery:
        await anyio.lowlevel.checkpoint()
        current = self._owned(claim)
        if retry_at is not None:
            stored = attrs.evolve(current, last_error=error, next_attempt_at=retry_at, lease_until=None)
            event = JobEvent.delivery_attempt(claim, now=now, outcome="deferred", error=error, retry_at=retry_at)
        else:
            stored = attrs.evolve(current, last_error=error, status=status, lease_until=None)
            event = JobEvent.delivery_attempt(claim, now=now, outcome=status.value, error=error)
        self._deliveries[current.id] = stored
        self._append(event)
        return stored

    async def deliveries_for(self, job_id: str) -> list[Delivery]:
        await anyio.lowlevel.checkpoint()
        found = [d for d in self._deliveries.values() if d.job_id == job_id]
        found.sort(key=lambda d: (d.created_at, d.id))
        return found

    # ledger

    async def add_entry(self, entry: LedgerEntry) -> bool:
        await anyio.lowlevel.checkpoint()
        if entry.key in self._ledger:
            return False
        self._ledger[entry.key] = entry
        return True

    async def balance(self, user_id: str) -> int:
        await anyio.lowlevel.checkpoint()
        return self._balance_now(user_id)

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        await anyio.lowlevel.checkpoint()
        entries = [e for e in self._ledger.values() if e.user_id == user_id]
        entries.sort(key=lambda e: e.created_at)
        return entries

    async def free_uses(self, user_id: str, day: date) -> int:
        await anyio.lowlevel.checkpoint()
        return self._free_uses.get((user_id, day), 0)

    # the job's story

    async def add_events(self, events: Sequence[JobEvent]) -> None:
        await anyio.lowlevel.checkpoint()
        self._append(*events)

    async def events_for(self, job_id: str) -> list[JobEvent]:
        await anyio.lowlevel.checkpoint()
        return [event for event in self._events if event.job_id == job_id]

    async def job_counts(self) -> dict[str, int]:
        await anyio.lowlevel.checkpoint()
        counts: dict[str, int] = {}
        for job in self._jobs.values():
            counts[job.status.value] = counts.get(job.status.value, 0) + 1
        return counts

    # ------------------------------------------------------------------------------------------------------------
    # The operator console's queries (``kiegen.ports.console.ConsoleQueries``): kept apart from the JobStore.

    async def find_jobs(self, where: JobFilter, *, before: Cursor | None = None, limit: int = 50) -> JobPage:
        await anyio.lowlevel.checkpoint()
        found = sorted(
            (job for job in self._jobs.values() if _matches(job, where, before)),
            key=lambda j: (j.created_at, j.id),
            reverse=True,
        )
        page = found[: max(0, limit)]
        more = len(found) > len(page) and page
        return JobPage(page, Cursor(page[-1].created_at, page[-1].id) if more else None)

    async def ledger_of_job(self, user_id: str, job_id: str) -> list[LedgerEntry]:
        await anyio.lowlevel.checkpoint()
        found = (e for e in self._ledger.values() if e.user_id == user_id and e.job_id == job_id)
        return sorted(found, key=lambda e: e.created_at)

    async def health(self, now: datetime) -> Health:
        await anyio.lowlevel.checkpoint()
        since, day_start = now - timedelta(hours=1), datetime.combine(utc_day(now), time(), tzinfo=UTC)
        pending = [d for d in self._deliveries.values() if d.status is DeliveryStatus.PENDING]
        callbacks: Counter[str] = Counter(
            e.outcome.value for e in self._inbox.values() if since <= e.received_at <= now
        )
        recent = [e for e in self._events if since <= e.at <= now]
        callbacks["untrusted"] += sum(
            1 for e in recent if e.kind == EventKind.CALLBACK and e.detail.get("trust") == "none"
        )
        statuses = [e.detail for e in recent if e.kind == EventKind.STATUS]
        checks = [e.detail for e in recent if e.kind == EventKind.CHECKED]
        attempts = [e.detail for e in recent if e.kind == EventKind.DELIVERY]
        credits: dict[str, float] = {}
        for job in self._jobs.values():
            if job.kie_credits is not None and day_start <= job.created_at <= now:
                credits[job.model] = credits.get(job.model, 0.0) + job.kie_credits
        return Health(
            at=now,
            pending_deliveries=len(pending),
            due_deliveries=sum(1 for d in pending if d.next_attempt_at <= now),
            oldest_pending_delivery=min((d.created_at for d in pending), default=None),
            callbacks={k: v for k, v in callbacks.items() if v},
            kie=KieCalls(
                created=sum(1 for d in statuses if d.get("to") == "submitted"),
                create_errors=sum(1 for e in recent if e.kind == EventKind.SUBMIT_ERROR),
                checks=sum(1 for d in checks if "error" not in d),
                check_errors=sum(1 for d in checks if "error" in d),
                tasks_failed=sum(1 for d in statuses if d.get("to") == "failed" and d.get("source") in _KIE_SOURCES),
            ),
            deliveries=dict(Counter(str(d.get("outcome")) for d in attempts)),
            telegram_throttled=sum(1 for d in attempts if _throttled(d)),
            kie_credits_today=credits,
        )

    async def retry_delivery(
        self, delivery_id: str, *, now: datetime, events: Sequence[JobEvent] = ()
    ) -> Delivery | None:
        await anyio.lowlevel.checkpoint()
        current = self._deliveries.get(delivery_id)
        if current is None or current.status not in (DeliveryStatus.FAILED, DeliveryStatus.GONE):
            return None
        stored = attrs.evolve(current, status=DeliveryStatus.PENDING, next_attempt_at=now, lease_until=None)
        self._deliveries[delivery_id] = stored
        self._append(*events)
        return stored

    async def job_stats(self, since: datetime, until: datetime) -> JobStats:
        await anyio.lowlevel.checkpoint()
        jobs: dict[str, Counter[str]] = {}
        failures: Counter[str] = Counter()
        credits = 0.0
        for job in self._jobs.values():
            if not since <= job.created_at < until:
                continue
            jobs.setdefault(job.model, Counter())[job.status.value] += 1
            if job.status in (JobStatus.FAILED, JobStatus.TIMED_OUT):
                failures[job.error_code or "unknown"] += 1
            credits += job.kie_credits or 0.0
        by_model = {model: dict(counts) for model, counts in jobs.items()}
        return JobStats(since=since, until=until, jobs=by_model, failures=dict(failures), kie_credits=credits)

    async def take_credits(self, entry: LedgerEntry, *, up_to: bool = False) -> Taken:
        await anyio.lowlevel.checkpoint()
        require_debit(entry)
        existing = self._ledger.get(entry.key)
        if existing is not None:
            return Taken(entry=existing, created=False, balance=self._balance_now(entry.user_id))
        stored = within_balance(entry, self._balance_now(entry.user_id), up_to=up_to)
        self._ledger[stored.key] = stored
        return Taken(entry=stored, created=True, balance=self._balance_now(entry.user_id))

    async def record_audit(self, entry: AuditEntry) -> None:
        await anyio.lowlevel.checkpoint()
        self._audit.append(attrs.evolve(entry, seq=len(self._audit) + 1))

    async def audit_log(
        self, *, job_id: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        await anyio.lowlevel.checkpoint()
        found = [
            e
            for e in reversed(self._audit)
            if (job_id is None or e.job_id == job_id) and (before is None or e.seq < before)
        ]
        return found[: max(0, limit)]


_KIE_SOURCES = ("callback", "poll")


def _throttled(detail: Mapping[str, Any]) -> bool:
    return (
        detail.get("recipient") == "telegram"
        and detail.get("outcome") == "deferred"
        and str(detail.get("error", "")).startswith(TELEGRAM_THROTTLED_PREFIX)
    )


def _owned_by(user_id: str | None, where: JobFilter) -> bool:
    if where.user_id is not None and user_id != where.user_id:
        return False
    if where.telegram_user is not None and user_id != f"tg:{where.telegram_user}":
        return False
    if where.api_key is not None:
        tenant = f"apikey:{where.api_key}"
        return user_id is not None and (user_id == tenant or user_id.startswith(tenant + ":"))
    return True


def _matches(job: Job, where: JobFilter, before: Cursor | None) -> bool:
    if before is not None and (job.created_at, job.id) >= (before.created_at, before.job_id):
        return False
    if where.status is not None and job.status is not where.status:
        return False
    if where.model is not None and job.model != where.model:
        return False
    if where.created_from is not None and job.created_at < where.created_from:
        return False
    if where.created_to is not None and job.created_at >= where.created_to:
        return False
    return _owned_by(job.user_id, where)
