"""A job remembers what its model makes (``jobs.media``: ``image`` or ``video``): video jobs are polled in
minutes, not seconds, and delivered with sendVideo. Existing jobs were all images (kiegen offered no video
model before): the server default says so, and stays for rows written by an older process during a rolling
upgrade.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("media", sa.String(16), nullable=False, server_default="image"))


def downgrade() -> None:
    raise NotImplementedError("kiegen migrations only move forward: restore a backup to go back")
