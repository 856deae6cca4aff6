"""The bot's operator actions (``/grant``, ``/take``, ``/refund``: ``kiegen.apps.telegram.routers.admin``) are
written to the console's audit log; the console's audit page lists them beside its own, with the operator's
Telegram id as the actor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kiegen.ports.console import AuditEntry, ConsoleQueries
from tests.console.conftest import bearer
from tests.http.conftest import Harness

pytestmark = pytest.mark.anyio


async def test_the_audit_page_lists_what_bot_operators_did(console: Harness) -> None:
    queries = console.store
    assert isinstance(queries, ConsoleQueries)
    at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    await queries.record_audit(
        AuditEntry(at=at, actor="telegram:9001", action="grant", outcome="done", target="tg:5001", detail={"amount": 5})
    )
    await queries.record_audit(
        AuditEntry(at=at, actor="telegram:9001", action="refund", outcome="refused: no such payment", target="ch-x")
    )
    page = await console.http.get("/console/audit", headers=bearer())
    assert page.status_code == 200
    assert page.text.count("telegram:9001") == 2
    assert "grant" in page.text and "tg:5001" in page.text
    assert "refund" in page.text and "refused: no such payment" in page.text and "ch-x" in page.text
