"""Jobs, callback inbox, delivery outbox, credits ledger and free-quota counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kiegen.adapters.sqlalchemy.schema import UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the column types as they were at this revision (the live schema may move on).
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def Key() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


ACTIVE_JOB = "status IN ('pending', 'submitted', 'running')"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", Key(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("inputs", Json, nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("user_id", Key(), nullable=True),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", Key(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task_id", Key(), nullable=True),
        sa.Column("result_urls", Json, nullable=False),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("kie_credits", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("submit_attempts", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("task_id", name="uq_jobs_task_id"),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_jobs_user_id_idempotency_key"),
    )
    op.create_index(
        "ix_jobs_due",
        "jobs",
        ["next_check_at", "id"],
        sqlite_where=sa.text(ACTIVE_JOB),
        postgresql_where=sa.text(ACTIVE_JOB),
    )
    op.create_index("ix_jobs_user_created", "jobs", ["user_id", "created_at"])
    op.create_index("ix_jobs_created", "jobs", ["created_at"])

    op.create_table(
        "inbox",
        sa.Column("key", Key(), nullable=False),
        sa.Column("job_id", Key(), nullable=True),
        sa.Column("task_id", Key(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_inbox"),
    )
    op.create_index(
        "ix_inbox_pending",
        "inbox",
        ["received_at"],
        sqlite_where=sa.text("outcome = 'pending'"),
        postgresql_where=sa.text("outcome = 'pending'"),
    )
    op.create_index("ix_inbox_job", "inbox", ["job_id"])

    op.create_table(
        "deliveries",
        sa.Column("id", Key(), nullable=False),
        sa.Column("job_id", Key(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
    )
    op.create_index(
        "ix_deliveries_pending",
        "deliveries",
        ["next_attempt_at", "id"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_deliveries_job", "deliveries", ["job_id"])

    op.create_table(
        "ledger",
        sa.Column("seq", Serial, autoincrement=True, nullable=False),
        sa.Column("key", Key(), nullable=False),
        sa.Column("user_id", Key(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("job_id", Key(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger"),
        sa.UniqueConstraint("key", name="uq_ledger_key"),
    )
    op.create_index("ix_ledger_user", "ledger", ["user_id", "created_at"])

    op.create_table(
        "free_uses",
        sa.Column("user_id", Key(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", name="pk_free_uses"),
    )


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
