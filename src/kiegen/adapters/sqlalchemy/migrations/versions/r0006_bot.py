"""The Telegram bot's drafts remember the message their prompt came from (``drafts.prompt_message_id``), so
that editing that message changes the prompt. Nullable, no default: existing drafts simply have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("drafts", sa.Column("prompt_message_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
