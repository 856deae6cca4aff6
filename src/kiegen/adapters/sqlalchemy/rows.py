"""Row <-> domain value conversions, written out by hand (the frozen attrs classes are never ORM-mapped).

``*_params(c, value)`` gives a statement's parameters, ``*_from_row(c, row)`` reads a row back; ``c`` is the
connection (its codec converts timestamps, JSON and booleans for its engine).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from kiegen.adapters.sqlalchemy.sql import Conn
from kiegen.core.billing import LedgerEntry, LedgerKind
from kiegen.core.delivery import Delivery, DeliveryStatus, InboxEntry, InboxOutcome
from kiegen.core.events import JobEvent
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media

__all__ = [
    "DELIVERY_COLUMNS",
    "JOB_COLUMNS",
    "LEDGER_COLUMNS",
    "delivery_from_row",
    "delivery_params",
    "entry_from_row",
    "entry_params",
    "event_from_row",
    "event_params",
    "inbox_from_row",
    "inbox_params",
    "job_from_row",
    "job_params",
]

Row = Any

JOB_COLUMNS = (
    "id",
    "model",
    "inputs",
    "recipient",
    "user_id",
    "price",
    "idempotency_key",
    "status",
    "task_id",
    "result_urls",
    "error_code",
    "error_message",
    "late",
    "kie_credits",
    "created_at",
    "updated_at",
    "submitted_at",
    "completed_at",
    "deadline_at",
    "next_check_at",
    "checks",
    "submit_attempts",
    "version",
    "metadata",
    "media",
)
DELIVERY_COLUMNS = (
    "id",
    "job_id",
    "recipient",
    "status",
    "attempt",
    "lease_until",
    "next_attempt_at",
    "created_at",
    "last_error",
    "receipt",
    "sent_at",
)
LEDGER_COLUMNS = ("key", "user_id", "kind", "amount", "created_at", "job_id", "note")


_JSON_COLUMNS: dict[str, Callable[[Job], Any]] = {
    "inputs": lambda job: dict(job.inputs),
    "result_urls": lambda job: list(job.result_urls),
    "metadata": lambda job: dict(job.metadata),
}
_TIME_COLUMNS = frozenset({"created_at", "updated_at", "submitted_at", "completed_at", "deadline_at", "next_check_at"})


def job_params(c: Conn, job: Job, columns: Collection[str] | None = None) -> dict[str, Any]:
    """A job's column values; only ``columns`` when given (the others are not converted at all)."""
    if columns is None:
        return _all_job_params(c, job)
    params: dict[str, Any] = {}
    for name in columns:
        if name in _JSON_COLUMNS:
            params[name] = c.json(_JSON_COLUMNS[name](job))
        elif name in _TIME_COLUMNS:
            params[name] = c.ts(getattr(job, name))
        elif name in ("status", "media"):
            params[name] = getattr(job, name).value
        else:
            params[name] = getattr(job, name)
    return params


def _all_job_params(c: Conn, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "model": job.model,
        "inputs": c.json(dict(job.inputs)),
        "recipient": job.recipient,
        "user_id": job.user_id,
        "price": job.price,
        "idempotency_key": job.idempotency_key,
        "status": job.status.value,
        "task_id": job.task_id,
        "result_urls": c.json(list(job.result_urls)),
        "error_code": job.error_code,
        "error_message": job.error_message,
        "late": job.late,
        "kie_credits": job.kie_credits,
        "created_at": c.ts(job.created_at),
        "updated_at": c.ts(job.updated_at),
        "submitted_at": c.ts(job.submitted_at),
        "completed_at": c.ts(job.completed_at),
        "deadline_at": c.ts(job.deadline_at),
        "next_check_at": c.ts(job.next_check_at),
        "checks": job.checks,
        "submit_attempts": job.submit_attempts,
        "version": job.version,
        "metadata": c.json(dict(job.metadata)),
        "media": job.media.value,
    }


def _required(value: datetime | None) -> datetime:
    assert value is not None, "a NOT NULL timestamp came back NULL"
    return value


