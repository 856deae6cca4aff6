"""The statements and row conversions of the console's queries (``kiegen.ports.console``), kept apart from the
store's hot paths: ``SqlAlchemyJobStore``'s console section runs them.

The job list is filtered by whichever fields of a ``JobFilter`` are given: one statement per combination of
fields, compiled once (``find_jobs_sql``), so that each is still prepared once per connection. The health
figures read the story (``job_events`` by time, its ``detail`` JSON through ``json_extract`` on SQLite and
``->>`` on PostgreSQL), the inbox by arrival time, the pending deliveries through their partial index and the
day's jobs through ``ix_jobs_created``.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from kiegen.adapters.sqlalchemy import schema as t
from kiegen.adapters.sqlalchemy.sql import Conn, Sql, sql
from kiegen.ports.console import TELEGRAM_THROTTLED_PREFIX, AuditEntry, Cursor, JobFilter

__all__ = [
    "AUDIT_INSERT",
    "DELIVERY_RETRY",
    "EVENT_FIGURES",
    "INBOX_OUTCOMES",
    "JOB_FAILURES",
    "JOB_LEDGER",
    "JOB_STATS",
    "KIE_CREDITS",
    "LEDGER_BY_KEY",
    "PENDING_DELIVERIES",
    "audit_from_row",
    "audit_params",
    "audit_sql",
    "find_jobs_sql",
    "job_filter_params",
]


def _field(name: str) -> tuple[str, str]:
    """A text field of ``job_events.detail`` in the SQLite and the PostgreSQL form."""
    return f"json_extract(detail, '$.{name}')", f"(detail->>'{name}')"


def _both(template: str, **fields: str) -> Sql:
    """``template`` with ``{field}`` placeholders filled in for each engine."""
    sqlite = template.format(**{key: _field(name)[0] for key, name in fields.items()})
    postgres = template.format(**{key: _field(name)[1] for key, name in fields.items()})
    return sql(sqlite, postgres=postgres)


# jobs

_FILTER_TERMS = {
    "status": "status = :status",
    "model": "model = :model",
    "user_id": "user_id = :user_id",
    "telegram_user": "user_id = :telegram_user",
    # substr, not LIKE: SQLite's LIKE ignores case and a tenant name could hold a wildcard.
    "api_key": "(user_id = :tenant OR substr(user_id, 1, :tenant_prefix_len) = :tenant_prefix)",
    "created_from": "created_at >= :created_from",
    "created_to": "created_at < :created_to",
    "before": "(created_at < :before_at OR (created_at = :before_at AND id < :before_id))",
}


@functools.cache
def find_jobs_sql(fields: tuple[str, ...]) -> Sql:
    """Jobs matching the terms named by ``fields`` (in ``_FILTER_TERMS`` order), newest first."""
    where = " AND ".join(_FILTER_TERMS[name] for name in fields)
    return sql(f"SELECT * FROM jobs{' WHERE ' + where if where else ''} ORDER BY created_at DESC, id DESC LIMIT :limit")


def job_filter_params(c: Conn, where: JobFilter, before: Cursor | None) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The fields of ``where`` (and the cursor) that are set, and the statement's parameters for them."""
    params: dict[str, Any] = {}
    if where.status is not None:
        params["status"] = where.status.value
    if where.model is not None:
        params["model"] = where.model
    if where.user_id is not None:
        params["user_id"] = where.user_id
    if where.telegram_user is not None:
        params["telegram_user"] = f"tg:{where.telegram_user}"
    if where.api_key is not None:
        tenant = f"apikey:{where.api_key}"
        params |= {"tenant": tenant, "tenant_prefix": tenant + ":", "tenant_prefix_len": len(tenant) + 1}
    if where.created_from is not None:
        params["created_from"] = c.ts(where.created_from)
    if where.created_to is not None:
        params["created_to"] = c.ts(where.created_to)
    if before is not None:
        params |= {"before_at": c.ts(before.created_at), "before_id": before.job_id}
    names = {"tenant": "api_key", "before_at": "before"}
    present = {names.get(key, key) for key in params}
    return tuple(name for name in _FILTER_TERMS if name in present), params


JOB_LEDGER = sql("SELECT * FROM ledger WHERE user_id = :user_id AND job_id = :job_id ORDER BY created_at, seq")

# health

