"""The PostgreSQL store's readers go back to their pool without asyncpg's reset round trip; a transaction left
open on one (a failure mid-read) is still rolled back before the next read gets that connection."""

from __future__ import annotations

import asyncpg
import pytest

from kiegen.adapters.sqlalchemy.postgres import _reset_reader


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # asyncpg itself (the store reaches it through a loop of its own under trio)


@pytest.mark.anyio
async def test_a_reader_left_in_a_transaction_comes_back_out_of_it(postgres_url: str) -> None:
    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, reset=_reset_reader)
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("SET LOCAL statement_timeout = 1234")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SHOW statement_timeout") != "1234ms"
        async with pool.acquire() as conn:  # and an ordinary read changes nothing that needs undoing
            assert await conn.fetchval("SELECT 1") == 1
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
    finally:
        await pool.close()
