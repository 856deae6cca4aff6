"""What the console's pages show, computed from stored values: filters read from a query string, a job's story
as a timeline, and the one-paragraph answer to "where is this job, and why".

Nothing here escapes HTML: the templates do (Jinja2 autoescape), and every value they print passes
``shown`` first, which redacts secrets (the keys kiegen knows, bearer tokens, ``token=`` and other signature
query values, URL user info). Webhook recipients are shown without their query string at all: a caller's
URL may carry its own secrets.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from kiegen.adapters.kie_httpx import redact
from kiegen.core.delivery import Delivery, DeliveryStatus, InboxEntry
from kiegen.core.events import EventKind, JobEvent
from kiegen.core.jobs import Job, JobStatus
from kiegen.ports.console import Cursor, JobFilter

__all__ = [
    "BODY_LIMIT",
    "Filters",
    "Item",
    "age",
    "clean",
    "diagnose",
    "parse_cursor",
    "parse_filters",
    "recipient_label",
    "shown",
    "story",
    "when",
]

BODY_LIMIT = 64 * 1024
"""A callback body longer than this is shown cut (the rest is in the inbox row)."""
_TEXT_LIMIT = 200


def clean(text: str) -> str:
    """A value typed into the console, as a database can take it: trimmed, without NUL, at most 200 characters."""
    return text.replace("\x00", "").strip()[:_TEXT_LIMIT]


def shown(value: Any) -> Any:
    """Every value a template prints: strings redacted, other values as they are (Jinja2's ``finalize``)."""
    return redact(value) if isinstance(value, str) else value


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + "Z"


def age(moment: datetime | None, now: datetime) -> str:
    """``3 min ago`` / ``in 20 s``."""
    if moment is None:
        return ""
    seconds = (now - moment).total_seconds()
    span = abs(seconds)
    if span < 1:
        return "now"
    if span < 90:
        text = f"{span:.0f} s"
    elif span < 90 * 60:
        text = f"{span / 60:.0f} min"
    elif span < 48 * 3600:
        text = f"{span / 3600:.1f} h"
    else:
        text = f"{span / 86400:.1f} days"
    return f"{text} ago" if seconds > 0 else f"in {text}"


def recipient_label(recipient: str) -> str:
    scheme, _, rest = recipient.partition(":")
    if scheme == "telegram":
        return f"Telegram chat {rest}"
    if scheme == "webhook":
        parts = urlsplit(rest)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        hidden = " (query hidden)" if parts.query else ""
        return f"webhook {urlunsplit((parts.scheme, netloc, parts.path, '', ''))}{hidden}"
    if recipient == "none":
        return "none (the caller fetches it through /v1)"
    return recipient


# filters


@attrs.frozen
class Filters:
    where: JobFilter
    before: Cursor | None
    values: Mapping[str, str]
    """The form's fields as given (to fill the form in again and to build the next page's link)."""
    problems: tuple[str, ...]

    @property
    def active(self) -> bool:
        return any(self.values.get(name) for name in FILTER_FIELDS)


FILTER_FIELDS = ("status", "model", "user", "api_key", "telegram", "from", "to")


def _time(name: str, raw: str, problems: list[str]) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"{name}: {raw[:_TEXT_LIMIT]!r} is not a time; use YYYY-MM-DDTHH:MM (UTC)")
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_cursor(raw: str) -> Cursor | None:
    at, sep, job_id = raw.partition("|")
    if not sep or not job_id:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return Cursor(moment if moment.tzinfo else moment.replace(tzinfo=UTC), job_id)


def cursor_text(cursor: Cursor) -> str:
    return f"{cursor.created_at.astimezone(UTC).isoformat()}|{cursor.job_id}"


