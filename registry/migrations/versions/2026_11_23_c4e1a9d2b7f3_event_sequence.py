"""event sequence: commit-ordered numbers for the change stream

Revision ID: c4e1a9d2b7f3
Revises: b92a097742c0
Create Date: 2026-11-23 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c4e1a9d2b7f3"
down_revision = "b92a097742c0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    counter = op.create_table(
        "sequence_counter",
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sequence_counter")),
    )
    with op.batch_alter_table("event") as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    # Existing events keep their order: seq = id.
    op.execute("UPDATE event SET seq = id")
    with op.batch_alter_table("event") as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_event_seq"), ["seq"])
    op.bulk_insert(counter, [{"name": "event", "value": 0}])
    op.execute("UPDATE sequence_counter SET value = (SELECT COALESCE(MAX(seq), 0) FROM event)")


def downgrade() -> None:
    with op.batch_alter_table("event") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_event_seq"), type_="unique")
        batch_op.drop_column("seq")
    op.drop_table("sequence_counter")
