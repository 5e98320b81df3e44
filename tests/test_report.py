"""The firm report (信用报告): HTML, JSON and PDF with a report number, the signed tree head
and each entry's inclusion proof, a QR code to its verification page; `/verify/<number>`
re-checks it against the log and the upload form tells genuine, changed and superseded."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess

import pytest
from sqlalchemy import select, update

from registry import merkle, signing
from registry.models import LogEntry, LogNode
from registry.services import listings
from tests.factories import csrf_token


@pytest.fixture
def firm_listing(make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer)
    other = make.published_listing(clerk, reviewer)  # another firm: not in the report
    listings.remove_listing(make.session, reviewer, other, "提前移出")
    make.session.flush()
    return listing


def report_json(client, listing) -> dict:
    response = client.get(f"/enterprises/{listing.enterprise.uscc}/report.json")
    assert response.status_code == 200
    return response.get_json()


def independent_inclusion_check(
    leaf: bytes, index: int, size: int, path: list[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2, written here apart from the app's code."""
    import hashlib

    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def test_report_json_has_number_signed_head_and_a_proof_for_each_entry(client, firm_listing):
    document = report_json(client, firm_listing)
    firm = firm_listing.enterprise
    assert document["firm"] == {"name": firm.name, "uscc": firm.uscc}
    assert document["report_number"].startswith(firm.uscc + "-")
    assert document["verify_url"].endswith("/verify/" + document["report_number"])
    key = signing.load_public_pem(client.get("/log/key").get_data(as_text=True))
    head = signing.verify(key, document["tree_head"])
    assert [item["status"] for item in document["listings"]] == ["in_force"]
    assert len(document["entries"]) == 1
    for entry in document["entries"]:
        leaf = merkle.leaf_hash(bytes.fromhex(entry["entry_hash"]))
        path = [bytes.fromhex(node) for node in entry["inclusion_path"]]
        assert independent_inclusion_check(
            leaf, entry["leaf_index"], head.tree_size, path, head.root_hash
        )
        assert json.loads(entry["payload"])["uscc"] == firm_listing.enterprise.uscc


def test_verify_page_says_genuine_then_superseded_after_a_later_entry(client, make, firm_listing):
    number = report_json(client, firm_listing)["report_number"]
    page = client.get(f"/verify/{number}").get_data(as_text=True)
    assert "报告真实" in page and "已被取代" not in page
    reviewer = make.actor("reviewer")
    listings.remove_listing(make.session, reviewer, firm_listing, "提前移出")
    make.session.flush()
    page = client.get(f"/verify/{number}").get_data(as_text=True)
    assert "报告真实" in page and "已被取代" in page
    newer = report_json(client, firm_listing)
    assert [item["status"] for item in newer["listings"]] == ["removed"]


def test_tampering_with_an_entry_a_leaf_or_the_number_fails_verify(client, session, firm_listing):
    number = report_json(client, firm_listing)["report_number"]
    assert client.get(f"/verify/{number}").status_code == 200
    forged = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert client.get(f"/verify/{forged}").status_code == 404
    entry = session.scalar(
        select(LogEntry).where(
            LogEntry.entity_type == "listing", LogEntry.entity_id == firm_listing.id
        )
    )
    session.execute(
        update(LogEntry)
        .where(LogEntry.number == entry.number)
        .values(payload=entry.payload.replace("B3", "B2"))
    )
    session.expire_all()
    assert client.get(f"/verify/{number}").status_code == 404


def test_tampering_with_a_stored_leaf_fails_verify(client, session, firm_listing):
    number = report_json(client, firm_listing)["report_number"]
    session.execute(update(LogNode).where(LogNode.level == 0).values(hash="00" * 32))
    session.expire_all()
    assert client.get(f"/verify/{number}").status_code == 404


def upload(client, data: bytes, name: str):
    token = csrf_token(client)
    return client.post(
        "/verify",
        data={"csrf_token": token, "report": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_uploaded_json_is_genuine_and_an_edited_one_is_changed(client, firm_listing):
    document = report_json(client, firm_listing)
    raw = json.dumps(document, ensure_ascii=False).encode()
    assert "报告真实" in upload(client, raw, "r.json").get_data(as_text=True)
    document["listings"][0]["status"] = "removed"
    edited = json.dumps(document, ensure_ascii=False).encode()
    assert "报告已被改动" in upload(client, edited, "r.json").get_data(as_text=True)
    page = upload(client, b"\xff\xfe nonsense", "r.json")
    assert page.status_code == 200 and "没有这份报告" in page.get_data(as_text=True)


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    if shutil.which("pdftotext") or os.environ.get("CI") == "true":  # CI installs poppler
        out = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
        )
        return out.stdout.decode("utf-8")
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_pdf_shows_name_uscc_and_number_in_selectable_text_and_verifies(
    client, firm_listing, tmp_path
):
    document = report_json(client, firm_listing)
    number = document["report_number"]
    uscc = firm_listing.enterprise.uscc
    response = client.get(f"/enterprises/{uscc}/report.pdf?number={number}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    data = response.data
    assert b"/FontFile" in data  # the font is embedded
    text = re.sub(r"\s+", "", pdf_text(data, tmp_path))
    assert firm_listing.enterprise.name in text
    assert uscc in text
    assert number in text
    assert "报告真实" in upload(client, data, "r.pdf").get_data(as_text=True)
    changed = data.replace(b"/Author", b"/Autho2", 1)
    assert "报告已被改动" in upload(client, changed, "r.pdf").get_data(as_text=True)


def test_qr_code_in_the_pdf_decodes_to_the_verify_url(client, firm_listing):
    import zxingcpp
    from pypdf import PdfReader

    document = report_json(client, firm_listing)
    uscc, number = firm_listing.enterprise.uscc, document["report_number"]
    data = client.get(f"/enterprises/{uscc}/report.pdf?number={number}").data
    [image] = PdfReader(io.BytesIO(data)).pages[0].images
    [found] = zxingcpp.read_barcodes(image.image)
    assert found.text == document["verify_url"]
    path = found.text.split("://", 1)[1].split("/", 1)[1]
    assert "报告真实" in client.get("/" + path).get_data(as_text=True)
    page = client.get(f"/enterprises/{uscc}/report?number={number}")
    assert page.status_code == 200 and "<svg" in page.get_data(as_text=True)


def test_report_of_unknown_or_unpublished_firm_is_404(client, make):
    clerk = make.actor("clerk")
    draft = make.listing(clerk)
    assert client.get(f"/enterprises/{draft.enterprise.uscc}/report").status_code == 404
    assert client.get("/enterprises/91440300000000000X/report.json").status_code == 404


@pytest.mark.parametrize(
    "number",
    [
        "x",
        "",
        "9" * 500,
        "<script>",
        "91440300MA5FXXXX0X-1-20240101000000-abcdefabcdef",
        "../../etc",
    ],
)
def test_hostile_report_numbers_are_4xx(client, firm_listing, number):
    assert client.get(f"/verify/{number}").status_code in (404, 405) or number == ""
    uscc = firm_listing.enterprise.uscc
    assert (
        client.get(f"/enterprises/{uscc}/report.json", query_string={"number": number}).status_code
        == 404
    )