PENDING_DELIVERIES = sql(
    "SELECT count(*) AS pending, coalesce(sum(CASE WHEN next_attempt_at <= :now THEN 1 ELSE 0 END), 0) AS due, "
    f"min(created_at) AS oldest FROM deliveries WHERE {t.PENDING_DELIVERY}"
)
INBOX_OUTCOMES = sql(
    "SELECT outcome, count(*) AS n FROM inbox WHERE received_at >= :since AND received_at <= :now GROUP BY outcome"
)


def _count(condition: str, name: str) -> str:
    return f"coalesce(sum(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS {name}"


_THROTTLED = (
    "kind = 'delivery' AND {recipient} = 'telegram' AND {outcome} = 'deferred' "
    f"AND substr({{error}}, 1, {len(TELEGRAM_THROTTLED_PREFIX)}) = :throttled"
)
EVENT_FIGURES = _both(
    "SELECT "
    + ", ".join(
        [
            _count("kind = 'callback' AND {trust} = 'none'", "untrusted"),
            _count("kind = 'status' AND {to} = 'submitted'", "created"),
            _count("kind = 'submit_error'", "create_errors"),
            _count("kind = 'checked' AND {error} IS NULL", "checks"),
            _count("kind = 'checked' AND {error} IS NOT NULL", "check_errors"),
            _count("kind = 'status' AND {to} = 'failed' AND {source} IN ('callback', 'poll')", "tasks_failed"),
            _count("kind = 'delivery' AND {outcome} = 'sent'", "sent"),
            _count("kind = 'delivery' AND {outcome} = 'deferred'", "deferred"),
            _count("kind = 'delivery' AND {outcome} = 'gone'", "gone"),
            _count("kind = 'delivery' AND {outcome} = 'failed'", "failed"),
            _count(_THROTTLED, "throttled"),
        ]
    )
    + " FROM job_events WHERE at >= :since AND at <= :now",
    trust="trust",
    to="to",
    error="error",
    source="source",
    outcome="outcome",
    recipient="recipient",
)
DELIVERY_OUTCOMES = ("sent", "deferred", "gone", "failed")
KIE_CREDITS = sql(
    "SELECT model, sum(kie_credits) AS credits FROM jobs "
    "WHERE created_at >= :day_start AND created_at <= :now AND kie_credits IS NOT NULL GROUP BY model"
)

# operator figures and adjustments

JOB_STATS = sql(
    "SELECT model, status, count(*) AS n, coalesce(sum(kie_credits), 0) AS credits FROM jobs "
    "WHERE created_at >= :since AND created_at < :until GROUP BY model, status"
)
JOB_FAILURES = sql(
    "SELECT coalesce(error_code, 'unknown') AS code, count(*) AS n FROM jobs "
    "WHERE created_at >= :since AND created_at < :until AND status IN ('failed', 'timed_out') "
    "GROUP BY coalesce(error_code, 'unknown')"
)
LEDGER_BY_KEY = sql("SELECT * FROM ledger WHERE key = :key")

# deliveries

DELIVERY_RETRY = sql(
    "UPDATE deliveries SET status = 'pending', next_attempt_at = :now, lease_until = NULL "
    "WHERE id = :id AND status IN ('failed', 'gone') RETURNING *"
)

# audit

_AUDIT_COLUMNS = ("at", "actor", "action", "outcome", "job_id", "target", "remote", "detail")
AUDIT_INSERT = sql(
    f"INSERT INTO console_audit ({', '.join(_AUDIT_COLUMNS)}) VALUES ({', '.join(':' + c for c in _AUDIT_COLUMNS)})"
)


@functools.cache
def audit_sql(of_job: bool, before: bool) -> Sql:
    terms = [term for term, on in (("job_id = :job_id", of_job), ("seq < :before", before)) if on]
    where = f" WHERE {' AND '.join(terms)}" if terms else ""
    return sql(f"SELECT * FROM console_audit{where} ORDER BY seq DESC LIMIT :limit")


def audit_params(c: Conn, entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": c.ts(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "job_id": entry.job_id,
        "target": entry.target,
        "remote": entry.remote,
        "detail": c.json(dict(entry.detail)),
    }


def audit_from_row(c: Conn, row: Any) -> AuditEntry:
    at = c.read_ts(row["at"])
    assert at is not None
    return AuditEntry(
        seq=int(row["seq"]),
        at=at,
        actor=row["actor"],
        action=row["action"],
        outcome=row["outcome"],
        job_id=row["job_id"],
        target=row["target"],
        remote=row["remote"],
        detail=c.read_json(row["detail"]),
    )


def read_oldest(c: Conn, value: Any) -> datetime | None:
    """``min(created_at)``: text on SQLite, a timestamp on PostgreSQL, None without rows."""
    return c.read_ts(value)
