"""The firm report as PDF (fpdf2): Noto Sans CJK SC embedded as a subset, so the Chinese is
selectable and prints anywhere, and a QR code (segno) to the report's verification page.

The bytes depend on the report and its verification URL only (fixed creation date, no
random file id), so the verifier can rebuild a report's PDF from its number and compare an
uploaded file byte for byte. The report number is also in the document's subject, where
the verifier looks for it. No Flask here.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # fpdf2 and its font tools are imported when a PDF is made: a tenth of
    # a web worker's memory otherwise, in every worker, for a page few ask for
    from fpdf import FPDF

FONT = "noto-sans-sc"
SC_IN_COLLECTION = 2  # Noto Sans CJK: JP, KR, SC, TC, HK
LIST_LABELS = {"bad": "电信业务经营不良名单", "dishonest": "电信业务经营失信名单"}
STATUS_LABELS = {
    "in_force": "公示中",
    "removed": "已提前移出",
    "annulled": "已撤销",
    "expired": "已期满移出",
}
ACTION_LABELS = {"publish": "列入", "remove": "提前移出", "expire": "期满移出", "annul": "撤销"}


def font_path() -> str:
    import noto_cjk_sans_otc

    return str(noto_cjk_sans_otc.FONT_PATH)


def _qr_png(url: str) -> io.BytesIO:
    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=4, border=2)
    out.seek(0)
    return out


def _pair(pdf: FPDF, label: str, value: str, size: float = 10) -> None:
    pdf.set_font(FONT, size=size)
    pdf.multi_cell(0, size * 0.6, f"{label}：{value}", new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font(FONT, size=13)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")


def _listings(pdf: FPDF, listings: list[dict[str, Any]]) -> None:
    _heading(pdf, "名单记录")
    for item in listings:
        status = STATUS_LABELS.get(item.get("status", ""), item.get("status", ""))
        lines = [
            f"{LIST_LABELS.get(item.get('list') or '', item.get('list') or '')} · {status}",
            f"列入事由：{item.get('ground') or ''} {item.get('ground_title') or ''}",
            f"处理日期：{item.get('decided_on') or ''}  列入日期：{item.get('listed_on') or ''}"
            f"  公示截止：{item.get('expires_on') or '移出前持续公示'}",
            f"列入单位：{item.get('authority_name') or ''}",
        ]
        if item.get("decision_no"):
            lines.append(f"处罚决定书文号：{item['decision_no']}")
        if item.get("ended_on"):
            lines.append(f"移出日期：{item['ended_on']}")
        lines.append("公示日志条目：" + ", ".join(str(n) for n in item["entries"]))
        pdf.set_font(FONT, size=10)
        pdf.multi_cell(0, 6, "\n".join(lines), border=1, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)


def _proofs(pdf: FPDF, document: dict[str, Any]) -> None:
    head = document["tree_head"]
    _heading(pdf, "公示日志签名树头（RFC 9162，Ed25519）")
    for label, key in (
        ("日志条数", "tree_size"),
        ("根哈希", "root_hash"),
        ("时间戳（毫秒）", "timestamp"),
        ("公钥编号", "key_id"),
        ("签名", "signature"),
    ):
        _pair(pdf, label, str(head[key]), 8)
    _heading(pdf, "各条目的包含证明")
    for entry in document["entries"]:
        action = ACTION_LABELS.get(entry["action"], entry["action"])
        text = f"条目 {entry['number']}（{action}） entry_hash {entry['entry_hash']}\n" + "\n".join(
            entry["inclusion_path"]
        )
        pdf.set_font(FONT, size=7)
        pdf.multi_cell(0, 3.6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)


def render(document: dict[str, Any], verify_url: str) -> bytes:
    """The report as PDF bytes (A4)."""
    generated = datetime.fromisoformat(document["generated_at"])
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(generated)
    pdf.set_title(f"企业信用报告 {document['firm']['name']}")
    pdf.set_subject(document["report_number"])
    pdf.set_author("电信业务经营者信用名单")
    pdf.add_font(FONT, fname=font_path(), collection_font_number=SC_IN_COLLECTION)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font(FONT, size=18)
    pdf.cell(0, 12, "企业信用报告", new_x="LMARGIN", new_y="NEXT")
    pdf.image(_qr_png(verify_url), x=160, y=10, w=35)
    _pair(pdf, "报告编号", document["report_number"], 9)
    _pair(pdf, "生成时间", document["generated_at"], 9)
    _pair(pdf, "经营者名称", document["firm"]["name"] or "", 12)
    _pair(pdf, "统一社会信用代码", document["firm"]["uscc"], 12)
    _pair(pdf, "核验地址", verify_url, 9)
    pdf.ln(2)
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(
        0,
        5,
        "本报告依据公示日志生成：所列每一条目均附有其在签名树头下的包含证明，"
        "任何人可用公钥独立核验；扫描二维码或访问核验地址可查看本报告是否真实、"
        "是否已被后续记录取代。",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    _listings(pdf, document["listings"])
    _proofs(pdf, document)
    return bytes(pdf.output())


def attachment_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
