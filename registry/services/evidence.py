"""Evidence files (证据材料): checked by content, stored by content, never deleted.

A file is accepted for what its bytes are, not for its name: PDF, PNG, JPEG, OFD (a zip
holding OFD.xml, the Chinese national layout format) and XLSX (a zip holding
xl/workbook.xml). It is stored under EVIDENCE_DIR at a path derived from its SHA-256,
written through a temporary file and os.replace, so a reader never sees half a file and an
existing file is never overwritten. A wrong file is retracted (the row stays, with who and
when), not deleted. Files are private to the owning authority and the ministry unless a
reviewer marks one public.

Crash consistency: the file is on disk (fsynced, directory included) before the row that
names it is committed, so an acknowledged upload never lacks its file. A process killed
between the two leaves an *orphan*: a content-addressed file no Evidence row names, or a
``.upload-*`` temporary file. Writers hold the evidence directory's lock shared from the
write until their commit (`Writing`); `sweep_orphans` takes it exclusively, so on one host
it only ever sees finished uploads, and removes the orphans. When several hosts mount one
EVIDENCE_DIR a lock on one host does not hold back a writer on another, so the sweep also
leaves every file younger than its `min_age` (an upload commits within seconds; the daily
`registry sweep` takes files older than an hour). It runs only in `registry sweep`, never
when a worker starts (tests/test_crash_upload.py kills the server mid-upload).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import rules
from registry.db import utcnow
from registry.durable import fsync_dir
from registry.errors import DomainError, NotFoundError, ValidationError
from registry.messages import _
from registry.models import Evidence, Listing, Sanction, SubmissionFile
from registry.rules import Actor, RuleViolation, check_may
from registry.services.history import check_change, record_new, recorded

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
OFD = "application/ofd"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXTENSIONS = {PDF: "pdf", PNG: "png", JPEG: "jpg", OFD: "ofd", XLSX: "xlsx"}
# Refuse zips that would expand absurdly when inspected (zip bombs): only names are read.
MAX_ZIP_MEMBERS = 10_000


class UploadTooLarge(DomainError):
    """The file is larger than MAX_UPLOAD_BYTES (the web layer answers 413)."""


# Markers a browser (or a PHP interpreter behind a careless web server) would act on. None of
# them belongs in the first kilobyte of a real scan, photo, OFD or spreadsheet.
ACTIVE_MARKERS = (b"<html", b"<script", b"<?php", b"<svg", b"<iframe", b"<body", b"<!doctype")
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _ends_properly(data: bytes, media_type: str) -> bool:
    """The container's own end marker closes the file, so nothing rides along after it (a
    JPEG with PHP appended, a PDF followed by an HTML page). Trailing whitespace is allowed."""
    tail = data.rstrip(b"\r\n\t \x00")
    if media_type == PDF:
        return tail.endswith(b"%%EOF")
    if media_type == PNG:
        return tail.endswith(PNG_END) or data.endswith(PNG_END)
    if media_type == JPEG:
        return data.endswith(b"\xff\xd9") or tail.endswith(b"\xff\xd9")
    return True


def _zip_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                return None
            names = {info.filename.lstrip("/") for info in infos}
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "OFD.xml" in names:
        return OFD
    if "xl/workbook.xml" in names and "[Content_Types].xml" in names:
        return XLSX
    return None


def sniff(data: bytes) -> str | None:
    """The media type of `data` by its content, or None when it is not an allowed type: the
    magic bytes name the type, the container's end marker must close the file (polyglots
    with a payload appended are refused), and no HTML/script/PHP marker may appear in the
    first kilobyte, where browsers look when they guess a type."""
    if any(marker in data[:1024].lower() for marker in ACTIVE_MARKERS):
        return None
    media_type = None
    if data.startswith(b"%PDF-"):
        media_type = PDF
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        media_type = PNG
    elif data.startswith(b"\xff\xd8\xff"):
        media_type = JPEG
    elif data.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    if media_type is None or not _ends_properly(data, media_type):
        return None
    return media_type


def safe_name(filename: str) -> str:
    """The uploader's file name as a label only (storage is by SHA-256): its last path
    component under either separator, without control characters, at most 255 characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    name = name.strip().lstrip(".")
    return name[-255:] if len(name) > 255 else name


def storage_path(evidence_dir: Path | str, sha256: str) -> Path:
    """Content address: <dir>/ab/abcdef…"""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 hex digest")
    return Path(evidence_dir) / sha256[:2] / sha256


TEMP_PREFIX = ".upload-"
_STORED_NAME = re.compile(r"[0-9a-f]{64}")


def _write_once(evidence_dir: Path | str, sha256: str, data: bytes) -> Path:
    path = storage_path(evidence_dir, sha256)
    if path.exists():
        return path  # same address, same bytes: never rewritten
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o440)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)  # the rename itself survives a power cut before the commit
    return path


@contextlib.contextmanager
def _locked(evidence_dir: Path, operation: int) -> Iterator[None]:
    """flock on the evidence directory itself (no lock file among the evidence)."""
    fd = os.open(evidence_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, operation)  # released by the kernel if the process dies
        yield
    finally:
        os.close(fd)


class Writing:
    """Held around `add_evidence` and the commit that follows it (`with writing(dir) as w:
    add_evidence(..., writing=w); commit`): the directory's lock is taken shared just before
    the file is written, so `sweep_orphans` waits and never takes a file written but not yet
    committed for an orphan. A refused upload takes no lock and creates no directory."""

    def __init__(self, evidence_dir: Path | str) -> None:
        self.root = Path(evidence_dir)
        self._held: contextlib.ExitStack | None = None

    def hold(self) -> None:
        if self._held is None:
            self.root.mkdir(parents=True, exist_ok=True)
            stack = contextlib.ExitStack()
            stack.enter_context(_locked(self.root, fcntl.LOCK_SH))
            self._held = stack

    def __enter__(self) -> Writing:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None


