"""Stars refunds made by the bot's operators (``refunds``): one row per charge, PENDING before Telegram is asked
and DONE once the credits are reversed, so that a repeated or interrupted /refund finishes that refund.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiegen.adapters.sqlalchemy.schema import UTCDateTime

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


# A frozen copy of the column type as it is at this revision (the live schema may move on).
def Key() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("telegram_payment_charge_id", Key(), nullable=False),
        sa.Column("user_id", Key(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("taken_back", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("telegram_payment_charge_id", name="pk_refunds"),
    )
    op.create_index("ix_refunds_done_at", "refunds", ["done_at"])


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
