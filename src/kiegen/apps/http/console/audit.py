"""Writing the audit log: who (the key's fingerprint), what, on which job, how it went, from where."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from kiegen.apps.http.console.guard import address, console
from kiegen.ports.console import AuditEntry

__all__ = ["write"]


async def write(
    request: Request,
    actor: str,
    action: str,
    outcome: str,
    *,
    job_id: str | None = None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    state = console(request)
    entry = AuditEntry(
        at=state.client.clock.now(),
        actor=actor,
        action=action,
        outcome=outcome,
        job_id=job_id,
        target=target,
        remote=address(request),
        detail=detail or {},
    )
    await state.queries.record_audit(entry)
