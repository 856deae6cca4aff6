"""The JobStore contract (``kiegen.ports.store``), clause by clause, over every adapter: memory, SQLite and
PostgreSQL, each under asyncio and trio. Fixtures: ``tests/contract/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import anyio
import attrs
import pytest

from kiegen.core.billing import LedgerEntry, LedgerKind, balance_of, topup
from kiegen.core.delivery import Claim, Delivery, DeliveryStatus, InboxEntry, InboxOutcome
from kiegen.core.errors import (
    ConcurrencyConflict,
    DuplicateEvent,
    InsufficientCredits,
    JobNotFound,
    LeaseLost,
    QuotaExceeded,
)
from kiegen.core.events import JobEvent
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media
from kiegen.ports.store import Created, JobStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MSK = timezone(timedelta(hours=3))


def _ids() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


_seq = _ids()


def make_job(**changes: Any) -> Job:
    n = next(_seq)
    fields: dict[str, Any] = {
        "id": f"job-{n:06d}",
        "model": "google/nano-banana",
        "inputs": {"prompt": "a cat in a hat", "n": 2, "nested": {"ok": True, "list": [1, "two"]}},
        "recipient": "telegram:42",
        "created_at": T0,
        "updated_at": T0,
        "deadline_at": T0 + timedelta(minutes=15),
    }
    fields.update(changes)
    return Job(**fields)


def make_delivery(job_id: str, **changes: Any) -> Delivery:
    fields: dict[str, Any] = {
        "id": f"{job_id}:succeeded",
        "job_id": job_id,
        "recipient": "telegram:42",
        "next_attempt_at": T0,
        "created_at": T0,
    }
    fields.update(changes)
    return Delivery(**fields)


def entry(key: str, kind: LedgerKind, amount: int, *, user_id: str = "u1", at: datetime = T0) -> LedgerEntry:
    return LedgerEntry(key=key, user_id=user_id, kind=kind, amount=amount, created_at=at)


async def fund(store: JobStore, user_id: str, amount: int) -> None:
    assert await store.add_entry(topup(user_id, amount, key=f"topup:{user_id}:{amount}", at=T0))


async def with_delivery(store: JobStore, **changes: Any) -> Delivery:
    """A stored job that reached a terminal state, with its outbox row."""
    job = (await store.create_job(make_job())).job
    delivery = make_delivery(job.id, **changes)
    await store.save(
        attrs.evolve(job, status=JobStatus.SUCCEEDED, completed_at=T0),
        expected_version=job.version,
        deliveries=[delivery],
    )
    return delivery


# jobs: create, get


async def test_created_job_reads_back_equal_with_aware_datetimes(store: JobStore) -> None:
    job = make_job(
        created_at=T0.astimezone(MSK),
        updated_at=T0,
        submitted_at=T0 + timedelta(seconds=1, microseconds=123456),
        next_check_at=T0 + timedelta(seconds=10),
        result_urls=("https://example.com/a.png", "https://example.com/b.png"),
        metadata={"card": 17, "chat": "-100123"},
        kie_credits=1.5,
        late=True,
    )
    assert await store.create_job(job) == Created(job, created=True)
    stored = await store.get(job.id)
    assert stored == job
    assert stored is not None
    for moment in (stored.created_at, stored.updated_at, stored.submitted_at, stored.deadline_at):
        assert moment is not None
        assert moment.utcoffset() is not None


async def test_a_video_job_keeps_its_media_through_create_save_claim_and_listing(store: JobStore) -> None:
    job = (await store.create_job(make_job(media=Media.VIDEO, next_check_at=T0))).job
    assert job.media is Media.VIDEO
    saved = await store.save(
        attrs.evolve(job, task_id="task-v", status=JobStatus.SUBMITTED, submitted_at=T0), expected_version=0
    )
    (claimed,) = await store.claim_due_checks(T0 + timedelta(seconds=1), lease_until=T0 + timedelta(minutes=1), limit=5)
    assert [j.media for j in (saved, claimed, *await store.list_jobs())] == [Media.VIDEO] * 3
    assert (await store.get_by_task("task-v")) == claimed


async def test_get_and_get_by_task_return_none_for_unknown_ids(store: JobStore) -> None:
    await store.create_job(make_job(task_id="task-known"))
    assert await store.get("no-such-job") is None
    assert await store.get_by_task("no-such-task") is None


async def test_get_by_task_finds_the_job_once_its_task_id_is_saved(store: JobStore) -> None:
    job = (await store.create_job(make_job())).job
    saved = await store.save(
        attrs.evolve(job, task_id="task-1", status=JobStatus.SUBMITTED, submitted_at=T0), expected_version=0
    )
    assert await store.get_by_task("task-1") == saved


async def test_same_idempotency_key_returns_the_first_job_and_writes_nothing(store: JobStore) -> None:
    await fund(store, "u1", 10)
    first = make_job(user_id="u1", idempotency_key="k1", price=3)
    second = make_job(user_id="u1", idempotency_key="k1", price=3)
    assert (await store.create_job(first)).created
    again = await store.create_job(second)
    assert again == Created(first, created=False)
    assert await store.get(second.id) is None
    assert await store.balance("u1") == 7


async def test_an_idempotency_key_is_scoped_to_its_user(store: JobStore) -> None:
    a = await store.create_job(make_job(user_id="alice", idempotency_key="same"))
    b = await store.create_job(make_job(user_id="bob", idempotency_key="same"))
    assert a.created
    assert b.created
    assert a.job.id != b.job.id


async def test_creating_an_existing_job_id_raises_value_error(store: JobStore) -> None:
    job = make_job()
    await store.create_job(job)
    with pytest.raises(ValueError, match=job.id):
        await store.create_job(attrs.evolve(job, model="other"))


async def test_a_paid_job_writes_its_hold_in_the_same_create(store: JobStore) -> None:
    await fund(store, "u1", 10)
    job = make_job(user_id="u1", price=4)
    await store.create_job(job)
    holds = [e for e in await store.ledger("u1") if e.kind is LedgerKind.HOLD]
    assert [(h.key, h.amount, h.job_id) for h in holds] == [(f"hold:{job.id}", 4, job.id)]
    assert await store.balance("u1") == 6


async def test_a_paid_job_without_enough_credits_raises_and_writes_nothing(store: JobStore) -> None:
    await fund(store, "u1", 3)
    job = make_job(user_id="u1", price=4)
    with pytest.raises(InsufficientCredits) as caught:
        await store.create_job(job)
    assert (caught.value.user_id, caught.value.balance, caught.value.needed) == ("u1", 3, 4)
    assert await store.get(job.id) is None
    assert await store.balance("u1") == 3
    assert [e.kind for e in await store.ledger("u1")] == [LedgerKind.TOPUP]


async def test_a_job_exactly_as_expensive_as_the_balance_is_accepted(store: JobStore) -> None:
    await fund(store, "u1", 4)
    assert (await store.create_job(make_job(user_id="u1", price=4))).created
    assert await store.balance("u1") == 0


async def test_concurrent_paid_creates_never_overspend(store: JobStore) -> None:
    await fund(store, "u1", 5)
    accepted: list[str] = []
    refused: list[str] = []

    async def attempt(job: Job) -> None:
        try:
            await store.create_job(job)
            accepted.append(job.id)
        except InsufficientCredits:
            refused.append(job.id)

    async with anyio.create_task_group() as tg:
        for _ in range(12):
            tg.start_soon(attempt, make_job(user_id="u1", price=1))
    assert (len(accepted), len(refused)) == (5, 7)
    assert await store.balance("u1") == 0


async def test_a_free_job_counts_one_use_on_the_utc_day_of_its_creation(store: JobStore) -> None:
    # 01:30 in Moscow on 2 March is still 1 March in UTC.
    created = datetime(2026, 3, 2, 1, 30, tzinfo=MSK)
    await store.create_job(make_job(user_id="u1", created_at=created, updated_at=created), free_quota=5)
    assert await store.free_uses("u1", date(2026, 3, 1)) == 1
    assert await store.free_uses("u1", date(2026, 3, 2)) == 0
    assert await store.ledger("u1") == []


async def test_free_quota_used_up_raises_and_writes_nothing(store: JobStore) -> None:
    for _ in range(2):
        await store.create_job(make_job(user_id="u1"), free_quota=2)
    third = make_job(user_id="u1")
    with pytest.raises(QuotaExceeded) as caught:
        await store.create_job(third, free_quota=2)
    assert (caught.value.user_id, caught.value.limit) == ("u1", 2)
    assert await store.get(third.id) is None
    assert await store.free_uses("u1", T0.date()) == 2
    tomorrow = T0 + timedelta(days=1)
    assert (await store.create_job(make_job(user_id="u1", created_at=tomorrow), free_quota=2)).created


async def test_quota_counts_only_free_jobs_of_users_when_a_quota_is_given(store: JobStore) -> None:
    await fund(store, "u1", 10)
    await store.create_job(make_job(user_id="u1", price=2), free_quota=1)
    await store.create_job(make_job(user_id="u1"))
    await store.create_job(make_job(), free_quota=1)
    assert await store.free_uses("u1", T0.date()) == 0


async def test_an_idempotent_repeat_does_not_count_quota_again(store: JobStore) -> None:
    await store.create_job(make_job(user_id="u1", idempotency_key="k"), free_quota=1)
    again = await store.create_job(make_job(user_id="u1", idempotency_key="k"), free_quota=1)
    assert not again.created
    assert await store.free_uses("u1", T0.date()) == 1


# jobs: save, optimistic concurrency


async def test_save_stores_the_job_with_the_next_version(store: JobStore) -> None:
    job = (await store.create_job(make_job())).job
    changed = attrs.evolve(job, status=JobStatus.RUNNING, checks=3, updated_at=T0 + timedelta(seconds=5))
    saved = await store.save(changed, expected_version=0)
    assert saved == attrs.evolve(changed, version=1)
    assert await store.get(job.id) == saved


async def test_save_with_a_stale_version_conflicts_and_writes_nothing(store: JobStore) -> None:
    job = (await store.create_job(make_job(user_id="u1"))).job
    await store.save(attrs.evolve(job, status=JobStatus.RUNNING), expected_version=0)
    stale = attrs.evolve(job, status=JobStatus.FAILED)
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.save(
            stale,
            expected_version=0,
            ledger=[entry("stale-entry", LedgerKind.TOPUP, 5)],
            deliveries=[make_delivery(job.id, id=f"{job.id}:failed")],
        )
    assert caught.value.job_id == job.id
    stored = await store.get(job.id)
    assert stored is not None
    assert (stored.status, stored.version) == (JobStatus.RUNNING, 1)
    assert await store.ledger("u1") == []
    assert await store.deliveries_for(job.id) == []


async def test_save_of_an_unknown_job_raises_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await store.save(make_job(), expected_version=0)


async def test_save_writes_ledger_entries_and_deliveries_and_skips_known_keys(store: JobStore) -> None:
    job = (await store.create_job(make_job(user_id="u1"))).job
    delivery = make_delivery(job.id)
    saved = await store.save(
        attrs.evolve(job, status=JobStatus.SUCCEEDED),
        expected_version=0,
        ledger=[entry("e1", LedgerKind.TOPUP, 5)],
        deliveries=[delivery],
    )
    # The same keys again (with different content) are skipped silently: the first write stands.
    await store.save(
        saved,
        expected_version=1,
        ledger=[entry("e1", LedgerKind.TOPUP, 500), entry("e2", LedgerKind.TOPUP, 1)],
        deliveries=[attrs.evolve(delivery, recipient="console")],
    )
    assert [(e.key, e.amount) for e in await store.ledger("u1")] == [("e1", 5), ("e2", 1)]
    assert await store.deliveries_for(job.id) == [delivery]


async def test_a_task_id_belongs_to_one_job(store: JobStore) -> None:
    first = (await store.create_job(make_job(task_id="task-x"))).job
    second = (await store.create_job(make_job())).job
    with pytest.raises(ValueError, match="task-x"):
        await store.save(attrs.evolve(second, task_id="task-x"), expected_version=0)
    assert await store.get_by_task("task-x") == first
    stored = await store.get(second.id)
    assert stored is not None
    assert stored.task_id is None


async def test_creating_a_job_whose_task_id_is_taken_raises_and_writes_nothing(store: JobStore) -> None:
    await fund(store, "u1", 10)
    await store.create_job(make_job(task_id="task-taken"))
    paid = make_job(task_id="task-taken", user_id="u1", price=3)
    free = make_job(task_id="task-taken", user_id="u1")
    with pytest.raises(ValueError, match="task-taken"):
        await store.create_job(paid)
    with pytest.raises(ValueError, match="task-taken"):
        await store.create_job(free, free_quota=5)
    assert (await store.get(paid.id), await store.get(free.id)) == (None, None)
    assert await store.balance("u1") == 10
    assert await store.free_uses("u1", T0.date()) == 0


async def test_list_jobs_is_newest_first_per_user_and_limited(store: JobStore) -> None:
    made = [
        (await store.create_job(make_job(user_id="u1" if i % 2 else "u2", created_at=T0 + timedelta(minutes=i)))).job
        for i in range(6)
    ]
    assert [j.id for j in await store.list_jobs()] == [j.id for j in reversed(made)]
    assert [j.id for j in await store.list_jobs(user_id="u1")] == [made[5].id, made[3].id, made[1].id]
    assert [j.id for j in await store.list_jobs(user_id="u1", limit=2)] == [made[5].id, made[3].id]
    assert await store.list_jobs(user_id="nobody") == []


# jobs: claiming remote checks


async def test_claim_due_checks_leases_due_live_jobs_oldest_first(store: JobStore) -> None:
    now = T0 + timedelta(minutes=1)
    late = (await store.create_job(make_job(next_check_at=now - timedelta(seconds=5)))).job
    early = (await store.create_job(make_job(next_check_at=now - timedelta(seconds=30)))).job
    exactly_now = (await store.create_job(make_job(next_check_at=now))).job
    await store.create_job(make_job(next_check_at=now + timedelta(minutes=1)))  # not due yet
    await store.create_job(make_job(next_check_at=None))  # nothing scheduled
    await store.create_job(make_job(status=JobStatus.SUCCEEDED, next_check_at=now - timedelta(hours=1)))
    lease = now + timedelta(seconds=30)

    claimed = await store.claim_due_checks(now, lease_until=lease, limit=10)

    assert [j.id for j in claimed] == [early.id, late.id, exactly_now.id]
    assert all(j.next_check_at == lease and j.version == 1 for j in claimed)
    assert await store.get(early.id) == claimed[0]
    assert await store.claim_due_checks(now + timedelta(seconds=29), lease_until=lease, limit=10) == []
    again = await store.claim_due_checks(lease, lease_until=lease + timedelta(seconds=30), limit=10)
    assert [j.version for j in again] == [2, 2, 2]


async def test_claim_due_checks_respects_the_limit(store: JobStore) -> None:
    for i in range(5):
        await store.create_job(make_job(next_check_at=T0 + timedelta(seconds=i)))
    lease = T0 + timedelta(minutes=5)
    first = await store.claim_due_checks(T0 + timedelta(minutes=1), lease_until=lease, limit=2)
    rest = await store.claim_due_checks(T0 + timedelta(minutes=1), lease_until=lease, limit=10)
    assert (len(first), len(rest)) == (2, 3)
    assert not {j.id for j in first} & {j.id for j in rest}


async def test_a_claimed_check_makes_a_save_from_the_old_version_conflict(store: JobStore) -> None:
    job = (await store.create_job(make_job(next_check_at=T0))).job
    await store.claim_due_checks(T0, lease_until=T0 + timedelta(seconds=30), limit=1)
    with pytest.raises(ConcurrencyConflict):
        await store.save(attrs.evolve(job, status=JobStatus.RUNNING), expected_version=job.version)


async def test_concurrent_check_claims_are_disjoint(store: JobStore) -> None:
    for _ in range(30):
        await store.create_job(make_job(next_check_at=T0))
    seen: list[str] = []

    async def worker() -> None:
        while batch := await store.claim_due_checks(T0, lease_until=T0 + timedelta(minutes=1), limit=4):
            seen.extend(j.id for j in batch)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(worker)
    assert len(seen) == len(set(seen)) == 30


# inbox


def callback(key: str, *, at: datetime = T0, body: bytes = b'{"code": 200}') -> InboxEntry:
    return InboxEntry(key=key, job_id="job-1", task_id="task-1", body=body, received_at=at)


async def test_record_callback_stores_a_key_once_with_its_raw_body(store: JobStore) -> None:
    raw = b'\xff\xfe not utf-8 \x00 {"data":'
    assert await store.record_callback(callback("k1", body=raw)) is True
    assert await store.record_callback(callback("k1", body=b"other")) is False
    assert [(e.key, e.body) for e in await store.callbacks_for("job-1")] == [("k1", raw)]


async def test_callbacks_for_lists_a_jobs_callbacks_in_arrival_order_with_their_verdicts(store: JobStore) -> None:
    await store.record_callback(attrs.evolve(callback("b", at=T0 + timedelta(seconds=2)), outcome=InboxOutcome.HINT))
    await store.record_callback(callback("a", at=T0 + timedelta(seconds=1)))
    await store.record_callback(attrs.evolve(callback("c"), job_id="job-2"))
    found = await store.callbacks_for("job-1")
    assert [(e.key, e.outcome) for e in found] == [("a", InboxOutcome.APPLIED), ("b", InboxOutcome.HINT)]
    assert found[0] == callback("a", at=T0 + timedelta(seconds=1))
    assert await store.callbacks_for("nobody") == []


async def test_get_with_inbox_says_whether_a_callback_was_stored_before(store: JobStore) -> None:
    job = (await store.create_job(make_job())).job
    assert await store.get_with_inbox(job.id, "k1") == (job, False)
    await store.record_callback(attrs.evolve(callback("k1"), job_id=job.id))
    assert await store.get_with_inbox(job.id, "k1") == (job, True)
    assert await store.get_with_inbox("unknown", "k1") == (None, False)


# outbox


async def test_claim_deliveries_leases_ready_pending_ones_and_counts_attempts(store: JobStore) -> None:
    ready = await with_delivery(store)
    await with_delivery(store, next_attempt_at=T0 + timedelta(minutes=5))  # not yet

    claims = await store.claim_deliveries(T0, lease_s=30, limit=10)

    assert [(c.delivery.id, c.attempt) for c in claims] == [(ready.id, 1)]
    assert claims[0].lease_until == T0 + timedelta(seconds=30)
    assert claims[0].delivery == attrs.evolve(ready, attempt=1, lease_until=T0 + timedelta(seconds=30))
    assert await store.claim_deliveries(T0 + timedelta(seconds=29), lease_s=30, limit=10) == []
    # the lease expired (a worker died): the next claim takes it with the next attempt number
    reclaimed = await store.claim_deliveries(T0 + timedelta(seconds=30), lease_s=30, limit=10)
    assert [(c.delivery.id, c.attempt) for c in reclaimed] == [(ready.id, 2)]


async def test_claim_deliveries_is_oldest_first_and_limited(store: JobStore) -> None:
    made = [await with_delivery(store, next_attempt_at=T0 - timedelta(seconds=i)) for i in range(4)]
    claims = await store.claim_deliveries(T0, lease_s=30, limit=3)
    assert [c.delivery.id for c in claims] == [made[3].id, made[2].id, made[1].id]


async def test_claim_deliveries_takes_only_the_recipient_schemes_asked_for(store: JobStore) -> None:
    # One process has the Telegram bot, another only webhooks: neither may take (and so fail) the other's.
    telegram = await with_delivery(store, recipient="telegram:42")
    webhook = await with_delivery(store, recipient="webhook:https://hooks.example/x")
    console = await with_delivery(store, recipient="console")
    lookalike = await with_delivery(store, recipient="telegramx:1")  # a scheme is matched whole
    wildcard = await with_delivery(store, recipient="we%hook:1")  # LIKE characters match only themselves
    shouting = await with_delivery(store, recipient="TELEGRAM:42")  # schemes are matched case and all

    webhook_only = await store.claim_deliveries(T0, lease_s=30, limit=10, schemes=frozenset({"webhook", "none"}))
    assert [c.delivery.id for c in webhook_only] == [webhook.id]
    both = await store.claim_deliveries(T0, lease_s=30, limit=10, schemes=frozenset({"telegram", "console"}))
    assert sorted(c.delivery.id for c in both) == sorted([telegram.id, console.id])
    assert await store.claim_deliveries(T0, lease_s=30, limit=10, schemes=frozenset()) == []
    rest = await store.claim_deliveries(T0, lease_s=30, limit=10)  # None: any scheme
    assert sorted(c.delivery.id for c in rest) == sorted([lookalike.id, wildcard.id, shouting.id])


async def test_concurrent_delivery_claims_never_share_an_attempt(store: JobStore) -> None:
    for _ in range(40):
        await with_delivery(store)
    claimed: list[tuple[str, int]] = []

    async def worker() -> None:
        while batch := await store.claim_deliveries(T0, lease_s=60, limit=3):
            claimed.extend((c.delivery.id, c.attempt) for c in batch)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(worker)
    assert len(claimed) == len(set(claimed)) == 40


async def test_complete_delivery_marks_it_sent_for_good(store: JobStore) -> None:
    delivery = await with_delivery(store)
    (claim,) = await store.claim_deliveries(T0, lease_s=30, limit=1)
    sent_at = T0 + timedelta(seconds=2)
    done = await store.complete_delivery(claim, receipt="file-id-1", now=sent_at)
    assert done == attrs.evolve(
        delivery, status=DeliveryStatus.SENT, attempt=1, receipt="file-id-1", sent_at=sent_at, lease_until=None
    )
    assert await store.deliveries_for(delivery.job_id) == [done]
    assert await store.claim_deliveries(T0 + timedelta(hours=1), lease_s=30, limit=10) == []


async def test_a_worker_whose_lease_was_taken_over_cannot_mark_the_delivery(store: JobStore) -> None:
    await with_delivery(store)
    (stale,) = await store.claim_deliveries(T0, lease_s=30, limit=1)
    # the first worker stalls past its lease; a second worker claims the delivery
    (fresh,) = await store.claim_deliveries(T0 + timedelta(seconds=31), lease_s=30, limit=1)
    assert (stale.attempt, fresh.attempt) == (1, 2)

    with pytest.raises(LeaseLost) as caught:
        await store.complete_delivery(stale, receipt="late", now=T0 + timedelta(seconds=40))
    assert (caught.value.delivery_id, caught.value.attempt) == (stale.delivery.id, 1)
    with pytest.raises(LeaseLost):
        await store.fail_delivery(stale, error="late", now=T0 + timedelta(seconds=40), retry_at=None)

    done = await store.complete_delivery(fresh, receipt="ok", now=T0 + timedelta(seconds=41))
    assert (done.status, done.receipt, done.attempt) == (DeliveryStatus.SENT, "ok", 2)
    # once sent, not even the owner of the last claim can mark it again
    with pytest.raises(LeaseLost):
        await store.fail_delivery(fresh, error="again", now=T0 + timedelta(seconds=42), retry_at=None)


async def test_fail_delivery_with_retry_at_reschedules_it(store: JobStore) -> None:
    delivery = await with_delivery(store)
    (claim,) = await store.claim_deliveries(T0, lease_s=30, limit=1)
    retry_at = T0 + timedelta(seconds=10)
    failed = await store.fail_delivery(claim, error="429 Too Many Requests", now=T0, retry_at=retry_at)
    assert failed == attrs.evolve(
        delivery, attempt=1, next_attempt_at=retry_at, last_error="429 Too Many Requests", lease_until=None
    )
    assert await store.claim_deliveries(T0 + timedelta(seconds=9), lease_s=30, limit=1) == []
    (again,) = await store.claim_deliveries(retry_at, lease_s=30, limit=1)
    assert again.attempt == 2


@pytest.mark.parametrize("status", [DeliveryStatus.GONE, DeliveryStatus.FAILED])
async def test_fail_delivery_without_retry_ends_it(store: JobStore, status: DeliveryStatus) -> None:
    delivery = await with_delivery(store)
    claim: Claim = (await store.claim_deliveries(T0, lease_s=30, limit=1))[0]
    ended = await store.fail_delivery(claim, error="bot was blocked", now=T0, retry_at=None, status=status)
    assert (ended.status, ended.last_error, ended.lease_until) == (status, "bot was blocked", None)
    assert await store.deliveries_for(delivery.job_id) == [ended]
    assert await store.claim_deliveries(T0 + timedelta(days=1), lease_s=30, limit=10) == []


async def test_deliveries_for_lists_a_jobs_deliveries_oldest_first(store: JobStore) -> None:
    job = (await store.create_job(make_job())).job
    timed_out = make_delivery(job.id, id=f"{job.id}:timed_out")
    late = make_delivery(job.id, created_at=T0 + timedelta(minutes=20), next_attempt_at=T0 + timedelta(minutes=20))
    job = await store.save(attrs.evolve(job, status=JobStatus.TIMED_OUT), expected_version=0, deliveries=[timed_out])
    await store.save(attrs.evolve(job, status=JobStatus.SUCCEEDED, late=True), expected_version=1, deliveries=[late])
    assert await store.deliveries_for(job.id) == [timed_out, late]
    assert await store.deliveries_for("other") == []


# ledger


async def test_add_entry_appends_a_key_once(store: JobStore) -> None:
    assert await store.add_entry(entry("pay:1", LedgerKind.TOPUP, 10)) is True
    assert await store.add_entry(entry("pay:1", LedgerKind.TOPUP, 10)) is False
    assert await store.balance("u1") == 10


async def test_balance_is_topups_minus_holds_plus_releases(store: JobStore) -> None:
    entries = [
        entry("t1", LedgerKind.TOPUP, 10),
        entry("h1", LedgerKind.HOLD, 3),
        entry("h2", LedgerKind.HOLD, 2),
        entry("c1", LedgerKind.CAPTURE, 3),
        entry("r2", LedgerKind.RELEASE, 2),
        entry("other", LedgerKind.TOPUP, 100, user_id="u2"),
    ]
    for e in entries:
        await store.add_entry(e)
    assert await store.balance("u1") == 10 - 3 - 2 + 2 == balance_of(e for e in entries if e.user_id == "u1")
    assert await store.balance("u2") == 100
    assert await store.balance("nobody") == 0


async def test_ledger_lists_a_users_entries_oldest_first(store: JobStore) -> None:
    later = entry("later", LedgerKind.TOPUP, 1, at=T0 + timedelta(hours=1))
    earlier = entry("earlier", LedgerKind.TOPUP, 2, at=T0)
    same_time = entry("same-time", LedgerKind.HOLD, 1, at=T0)
    for e in (later, earlier, same_time):
        await store.add_entry(e)
    await store.add_entry(entry("not-mine", LedgerKind.TOPUP, 5, user_id="u2"))
    assert await store.ledger("u1") == [earlier, same_time, later]
    assert await store.ledger("nobody") == []


async def test_free_uses_of_an_unknown_user_is_zero(store: JobStore) -> None:
    assert await store.free_uses("nobody", T0.date()) == 0


def _event(job: Job, key: str = "evt-1", outcome: InboxOutcome = InboxOutcome.APPLIED) -> InboxEntry:
    return InboxEntry(
        key=key, job_id=job.id, task_id=job.task_id, body=b'{"code": 200}', received_at=T0, outcome=outcome
    )


async def test_save_stores_the_inbound_event_with_the_change_it_causes(store: JobStore) -> None:
    job = (await store.create_job(make_job())).job
    done = attrs.evolve(job, status=JobStatus.SUCCEEDED, result_urls=("https://cdn.test/1.png",))
    delivery = Delivery(
        id=f"{job.id}:succeeded", job_id=job.id, recipient=job.recipient, next_attempt_at=T0, created_at=T0
    )

    await store.save(done, expected_version=job.version, deliveries=[delivery], inbox=_event(job))

    assert await store.record_callback(_event(job)) is False  # the event is there, deduplicated
    assert [e.outcome for e in await store.callbacks_for(job.id)] == [InboxOutcome.APPLIED]
    assert [d.id for d in await store.deliveries_for(job.id)] == [delivery.id]


async def test_save_with_an_event_stored_before_raises_duplicate_and_writes_nothing(store: JobStore) -> None:
    await fund(store, "u1", 10)
    job = (await store.create_job(make_job(user_id="u1", price=3))).job
    assert await store.record_callback(_event(job))
    done = attrs.evolve(job, status=JobStatus.SUCCEEDED, result_urls=("https://cdn.test/1.png",))
    settle = LedgerEntry(
        key=f"settle:{job.id}", user_id="u1", kind=LedgerKind.CAPTURE, amount=3, job_id=job.id, created_at=T0
    )

    with pytest.raises(DuplicateEvent):
        await store.save(done, expected_version=job.version, ledger=[settle], inbox=_event(job))

    stored = await store.get(job.id)
    assert stored is not None and stored.version == job.version and stored.status is JobStatus.PENDING
    assert [e.kind for e in await store.ledger("u1")] == [LedgerKind.TOPUP, LedgerKind.HOLD]


async def test_a_conflicting_save_does_not_keep_its_inbound_event(store: JobStore) -> None:
    job = (await store.create_job(make_job())).job
    await store.save(attrs.evolve(job, checks=1), expected_version=job.version)

    with pytest.raises(ConcurrencyConflict):
        await store.save(attrs.evolve(job, checks=2), expected_version=job.version, inbox=_event(job))

    assert await store.record_callback(_event(job, outcome=InboxOutcome.IGNORED)) is True  # it was not stored


# the job's story


def _story(events: list[JobEvent]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, dict(e.detail)) for e in events]


async def test_a_created_job_has_a_created_event_and_the_events_given_with_it(store: JobStore) -> None:
    job = make_job(price=0)
    note = JobEvent(job_id=job.id, at=T0, kind="note", detail={"by": "test"})
    await store.create_job(job, events=[note])
    events = await store.events_for(job.id)
    assert _story(events) == [
        ("created", {"model": job.model, "price": 0, "recipient": "telegram"}),
        ("note", {"by": "test"}),
    ]
    assert events[0].at == T0 and events[0].job_id == job.id
    assert events[0].seq < events[1].seq


async def test_save_and_record_callback_append_their_events_and_a_refused_write_appends_none(
    store: JobStore,
) -> None:
    job = (await store.create_job(make_job())).job
    status = JobEvent(job_id=job.id, at=T0, kind="status", detail={"from": "pending", "to": "submitted"})
    stored = await store.save(
        attrs.evolve(job, status=JobStatus.SUBMITTED), expected_version=job.version, events=[status]
    )
    with pytest.raises(ConcurrencyConflict):
        await store.save(job, expected_version=job.version, events=[attrs.evolve(status, kind="lost")])
    heard = JobEvent(job_id=job.id, at=T0, kind="callback", detail={"outcome": "hint"})
    assert await store.record_callback(attrs.evolve(callback("k"), job_id=job.id), events=[heard])
    assert not await store.record_callback(attrs.evolve(callback("k"), job_id=job.id), events=[heard])
    assert [e.kind for e in await store.events_for(job.id)] == ["created", "status", "callback"]
    assert stored.version == job.version + 1


async def test_each_delivery_attempt_is_in_the_jobs_story(store: JobStore) -> None:
    delivery = await with_delivery(store)
    (first,) = await store.claim_deliveries(T0, lease_s=30, limit=10)
    retry_at = T0 + timedelta(seconds=4)
    await store.fail_delivery(first, error="429 from telegram", now=T0, retry_at=retry_at)
    (second,) = await store.claim_deliveries(retry_at, lease_s=30, limit=10)
    await store.complete_delivery(second, receipt="file-1", now=retry_at)
    attempts = [dict(e.detail) for e in await store.events_for(delivery.job_id) if e.kind == "delivery"]
    assert attempts == [
        {
            "delivery": delivery.id,
            "recipient": "telegram",
            "attempt": 1,
            "outcome": "deferred",
            "error": "429 from telegram",
            "next_attempt_at": retry_at.isoformat(),
        },
        {"delivery": delivery.id, "recipient": "telegram", "attempt": 2, "outcome": "sent"},
    ]
    assert await store.events_for("unknown") == []


async def test_claim_deliveries_never_takes_the_ids_it_is_told_to_leave_out(store: JobStore) -> None:
    first = await with_delivery(store)
    second = await with_delivery(store)
    claims = await store.claim_deliveries(T0, lease_s=0, limit=10, exclude=frozenset({first.id}))
    assert [c.delivery.id for c in claims] == [second.id]
    # the lease of 0 s ran out at once: without exclude both come back, with it only the other
    again = await store.claim_deliveries(T0, lease_s=0, limit=10, exclude=frozenset({second.id}))
    assert [c.delivery.id for c in again] == [first.id]
