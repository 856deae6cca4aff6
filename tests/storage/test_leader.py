"""The leader lock (``kiegen.adapters.sqlalchemy.leader``): of two contenders exactly one leads; releasing, a
killed PostgreSQL connection or a killed process hands over to the other; ``lead`` stops a leader that lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.adapters.sqlalchemy.leader import FileLeaderLock, LeaderLock, PostgresLeaderLock, lead, leader_lock
from tests.conftest import drop_schema
from tests.storage.storage_harness import Db, run

NAME = "telegram-polling.123456"


async def _eventually(check: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# PostgreSQL


@contextlib.asynccontextmanager
async def _stores(*dbs: Db) -> AsyncIterator[list[SqlAlchemyJobStore]]:
    """One store (its own connections, its own loop) per contender."""
    async with contextlib.AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(await SqlAlchemyJobStore.open(d.url, schema=d.schema)) for d in dbs]
        yield stores


async def _terminate(db: Db, pid: int | None) -> bool:
    engine = db.engine()
    try:
        async with engine.connect() as admin:
            return bool(await admin.scalar(sa.select(sa.func.pg_terminate_backend(pid))))
    finally:
        await engine.dispose()


def _pg(lock: LeaderLock) -> PostgresLeaderLock:
    assert isinstance(lock, PostgresLeaderLock)
    return lock


@pytest.mark.postgres
def test_of_two_postgres_contenders_exactly_one_leads_until_it_releases(postgres_db: Db) -> None:
    async def scenario() -> list[bool]:
        async with _stores(postgres_db, postgres_db) as (one, two):
            a, b = leader_lock(one, NAME), leader_lock(two, NAME)
            try:
                seen = [await a.try_acquire(), await b.try_acquire(), await b.try_acquire(), await a.held()]
                await a.release()
                seen += [await a.held(), await b.try_acquire(), await a.try_acquire()]
                await b.release()
                return seen
            finally:
                await a.release()
                await b.release()

    assert run(scenario()) == [True, False, False, True, False, True, False]


@pytest.mark.postgres
def test_killing_the_postgres_leaders_connection_hands_the_lock_over(postgres_db: Db) -> None:
    async def scenario() -> tuple[bool, bool]:
        async with _stores(postgres_db, postgres_db) as (one, two):
            a, b = _pg(leader_lock(one, NAME)), leader_lock(two, NAME)
            try:
                assert await a.try_acquire()
                assert not await b.try_acquire()
                assert await _terminate(postgres_db, a.backend_pid)
                await _eventually(b.try_acquire)
                return await a.held(), await a.try_acquire()
            finally:
                await a.release()
                await b.release()

    assert run(scenario()) == (False, False)


@pytest.mark.postgres
def test_postgres_leader_locks_with_other_names_or_schemas_do_not_conflict(postgres_db: Db) -> None:
    async def scenario() -> list[bool]:
        other_schema = Db(postgres_db.kind, postgres_db.url, f"{postgres_db.schema}_b")
        try:
            async with _stores(postgres_db, postgres_db, other_schema) as (one, two, three):
                locks = [
                    leader_lock(one, NAME),
                    leader_lock(two, "telegram-polling.654321"),
                    leader_lock(three, NAME),
                ]
                try:
                    return [await lock.try_acquire() for lock in locks]
                finally:
                    for lock in locks:
                        await lock.release()
        finally:
            await drop_schema(other_schema.url, str(other_schema.schema))

    assert run(scenario()) == [True, True, True]


@pytest.mark.postgres
def test_lead_runs_one_leader_and_the_other_takes_over_when_its_connection_is_killed(
    postgres_db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kiegen.leader")

    async def scenario() -> list[str]:
        async with _stores(postgres_db, postgres_db) as (one, two):
            locks = [_pg(leader_lock(one, NAME)), _pg(leader_lock(two, NAME))]
            events: list[str] = []
            leading: list[int] = []

            def runner(n: int) -> Any:
                async def body() -> None:
                    leading.append(n)
                    events.append(f"{n} leads")
                    try:
                        await asyncio.Event().wait()
                    finally:
                        leading.remove(n)
                        events.append(f"{n} stops")

                return lead(locks[n], body, retry_s=0.05, check_s=0.05)

            try:
                tasks = [asyncio.create_task(runner(0))]
                await _eventually(lambda: _true(leading == [0]))
                tasks.append(asyncio.create_task(runner(1)))
                await asyncio.sleep(0.5)
                assert leading == [0]  # the second waits
                await _terminate(postgres_db, locks[0].backend_pid)
                await _eventually(lambda: _true(leading == [1]))
                # The old leader stopped and waits again (its own "waiting" line): it does not lead beside the new.
                await _eventually(lambda: _true(len(_waiting(caplog)) == 2))
                await asyncio.sleep(0.2)
                assert leading == [1]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                return events
            finally:
                for lock in locks:
                    await lock.release()

    events = run(scenario())
    # The old leader notices the loss within check_s, so "1 leads" may come just before "0 stops".
    assert events[0] == "0 leads" and sorted(events[1:3]) == ["0 stops", "1 leads"] and events[3:] == ["1 stops"]
    assert len(_waiting(caplog)) == 2  # one line each time an instance starts waiting
    assert any("lost the PostgreSQL advisory lock" in r.getMessage() for r in caplog.records)


def _waiting(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "waiting to take over" in r.getMessage()]


async def _true(value: bool) -> bool:
    return value


# SQLite: a file lock next to the database, across OS processes

HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from kiegen.adapters.sqlalchemy.leader import FileLeaderLock

    async def main() -> None:
        lock = FileLeaderLock(Path(sys.argv[1]))
        print("leading" if await lock.try_acquire() else "refused", flush=True)
        if sys.stdin.readline().strip() == "release":
            await lock.release()
            print("released", flush=True)
        sys.stdin.readline()

    asyncio.run(main())
    """
)


