"""Import files waiting for the regulator's confirmation (待确认的导入文件).

Kept in the database, not on a host's disk, so the confirmation may reach any worker of any
host. Keyed by the file's SHA-256: the confirm form carries only the hash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, UTCDateTime, utcnow


class StagedUpload(Base):  # 待确认的导入文件
    __tablename__ = "staged_upload"
    __table_args__ = (Index("ix_staged_upload_uploaded_at", "uploaded_at"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]
    # Refreshed when the same bytes are uploaded again; old files are pruned at uploads.
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    def __repr__(self) -> str:
        return f"<StagedUpload {self.sha256[:12]} {self.size} B>"
