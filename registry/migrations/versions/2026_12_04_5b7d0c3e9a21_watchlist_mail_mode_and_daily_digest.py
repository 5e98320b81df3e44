"""watchlist mail subscribers choose immediate alerts or a daily digest

Revision ID: 5b7d0c3e9a21
Revises: 20d60c45840d
Create Date: 2026-12-04 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5b7d0c3e9a21"
down_revision = "20d60c45840d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("watch_subscriber", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mail_mode", sa.String(length=10), nullable=False, server_default="immediate")
        )
        batch_op.add_column(
            sa.Column("digest_day", sa.String(length=10), nullable=False, server_default="")
        )
    with op.batch_alter_table("watch_subscriber", schema=None) as batch_op:
        batch_op.alter_column("mail_mode", server_default=None)
        batch_op.alter_column("digest_day", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("watch_subscriber", schema=None) as batch_op:
        batch_op.drop_column("digest_day")
        batch_op.drop_column("mail_mode")