def _holder(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "leading"
    return proc


def _close(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    proc.wait()


def test_a_file_lock_held_by_another_process_is_refused_until_it_releases(tmp_path: Path) -> None:
    path = tmp_path / "kiegen.db.leader.lock"
    proc = _holder(path)
    try:
        lock = FileLeaderLock(path)
        assert not run(lock.try_acquire())
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("release\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "released"
        assert run(lock.try_acquire())
        assert run(lock.held())
        run(lock.release())
        assert not run(lock.held())
    finally:
        _close(proc)


def test_a_killed_holder_process_hands_the_file_lock_over(tmp_path: Path) -> None:
    path = tmp_path / "kiegen.db.leader.lock"
    proc = _holder(path)
    try:
        lock = FileLeaderLock(path)
        assert not run(lock.try_acquire())
        proc.kill()  # SIGKILL: no clean-up at all; the kernel drops the lock with the process
        proc.wait()
        assert run(lock.try_acquire())
        run(lock.release())
    finally:
        _close(proc)


def test_two_file_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    async def scenario() -> list[bool]:
        a, b = FileLeaderLock(tmp_path / "x.lock"), FileLeaderLock(tmp_path / "x.lock")
        seen = [await a.try_acquire(), await b.try_acquire()]
        await a.release()
        seen.append(await b.try_acquire())
        await b.release()
        return seen

    assert run(scenario()) == [True, False, True]


def test_leader_lock_picks_the_lock_for_the_database(tmp_path: Path) -> None:
    async def scenario() -> LeaderLock:
        async with await SqlAlchemyJobStore.open(f"sqlite:///{tmp_path / 'kiegen.db'}") as store:
            with pytest.raises(ValueError, match="A-Z"):
                leader_lock(store, "bad name/..")
            return leader_lock(store, NAME)

    on_file = run(scenario())
    assert isinstance(on_file, FileLeaderLock)
    assert on_file.path == tmp_path / f"kiegen.db.{NAME}.lock"
