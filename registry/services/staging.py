"""Import files staged between the upload and its confirmation (not domain records: no
Event, nothing public). Shared by every host through the database."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.models import StagedUpload

KEEP = timedelta(days=1)  # a staged file not confirmed within a day is removed


def stage(session: Session, data: bytes, *, user_id: int | None = None) -> str:
    """Keep `data` under its SHA-256 until it is confirmed (or KEEP passes); returns the
    hash. Removes staged files older than KEEP. The caller commits."""
    now = utcnow()
    session.execute(delete(StagedUpload).where(StagedUpload.uploaded_at < now - KEEP))
    digest = hashlib.sha256(data).hexdigest()
    row = session.get(StagedUpload, digest)
    if row is None:
        session.add(
            StagedUpload(
                sha256=digest, data=data, size=len(data), uploaded_at=now, uploaded_by=user_id
            )
        )
    else:  # the same bytes again: kept another day
        row.uploaded_at = now
    session.flush()
    return digest


def staged(session: Session, digest: str) -> bytes | None:
    """The bytes staged under `digest`, or None (never staged, or pruned)."""
    return session.scalar(
        select(StagedUpload.data).where(
            StagedUpload.sha256 == digest, StagedUpload.uploaded_at >= utcnow() - KEEP
        )
    )
