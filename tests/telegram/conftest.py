"""Telegram tests. aiogram is asyncio-only, so every async test here runs under asyncio only (the project-wide
``anyio_backend`` fixture also runs trio; this one overrides it for this directory)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.telegram.harness import Harness


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiogram (and aiohttp under it) run on asyncio only


@pytest.fixture
async def bot() -> AsyncIterator[Harness]:
    async with Harness(free_quota=10, prices={"qwen/image-edit": 5}) as harness:
        yield harness


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Unclosed sessions warn when they are garbage-collected, which may be during some later, unrelated test;
    collecting after each test pins any such warning on the test that leaked."""
    yield
    gc.collect()
