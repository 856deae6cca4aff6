"""Drafts of the Telegram bot (one per user), so that a restart keeps what a user was composing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kiegen.adapters.sqlalchemy.schema import UTCDateTime

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the column types as they were at this revision (the live schema may move on).
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def Key() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("user_id", Key(), nullable=False),
        sa.Column("id", Key(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("options", Json, nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("card_message_id", sa.BigInteger(), nullable=True),
        sa.Column("job_id", Key(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_drafts"),
    )


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
