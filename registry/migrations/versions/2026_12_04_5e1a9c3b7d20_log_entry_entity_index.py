"""log entry entity index: a firm's feed finds its listings' entries without walking the log

Revision ID: 5e1a9c3b7d20
Revises: 1c4805db920d
Create Date: 2026-12-04 13:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "5e1a9c3b7d20"
down_revision = "1c4805db920d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_log_entry_entity", "log_entry", ["entity_type", "entity_id", "number"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_log_entry_entity", table_name="log_entry")
