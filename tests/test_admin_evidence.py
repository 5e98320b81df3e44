"""Evidence upload: allowed by content, not by name; size limit (413); stored by
SHA-256 and never overwritten; retracted, not deleted; served as an attachment only to the
owning authority and the ministry; a reviewer may mark a file public."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from registry.models import Event, Evidence
from registry.services import evidence as service
from registry.services.accounts import actor_for
from tests.factories import csrf_token, login

A, B = "440000", "110000"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + service.PNG_END  # closed by its IEND chunk


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return buffer.getvalue()


@pytest.fixture
def people(make):
    return {
        "clerk": make.user("clerk", A),
        "reviewer": make.user("reviewer", A),
        "other": make.user("clerk", B),
        "ministry": make.user("clerk", "MIIT"),
    }


def _as(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


@pytest.fixture
def sanction(make, people, session):
    clerk = actor_for(people["clerk"])
    record = make.sanction(clerk, make.enterprise(clerk))
    session.flush()
    return record


def _upload(client, url, content: bytes, name: str = "决定书.pdf"):
    return client.post(
        url,
        data={
            "file": (io.BytesIO(content), name),
            "description": "处罚决定书扫描件",
            "csrf_token": csrf_token(client),
        },
        content_type="multipart/form-data",
    )


def _files(app) -> list[Path]:
    root = Path(app.config["EVIDENCE_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (PDF, service.PDF),
        (PNG, service.PNG),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 16 + b"\xff\xd9", service.JPEG),
        (_zip("OFD.xml", "Doc_0/Document.xml"), service.OFD),
        (_zip("[Content_Types].xml", "xl/workbook.xml"), service.XLSX),
    ],
)
def test_allowed_types_by_magic_bytes(content, media_type):
    assert service.sniff(content) == media_type


@pytest.mark.parametrize(
    "content",
    [b"MZ\x90\x00 windows exe", b"<html><script>", _zip("word/document.xml"), b"PK\x03\x04 broken"],
)
def test_other_content_is_refused(content):
    assert service.sniff(content) is None


def test_upload_stores_by_sha256_and_downloads_as_attachment(app, people, sanction, session):
    client = _as(app, people["clerk"])
    response = _upload(client, f"/admin/sanctions/{sanction.id}/evidence", PDF)
    assert response.status_code == 302
    digest = hashlib.sha256(PDF).hexdigest()
    stored = Path(app.config["EVIDENCE_DIR"]) / digest[:2] / digest
    assert stored.read_bytes() == PDF
    row = session.scalar(select(Evidence).where(Evidence.sanction_id == sanction.id))
    assert (row.sha256, row.media_type, row.size, row.public) == (
        digest,
        service.PDF,
        len(PDF),
        False,
    )
    with client.get(f"/admin/evidence/{row.id}") as download:
        assert download.status_code == 200
        assert download.data == PDF
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.headers["X-Content-Type-Options"] == "nosniff"
    # The ministry reads it; another bureau does not learn it exists.
    with _as(app, people["ministry"]).get(f"/admin/evidence/{row.id}") as ministry:
        assert ministry.status_code == 200
    assert _as(app, people["other"]).get(f"/admin/evidence/{row.id}").status_code == 404
    assert app.test_client().get(f"/admin/evidence/{row.id}").status_code == 302


def test_renamed_file_is_refused_and_nothing_lands_on_disk(app, people, sanction, session):
    client = _as(app, people["clerk"])
    events = session.scalar(select(func.count(Event.id)))
    response = _upload(
        client, f"/admin/sanctions/{sanction.id}/evidence", b"MZ\x90\x00", "scan.pdf"
    )
    assert response.status_code == 400
    assert "按文件内容判断" in response.get_data(as_text=True)
    assert _files(app) == []
    assert session.scalar(select(func.count(Event.id))) == events


def test_oversized_upload_is_413_and_nothing_lands_on_disk(app, people, sanction, session):
    client = _as(app, people["clerk"])
    url = f"/admin/sanctions/{sanction.id}/evidence"
    # Over the file limit, under the request limit: refused by the service.
    app.config["MAX_UPLOAD_BYTES"] = 100
    assert _upload(client, url, PDF + b"\x00" * 200).status_code == 413
    # Over the request limit: refused before the body is read.
    app.config["MAX_CONTENT_LENGTH"] = 1000
    assert _upload(client, url, PDF + b"\x00" * 5000).status_code == 413
    assert _files(app) == []
    assert session.scalar(select(func.count(Evidence.id))) == 0


def test_same_content_twice_is_stored_once_and_never_rewritten(app, people, sanction, session):
    client = _as(app, people["clerk"])
    url = f"/admin/sanctions/{sanction.id}/evidence"
    assert _upload(client, url, PNG, "a.png").status_code == 302
    (stored,) = _files(app)
    first_mtime = stored.stat().st_mtime_ns
    assert _upload(client, url, PNG, "b.png").status_code == 302
    assert _files(app) == [stored]
    assert stored.stat().st_mtime_ns == first_mtime
    assert session.scalar(select(func.count(Evidence.id))) == 2


def test_reviewer_marks_public_and_retracts_without_deleting(app, people, sanction, session, make):
    clerk = actor_for(people["clerk"])
    row = service.add_evidence(
        session,
        clerk,
        sanction,
        data=PDF,
        filename="x.pdf",
        evidence_dir=app.config["EVIDENCE_DIR"],
        max_bytes=10_000,
    )
    session.flush()
    c = _as(app, people["clerk"])
    data = {"version_id": row.version_id, "public": "1"}
    assert (
        c.post(
            f"/admin/evidence/{row.id}/public", data=data | {"csrf_token": csrf_token(c)}
        ).status_code
        == 403
    )
    r = _as(app, people["reviewer"])
    assert (
        r.post(
            f"/admin/evidence/{row.id}/public", data=data | {"csrf_token": csrf_token(r)}
        ).status_code
        == 302
    )
    session.expire_all()
    row = session.get(Evidence, row.id)
    assert row.public is True
    retract = {"version_id": row.version_id, "reason": "上传错误文件"}
    assert (
        r.post(
            f"/admin/evidence/{row.id}/retract", data=retract | {"csrf_token": csrf_token(r)}
        ).status_code
        == 302
    )
    session.expire_all()
    row = session.get(Evidence, row.id)
    assert row.retracted_at is not None and row.public is False
    assert len(_files(app)) == 1  # retracted, not deleted
    page = r.get(f"/admin/sanctions/{sanction.id}").get_data(as_text=True)
    assert "已撤回" in page