def job_from_row(c: Conn, row: Row) -> Job:
    """A job from a row whose first columns are ``JOB_COLUMNS`` in order (read by position: name lookups cost
    more than the rest of the conversion on the hot path)."""
    (
        id_, model, inputs, recipient, user_id, price, idempotency_key, status, task_id, result_urls,
        error_code, error_message, late, kie_credits, created_at, updated_at, submitted_at, completed_at,
        deadline_at, next_check_at, checks, submit_attempts, version, metadata, media,
    ) = row[:_JOB_WIDTH]  # fmt: skip
    return Job(
        id=id_,
        model=model,
        inputs=c.read_json(inputs),
        recipient=recipient,
        user_id=user_id,
        price=price,
        idempotency_key=idempotency_key,
        status=JobStatus(status),
        task_id=task_id,
        result_urls=c.read_json(result_urls),
        error_code=error_code,
        error_message=error_message,
        late=c.read_bool(late),
        kie_credits=kie_credits,
        created_at=_required(c.read_ts(created_at)),
        updated_at=_required(c.read_ts(updated_at)),
        submitted_at=c.read_ts(submitted_at),
        completed_at=c.read_ts(completed_at),
        deadline_at=_required(c.read_ts(deadline_at)),
        next_check_at=c.read_ts(next_check_at),
        checks=checks,
        submit_attempts=submit_attempts,
        version=version,
        metadata=c.read_json(metadata),
        media=Media(media),
    )


_JOB_WIDTH = len(JOB_COLUMNS)


def inbox_params(c: Conn, entry: InboxEntry, outcome: InboxOutcome | None = None) -> dict[str, Any]:
    return {
        "key": entry.key,
        "job_id": entry.job_id,
        "task_id": entry.task_id,
        "body": entry.body,
        "received_at": c.ts(entry.received_at),
        "outcome": (outcome or entry.outcome).value,
        "note": entry.note,
    }


def inbox_from_row(c: Conn, row: Row) -> InboxEntry:
    received_at = c.read_ts(row["received_at"])
    assert received_at is not None
    return InboxEntry(
        key=row["key"],
        job_id=row["job_id"],
        task_id=row["task_id"],
        body=bytes(row["body"]),
        received_at=received_at,
        outcome=InboxOutcome(row["outcome"]),
        note=row["note"],
    )


def delivery_params(c: Conn, delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "job_id": delivery.job_id,
        "recipient": delivery.recipient,
        "status": delivery.status.value,
        "attempt": delivery.attempt,
        "lease_until": c.ts(delivery.lease_until),
        "next_attempt_at": c.ts(delivery.next_attempt_at),
        "created_at": c.ts(delivery.created_at),
        "last_error": delivery.last_error,
        "receipt": delivery.receipt,
        "sent_at": c.ts(delivery.sent_at),
    }


def delivery_from_row(c: Conn, row: Row) -> Delivery:
    next_attempt_at = c.read_ts(row["next_attempt_at"])
    created_at = c.read_ts(row["created_at"])
    assert next_attempt_at is not None and created_at is not None
    return Delivery(
        id=row["id"],
        job_id=row["job_id"],
        recipient=row["recipient"],
        status=DeliveryStatus(row["status"]),
        attempt=row["attempt"],
        lease_until=c.read_ts(row["lease_until"]),
        next_attempt_at=next_attempt_at,
        created_at=created_at,
        last_error=row["last_error"],
        receipt=row["receipt"],
        sent_at=c.read_ts(row["sent_at"]),
    )


def entry_params(c: Conn, entry: LedgerEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "user_id": entry.user_id,
        "kind": entry.kind.value,
        "amount": entry.amount,
        "created_at": c.ts(entry.created_at),
        "job_id": entry.job_id,
        "note": entry.note,
    }


def entry_from_row(c: Conn, row: Row) -> LedgerEntry:
    created_at = c.read_ts(row["created_at"])
    assert created_at is not None
    return LedgerEntry(
        key=row["key"],
        user_id=row["user_id"],
        kind=LedgerKind(row["kind"]),
        amount=row["amount"],
        created_at=created_at,
        job_id=row["job_id"],
        note=row["note"],
    )


def event_params(c: Conn, event: JobEvent) -> dict[str, Any]:
    return {"job_id": event.job_id, "at": c.ts(event.at), "kind": event.kind, "detail": c.json(dict(event.detail))}


def event_from_row(c: Conn, row: Row) -> JobEvent:
    at = c.read_ts(row["at"])
    assert at is not None
    return JobEvent(job_id=row["job_id"], at=at, kind=row["kind"], detail=c.read_json(row["detail"]), seq=row["seq"])
