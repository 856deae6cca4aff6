"""The pages that only read: the job list (with ``?q=`` search), one job's story, health, the audit log."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kiegen.apps.http.console import views
from kiegen.apps.http.console.guard import console, operator, page, refuse
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.frozen import thaw
from kiegen.core.jobs import JobStatus

__all__ = ["NOTICES", "audit", "health", "job", "jobs"]

NOTICES = {
    "cancelled": ("good", "The job is cancelled: its hold is released and nothing will be delivered."),
    "not_cancelled": ("warn", "Nothing was cancelled: the job had already ended."),
    "retried": ("good", "The delivery is back in the outbox: a deliverer sends it within a second or so."),
    "not_retried": ("warn", "Nothing was retried: the delivery is not failed or gone (any more)."),
}
"""Messages after an action, chosen by name (a query string never puts its own text on the page)."""


async def jobs(request: Request) -> Response:
    found = operator(request)
    state = console(request)
    q = views.clean(request.query_params.get("q", ""))
    missing = None
    if q:
        job = await state.client.get(q)
        if job is None:
            job = await state.client.store.get_by_task(q)
        if job is not None:
            return RedirectResponse(f"/console/jobs/{job.id}", status_code=303)
        missing = q
    filters = views.parse_filters(request.query_params)
    page_ = None
    if not filters.problems:
        page_ = await state.queries.find_jobs(filters.where, before=filters.before, limit=state.page_size)
    counts = await state.queries.job_counts()
    older = None
    if page_ is not None and page_.next is not None:
        older = "?" + urlencode({**filters.values, "before": views.cursor_text(page_.next)})
    return page(
        request,
        "jobs.html",
        status=400 if filters.problems else 404 if missing else 200,
        counts=[(status.value, counts.get(status.value, 0)) for status in JobStatus],
        total=sum(counts.values()),
        filters=filters,
        statuses=[s.value for s in JobStatus],
        jobs=page_.jobs if page_ is not None else [],
        older=older,
        first_page=filters.before is None,
        newest="?" + urlencode(filters.values) if filters.values else "?",
        missing=missing,
        q=q,
        who=found,
    )


async def job(request: Request) -> Response:
    operator(request)
    state = console(request)
    job_id = views.clean(request.path_params["job_id"])
    found = await state.client.get(job_id) if job_id else None
    if found is None:
        raise refuse(request, 404, "Not found", f"No job has the id {job_id[:200]!r}.")
    store = state.client.store
    deliveries = await store.deliveries_for(found.id)
    events = await store.events_for(found.id)
    callbacks = await store.callbacks_for(found.id)
    ledger = await state.queries.ledger_of_job(found.user_id, found.id) if found.user_id is not None else []
    balance = await store.balance(found.user_id) if found.user_id is not None and found.price > 0 else None
    now = state.client.clock.now()
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return page(
        request,
        "job.html",
        job=found,
        inputs=json.dumps(thaw(found.inputs), indent=2, ensure_ascii=False, sort_keys=True),
        metadata=json.dumps(thaw(found.metadata), indent=2, ensure_ascii=False, sort_keys=True),
        deliveries=deliveries,
        retryable={d.id for d in deliveries if d.status in (DeliveryStatus.FAILED, DeliveryStatus.GONE)},
        story=views.story(events, callbacks),
        summary=views.diagnose(found, deliveries, events, now),
        ledger=ledger,
        balance=balance,
        audit=await state.queries.audit_log(job_id=found.id, limit=20),
        notice=notice,
    )


def _this_process(request: Request) -> list[tuple[str, float]]:
    """Callbacks this process answered since it started, by outcome (forged and unknown ones are not stored)."""
    figures = []
    for family in console(request).metrics.callbacks.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.value:
                figures.append((sample.labels.get("outcome", "?"), sample.value))
    return sorted(figures)


async def health(request: Request) -> Response:
    operator(request)
    state = console(request)
    figures = await state.queries.health(state.client.clock.now())
    return page(request, "health.html", health=figures, this_process=_this_process(request))


async def audit(request: Request) -> Response:
    operator(request)
    state = console(request)
    raw = request.query_params.get("before", "")
    before = int(raw) if raw.isdigit() else None
    entries = await state.queries.audit_log(before=before, limit=state.page_size)
    older = f"?before={entries[-1].seq}" if len(entries) == state.page_size else None
    return page(request, "audit.html", entries=entries, older=older)
