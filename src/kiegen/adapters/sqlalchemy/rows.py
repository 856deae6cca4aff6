"""Row <-> domain value conversions, written out by hand: the frozen attrs classes are never ORM-mapped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from kiegen.core.billing import LedgerEntry, LedgerKind
from kiegen.core.delivery import Delivery, DeliveryStatus, InboxEntry, InboxOutcome
from kiegen.core.jobs import Job, JobStatus

__all__ = [
    "delivery_from_row",
    "delivery_to_row",
    "entry_from_row",
    "entry_to_row",
    "inbox_from_row",
    "inbox_to_row",
    "job_from_row",
    "job_to_row",
]

Row = RowMapping


def job_to_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "model": job.model,
        "inputs": dict(job.inputs),
        "recipient": job.recipient,
        "user_id": job.user_id,
        "price": job.price,
        "idempotency_key": job.idempotency_key,
        "status": job.status.value,
        "task_id": job.task_id,
        "result_urls": list(job.result_urls),
        "error_code": job.error_code,
        "error_message": job.error_message,
        "late": job.late,
        "kie_credits": job.kie_credits,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "submitted_at": job.submitted_at,
        "completed_at": job.completed_at,
        "deadline_at": job.deadline_at,
        "next_check_at": job.next_check_at,
        "checks": job.checks,
        "submit_attempts": job.submit_attempts,
        "version": job.version,
        "metadata": dict(job.metadata),
    }


def job_from_row(row: Row) -> Job:
    return Job(
        id=row["id"],
        model=row["model"],
        inputs=row["inputs"],
        recipient=row["recipient"],
        user_id=row["user_id"],
        price=row["price"],
        idempotency_key=row["idempotency_key"],
        status=JobStatus(row["status"]),
        task_id=row["task_id"],
        result_urls=row["result_urls"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        late=row["late"],
        kie_credits=row["kie_credits"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        submitted_at=row["submitted_at"],
        completed_at=row["completed_at"],
        deadline_at=row["deadline_at"],
        next_check_at=row["next_check_at"],
        checks=row["checks"],
        submit_attempts=row["submit_attempts"],
        version=row["version"],
        metadata=row["metadata"],
    )


def inbox_to_row(entry: InboxEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "job_id": entry.job_id,
        "task_id": entry.task_id,
        "body": entry.body,
        "received_at": entry.received_at,
        "outcome": entry.outcome.value,
        "note": entry.note,
    }


def inbox_from_row(row: Row) -> InboxEntry:
    return InboxEntry(
        key=row["key"],
        job_id=row["job_id"],
        task_id=row["task_id"],
        body=bytes(row["body"]),
        received_at=row["received_at"],
        outcome=InboxOutcome(row["outcome"]),
        note=row["note"],
    )


def delivery_to_row(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "job_id": delivery.job_id,
        "recipient": delivery.recipient,
        "status": delivery.status.value,
        "attempt": delivery.attempt,
        "lease_until": delivery.lease_until,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": delivery.created_at,
        "last_error": delivery.last_error,
        "receipt": delivery.receipt,
        "sent_at": delivery.sent_at,
    }


def delivery_from_row(row: Row) -> Delivery:
    return Delivery(
        id=row["id"],
        job_id=row["job_id"],
        recipient=row["recipient"],
        status=DeliveryStatus(row["status"]),
        attempt=row["attempt"],
        lease_until=row["lease_until"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        last_error=row["last_error"],
        receipt=row["receipt"],
        sent_at=row["sent_at"],
    )


def entry_to_row(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "user_id": entry.user_id,
        "kind": entry.kind.value,
        "amount": entry.amount,
        "created_at": entry.created_at,
        "job_id": entry.job_id,
        "note": entry.note,
    }


def entry_from_row(row: Row) -> LedgerEntry:
    return LedgerEntry(
        key=row["key"],
        user_id=row["user_id"],
        kind=LedgerKind(row["kind"]),
        amount=row["amount"],
        created_at=row["created_at"],
        job_id=row["job_id"],
        note=row["note"],
    )
