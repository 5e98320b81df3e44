"""login attempts: a login throttle shared by every worker

Revision ID: a5d8e2f4c1b7
Revises: e7a3f1c9d5b2
Create Date: 2026-11-23 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "a5d8e2f4c1b7"
down_revision = "e7a3f1c9d5b2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    with op.batch_alter_table("login_attempt") as batch_op:
        batch_op.create_index("ix_login_attempt_username_at", ["username", "at"], unique=False)
        batch_op.create_index("ix_login_attempt_ip_at", ["ip", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempt") as batch_op:
        batch_op.drop_index("ix_login_attempt_ip_at")
        batch_op.drop_index("ix_login_attempt_username_at")
    op.drop_table("login_attempt")
