"""publication log merkle tree nodes: the perfect subtrees of the log, built for the
entries already there

Revision ID: 1c4805db920d
Revises: 87ed763e4b9a
Create Date: 2026-12-04 05:39:55.781963
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "1c4805db920d"
down_revision = "87ed763e4b9a"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    node = op.create_table(
        "log_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "position", name=op.f("pk_log_node")),
    )
    # The tree over the existing entries, as registry/publog.py grows it: leaf number - 1 is
    # SHA-256(0x00 || entry hash bytes), a node SHA-256(0x01 || left || right). Only the
    # right edge (one node per level) is kept in memory.
    bind = op.get_bind()
    entries = sa.table("log_entry", sa.column("number"), sa.column("entry_hash"))
    edge: dict[int, bytes] = {}
    rows: list[dict] = []
    result = bind.execute(
        sa.select(entries.c.number, entries.c.entry_hash).order_by(entries.c.number)
    ).all()
    for index, (_, entry_hash) in enumerate(result):
        value = hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash)).digest()
        level, position = 0, index
        rows.append({"level": 0, "position": index, "hash": value.hex()})
        while position % 2 == 1:
            value = hashlib.sha256(b"\x01" + edge[level] + value).digest()
            level, position = level + 1, position // 2
            rows.append({"level": level, "position": position, "hash": value.hex()})
        edge[level] = value
        if len(rows) >= BATCH:
            op.bulk_insert(node, rows)
            rows = []
    if rows:
        op.bulk_insert(node, rows)


def downgrade() -> None:
    op.drop_table("log_node")
