"""Concurrent overspend: balance 10, twenty 1-credit holds from two processes at once -> exactly 10 accepted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.core.billing import LedgerKind, topup
from tests.storage.storage_harness import Db, run, run_together


async def _fund(db: Db) -> None:
    async with await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store:
        await store.add_entry(topup("u1", 10, key="pay:1", at=datetime.now(UTC)))


async def _ledger(db: Db) -> tuple[int, int]:
    async with await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store:
        holds = [e for e in await store.ledger("u1") if e.kind is LedgerKind.HOLD]
        return await store.balance("u1"), len(holds)


@pytest.mark.slow
def test_concurrent_holds_from_two_processes_never_overspend(db: Db) -> None:
    run(_fund(db))

    reports = run_together(db, [["hold", "--user", "u1", "--count", "10"]] * 2)

    accepted = sum(r["accepted"] for r in reports)
    refused = sum(r["refused"] for r in reports)
    lowest = min(r["min_balance_seen"] for r in reports)
    balance, holds = run(_ledger(db))
    print(
        f"\n[{db.kind}] 20 concurrent 1-credit holds on balance 10: accepted = {accepted}, refused = {refused}, "
        f"per process {[r['accepted'] for r in reports]}, final balance = {balance}, lowest balance seen = {lowest}"
    )
    assert (accepted, refused) == (10, 10)
    assert (balance, holds) == (0, 10)
    assert lowest >= 0
