"""The ConsoleQueries contract (``kiegen.ports.console``), clause by clause, over every store adapter: memory,
SQLite and PostgreSQL, each under asyncio and trio. Fixtures: ``tests/contract/conftest.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kiegen.core.billing import LedgerEntry, LedgerKind
from kiegen.core.delivery import DeliveryStatus, InboxEntry, InboxOutcome
from kiegen.core.events import EventKind, JobEvent
from kiegen.core.jobs import Job, JobStatus
from kiegen.ports.console import TELEGRAM_THROTTLED_PREFIX, AuditEntry, ConsoleQueries, Cursor, JobFilter
from kiegen.ports.store import JobStore
from tests.contract.test_store_contract import make_delivery, make_job

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def console(store: JobStore) -> ConsoleQueries:
    assert isinstance(store, ConsoleQueries), f"{type(store).__name__} does not implement ConsoleQueries"
    return store


async def stored(store: JobStore, **changes: Any) -> Job:
    job = make_job(**changes)
    await store.create_job(job)
    return job


def event(job_id: str, kind: str, at: datetime, **detail: Any) -> JobEvent:
    return JobEvent(job_id=job_id, at=at, kind=kind, detail=detail)


# jobs


async def test_find_jobs_lists_newest_first_and_pages_through_every_job_once(store: JobStore) -> None:
    # Five jobs share one instant: the id breaks the tie, and the cursor must not skip or repeat any of them.
    made = [await stored(store, created_at=T0 + timedelta(seconds=n // 5)) for n in range(12)]
    expected = sorted(made, key=lambda j: (j.created_at, j.id), reverse=True)
    seen: list[str] = []
    cursor: Cursor | None = None
    pages = 0
    while True:
        page = await console(store).find_jobs(JobFilter(), before=cursor, limit=5)
        seen += [j.id for j in page.jobs]
        pages += 1
        if page.next is None:
            break
        cursor = page.next
    assert seen == [j.id for j in expected]
    assert pages == 3


async def test_a_page_that_ends_exactly_at_the_last_job_has_no_next_cursor(store: JobStore) -> None:
    for _ in range(4):
        await stored(store)
    page = await console(store).find_jobs(JobFilter(), limit=4)
    assert len(page.jobs) == 4 and page.next is None


async def test_find_jobs_filters_by_status_model_and_time_range(store: JobStore) -> None:
    old = await stored(store, created_at=T0 - timedelta(days=2), model="z-image")
    failed = await stored(store, created_at=T0, status=JobStatus.FAILED, model="z-image")
    other_model = await stored(store, created_at=T0 + timedelta(minutes=1), status=JobStatus.FAILED)
    later = await stored(store, created_at=T0 + timedelta(hours=1), model="z-image")
    q = console(store)

    by_status = await q.find_jobs(JobFilter(status=JobStatus.FAILED))
    assert [j.id for j in by_status.jobs] == [other_model.id, failed.id]
    by_model = await q.find_jobs(JobFilter(model="z-image"))
    assert [j.id for j in by_model.jobs] == [later.id, failed.id, old.id]
    both = await q.find_jobs(JobFilter(model="z-image", status=JobStatus.FAILED))
    assert [j.id for j in both.jobs] == [failed.id]
    # from is inclusive, to exclusive
    window = await q.find_jobs(JobFilter(created_from=T0, created_to=T0 + timedelta(hours=1)))
    assert [j.id for j in window.jobs] == [other_model.id, failed.id]


async def test_find_jobs_matches_api_key_tenants_and_telegram_users_exactly(store: JobStore) -> None:
    own = await stored(store, user_id="apikey:acme")
    users = await stored(store, user_id="apikey:acme:alice")
    look_alike = await stored(store, user_id="apikey:acmecorp")  # another tenant whose name starts the same
    upper = await stored(store, user_id="apikey:ACME")
    telegram = await stored(store, user_id="tg:42")
    await stored(store, user_id="tg:420")
    q = console(store)

    tenant = await q.find_jobs(JobFilter(api_key="acme"))
    assert {j.id for j in tenant.jobs} == {own.id, users.id}
    assert look_alike.id not in {j.id for j in tenant.jobs} and upper.id not in {j.id for j in tenant.jobs}
    assert [j.id for j in (await q.find_jobs(JobFilter(telegram_user=42))).jobs] == [telegram.id]
    assert [j.id for j in (await q.find_jobs(JobFilter(user_id="apikey:acme:alice"))).jobs] == [users.id]


async def test_a_filter_with_no_match_gives_an_empty_last_page(store: JobStore) -> None:
    await stored(store)
    page = await console(store).find_jobs(JobFilter(model="no-such-model"))
    assert page.jobs == [] and page.next is None


async def test_job_counts_give_jobs_by_status(store: JobStore) -> None:
    for status in (JobStatus.PENDING, JobStatus.FAILED, JobStatus.FAILED):
        await stored(store, status=status)
    assert await console(store).job_counts() == {"pending": 1, "failed": 2}


async def test_ledger_of_job_lists_that_jobs_entries_oldest_first(store: JobStore) -> None:
    await store.add_entry(LedgerEntry(key="top", user_id="u1", kind=LedgerKind.TOPUP, amount=50, created_at=T0))
    job = await stored(store, user_id="u1", price=5)  # writes its hold
    other = await stored(store, user_id="u1", price=3)
    settle = LedgerEntry(
        key=f"settle:{job.id}", user_id="u1", kind=LedgerKind.CAPTURE, amount=5, job_id=job.id, created_at=T0
    )
    await store.add_entry(settle)
    entries = await console(store).ledger_of_job("u1", job.id)
    assert [(e.key, e.kind) for e in entries] == [(f"hold:{job.id}", LedgerKind.HOLD), (settle.key, settle.kind)]
    assert [e.key for e in await console(store).ledger_of_job("u1", other.id)] == [f"hold:{other.id}"]


# health


async def test_health_reads_the_delivery_backlog_and_its_oldest_pending_delivery(store: JobStore) -> None:
    q = console(store)
    empty = await q.health(T0)
    assert (empty.pending_deliveries, empty.due_deliveries, empty.oldest_pending_delivery) == (0, 0, None)
    done = await stored(store)  # a day-old delivery, sent: not backlog
    await store.save(done, expected_version=0, deliveries=[make_delivery(done.id, created_at=T0 - timedelta(days=1))])
    [claim] = await store.claim_deliveries(T0, lease_s=30, limit=1)
    await store.complete_delivery(claim, receipt="ok", now=T0)
    for n, due in enumerate((T0 - timedelta(minutes=5), T0 + timedelta(minutes=5), T0)):
        job = await stored(store)
        created = T0 - timedelta(minutes=30 - n)
        await store.save(
            job, expected_version=0, deliveries=[make_delivery(job.id, next_attempt_at=due, created_at=created)]
        )
    health = await q.health(T0)
    assert (health.pending_deliveries, health.due_deliveries) == (3, 2)
    assert health.oldest_pending_delivery == T0 - timedelta(minutes=30)


async def test_health_counts_callbacks_of_the_last_hour_by_outcome(store: JobStore) -> None:
    job = await stored(store)
    for n, (outcome, minutes_ago) in enumerate(
        [(InboxOutcome.APPLIED, 5), (InboxOutcome.IGNORED, 10), (InboxOutcome.IGNORED, 59), (InboxOutcome.HINT, 61)]
    ):
        entry = InboxEntry(
            key=f"k{n}",
            job_id=job.id,
            task_id=None,
            body=b"{}",
            received_at=T0 - timedelta(minutes=minutes_ago),
            outcome=outcome,
        )
        await store.record_callback(entry)
    await store.add_events(
        [
            event(job.id, EventKind.CALLBACK, T0 - timedelta(minutes=1), trust="none", outcome="hint"),
            event(job.id, EventKind.CALLBACK, T0 - timedelta(minutes=2), trust="token", inbox="k0"),
            event(job.id, EventKind.CALLBACK, T0 - timedelta(hours=2), trust="none", outcome="hint"),
        ]
    )
    assert dict((await console(store).health(T0)).callbacks) == {"applied": 1, "ignored": 2, "untrusted": 1}


async def test_health_counts_kie_calls_and_their_errors_in_the_last_hour(store: JobStore) -> None:
    job = await stored(store)
    recent, old = T0 - timedelta(minutes=10), T0 - timedelta(hours=3)
    await store.add_events(
        [
            event(job.id, EventKind.STATUS, recent, to="submitted", source="submit", task_id="t1"),
            event(job.id, EventKind.STATUS, recent, to="submitted", source="submit", task_id="t2"),
            event(job.id, EventKind.STATUS, old, to="submitted", source="submit", task_id="t0"),
            event(job.id, EventKind.SUBMIT_ERROR, recent, error="KIE said 500", outcome="retry"),
            event(job.id, EventKind.CHECKED, recent, state="generating"),
            event(job.id, EventKind.CHECKED, recent, state="success"),
            event(job.id, EventKind.CHECKED, recent, error="timeout"),
            event(job.id, EventKind.STATUS, recent, to="failed", source="callback"),
            event(job.id, EventKind.STATUS, recent, to="failed", source="poll"),
            event(job.id, EventKind.STATUS, recent, to="failed", source="submit"),  # not KIE's verdict on a task
        ]
    )
    kie = (await console(store).health(T0)).kie
    assert (kie.created, kie.create_errors, kie.checks, kie.check_errors, kie.tasks_failed) == (2, 1, 2, 1, 2)
    assert kie.create_error_rate == pytest.approx(1 / 3) and kie.check_error_rate == pytest.approx(1 / 3)


async def test_health_counts_delivery_outcomes_and_telegram_throttling(store: JobStore) -> None:
    job = await stored(store)
    recent = T0 - timedelta(minutes=3)

    def attempt(outcome: str, recipient: str = "telegram", error: str | None = None) -> JobEvent:
        detail: dict[str, Any] = {"recipient": recipient, "outcome": outcome, "attempt": 1}
        if error is not None:
            detail["error"] = error
        return event(job.id, EventKind.DELIVERY, recent, **detail)

    await store.add_events(
        [
            attempt("sent"),
            attempt("deferred", error=f"{TELEGRAM_THROTTLED_PREFIX} 30 s"),
            attempt("deferred", error=f"{TELEGRAM_THROTTLED_PREFIX} 12 s"),
            attempt("deferred", error="Telegram unreachable: TelegramNetworkError"),
            attempt("deferred", recipient="webhook", error=f"{TELEGRAM_THROTTLED_PREFIX} (not Telegram's)"),
            attempt("gone", error="Telegram: bot was blocked by the user"),
            event(job.id, EventKind.DELIVERY, T0 - timedelta(hours=2), recipient="telegram", outcome="deferred",
                  error=f"{TELEGRAM_THROTTLED_PREFIX} 5 s"),
        ]
    )  # fmt: skip
    health = await console(store).health(T0)
    assert health.telegram_throttled == 2
    assert dict(health.deliveries) == {"sent": 1, "deferred": 4, "gone": 1}


async def test_health_sums_kie_credits_by_model_for_jobs_created_today(store: JobStore) -> None:
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    await stored(store, model="z-image", kie_credits=0.5, created_at=midnight)
    await stored(store, model="z-image", kie_credits=1.25, created_at=T0 - timedelta(hours=1))
    await stored(store, model="flux", kie_credits=4.0, created_at=T0)
    await stored(store, model="flux", kie_credits=None, created_at=T0)
    await stored(store, model="flux", kie_credits=9.0, created_at=midnight - timedelta(seconds=1))  # yesterday
    assert dict((await console(store).health(T0)).kie_credits_today) == {"z-image": 1.75, "flux": 4.0}


# deliveries


@pytest.mark.parametrize("ended", [DeliveryStatus.FAILED, DeliveryStatus.GONE])
async def test_retry_puts_a_failed_or_gone_delivery_back_in_the_outbox(store: JobStore, ended: DeliveryStatus) -> None:
    job = await stored(store)
    await store.save(job, expected_version=0, deliveries=[make_delivery(job.id)])
    [claim] = await store.claim_deliveries(T0, lease_s=30, limit=1)
    await store.fail_delivery(claim, error="refused", now=T0, retry_at=None, status=ended)
    later = T0 + timedelta(hours=1)
    note = event(job.id, "operator", later, action="retry_delivery")

    retried = await console(store).retry_delivery(claim.delivery.id, now=later, events=[note])

    assert retried is not None
    assert (retried.status, retried.next_attempt_at, retried.lease_until) == (DeliveryStatus.PENDING, later, None)
    assert retried.attempt == 1  # the attempt number stays the fencing token
    [again] = await store.claim_deliveries(later, lease_s=30, limit=5)
    assert (again.delivery.id, again.attempt) == (claim.delivery.id, 2)
    assert [e.kind for e in await store.events_for(job.id)][-1] == "operator"


async def test_retry_refuses_a_pending_or_sent_or_unknown_delivery_and_writes_nothing(store: JobStore) -> None:
    job = await stored(store)
    await store.save(job, expected_version=0, deliveries=[make_delivery(job.id)])
    q = console(store)
    note = [event(job.id, "operator", T0, action="retry_delivery")]
    before = len(await store.events_for(job.id))
    assert await q.retry_delivery(f"{job.id}:succeeded", now=T0, events=note) is None  # pending
    [claim] = await store.claim_deliveries(T0, lease_s=30, limit=1)
    await store.complete_delivery(claim, receipt="ok", now=T0)
    assert await q.retry_delivery(claim.delivery.id, now=T0, events=note) is None  # sent
    assert await q.retry_delivery("no-such-delivery", now=T0, events=note) is None
    assert len(await store.events_for(job.id)) == before + 1  # only the delivery attempt, no operator note
    [delivery] = await store.deliveries_for(job.id)
    assert delivery.status is DeliveryStatus.SENT


# audit


async def test_audit_log_lists_entries_newest_first_by_job_and_pages_by_seq(store: JobStore) -> None:
    q = console(store)
    for n in range(5):
        await q.record_audit(
            AuditEntry(
                at=T0 + timedelta(seconds=n),
                actor="console:0123456789ab",
                action="cancel" if n % 2 else "retry_delivery",
                outcome="done",
                job_id="job-a" if n < 3 else "job-b",
                target="job-a:failed" if n == 0 else None,
                remote="127.0.0.1",
                detail={"n": n, "reason": "<b>asked</b>"},
            )
        )
    everything = await q.audit_log()
    assert [e.detail["n"] for e in everything] == [4, 3, 2, 1, 0]
    assert [e.seq for e in everything] == sorted((e.seq for e in everything), reverse=True)
    oldest = everything[-1]
    assert (oldest.actor, oldest.action, oldest.target, oldest.remote) == (
        "console:0123456789ab",
        "retry_delivery",
        "job-a:failed",
        "127.0.0.1",
    )
    assert oldest.at == T0 and oldest.detail["reason"] == "<b>asked</b>"
    assert [e.detail["n"] for e in await q.audit_log(job_id="job-a")] == [2, 1, 0]
    assert [e.detail["n"] for e in await q.audit_log(before=everything[1].seq, limit=2)] == [2, 1]
    assert [e.detail["n"] for e in await q.audit_log(job_id="job-b", before=everything[0].seq)] == [3]
