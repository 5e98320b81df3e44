"""Submissions from the public (网上异议 / 信用修复申请 / 举报线索) and their handling.

A submission is filed without an account and followed with a tracking number and a secret
access code; only a hash of the code is kept. What identifies the submitter (name, contact,
statement, files) lives in `SubmissionPrivate` and `SubmissionFile`, which no Event
snapshots, so the retention sweep can delete it for good once the case is closed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, UTCDateTime, created_at, intpk, updated_at
from registry.models.account import User
from registry.models.authority import Authority
from registry.models.listing import Ground, Listing

SUBMISSION_KINDS = ("objection", "repair", "tip")
# received → accepted | refused; accepted → proposed → decided (a second person confirms
# a decision that changes a listing); accepted → decided when nothing on a list changes.
SUBMISSION_STATES = ("received", "accepted", "refused", "proposed", "decided")
OUTCOMES = ("upheld", "rejected")
# What an upheld objection or repair does to the listing.
EFFECTS = ("none", "remove", "annul")


class Submission(Base):  # 网上申请 / 举报
    __tablename__ = "submission"
    __table_args__ = (
        CheckConstraint("kind IN ('objection', 'repair', 'tip')", name="kind"),
        CheckConstraint(
            "state IN ('received', 'accepted', 'refused', 'proposed', 'decided')", name="state"
        ),
        CheckConstraint("effect IN ('none', 'remove', 'annul')", name="effect"),
        Index("ix_submission_address", "address_key", "received_at"),
        Index("ix_submission_target", "target_key", "received_at"),
        Index("ix_submission_queue", "authority_id", "state"),
    )

    id: Mapped[intpk]
    tracking_number: Mapped[str] = mapped_column(String(20), unique=True)
    # SHA-256 of the number and the code; the code itself is shown once and never stored.
    access_code_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default="received")
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"), index=True)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listing.id"), index=True)
    # A tip's subject: the firm reported, as the submitter names it.
    subject_name: Mapped[str] = mapped_column(String(200), default="")
    subject_uscc: Mapped[str] = mapped_column(String(40), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accept_due: Mapped[date]
    decide_due: Mapped[date | None]
    decide_days: Mapped[int] = mapped_column(default=0)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(10), default="")
    effect: Mapped[str] = mapped_column(String(10), default="none")
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_on: Mapped[date | None]
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Keyed hashes for the rate limits: of the client address (cleared with the personal
    # data) and of what the submission is about (a listing, a firm).
    address_key: Mapped[str] = mapped_column(String(64), default="")
    target_key: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    authority: Mapped[Authority] = relationship()
    listing: Mapped[Listing | None] = relationship()
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    private: Mapped[SubmissionPrivate | None] = relationship(
        back_populates="submission", cascade="all, delete-orphan", uselist=False
    )
    files: Mapped[list[SubmissionFile]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="SubmissionFile.id"
    )
    notes: Mapped[list[SubmissionNote]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="SubmissionNote.id"
    )

    __mapper_args__ = {"version_id_col": version_id}

    def __repr__(self) -> str:
        return f"<Submission {self.tracking_number} {self.kind}/{self.state}>"


class SubmissionPrivate(Base):  # 申请人信息 (personal data)
    """Who submitted and what they wrote; shown only to the handling authority."""

    __tablename__ = "submission_private"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[str] = mapped_column(String(20), default="")  # firm | representative | ""
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    statement: Mapped[str] = mapped_column(Text, default="")

    submission: Mapped[Submission] = relationship(back_populates="private")


class SubmissionFile(Base):  # 申请附件
    """An attachment, stored by content in EVIDENCE_DIR like evidence files."""

    __tablename__ = "submission_file"

    id: Mapped[intpk]
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    media_type: Mapped[str] = mapped_column(String(100))
    original_name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[created_at]

    submission: Mapped[Submission] = relationship(back_populates="files")


class SubmissionNote(Base):  # 办理记录
    """A handler's note; internal to the handling authority."""

    __tablename__ = "submission_note"

    id: Mapped[intpk]
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created_at]

    submission: Mapped[Submission] = relationship(back_populates="notes")
    author: Mapped[User | None] = relationship()


class RepairRule(Base):  # 信用修复规则 (catalogue row)
    """Whether listings on a ground may be repaired online, the proof asked for and the
    time limits: catalogue data an admin edits, not code."""

    __tablename__ = "repair_rule"

    id: Mapped[intpk]
    ground_id: Mapped[int] = mapped_column(ForeignKey("ground.id"), unique=True)
    proof: Mapped[str] = mapped_column(Text, default="")
    accept_days: Mapped[int] = mapped_column(default=3)
    decide_days: Mapped[int] = mapped_column(default=7)
    active: Mapped[bool] = mapped_column(default=True)
    version_id: Mapped[int] = mapped_column(Integer, default=1)

    ground: Mapped[Ground] = relationship()

    __mapper_args__ = {"version_id_col": version_id}
