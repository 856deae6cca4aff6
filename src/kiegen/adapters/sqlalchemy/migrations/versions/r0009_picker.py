"""The Telegram bot's drafts hold the photos of an album as they arrive (``drafts.album``: the album's id, its
photos in message order, the messages beyond what the model takes, those still being uploaded, and the one
recorded last). Nullable, no default: existing drafts have no album.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("drafts", sa.Column("album", Json, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
