"""Builders for core values, shared by the unit tests (plain functions, so hypothesis tests can use them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kiegen.core.jobs import Evidence, EvidenceKind, Job, JobStatus

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(minutes=15)
RESULT_URL = "https://tempfile.aiquickdraw.com/r/result-1.png"


def make_job(status: JobStatus = JobStatus.PENDING, **changes: Any) -> Job:
    """A job in ``status`` with the fields that status implies (task id once submitted, and so on)."""
    fields: dict[str, Any] = {
        "id": "job-1",
        "model": "z-image",
        "inputs": {"prompt": "a cat", "aspect_ratio": "1:1", "nsfw_checker": False},
        "recipient": "telegram:42",
        "user_id": "user-1",
        "status": status,
        "created_at": T0,
        "updated_at": T0,
        "deadline_at": DEADLINE,
    }
    if status is not JobStatus.PENDING:
        fields["task_id"] = "task-1"
        fields["submitted_at"] = T0
    if status is JobStatus.SUCCEEDED:
        fields["result_urls"] = (RESULT_URL,)
    if status is JobStatus.FAILED:
        fields["error_code"] = "501"
        fields["error_message"] = "content policy"
    if status is JobStatus.TIMED_OUT:
        fields["error_code"] = "timeout"
        fields["error_message"] = "KIE did not finish in time"
    if status is JobStatus.CANCELLED:
        fields["error_code"] = "cancelled"
        fields["error_message"] = "cancelled by the user"
    if status.terminal:
        fields["completed_at"] = T0 + timedelta(minutes=1)
    fields.update(changes)
    return Job(**fields)


def evidence_of(kind: EvidenceKind, *, task_id: str | None = "task-1", **changes: Any) -> Evidence:
    """A typical piece of evidence of each kind, carrying the data that kind normally carries."""
    fields: dict[str, Any]
    if kind is EvidenceKind.SUBMITTED:
        fields = {"source": "submit", "task_id": task_id}
    elif kind is EvidenceKind.PROGRESS:
        fields = {"source": "poll", "task_id": task_id}
    elif kind is EvidenceKind.SUCCEEDED:
        fields = {"source": "callback", "task_id": task_id, "result_urls": (RESULT_URL,), "kie_credits": 0.8}
    elif kind is EvidenceKind.FAILED:
        fields = {
            "source": "callback",
            "task_id": task_id,
            "error_code": "501",
            "error_message": "content policy",
            "kie_credits": 0.0,
        }
    elif kind is EvidenceKind.CANCELLED:
        fields = {"source": "user", "error_code": "cancelled", "error_message": "cancelled by the user"}
    else:
        fields = {"source": "clock", "error_code": "timeout", "error_message": "KIE did not finish in time"}
    fields.update(changes)
    return Evidence(kind=kind, **fields)
