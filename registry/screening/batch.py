"""Screening a file of counterparties: rows in, best candidates per row out, nothing kept.

The file is read as an import file is (registry.imports.parse: CSV in UTF-8, GB18030 or
UTF-16, or the first XLSX sheet; the same column names: 经营者名称/name, 统一社会信用代码/
uscc, 许可证编号/licence_no, 省份/province). A row that cannot be screened, or only in part,
gets a message naming its row number; a file that cannot be read at all raises
ScreenFileError. The report is written as CSV or XLSX by `write_csv` / `write_xlsx`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from registry import text
from registry.errors import DomainError
from registry.imports import parse
from registry.messages import Message, MessageError, _
from registry.screening import lexicon
from registry.screening.match import DEFAULT_THRESHOLD, Query
from registry.screening.screen import CandidateSource, Result, match_one

MAX_ROWS = 10_000
CANDIDATES_PER_ROW = 3


class ScreenFileError(MessageError, DomainError):
    """The file as a whole cannot be screened; `message` says why."""


@dataclass
class ScreenRow:
    number: int  # as seen in Excel: the header is row 1
    query: Query
    results: list[Result] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    @property
    def best(self) -> Result | None:
        return self.results[0] if self.results else None


def read(data: bytes, filename: str) -> parse.ParsedFile:
    """The file's rows, or ScreenFileError (unreadable, no usable column, too many rows)."""
    if not data:
        raise ScreenFileError(_("文件为空"))
    try:
        parsed = parse.read_bytes(data, filename)
    except parse.ImportFileError as exc:
        raise ScreenFileError(exc.message) from None
    if not {"name", "uscc", "licence_no"} & set(parsed.headers):
        raise ScreenFileError(
            _("第1行应有“经营者名称”“统一社会信用代码”或“许可证编号”列（表头），未找到")
        )
    if len(parsed.rows) > MAX_ROWS:
        raise ScreenFileError(
            _("一次最多筛查 %(max)d 行，文件有 %(n)d 行", max=MAX_ROWS, n=len(parsed.rows))
        )
    if not parsed.rows:
        raise ScreenFileError(_("文件只有表头，没有要筛查的行"))
    return parsed


def _cell(row: parse.Row, name: str) -> str:
    value = row.cells.get(name)
    return "" if value is None else str(value)[:200]


def _province(value: str) -> str | None:
    """A province as a GB/T 2260 code, from the code or a place name; None if unknown."""
    value = value.strip()
    if len(value) == 6 and value.isdigit():
        return value[:2] + "0000"
    for suffix in ("", *lexicon.REGION_SUFFIXES):
        place = lexicon.region_names().get(value.removesuffix(suffix) if suffix else value)
        if place:
            return place[0]
    return None


def _query(row: parse.Row) -> tuple[Query, list[Message]]:
    messages: list[Message] = []
    name, uscc = _cell(row, "name"), _cell(row, "uscc")
    licence, province = _cell(row, "licence_no"), _cell(row, "province")
    if uscc:
        try:
            text.validate_uscc(uscc)
        except text.InvalidUscc as exc:
            messages.append(
                _("第%(row)d行：%(problem)s；只按名称筛查", row=row.number, problem=exc.message)
            )
            uscc = ""
    code = ""
    if province:
        code = _province(province) or ""
        if not code:
            messages.append(
                _(
                    "第%(row)d行：省份“%(value)s”无法识别，未使用",
                    row=row.number,
                    value=province[:50],
                )
            )
    return Query(name=name, uscc=uscc, licence_no=licence, province=code), messages


def screen_rows(
    index: CandidateSource, parsed: parse.ParsedFile, threshold: float = DEFAULT_THRESHOLD
) -> Iterator[ScreenRow]:
    """Every row screened, one at a time, in the file's order."""
    for row in parsed.rows:
        query, messages = _query(row)
        screened = ScreenRow(row.number, query, messages=messages)
        if not (query.name or query.uscc or query.licence_no):
            screened.messages.append(
                _("第%(row)d行：没有名称、统一社会信用代码或许可证编号，已跳过", row=row.number)
            )
        else:
            screened.results = match_one(index, query, threshold, CANDIDATES_PER_ROW)
        yield screened


def screen(
    index: CandidateSource, parsed: parse.ParsedFile, threshold: float = DEFAULT_THRESHOLD
) -> list[ScreenRow]:
    """Every row screened."""
    return list(screen_rows(index, parsed, threshold))


def table(
    rows: list[ScreenRow], lists: dict[int, list[str]], translate: Callable[[Message], str]
) -> list[list[str]]:
    """The report as rows of text, header first (the same for CSV and XLSX)."""
    header = [
        "row",
        "name",
        "uscc",
        "match",
        "score",
        "candidate_name",
        "candidate_uscc",
        "lists",
        "explanations",
        "messages",
    ]
    out = [header]
    for row in rows:
        best = row.best
        in_force = lists.get(best.enterprise_id, []) if best else []
        out.append(
            [
                str(row.number),
                row.query.name,
                row.query.uscc,
                "yes" if best and best.match and in_force else "no",
                f"{best.score:.4f}" if best else "",
                best.name if best else "",
                (best.uscc or "") if best else "",
                " ".join(in_force),
                "; ".join(f"{e['feature']}:{e['result']}" for e in best.explanations)
                if best
                else "",
                " ".join(translate(m) for m in row.messages),
            ]
        )
    return out


def _safe(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def write_csv(cells: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in cells:
        writer.writerow([_safe(c) for c in line])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_xlsx(cells: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("screening")
    for line in cells:
        sheet.append([_safe(c) for c in line])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def watch_lists(rows: list[ScreenRow], lists: dict[int, list[str]]) -> dict[str, list[str]]:
    """The firms a report can be saved as a watchlist with, one line each, repeats dropped:
    "matched" are the USCCs of the listed firms that rows matched; "all" is every row, by its
    USCC when it has a valid one, else by its name."""
    matched = [
        r.best.uscc
        for r in rows
        if r.best and r.best.match and r.best.uscc and lists.get(r.best.enterprise_id)
    ]
    every = [r.query.uscc or r.query.name for r in rows if r.query.uscc or r.query.name.strip()]
    return {"matched": list(dict.fromkeys(matched)), "all": list(dict.fromkeys(every))}
