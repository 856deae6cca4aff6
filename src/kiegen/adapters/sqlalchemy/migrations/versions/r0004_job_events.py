"""A job's story: ``job_events`` (created, submitted, each KIE check and its answer, callbacks, state changes,
each delivery attempt), appended in the same transaction as the change it tells of. The inbox's index of
PENDING rows goes (nothing writes a PENDING inbox row any more: a callback's row is written with its outcome), and
an index by arrival time takes its place (callback outcomes of the last hour).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kiegen.adapters.sqlalchemy.schema import UTCDateTime

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the column types as they were at this revision (the live schema may move on).
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def Key() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "job_events",
        sa.Column("seq", Serial, autoincrement=True, nullable=False),
        sa.Column("job_id", Key(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", Json, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_job_events"),
    )
    op.create_index("ix_job_events_job_id_seq", "job_events", ["job_id", "seq"])
    op.create_index("ix_job_events_at", "job_events", ["at"])
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.create_index("ix_inbox_received_at", "inbox", ["received_at"])


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
