"""A job's story: what happened to it and when, appended in the same transaction as the change it tells of.

Kinds the SDK writes: ``created``, ``submit_error`` (createTask failed or its outcome is unknown),
``checked`` (KIE's answer to recordInfo, or why there was none), ``callback`` (a callback's trust and verdict;
an authenticated one's body is its inbox row), ``status`` (a state change, what caused it, and the task id
createTask gave), ``delivery`` (an attempt: its outcome, error and next try). Apps may add their own (an
operator's action, a cancel).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from kiegen.core.delivery import Claim, recipient_scheme
from kiegen.core.jobs import Job
from kiegen.core.tasks import TaskSnapshot

__all__ = ["EventKind", "JobEvent"]


class EventKind(enum.StrEnum):
    CREATED = "created"
    SUBMIT_ERROR = "submit_error"
    CHECKED = "checked"
    CALLBACK = "callback"
    STATUS = "status"
    DELIVERY = "delivery"


def _frozen(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(detail))


@attrs.frozen(kw_only=True)
class JobEvent:
    job_id: str
    at: datetime
    kind: str
    """An ``EventKind`` value, or an app's own kind."""
    detail: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)
    """JSON-compatible facts of the event (no secrets: callback tokens are never in it)."""
    seq: int = 0
    """Order of the events of one store (assigned when stored; 0 before)."""

    @classmethod
    def created(cls, job: Job) -> JobEvent:
        return cls(
            job_id=job.id,
            at=job.created_at,
            kind=EventKind.CREATED,
            detail={"model": job.model, "price": job.price, "recipient": recipient_scheme(job.recipient)},
        )

    @classmethod
    def checked(cls, job: Job, at: datetime, **detail: Any) -> JobEvent:
        """KIE's answer to a recordInfo of ``job``'s task (``state``, ``credits``...) or why there is none
        (``error``)."""
        return cls(job_id=job.id, at=at, kind=EventKind.CHECKED, detail={"task_id": job.task_id, **detail})

    @classmethod
    def snapshot_checked(cls, job: Job, at: datetime, snapshot: TaskSnapshot) -> JobEvent:
        detail: dict[str, Any] = {"state": snapshot.state.value, "results": len(snapshot.result_urls)}
        if snapshot.fail_code or snapshot.fail_message:
            detail |= {"fail_code": snapshot.fail_code, "fail_message": snapshot.fail_message}
        if snapshot.credits is not None:
            detail["credits"] = snapshot.credits
        return cls.checked(job, at, **detail)

    @classmethod
    def delivery_attempt(
        cls, claim: Claim, *, now: datetime, outcome: str, error: str | None = None, retry_at: datetime | None = None
    ) -> JobEvent:
        delivery = claim.delivery
        detail: dict[str, Any] = {
            "delivery": delivery.id,
            "recipient": recipient_scheme(delivery.recipient),
            "attempt": claim.attempt,
            "outcome": outcome,
        }
        if error is not None:
            detail["error"] = error
        if retry_at is not None:
            detail["next_attempt_at"] = retry_at.isoformat()
        return cls(job_id=delivery.job_id, at=now, kind=EventKind.DELIVERY, detail=detail)
