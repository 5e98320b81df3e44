"""Authorities: the ministry and the provincial bureaus (电信管理机构)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, intpk, str200

MINISTRY_CODE = "MIIT"


class Authority(Base):  # 电信管理机构
    __tablename__ = "authority"
    __table_args__ = (CheckConstraint("level IN ('ministry', 'province', 'city')", name="level"),)

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(12), unique=True)  # MIIT or GB/T 2260 code
    name: Mapped[str200]  # 广东省通信管理局
    short: Mapped[str] = mapped_column(String(4))  # 粤, used in licence and decision numbers
    level: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("authority.id"))

    parent: Mapped[Authority | None] = relationship(remote_side="Authority.id")

    @property
    def is_ministry(self) -> bool:
        return self.level == "ministry"

    @property
    def province_code(self) -> str | None:
        """GB/T 2260 province code (Dalian reports under Liaoning)."""
        if self.is_ministry:
            return None
        return self.code[:2] + "0000"

    def __repr__(self) -> str:
        return f"<Authority {self.code} {self.name}>"


class Owned:
    """A record of one authority (tenancy: who may edit it): its id, then the authority's."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-2)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authority.id"), index=True, sort_order=-1)