def writing(evidence_dir: Path | str) -> Writing:
    return Writing(evidence_dir)


def orphans(evidence_dir: Path | str, referenced: set[str], min_age: float = 0.0) -> list[Path]:
    """Files under EVIDENCE_DIR no upload will ever claim: content-addressed files whose
    SHA-256 is not in `referenced`, and temporary files of interrupted writes, last modified
    at least `min_age` seconds ago. Anything else (files an operator put there) is not the
    app's and is left alone."""
    root = Path(evidence_dir)
    found: list[Path] = []
    newest = time.time() - min_age
    if not root.is_dir():
        return found
    for sub in root.iterdir():
        if not (sub.is_dir() and len(sub.name) == 2):
            continue
        for path in sub.iterdir():
            if (
                path.name.startswith(TEMP_PREFIX)
                or (
                    _STORED_NAME.fullmatch(path.name)
                    and path.name.startswith(sub.name)
                    and path.name not in referenced
                )
            ) and _modified(path) <= newest:
                found.append(path)
    return found


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed meanwhile (another host's sweep)
        return float("inf")


def sweep_orphans(
    session: Session, evidence_dir: Path | str, wait: float = 10.0, min_age: float = 3600.0
) -> int | None:
    """Remove the orphans a killed upload left, older than `min_age` seconds (see the module
    docstring); the number removed, or None when uploads kept the lock for `wait` seconds
    (try again later)."""
    root = Path(evidence_dir)
    if not root.is_dir():
        return 0
    deadline = time.monotonic() + wait
    while True:
        try:
            with _locked(root, fcntl.LOCK_EX | fcntl.LOCK_NB):
                referenced = set(session.scalars(select(Evidence.sha256).distinct()))
                # attachments of public submissions share the folder
                referenced |= set(session.scalars(select(SubmissionFile.sha256).distinct()))
                removed = orphans(root, referenced, min_age)
                for path in removed:
                    path.unlink(missing_ok=True)
                return len(removed)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


def add_evidence(
    session: Session,
    actor: Actor,
    owner: Sanction | Listing,
    *,
    data: bytes,
    filename: str = "",
    description: str = "",
    evidence_dir: Path | str,
    max_bytes: int,
    writing: Writing | None = None,
) -> Evidence:
    """Attach a file to a penalty decision or a listing of the actor's authority. Checks
    come first, so a refused file never reaches the disk. The file is written before the
    caller commits the row; pass `writing` when `sweep_orphans` may run meanwhile."""
    check_may(actor, "upload", owner.authority_id)
    if owner.state == "annulled":
        raise RuleViolation("owner_annulled", _("记录已撤销，不能再上传证据"))
    if len(data) > max_bytes:
        raise UploadTooLarge(
            _("文件超过大小上限（%(megabytes)s MB）", megabytes=max_bytes // (1024 * 1024) or 1)
        )
    if not data:
        raise ValidationError({"file": _("文件为空")})
    media_type = sniff(data)
    if media_type is None:
        raise ValidationError(
            {"file": _("只接受 PDF、PNG、JPEG、OFD、XLSX 文件（按文件内容判断，而非扩展名）")}
        )
    sha256 = hashlib.sha256(data).hexdigest()
    if writing is not None:
        writing.hold()
    _write_once(evidence_dir, sha256, data)
    evidence = Evidence(
        authority_id=owner.authority_id,
        sanction_id=owner.id if isinstance(owner, Sanction) else None,
        listing_id=owner.id if isinstance(owner, Listing) else None,
        sha256=sha256,
        size=len(data),
        media_type=media_type,
        original_name=safe_name(filename),
        description=(description or "").strip(),
        uploaded_by_id=actor.user_id,
    )
    return record_new(session, actor, evidence, "upload")


def retract_evidence(
    session: Session,
    actor: Actor,
    evidence: Evidence,
    *,
    reason: str,
    expected_version: int | None = None,
) -> Evidence:
    """Withdraw a file (wrong or superseded): it stops being shown, stays on disk and in the history."""
    check_change(actor, evidence, "retract", expected_version)
    if not (reason or "").strip():
        raise RuleViolation("reason_required", _("此操作须填写理由"))
    if evidence.retracted_at is not None:
        raise RuleViolation("already_retracted", _("该文件已撤回"))
    with recorded(session, actor, evidence, "retract", reason=reason.strip()):
        evidence.retracted_at = utcnow()
        evidence.retracted_by_id = actor.user_id
        evidence.public = False
    return evidence


def set_public(
    session: Session,
    actor: Actor,
    evidence: Evidence,
    public: bool,
    *,
    expected_version: int | None = None,
) -> Evidence:
    """A reviewer decides whether the public may download this file."""
    check_change(actor, evidence, "mark_public", expected_version)
    if public and evidence.retracted_at is not None:
        raise RuleViolation("retracted", _("已撤回的文件不能公开"))
    with recorded(session, actor, evidence, "mark_public"):
        evidence.public = bool(public)
    return evidence


def file_for(actor: Actor, evidence: Evidence, evidence_dir: Path | str) -> Path:
    """The stored file, for a regulator of the owning authority or the ministry."""
    if not rules.may_read(actor, evidence.authority_id):
        raise NotFoundError(_("没有这个文件"))
    path = storage_path(evidence_dir, evidence.sha256)
    if not path.is_file():
        raise NotFoundError(_("文件缺失"))
    return path
