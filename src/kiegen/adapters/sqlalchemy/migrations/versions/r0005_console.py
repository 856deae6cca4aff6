"""The operator console: ``console_audit`` (who did what to which job, and how it went), and an index for the
console's job list filtered by status, newest first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kiegen.adapters.sqlalchemy.schema import UTCDateTime

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the column types as they were at this revision (the live schema may move on).
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def Key() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "console_audit",
        sa.Column("seq", Serial, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("job_id", Key(), nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("remote", sa.String(), nullable=True),
        sa.Column("detail", Json, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_console_audit"),
    )
    op.create_index("ix_console_audit_job_id_seq", "console_audit", ["job_id", "seq"])
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at", "id"])


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
