"""Users (locale) and Telegram Stars payments, for the Telegram bot.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiegen.adapters.sqlalchemy.schema import UTCDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def Key() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", Key(), nullable=False),
        sa.Column("locale", sa.String(16), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
    )
    op.create_table(
        "payments",
        # Telegram's charge id is the idempotency key of a top-up: a repeated successful_payment finds it.
        sa.Column("telegram_payment_charge_id", Key(), nullable=False),
        sa.Column("provider_payment_charge_id", Key(), nullable=True),
        sa.Column("user_id", Key(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("total_amount", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("ledger_key", Key(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("telegram_payment_charge_id", name="pk_payments"),
    )
    op.create_index("ix_payments_user", "payments", ["user_id", "created_at"])


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
