"""publication log: the SHA-256 hash chain of everything published

Revision ID: e7a3f1c9d5b2
Revises: c4e1a9d2b7f3
Create Date: 2026-11-23 16:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "e7a3f1c9d5b2"
down_revision = "c4e1a9d2b7f3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_entry",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=30), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"], ["authority.id"], name=op.f("fk_log_entry_authority_id_authority")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_log_entry_event_id_event")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_log_entry")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_log_entry_entry_hash")),
        sa.UniqueConstraint("event_id", name=op.f("uq_log_entry_event_id")),
    )
    with op.batch_alter_table("log_entry") as batch_op:
        batch_op.create_index(batch_op.f("ix_log_entry_authority_id"), ["authority_id"], unique=False)
    counter = sa.table("sequence_counter", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
    op.bulk_insert(counter, [{"name": "publog", "value": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM sequence_counter WHERE name = 'publog'")
    with op.batch_alter_table("log_entry") as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_entry_authority_id"))
    op.drop_table("log_entry")
