"""The JSON view of a job that kiegen shows to other services: in webhook bodies and in the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kiegen.core.jobs import Job, JobStatus

__all__ = ["EVENT_TYPES", "event_type", "job_json"]

EVENT_TYPES = {
    JobStatus.SUCCEEDED: "generation.succeeded",
    JobStatus.FAILED: "generation.failed",
    JobStatus.TIMED_OUT: "generation.timed_out",
}


def event_type(job: Job) -> str:
    """The webhook ``type`` of a terminal job."""
    return EVENT_TYPES[job.status]


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def job_json(job: Job) -> dict[str, Any]:
    """A job as other services see it. The recipient is not shown (a webhook URL may carry the caller's own
    secrets); nor are kiegen's bookkeeping fields (versions, leases, check counts)."""
    error = None
    if job.error_code is not None or job.error_message is not None:
        error = {"code": job.error_code, "message": job.error_message}
    return {
        "id": job.id,
        "status": job.status.value,
        "model": job.model,
        "input": dict(job.inputs),
        "user_id": job.user_id,
        "task_id": job.task_id,
        "result_urls": list(job.result_urls),
        "error": error,
        "late": job.late,
        "price": job.price,
        "created_at": _time(job.created_at),
        "submitted_at": _time(job.submitted_at),
        "completed_at": _time(job.completed_at),
        "deadline_at": _time(job.deadline_at),
    }
