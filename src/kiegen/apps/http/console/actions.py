"""The console's two actions, each confirmed on a page of its own and written to the audit log:

- cancel a running job: ``Client.cancel`` with ``source=OPERATOR``, the rule every cancel follows (CANCELLED,
  hold released, nothing delivered; a job that has ended stays as it is);
- retry a FAILED or GONE delivery: back in the outbox, due now, one more attempt (its attempt number goes on: it
  is the fencing token); the job's story gets an ``operator`` event in the same transaction.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kiegen.apps.http.console import audit, views
from kiegen.apps.http.console.guard import act, console, operator, page, refuse
from kiegen.core.delivery import Delivery, DeliveryStatus
from kiegen.core.errors import JobNotFound
from kiegen.core.events import JobEvent
from kiegen.core.jobs import EvidenceSource, Job

__all__ = ["cancel", "confirm_cancel", "confirm_retry", "retry"]

RETRYABLE = (DeliveryStatus.FAILED, DeliveryStatus.GONE)


async def _job(request: Request) -> Job:
    job_id = views.clean(request.path_params["job_id"])
    found = await console(request).client.get(job_id) if job_id else None
    if found is None:
        raise refuse(request, 404, "Not found", f"No job has the id {job_id[:200]!r}.")
    return found


def _back(job: Job, notice: str) -> Response:
    return RedirectResponse(f"/console/jobs/{job.id}?notice={notice}", status_code=303)


def _confirmed(request: Request, form: dict[str, str]) -> None:
    if form.get("confirm") != "yes":
        raise refuse(request, 400, "Not confirmed", "Confirm the action on its page (the form's confirm=yes).")


async def confirm_cancel(request: Request) -> Response:
    operator(request)
    job = await _job(request)
    return page(request, "confirm.html", job=job, action="cancel", delivery=None)


async def cancel(request: Request) -> Response:
    found, form = await act(request)
    job = await _job(request)
    _confirmed(request, form)
    reason = f"cancelled by an operator ({found.actor})"
    try:
        result = await console(request).client.cancel(job.id, reason=reason, source=EvidenceSource.OPERATOR)
    except JobNotFound:
        raise refuse(request, 404, "Not found", "The job is gone.") from None
    outcome = "done" if result.cancelled else f"refused: the job had already ended ({result.job.status.value})"
    detail = {"before": job.status.value, "after": result.job.status.value, "released": result.released}
    await audit.write(request, found.actor, "cancel", outcome, job_id=job.id, detail=detail)
    return _back(job, "cancelled" if result.cancelled else "not_cancelled")


async def _delivery(request: Request, job: Job, delivery_id: str | None) -> Delivery:
    for delivery in await console(request).client.store.deliveries_for(job.id):
        if delivery.id == delivery_id:
            return delivery
    raise refuse(request, 404, "Not found", "This job has no such delivery.")


async def confirm_retry(request: Request) -> Response:
    operator(request)
    job = await _job(request)
    delivery = await _delivery(request, job, request.query_params.get("delivery"))
    return page(request, "confirm.html", job=job, action="retry", delivery=delivery)


async def retry(request: Request) -> Response:
    found, form = await act(request)
    job = await _job(request)
    _confirmed(request, form)
    delivery = await _delivery(request, job, form.get("delivery"))
    state = console(request)
    now = state.client.clock.now()
    note = JobEvent(
        job_id=job.id,
        at=now,
        kind="operator",
        detail={"action": "retry_delivery", "delivery": delivery.id, "actor": found.actor},
    )
    retried = await state.queries.retry_delivery(delivery.id, now=now, events=[note])
    outcome = "done" if retried is not None else f"refused: the delivery is {delivery.status.value}"
    detail = {"status": delivery.status.value, "attempts": delivery.attempt, "last_error": delivery.last_error}
    await audit.write(request, found.actor, "retry_delivery", outcome, job_id=job.id, target=delivery.id, detail=detail)
    return _back(job, "retried" if retried is not None else "not_retried")
