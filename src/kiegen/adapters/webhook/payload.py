"""Webhook event types; the job body is ``kiegen.core.wire.job_json`` (the same view the HTTP API shows)."""

from __future__ import annotations

from kiegen.core.jobs import Job, JobStatus
from kiegen.core.wire import job_json

__all__ = ["EVENT_TYPES", "event_type", "job_json"]

EVENT_TYPES = {
    JobStatus.SUCCEEDED: "generation.succeeded",
    JobStatus.FAILED: "generation.failed",
    JobStatus.TIMED_OUT: "generation.timed_out",
}


def event_type(job: Job) -> str:
    """The webhook ``type`` of a terminal job."""
    return EVENT_TYPES[job.status]
