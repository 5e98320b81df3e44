"""Import batches (导入批次): one file imported through the CLI or the back office."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, intpk
from registry.models.account import User
from registry.models.authority import Authority

IMPORT_SOURCES = ("web", "cli")


class ImportBatch(Base):  # 导入批次
    """Who imported which file (by SHA-256) when, for which authority, what it made and the
    row report. The listings it made point to it (Listing.import_batch_id); for them the
    importer is the submitter, so the importer never publishes them (four eyes)."""

    __tablename__ = "import_batch"
    __table_args__ = (CheckConstraint("source IN ('web', 'cli')", name="source"),)

    id: Mapped[intpk]
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_label: Mapped[str] = mapped_column(String(100))  # username, or the CLI's label
    source: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(default=0)
    total_rows: Mapped[int] = mapped_column(default=0)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # ImportResult.as_dict() plus "bad": rows skipped for errors.
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # [{"row", "column", "severity", "message"}], the first REPORT_LIMIT problems.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[created_at]

    authority: Mapped[Authority] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])

    def __repr__(self) -> str:
        return f"<ImportBatch {self.id} {self.sha256[:12]}>"
