"""The JSON views kiegen shows the outside world, in one place: a job (HTTP API, webhooks, ``kiegen --json``)
and a model (``GET /v1/models``, ``kiegen models --json``). Domain classes carry no wire annotations; these
functions are the converter at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kiegen.core.frozen import thaw
from kiegen.core.jobs import Job
from kiegen.core.models import ModelSpec
from kiegen.core.tenancy import shown_user_id

__all__ = ["job_json", "model_json"]


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def job_json(job: Job) -> dict[str, Any]:
    """A job as other services see it. The recipient is not shown (a webhook URL may carry the caller's own
    secrets); nor are kiegen's bookkeeping fields (versions, leases, check counts). ``kie_credits`` is what
    KIE reported it charged (its callback's or recordInfo's ``creditsConsumed``), null while unknown.
    ``media`` is what the results are (``image`` or ``video``), so a caller knows what ``result_urls`` hold.
    ``user_id`` is shown as the API caller named it, without its tenant scope (``kiegen.core.tenancy``)."""
    error = None
    if job.error_code is not None or job.error_message is not None:
        error = {"code": job.error_code, "message": job.error_message}
    return {
        "id": job.id,
        "status": job.status.value,
        "model": job.model,
        "media": job.media.value,
        "input": thaw(job.inputs),
        "user_id": shown_user_id(job.user_id),
        "task_id": job.task_id,
        "result_urls": list(job.result_urls),
        "error": error,
        "late": job.late,
        "price": job.price,
        "kie_credits": job.kie_credits,
        "created_at": _time(job.created_at),
        "submitted_at": _time(job.submitted_at),
        "completed_at": _time(job.completed_at),
        "deadline_at": _time(job.deadline_at),
    }


def model_json(spec: ModelSpec, *, enabled: bool = True) -> dict[str, Any]:
    """A model and its inputs. ``type`` is ``enum`` for inputs with a fixed set of values (as KIE's docs say),
    else ``string``, ``int``, ``number``, ``bool``, ``url``, ``url_list`` or ``list``; absent constraints are null.
    ``kie_credits`` is KIE's price per task where its page states one; ``enabled``: offered to people (the bot)."""
    return {
        "id": spec.id,
        "title": spec.title,
        "kind": spec.kind.value,
        "media": spec.media.value,
        "description": spec.description,
        "price": spec.price,
        "kie_credits": spec.kie_credits,
        "deadline_s": spec.deadline_s,
        "docs": spec.docs or None,
        "enabled": enabled,
        "inputs": [
            {
                "name": i.name,
                "type": "enum" if i.enum is not None else i.type.value,
                "required": i.required,
                "enum": list(i.enum) if i.enum is not None else None,
                "min": i.min,
                "max": i.max,
                "min_length": i.min_length,
                "max_length": i.max_length,
                "min_items": i.min_items,
                "max_items": i.max_items,
                "default": thaw(i.default),
                "description": i.description,
            }
            for i in spec.inputs
        ],
    }
