"""Migrations: empty -> head, head -> head, concurrent start-up, data kept across upgrades, never destructive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore, migrate
from kiegen.adapters.sqlalchemy import schema as t
from kiegen.adapters.sqlalchemy.migrate import MIGRATIONS, current_revision, head_revision
from kiegen.adapters.sqlalchemy.schema import metadata
from kiegen.core.billing import topup
from kiegen.core.errors import StoreError
from kiegen.core.jobs import Job
from tests.storage.storage_harness import Db, run, run_together

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _job(job_id: str) -> Job:
    return Job(
        id=job_id,
        model="google/nano-banana",
        inputs={"prompt": "kept"},
        recipient="telegram:1",
        user_id="u1",
        task_id=f"task-{job_id}",
        created_at=T0,
        updated_at=T0,
        deadline_at=T0 + timedelta(minutes=15),
        next_check_at=T0,
    )


async def _differences(db: Db) -> list[Any]:
    engine = db.engine()
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    finally:
        await engine.dispose()


async def _revision(db: Db) -> str | None:
    engine = db.engine()
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def _scalar(db: Db, sql: str) -> Any:
    engine = db.engine()
    try:
        async with engine.connect() as conn:
            return await conn.scalar(sa.text(sql))
    finally:
        await engine.dispose()


def test_an_empty_database_migrates_to_head_with_exactly_the_declared_schema(db: Db) -> None:
    run(migrate(db.url, schema=db.schema))
    assert run(_revision(db)) == head_revision()
    assert run(_differences(db)) == []


def test_migrating_a_database_at_head_changes_nothing(db: Db) -> None:
    async def scenario() -> Job | None:
        await migrate(db.url, schema=db.schema)
        async with await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store:
            await store.create_job(_job("kept-1"))
        await migrate(db.url, schema=db.schema)
        async with await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store:
            return await store.get("kept-1")

    assert run(scenario()) == _job("kept-1")
    assert run(_revision(db)) == head_revision()
    assert run(_scalar(db, "SELECT count(*) FROM alembic_version")) == 1


def _sqlalchemy_row(job: Job) -> dict[str, Any]:
    """A job as kiegen 0.1 wrote it: through SQLAlchemy Core and the schema's column types."""
    # jobs.media came with migration 0008: an old row has none, and reads back as an image (the server default).
    row = {f.name: getattr(job, f.name) for f in attrs.fields(Job) if f.name != "media"}
    return {
        **row,
        "status": job.status.value,
        "inputs": dict(job.inputs),
        "result_urls": list(job.result_urls),
        "metadata": dict(job.metadata),
    }


def test_rows_written_before_an_upgrade_are_there_after_it(db: Db) -> None:
    async def scenario() -> tuple[Job | None, int, int]:
        await migrate(db.url, schema=db.schema, revision="0001")
        engine = db.engine()
        try:
            async with engine.begin() as conn:
                entry = topup("u1", 7, key="pay:1", at=T0)
                await conn.execute(
                    sa.insert(t.ledger).values(
                        key=entry.key,
                        user_id=entry.user_id,
                        kind=entry.kind.value,
                        amount=entry.amount,
                        created_at=entry.created_at,
                        job_id=None,
                        note=entry.note,
                    )
                )
                await conn.execute(sa.insert(t.jobs).values(_sqlalchemy_row(_job("old-1"))))
        finally:
            await engine.dispose()
        await migrate(db.url, schema=db.schema)
        async with await SqlAlchemyJobStore.open(db.url, schema=db.schema) as new:
            return await new.get("old-1"), await new.balance("u1"), len(await new.ledger("u1"))

    assert run(_revision(db)) is None
    assert run(scenario()) == (_job("old-1"), 7, 1)
    assert run(_revision(db)) == head_revision()
    assert run(_scalar(db, "SELECT count(*) FROM payments")) == 0


@pytest.mark.slow
def test_three_processes_migrating_one_database_at_once_all_succeed(db: Db) -> None:
    reports = run_together(db, [["migrate"]] * 3)
    print(f"\n[{db.kind}] three concurrent migrations took {[round(r['elapsed_s'], 3) for r in reports]} s")
    assert run(_revision(db)) == head_revision()
    assert run(_scalar(db, "SELECT count(*) FROM alembic_version")) == 1
    assert run(_differences(db)) == []


def test_a_database_migrated_by_a_newer_kiegen_is_refused_untouched(db: Db) -> None:
    async def scenario() -> None:
        await migrate(db.url, schema=db.schema)
        async with await SqlAlchemyJobStore.open(db.url, schema=db.schema) as store:
            await store.create_job(_job("future-1"))
        engine = db.engine()
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        finally:
            await engine.dispose()

    run(scenario())
    with pytest.raises(StoreError, match="newer kiegen"):
        run(migrate(db.url, schema=db.schema))
    assert run(_revision(db)) == "9999"
    assert run(_scalar(db, "SELECT count(*) FROM jobs")) == 1


def test_no_revision_drops_data() -> None:
    # An index holds no data of its own (r0004 replaces the inbox's PENDING index): only drop_index may appear.
    for script in sorted((MIGRATIONS / "versions").glob("*.py")):
        upgrade = script.read_text().split("def downgrade", 1)[0].replace("op.drop_index(", "")
        for destructive in ("op.drop_", "DROP TABLE", "DROP COLUMN", "TRUNCATE", "DELETE FROM"):
            assert destructive not in upgrade, f"{script.name} upgrade contains {destructive}"


def test_the_migrations_ship_inside_the_package() -> None:
    package = resources.files("kiegen.adapters.sqlalchemy") / "migrations"
    assert (package / "env.py").is_file()
    assert (package / "script.py.mako").is_file()
    assert any(p.name.endswith(".py") and p.name.startswith("r") for p in (package / "versions").iterdir())
