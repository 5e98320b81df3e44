"""The append-only history of every change (操作记录)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, intpk


class Event(Base):  # 操作记录
    """One change to one record: who, when, what, before/after. Never updated or deleted."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_entity", "entity_type", "entity_id"),)

    id: Mapped[intpk]
    # Position in the change sequence: numbers are taken from a counter row updated in the
    # writing transaction, so commit order equals number order (readers such as the search
    # index catch up with "seq > last applied" and never skip a late commit).
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[created_at]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    actor_label: Mapped[str] = mapped_column(String(100))  # username, or "system" / "cli"
    authority_id: Mapped[int | None] = mapped_column(ForeignKey("authority.id"), index=True)
    entity_type: Mapped[str] = mapped_column(String(30))  # listing, sanction, enterprise, ...
    entity_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(30))  # create, update, submit, publish, ...
    reason: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # True when a ministry user acted on a bureau's record (部省联动).
    cross_authority: Mapped[bool] = mapped_column(default=False)

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.entity_type}:{self.entity_id} {self.action}>"


class SequenceCounter(Base):
    """Named counters whose row lock serialises writers (see Event.seq)."""

    __tablename__ = "sequence_counter"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class LogEntry(Base):  # 公示日志
    """One entry of the publication log, a SHA-256 hash chain.

    `payload` is the canonical JSON of what was published; `content_hash` its SHA-256;
    `entry_hash` the SHA-256 of the canonical JSON of number, prev_hash and content_hash.
    Numbers come from the "publog" counter row, so appends are serialised. Never updated.
    """

    __tablename__ = "log_entry"
    # A firm's or a search's feed: the entries of given listings, newest first (without it
    # each feed walked the whole log backwards).
    __table_args__ = (Index("ix_log_entry_entity", "entity_type", "entity_id", "number"),)

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[created_at]
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), unique=True)
    # Set by object so an entry can be added before its Event is flushed (batches).
    event: Mapped[Event] = relationship()
    entity_type: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(30))
    authority_id: Mapped[int | None] = mapped_column(ForeignKey("authority.id"), index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)

    def __repr__(self) -> str:
        return f"<LogEntry {self.number} {self.entity_type}:{self.entity_id} {self.action}>"


class LogNode(Base):
    """A perfect subtree of the publication log's Merkle tree (registry/merkle.py): level 0
    holds the leaf hashes, level ℓ the node over leaves position·2^ℓ … (position+1)·2^ℓ - 1.
    Written with the entries that complete it, so proofs read O(log n) rows. Never updated."""

    __tablename__ = "log_node"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))  # hex

    def __repr__(self) -> str:
        return f"<LogNode {self.level}/{self.position}>"
