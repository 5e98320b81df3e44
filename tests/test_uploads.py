"""Hostile evidence uploads (docs/SECURITY.md, "a malicious uploader").

Types are judged by content (registry/services/evidence.sniff): the magic bytes name the
type, the container's own end marker must close the file, and no HTML/script/PHP marker may
sit where browsers look. So a renamed file is judged by what it is, a disguised or polyglot
file is refused, an oversized one is 413, and whatever the uploader calls the file, it is
stored only under EVIDENCE_DIR at its SHA-256: after every attempt nothing exists outside
that directory and no temporary file is left behind anywhere.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from registry.models import Evidence
from registry.services import evidence as service
from registry.services.accounts import actor_for
from tests.factories import csrf_token, login

A = "440000"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17 + service.PNG_END
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"


def _zip(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


OFD = _zip(("OFD.xml", b"<ofd:OFD/>"), ("Doc_0/Document.xml", b"<x/>"))
XLSX = _zip(("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<workbook/>"))

# (label, bytes): none of these may be accepted, whatever name they are sent under.
REFUSED = [
    ("windows executable", b"MZ\x90\x00\x03" + b"\x00" * 60),
    ("html page", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
    ("svg with script", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'),
    ("php script", b"<?php system($_GET['c']); ?>"),
    ("pdf magic then html", b"%PDF-1.7\n<html><script>alert(document.cookie)</script></html>"),
    ("pdf magic then js, no trailer", b"%PDF-1.4\n" + b"app.alert(1);" * 10),
    ("pdf with html after its trailer", PDF + b"<html><body>" + b"x" * 2000 + b"</body></html>"),
    ("pdf with html then a fake trailer", b"%PDF-1.7\n<script>alert(1)</script>\n%%EOF\n"),
    ("jpeg header then php", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00<?php system($_GET['c']); ?>"),
    ("jpeg with php after its end", JPEG + b"<?php phpinfo(); ?>"),
    ("png with html after IEND", PNG + b"<html><script>alert(1)</script>"),
    ("png header only", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
    ("docx zip", _zip(("word/document.xml", b"<w/>"), ("[Content_Types].xml", b"<T/>"))),
    ("zip of php", _zip(("shell.php", b"<?php system($_GET['c']); ?>"))),
    ("zip with traversal member", _zip(("../../etc/cron.d/x", b"* * * * * root id"))),
    ("xlsx without content types", _zip(("xl/workbook.xml", b"<workbook/>"))),
    ("truncated zip", b"PK\x03\x04" + b"\x00" * 100),
    ("gif", b"GIF89a" + b"\x00" * 30),
    ("empty", b""),
]
ACCEPTED = [
    ("pdf", PDF, service.PDF),
    ("png", PNG, service.PNG),
    ("jpeg", JPEG, service.JPEG),
    ("ofd", OFD, service.OFD),
    ("xlsx", XLSX, service.XLSX),
]
NAMES = [
    "决定书.pdf",
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "/etc/cron.d/evil.pdf",
    "C:\\Windows\\evil.pdf",
    "....//....//evil.php",
    "evil.php",
    ".htaccess",
    "a\x00.php.pdf",
    "a\nb\r.pdf",
    "\u202egnp.exe",
    "名" * 5000 + ".pdf",
    "x" * 10_000,
    "",
]


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Python's (and so Werkzeug's) temporary files go to a directory we can inspect."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return spool


@pytest.fixture
def setting(app, make, session, private_tmp):
    clerk = make.user("clerk", A)
    record = make.sanction(actor_for(clerk), make.enterprise(actor_for(clerk)))
    session.flush()
    client = app.test_client()
    assert login(client, clerk).status_code == 302
    return client, f"/admin/sanctions/{record.id}/evidence"


def _unsendable(name: str) -> bool:
    return any(ch in name for ch in "\x00\r\n") or not name


def _upload(client, url: str, content: bytes, name: str):
    return client.post(
        url,
        data={"file": (io.BytesIO(content), name), "csrf_token": csrf_token(client)},
        content_type="multipart/form-data",
    )


def _multipart(content: bytes, name: str, token: str) -> tuple[bytes, str]:
    boundary = "----registry-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{token}\r\n--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _all_files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _dirs, files in os.walk(root) for f in files]


def _check_disk(app, tmp_path: Path, private_tmp: Path) -> list[Path]:
    """Every file under the test's tmp tree is the database, the index, or a stored evidence
    file at its content address; nothing is left in the temporary directory."""
    evidence_dir = Path(app.config["EVIDENCE_DIR"]).resolve()
    stored = []
    for path in _all_files(tmp_path):
        resolved = path.resolve()
        if resolved.is_relative_to(evidence_dir):
            assert not path.name.startswith(".upload-"), f"temporary file left: {path}"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert path == Path(app.config["EVIDENCE_DIR"]) / digest[:2] / digest, path
            stored.append(path)
        else:
            assert resolved.is_relative_to((tmp_path / "index").resolve()) or (
                resolved.is_relative_to((tmp_path / "instance").resolve())
            ), f"file outside the evidence directory: {path}"
    assert _all_files(private_tmp) == [], "temporary upload files left behind"
    return stored


def test_hostile_uploads_are_refused_and_nothing_escapes_the_evidence_dir(
    app, session, setting, tmp_path, private_tmp, security_figures
):
    client, url = setting
    count = session.scalar(select(func.count(Evidence.id)))
    for label, content in REFUSED:
        for name in ("scan.pdf", "photo.jpg", "data.xlsx", "../../evil.php"):
            response = _upload(client, url, content, name)
            assert response.status_code == 400, (label, name, response.status_code)
            security_figures["uploads refused (disguised, polyglot, not an allowed type)"] += 1
    assert session.scalar(select(func.count(Evidence.id))) == count
    assert _check_disk(app, tmp_path, private_tmp) == []


@pytest.mark.parametrize(("label", "content", "media_type"), ACCEPTED)
def test_type_is_taken_from_content_whatever_the_name(label, content, media_type):
    assert service.sniff(content) == media_type, label
    for _label, bad in REFUSED:
        assert service.sniff(bad) is None, _label


def test_hostile_names_are_labels_only_and_stay_inside_the_evidence_dir(
    app, session, setting, tmp_path, private_tmp, security_figures
):
    client, url = setting
    for index, name in enumerate(NAMES):
        content = PDF + b"%" + str(index).encode() + b"\n%%EOF\n"
        response = _upload(client, url, content, name)
        if _unsendable(name):
            # NUL is refused by the form gate; CR/LF cannot stand in a multipart header, so
            # the part is not a file at all: either way a clear 400.
            assert response.status_code == 400, repr(name[:40])
            security_figures["uploads refused (hostile file names)"] += 1
            continue
        assert response.status_code == 302, (repr(name[:40]), response.status_code)
        digest = hashlib.sha256(content).hexdigest()
        row = session.scalar(select(Evidence).where(Evidence.sha256 == digest))
        assert row is not None
        label = row.original_name
        assert "/" not in label and "\\" not in label and not label.startswith("."), label
        assert all(ch.isprintable() for ch in label) and len(label) <= 255, repr(label)
        with client.get(f"/admin/evidence/{row.id}") as download:
            assert download.status_code == 200
            assert download.data == content
            assert download.headers["Content-Disposition"].startswith("attachment")
            assert download.mimetype == service.PDF
    stored = _check_disk(app, tmp_path, private_tmp)
    assert len(stored) == len([n for n in NAMES if not _unsendable(n)])


def test_oversized_uploads_are_413_and_leave_nothing_on_disk(
    app, session, setting, tmp_path, private_tmp, security_figures
):
    client, url = setting
    app.config["MAX_UPLOAD_BYTES"] = 64 * 1024
    big = PDF[:-6] + b"\x00" * (64 * 1024) + b"%%EOF\n"
    # Over the file limit, under the request limit: refused by the service before any write.
    assert _upload(client, url, big, "big.pdf").status_code == 413
    # Over the request limit (a body Werkzeug would spool to a temporary file): refused
    # before the body is parsed. The body is built in memory (the test client would spool
    # it to a temporary file of its own, which it does not close when the app refuses early).
    app.config["MAX_CONTENT_LENGTH"] = 600 * 1024
    huge = PDF[:-6] + b"\x00" * (2 * 1024 * 1024) + b"%%EOF\n"
    body, content_type = _multipart(huge, "huge.pdf", csrf_token(client))
    assert client.post(url, data=body, content_type=content_type).status_code == 413
    # A body that lies about its length is cut at what it declared: no file, a clear 400.
    response = client.post(
        url, data=body, content_type=content_type, headers={"Content-Length": "1000"}
    )
    assert response.status_code in (400, 413)
    security_figures["uploads refused (oversized)"] += 3
    assert session.scalar(select(func.count(Evidence.id))) == 0
    assert _check_disk(app, tmp_path, private_tmp) == []


def test_refused_write_leaves_no_temporary_file(app, monkeypatch, tmp_path):
    """A failure between the temporary file and its rename (disk full) removes the temporary
    file and stores nothing."""
    root = tmp_path / "evidence-fail"

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.os, "replace", full_disk)
    with pytest.raises(OSError):
        service._write_once(root, hashlib.sha256(PDF).hexdigest(), PDF)
    assert _all_files(root) == []