def parse_filters(query: Mapping[str, str]) -> Filters:
    """The job list's filters from a query string; each problem names the field, the value and the fix."""
    values = {name: clean(query.get(name, "")) for name in (*FILTER_FIELDS, "before")}
    problems: list[str] = []
    status = None
    if values["status"]:
        try:
            status = JobStatus(values["status"])
        except ValueError:
            known = ", ".join(s.value for s in JobStatus)
            problems.append(f"status: {values['status']!r} is not a status; use one of {known}")
    telegram = None
    if values["telegram"]:
        try:
            telegram = int(values["telegram"].removeprefix("tg:"))
        except ValueError:
            problems.append(f"telegram: {values['telegram']!r} is not a Telegram user id; use digits, e.g. 123456")
    api_key = values["api_key"].removeprefix("apikey:") or None
    if api_key is not None and ":" in api_key:
        problems.append(f"api_key: {values['api_key']!r} is not a key name; use the name or the 12-digit fingerprint")
        api_key = None
    before = None
    if values["before"]:
        before = parse_cursor(values["before"])
        if before is None:
            problems.append("before: not a page cursor; follow the 'Older' link instead of editing it")
    where = JobFilter(
        status=status,
        model=values["model"] or None,
        user_id=values["user"] or None,
        api_key=api_key,
        telegram_user=telegram,
        created_from=_time("from", values["from"], problems),
        created_to=_time("to", values["to"], problems),
    )
    return Filters(where, before, {k: v for k, v in values.items() if v and k != "before"}, tuple(problems))


# a job's story


@attrs.frozen(kw_only=True)
class Item:
    at: datetime
    kind: str
    title: str
    facts: Sequence[tuple[str, Any]] = ()
    body: str | None = None
    """A callback's raw body (shown behind a click)."""
    tone: str = ""
    """``bad``, ``good``, ``warn`` or nothing."""


def _body_text(body: bytes) -> str:
    text = body[:BODY_LIMIT].decode("utf-8", "replace")
    with contextlib.suppress(ValueError):  # not JSON: shown as it came
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    if len(body) > BODY_LIMIT:
        text += f"\n… ({len(body) - BODY_LIMIT} more bytes)"
    return text


def _facts(detail: Mapping[str, Any], *names: str) -> list[tuple[str, Any]]:
    return [(name.replace("_", " "), detail[name]) for name in names if detail.get(name) not in (None, "")]


def _item(event: JobEvent, inbox: Mapping[str, InboxEntry]) -> Item:
    d = event.detail
    if event.kind == EventKind.CREATED:
        return Item(at=event.at, kind="created", title="Created", facts=_facts(d, "model", "price", "recipient"))
    if event.kind == EventKind.SUBMIT_ERROR:
        facts = _facts(d, "attempt", "outcome", "code", "error")
        return Item(at=event.at, kind="kie", title="createTask failed", facts=facts, tone="bad")
    if event.kind == EventKind.CHECKED:
        facts = _facts(d, "task_id", "state", "results", "credits", "fail_code", "fail_message", "error", "code")
        bad = "error" in d or d.get("state") == "fail"
        title = f"KIE checked: {d.get('state', 'no answer')}"
        return Item(at=event.at, kind="kie", title=title, facts=facts, tone="bad" if bad else "")
    if event.kind == EventKind.CALLBACK:
        entry = inbox.get(str(d.get("inbox", "")))
        facts = _facts(d, "trust", "outcome")
        if entry is not None:
            facts += [("verdict", entry.outcome.value), *([("note", entry.note)] if entry.note else [])]
        trusted = d.get("trust") in ("token", "signature")
        title = "Callback" + ("" if trusted else " (untrusted: only a hint to check)")
        return Item(
            at=event.at,
            kind="callback",
            title=title,
            facts=facts,
            body=_body_text(entry.body) if entry is not None else None,
            tone="" if trusted else "warn",
        )
    if event.kind == EventKind.STATUS:
        facts = _facts(d, "source", "task_id", "error_code", "error_message", "late")
        to = str(d.get("to", ""))
        tone = "good" if to == "succeeded" else "bad" if to in ("failed", "timed_out") else ""
        return Item(at=event.at, kind="status", title=f"{d.get('from')} → {to}", facts=facts, tone=tone)
    if event.kind == EventKind.DELIVERY:
        outcome = str(d.get("outcome", ""))
        facts = _facts(d, "delivery", "recipient", "error", "next_attempt_at")
        tone = {"sent": "good", "deferred": "warn", "gone": "bad", "failed": "bad"}.get(outcome, "")
        title = f"Delivery attempt {d.get('attempt', '?')}: {outcome}"
        return Item(at=event.at, kind="delivery", title=title, facts=facts, tone=tone)
    if event.kind == "operator":
        return Item(
            at=event.at, kind="operator", title=f"Operator: {d.get('action')}", facts=_facts(d, "actor", "delivery")
        )
    return Item(at=event.at, kind=event.kind, title=event.kind, facts=sorted((str(k), v) for k, v in d.items()))


