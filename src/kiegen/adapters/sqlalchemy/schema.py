"""The tables, as SQLAlchemy Core: the single description of the schema that the migrations must reproduce.

Enums are stored as short strings (adding a status never needs an ALTER TYPE), JSON as JSON (JSONB on
PostgreSQL), and every timestamp through ``UTCDateTime``: timezone-aware UTC in, timezone-aware UTC out, on
both engines. ``tests/storage/test_migrations.py`` checks that the migrations build exactly this metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = [
    "ACTIVE_JOB",
    "PENDING_DELIVERY",
    "PENDING_INBOX",
    "UTCDateTime",
    "console_audit",
    "deliveries",
    "drafts",
    "free_uses",
    "inbox",
    "job_events",
    "jobs",
    "ledger",
    "metadata",
    "payments",
    "refunds",
    "users",
]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    PostgreSQL stores ``timestamptz``. SQLite has no timestamp type: values are normalised to UTC and stored
    as naive ISO strings of fixed width, so that string comparison in SQL is time comparison. A naive
    datetime handed in is taken to be UTC already (the domain only produces aware ones).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON everywhere, JSONB where the engine has it (smaller, and comparable).
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def Key() -> sa.types.TypeEngine[str]:
    """An identifier column, unbounded like the domain's strings. On PostgreSQL it compares bytewise (COLLATE
    "C") as SQLite and Python do, so that ORDER BY id gives the same order whatever the database's locale."""
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


# Partial-index predicates, written as literal SQL so that the queries can repeat them word for word: SQLite
# uses a partial index only when the query's WHERE contains the index's WHERE terms, and PostgreSQL cannot
# prove a bound parameter matches them in a generic plan.
ACTIVE_JOB = "status IN ('pending', 'submitted', 'running')"
PENDING_DELIVERY = "status = 'pending'"
PENDING_INBOX = "outcome = 'pending'"


