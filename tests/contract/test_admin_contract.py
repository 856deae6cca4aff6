"""The operator clauses of two contracts, over memory, SQLite and PostgreSQL under asyncio and trio:
``ConsoleQueries.job_stats`` and ``take_credits`` (``kiegen.ports.console``), and the refunds and Stars figures of
the ``BotStore`` (``kiegen.ports.bot``). Fixtures: ``tests/contract/conftest.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from kiegen.core.billing import LedgerKind, debit, topup
from kiegen.core.errors import InsufficientCredits
from kiegen.core.jobs import JobStatus
from kiegen.ports.bot import BotStore, Refund, RefundStatus, StarsFigures
from kiegen.ports.store import JobStore
from tests.contract.test_bot_store_contract import make_payment
from tests.contract.test_console_contract import console
from tests.contract.test_store_contract import make_job

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# job_stats


async def test_job_stats_count_the_window_by_model_and_status_with_failures_by_code(store: JobStore) -> None:
    made = [
        make_job(model="z-image", status=JobStatus.SUCCEEDED, kie_credits=1.5),
        make_job(model="z-image", status=JobStatus.SUCCEEDED, kie_credits=2.0),
        make_job(model="z-image", status=JobStatus.FAILED, error_code="content_policy"),
        make_job(model="qwen/image-edit", status=JobStatus.TIMED_OUT, error_code="timeout", kie_credits=0.5),
        make_job(model="qwen/image-edit", status=JobStatus.FAILED),
        make_job(model="qwen/image-edit", status=JobStatus.CANCELLED, error_code="cancelled"),
        make_job(model="qwen/image-edit", status=JobStatus.RUNNING, created_at=T0 + timedelta(minutes=59)),
        # outside [T0, T0 + 1h): before, and exactly at the exclusive end
        make_job(model="z-image", status=JobStatus.FAILED, error_code="early", created_at=T0 - timedelta(seconds=1)),
        make_job(model="z-image", status=JobStatus.SUCCEEDED, kie_credits=9.0, created_at=T0 + timedelta(hours=1)),
    ]
    for job in made:
        await store.create_job(job)
    stats = await console(store).job_stats(T0, T0 + timedelta(hours=1))
    assert (stats.since, stats.until) == (T0, T0 + timedelta(hours=1))
    assert {model: dict(counts) for model, counts in stats.jobs.items()} == {
        "z-image": {"succeeded": 2, "failed": 1},
        "qwen/image-edit": {"timed_out": 1, "failed": 1, "cancelled": 1, "running": 1},
    }
    assert dict(stats.failures) == {"content_policy": 1, "timeout": 1, "unknown": 1}
    assert stats.kie_credits == pytest.approx(4.0)
    assert stats.total == 7
    assert stats.by_status() == {"succeeded": 2, "failed": 2, "timed_out": 1, "cancelled": 1, "running": 1}


async def test_job_stats_of_an_empty_window_are_zero(store: JobStore) -> None:
    await store.create_job(make_job(status=JobStatus.SUCCEEDED, kie_credits=3.0))
    stats = await console(store).job_stats(T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert (dict(stats.jobs), dict(stats.failures), stats.kie_credits, stats.total) == ({}, {}, 0.0, 0)


# take_credits


async def test_take_credits_writes_a_covered_debit_and_answers_the_balance_after(store: JobStore) -> None:
    await store.add_entry(topup("u1", 10, key="top", at=T0))
    taken = await console(store).take_credits(debit("u1", 4, key="take:1", at=T0, note="why"))
    assert taken.created and taken.balance == 6
    assert (taken.entry.kind, taken.entry.amount, taken.entry.note) == (LedgerKind.DEBIT, 4, "why")
    assert await store.balance("u1") == 6
    assert [(e.key, e.kind, e.amount) for e in await store.ledger("u1")] == [
        ("top", LedgerKind.TOPUP, 10),
        ("take:1", LedgerKind.DEBIT, 4),
    ]


async def test_take_credits_refuses_more_than_the_balance_and_writes_nothing(store: JobStore) -> None:
    await store.add_entry(topup("u1", 3, key="top", at=T0))
    with pytest.raises(InsufficientCredits) as refused:
        await console(store).take_credits(debit("u1", 5, key="take:1", at=T0))
    assert (refused.value.balance, refused.value.needed) == (3, 5)
    assert await store.balance("u1") == 3
    assert [e.key for e in await store.ledger("u1")] == ["top"]


async def test_take_credits_up_to_takes_what_there_is_and_claims_the_key_even_at_zero(store: JobStore) -> None:
    await store.add_entry(topup("u1", 3, key="top", at=T0))
    taken = await console(store).take_credits(debit("u1", 5, key="refund:a", at=T0), up_to=True)
    assert (taken.created, taken.entry.amount, taken.balance) == (True, 3, 0)
    nothing_left = await console(store).take_credits(debit("u1", 5, key="refund:b", at=T0), up_to=True)
    assert (nothing_left.created, nothing_left.entry.amount, nothing_left.balance) == (True, 0, 0)
    # A later top-up is not taken by a repeat of either: the keys are claimed.
    await store.add_entry(topup("u1", 7, key="top2", at=T0))
    again = await console(store).take_credits(debit("u1", 5, key="refund:b", at=T0), up_to=True)
    assert (again.created, again.entry.amount, again.balance) == (False, 0, 7)


async def test_a_repeated_take_changes_nothing_and_returns_the_stored_entry(store: JobStore) -> None:
    await store.add_entry(topup("u1", 10, key="top", at=T0))
    first = await console(store).take_credits(debit("u1", 8, key="take:1", at=T0))
    # The balance (2) would not cover the repeat: it must still answer with the first, not refuse.
    again = await console(store).take_credits(debit("u1", 8, key="take:1", at=T0 + timedelta(minutes=1)))
    assert (again.created, again.entry, again.balance) == (False, first.entry, 2)
    assert await store.balance("u1") == 2


async def test_take_credits_refuses_an_entry_that_is_not_a_debit(store: JobStore) -> None:
    with pytest.raises(ValueError, match="debit"):
        await console(store).take_credits(topup("u1", 5, key="top", at=T0))
    assert await store.ledger("u1") == []


async def test_concurrent_takes_never_make_a_balance_negative(store: JobStore) -> None:
    await store.add_entry(topup("u1", 10, key="top", at=T0))
    outcomes: list[bool] = []

    async def take(n: int) -> None:
        try:
            await console(store).take_credits(debit("u1", 3, key=f"take:{n}", at=T0))
        except InsufficientCredits:
            outcomes.append(False)
        else:
            outcomes.append(True)

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(take, n)
    assert sorted(outcomes) == [False] * 5 + [True] * 3
    assert await store.balance("u1") == 1


# refunds, in the BotStore


def make_refund(charge: str, **changes: object) -> Refund:
    fields: dict[str, object] = {
        "telegram_payment_charge_id": charge,
        "user_id": "tg:1",
        "credits": 100,
        "actor": "telegram:7",
        "created_at": T0,
    }
    fields.update(changes)
    return Refund(**fields)  # type: ignore[arg-type]


async def test_payment_reads_one_charge_or_none(bot_store: BotStore) -> None:
    stored = make_payment("c1")
    await bot_store.record_payment(stored)
    assert await bot_store.payment("c1") == stored
    assert await bot_store.payment("c2") is None


async def test_begin_refund_stores_a_pending_refund_once_and_returns_the_first(bot_store: BotStore) -> None:
    first = await bot_store.begin_refund(make_refund("c1"))
    assert first == make_refund("c1", status=RefundStatus.PENDING)
    again = await bot_store.begin_refund(make_refund("c1", actor="telegram", created_at=T0 + timedelta(hours=1)))
    assert again == first
    assert await bot_store.refund_of("c1") == first
    assert await bot_store.refund_of("c2") is None


async def test_begin_refund_stores_pending_whatever_status_it_is_given(bot_store: BotStore) -> None:
    stored = await bot_store.begin_refund(make_refund("c1", status=RefundStatus.DONE, taken_back=5, done_at=T0))
    assert (stored.status, stored.taken_back, stored.done_at) == (RefundStatus.PENDING, None, None)


async def test_finish_refund_marks_it_done_once(bot_store: BotStore) -> None:
    await bot_store.begin_refund(make_refund("c1"))
    later = T0 + timedelta(minutes=5)
    done = await bot_store.finish_refund("c1", taken_back=60, now=later)
    assert done is not None
    assert (done.status, done.taken_back, done.done_at) == (RefundStatus.DONE, 60, later)
    again = await bot_store.finish_refund("c1", taken_back=100, now=later + timedelta(hours=1))
    assert again == done
    assert await bot_store.refund_of("c1") == done
    assert await bot_store.begin_refund(make_refund("c1")) == done
    assert await bot_store.finish_refund("c-unknown", taken_back=1, now=later) is None


async def test_drop_refund_removes_only_a_pending_one(bot_store: BotStore) -> None:
    await bot_store.begin_refund(make_refund("c1"))
    await bot_store.begin_refund(make_refund("c2"))
    await bot_store.finish_refund("c2", taken_back=100, now=T0)
    assert await bot_store.drop_refund("c1") is True
    assert await bot_store.refund_of("c1") is None
    assert await bot_store.drop_refund("c1") is False
    assert await bot_store.drop_refund("c2") is False
    assert (await bot_store.refund_of("c2")) is not None


async def test_begin_refund_racing_with_itself_stores_one(bot_store: BotStore) -> None:
    results: list[Refund] = []

    async def begin(n: int) -> None:
        results.append(await bot_store.begin_refund(make_refund("c1", actor=f"telegram:{n}")))

    async with anyio.create_task_group() as tg:
        for n in range(6):
            tg.start_soon(begin, n)
    assert len({r.actor for r in results}) == 1
    assert await bot_store.refund_of("c1") == results[0]


async def test_stars_count_payments_created_and_refunds_finished_in_the_window(bot_store: BotStore) -> None:
    await bot_store.record_payment(make_payment("c1", total_amount=50))
    await bot_store.record_payment(make_payment("c2", total_amount=200, at=T0 + timedelta(minutes=30)))
    await bot_store.record_payment(make_payment("c3", total_amount=7, at=T0 - timedelta(days=2)))
    await bot_store.record_payment(make_payment("c4", total_amount=999, currency="USD"))
    await bot_store.begin_refund(make_refund("c3"))
    await bot_store.finish_refund("c3", taken_back=0, now=T0 + timedelta(minutes=10))
    await bot_store.begin_refund(make_refund("c1"))  # pending: not counted
    figures = await bot_store.stars(T0, T0 + timedelta(hours=1))
    assert figures == StarsFigures(payments=2, stars=250, refunds=1, refunded_stars=7)
    assert await bot_store.stars(T0 + timedelta(days=1), T0 + timedelta(days=2)) == StarsFigures()