def story(events: Sequence[JobEvent], callbacks: Sequence[InboxEntry]) -> list[Item]:
    """The timeline, oldest first; stored callbacks not named by an event (older rows) are added by arrival."""
    inbox = {entry.key: entry for entry in callbacks}
    named = {str(e.detail.get("inbox")) for e in events if e.kind == EventKind.CALLBACK}
    items = [_item(event, inbox) for event in events]
    for entry in callbacks:
        if entry.key not in named:
            facts = [("verdict", entry.outcome.value), *([("note", entry.note)] if entry.note else [])]
            items.append(
                Item(at=entry.received_at, kind="callback", title="Callback", facts=facts, body=_body_text(entry.body))
            )
    return sorted(items, key=lambda item: item.at)


def _last(events: Sequence[JobEvent], kind: str) -> JobEvent | None:
    return next((e for e in reversed(events) if e.kind == kind), None)


def _delivery_line(deliveries: Sequence[Delivery], now: datetime) -> str:
    if not deliveries:
        return "Nothing to deliver yet."
    d = deliveries[-1]
    if d.status is DeliveryStatus.SENT:
        return f"Delivered to {recipient_label(d.recipient)} at {when(d.sent_at)} (attempt {d.attempt})."
    if d.status is DeliveryStatus.PENDING:
        tried = f"attempt {d.attempt} failed: {d.last_error}; " if d.attempt and d.last_error else ""
        lease = " (being sent now)" if d.lease_until is not None and d.lease_until > now else ""
        return f"Delivery pending{lease}: {tried}next try {when(d.next_attempt_at)} ({age(d.next_attempt_at, now)})."
    reason = "the recipient is gone" if d.status is DeliveryStatus.GONE else "it gave up"
    return f"Not delivered: {reason} after {d.attempt} attempts ({d.last_error}). An operator may retry it."


def diagnose(job: Job, deliveries: Sequence[Delivery], events: Sequence[JobEvent], now: datetime) -> list[str]:
    """Where the job is and why, in a few sentences, from what is stored."""
    lines: list[str] = []
    status = job.status
    if status is JobStatus.PENDING:
        error = _last(events, EventKind.SUBMIT_ERROR)
        lines.append(f"Not accepted by KIE yet ({job.submit_attempts} createTask attempts).")
        if error is not None:
            lines.append(f"Last createTask error ({when(error.at)}): {error.detail.get('error')}.")
        if job.next_check_at is not None:
            lines.append(f"Next attempt {when(job.next_check_at)} ({age(job.next_check_at, now)}).")
    elif status in (JobStatus.SUBMITTED, JobStatus.RUNNING):
        lines.append(f"At KIE as task {job.task_id}, {status.value}, since {when(job.submitted_at)}.")
        check = _last(events, EventKind.CHECKED)
        if check is not None:
            answer = check.detail.get("state") or f"no answer ({check.detail.get('error')})"
            lines.append(f"Last check {when(check.at)} ({age(check.at, now)}): {answer}; {job.checks} checks so far.")
        else:
            lines.append("KIE has not been asked yet: its callback has time to arrive first.")
        if job.next_check_at is not None:
            lines.append(f"Next check {when(job.next_check_at)} ({age(job.next_check_at, now)}).")
        lines.append(f"Deadline {when(job.deadline_at)} ({age(job.deadline_at, now)}).")
    elif status is JobStatus.SUCCEEDED:
        late = " late (after its timeout; not charged)" if job.late else ""
        lines.append(f"Succeeded{late} at {when(job.completed_at)} with {len(job.result_urls)} result(s).")
        lines.append(_delivery_line(deliveries, now))
    elif status is JobStatus.FAILED:
        lines.append(f"Failed at {when(job.completed_at)}: {job.error_code or 'error'}: {job.error_message or '—'}.")
        lines.append(_delivery_line(deliveries, now))
    elif status is JobStatus.TIMED_OUT:
        lines.append(f"Timed out at {when(job.completed_at)}: KIE gave no final answer by {when(job.deadline_at)}.")
        lines.append(_delivery_line(deliveries, now))
    elif status is JobStatus.CANCELLED:
        change = _last(events, EventKind.STATUS)
        who = change.detail.get("source") if change is not None else "someone"
        lines.append(f"Cancelled by the {who} at {when(job.completed_at)}: {job.error_message}. Nothing is delivered.")
        if job.result_urls:
            lines.append("KIE still finished it: the results are kept here, neither delivered nor charged.")
    return lines