def _partial(predicate: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(predicate), "postgresql_where": sa.text(predicate)}


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", Key(), primary_key=True),
    sa.Column("model", sa.String(), nullable=False),
    sa.Column("inputs", Json, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("user_id", Key(), nullable=True),
    sa.Column("price", sa.Integer, nullable=False),
    sa.Column("idempotency_key", Key(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("task_id", Key(), nullable=True),
    sa.Column("result_urls", Json, nullable=False),
    sa.Column("error_code", sa.String(), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.Column("kie_credits", sa.Float, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("submitted_at", UTCDateTime, nullable=True),
    sa.Column("completed_at", UTCDateTime, nullable=True),
    sa.Column("deadline_at", UTCDateTime, nullable=False),
    sa.Column("next_check_at", UTCDateTime, nullable=True),
    sa.Column("checks", sa.Integer, nullable=False),
    sa.Column("submit_attempts", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    # what the model makes (migration 0008): paces the polling and picks sendPhoto or sendVideo.
    sa.Column("media", sa.String(16), nullable=False, server_default="image"),
    # task id lookups (callbacks, polls) use the unique index; NULLs (not yet submitted) never collide.
    sa.UniqueConstraint("task_id"),
    sa.UniqueConstraint("user_id", "idempotency_key"),
    # "due for a remote check": only live jobs are indexed, so the index stays small as history grows; the id
    # is in it so that ORDER BY next_check_at, id LIMIT n reads n entries and stops (no sort).
    sa.Index("ix_jobs_due", "next_check_at", "id", **_partial(ACTIVE_JOB)),
    # a user's history, newest first.
    sa.Index("ix_jobs_user_created", "user_id", "created_at"),
    sa.Index("ix_jobs_created", "created_at"),
    # the console's job list filtered by status, newest first (migration 0005).
    sa.Index("ix_jobs_status_created", "status", "created_at", "id"),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("key", Key(), primary_key=True),
    sa.Column("job_id", Key(), nullable=True),
    sa.Column("task_id", Key(), nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Index("ix_inbox_received_at", "received_at"),
    sa.Index("ix_inbox_job", "job_id"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", Key(), primary_key=True),
    sa.Column("job_id", Key(), nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("receipt", sa.Text, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Index("ix_deliveries_pending", "next_attempt_at", "id", **_partial(PENDING_DELIVERY)),
    sa.Index("ix_deliveries_job", "job_id"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    # ``seq`` orders entries written in the same instant; ``key`` is the idempotency key.
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    sa.Column("key", Key(), nullable=False),
    sa.Column("user_id", Key(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("job_id", Key(), nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.UniqueConstraint("key"),
    sa.Index("ix_ledger_user", "user_id", "created_at"),
)

# A job's story, oldest first: what happened to it and when (``kind``), with what it takes to tell it
# (``detail``: KIE's answer to a check, a callback's verdict, a delivery attempt's error and next try...).
job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    sa.Column("job_id", Key(), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", Json, nullable=False),
    sa.Index("ix_job_events_job_id_seq", "job_id", "seq"),
    sa.Index("ix_job_events_at", "at"),
)

free_uses = sa.Table(
    "free_uses",
    metadata,
    sa.Column("user_id", Key(), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("uses", sa.Integer, nullable=False),
)

# The Telegram bot's own state (``SqlAlchemyBotStore``): users with their language, the one draft each user is
# composing, and Stars payments (the credits themselves are ledger entries).
users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", Key(), primary_key=True),
    sa.Column("locale", sa.String(16), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("telegram_payment_charge_id", Key(), primary_key=True),
    sa.Column("provider_payment_charge_id", Key(), nullable=True),
    sa.Column("user_id", Key(), nullable=False),
    sa.Column("currency", sa.String(), nullable=False),
    sa.Column("total_amount", sa.Integer, nullable=False),
    sa.Column("credits", sa.Integer, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("ledger_key", Key(), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_payments_user", "user_id", "created_at"),
)

# Stars refunds, one per charge (revision 0007): written PENDING before Telegram is asked, DONE once the credits
# are reversed, so a repeated or interrupted /refund finishes the same refund instead of starting another.
refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("telegram_payment_charge_id", Key(), primary_key=True),
    sa.Column("user_id", Key(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("credits", sa.Integer, nullable=False),
    sa.Column("taken_back", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("done_at", UTCDateTime, nullable=True),
    sa.Index("ix_refunds_done_at", "done_at"),
)

drafts = sa.Table(
    "drafts",
    metadata,
    # One draft per user: saving replaces it.
    sa.Column("user_id", Key(), primary_key=True),
    sa.Column("id", Key(), nullable=False),
    sa.Column("model", sa.String(), nullable=False),
    sa.Column("options", Json, nullable=False),
    sa.Column("prompt", sa.Text, nullable=True),
    sa.Column("image_url", sa.Text, nullable=True),
    # Telegram chat ids of supergroups and channels exceed 32 bits (-100...).
    sa.Column("chat_id", sa.BigInteger, nullable=True),
    sa.Column("card_message_id", sa.BigInteger, nullable=True),
    sa.Column("job_id", Key(), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # The person's message the prompt came from (an edit of it changes the prompt); revision 0006.
    sa.Column("prompt_message_id", sa.BigInteger, nullable=True),
    # The photos of a Telegram album as they arrive (``ports.bot.Album`` as JSON); revision 0009.
    sa.Column("album", Json, nullable=True),
)

# What operators did in the console (``kiegen.apps.http.console``), newest first; a job's page lists its own.
console_audit = sa.Table(
    "console_audit",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("job_id", Key(), nullable=True),
    sa.Column("target", sa.Text, nullable=True),
    sa.Column("remote", sa.String(), nullable=True),
    sa.Column("detail", Json, nullable=False),
    sa.Index("ix_console_audit_job_id_seq", "job_id", "seq"),
)
