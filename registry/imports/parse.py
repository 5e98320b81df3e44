"""Reading an import file: CSV in UTF-8 (with or without BOM), GB18030 (what
Chinese Excel writes) or UTF-16, or the first sheet of an XLSX workbook.

The result is a list of rows keyed by field name (``name``, ``uscc``, ...) with the row
number the clerk sees in Excel (the header is row 1). Cells are trimmed; Excel date cells
arrive as :class:`datetime.date`; nothing is interpreted beyond that (see validate.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import unicodedata
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from registry.errors import DomainError
from registry.messages import MessageError, _

# Field → accepted headers (compared after NFKC, case folding and removal of spaces and '*').
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("经营者名称", "name", "企业名称", "经营者", "单位名称"),
    "uscc": ("统一社会信用代码", "uscc", "信用代码", "社会信用代码"),
    "licence_no": ("许可证编号", "licence_no", "license_no", "许可证号", "经营许可证编号"),
    "list": ("名单类型", "list", "名单"),
    "ground": ("列入事由", "ground", "事由", "列入原因"),
    "decided_on": ("处理日期", "decided_on", "决定日期", "处罚日期"),
    "authority": ("列入单位", "authority", "列入机关"),
    "decision_no": ("处罚决定书文号", "decision_no", "文号", "决定书文号", "处罚文号"),
    "facts": ("违法事实", "facts", "事实"),
    "province": ("省份", "province", "所在省份"),
    # Grounds whose term follows the source decision (联合惩戒) need its end date.
    "source_expires_on": ("原决定截止日期", "source_expires_on", "截止日期"),
    # An enforcement campaign of the catalogue, by name or slug.
    "campaign": ("专项行动", "campaign"),
}

# Chinese label of each field, for messages about a column missing from the file.
FIELD_LABELS: dict[str, str] = {field: aliases[0] for field, aliases in HEADER_ALIASES.items()}

MAX_ROWS = 200_000


class ImportFileError(MessageError, DomainError):
    """The file as a whole cannot be read (format, encoding, header); `message` says why,
    translated where it is shown (`str()` is the Chinese text)."""


Cell = str | date | None


@dataclass(slots=True)
class Row:
    number: int  # as the clerk sees it in Excel: the header is row 1
    cells: dict[str, Cell]


@dataclass
class ParsedFile:
    kind: str  # csv | xlsx
    encoding: str | None
    headers: dict[str, str]  # field → header text as written in the file
    rows: list[Row]
    ignored_headers: list[str] = field(default_factory=list)
    # rows read as they are asked for (`open_path`), instead of `rows`: iterated once; a
    # broken record or a row past MAX_ROWS raises ImportFileError as the rows are read
    stream: Iterator[Row] | None = None
    sha256: str | None = None  # of a stream's bytes, once every row is read
    # lets go of a stream's file (also when the ParsedFile is dropped unclosed)
    _release: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    def each_row(self) -> Iterator[Row]:
        """The rows, from `stream` when the file is read as a stream."""
        return self.stream if self.stream is not None else iter(self.rows)

    def close(self) -> None:
        """Close a stream's file, read or not (a stream read to its end closes it itself;
        one read by a forked process, or left when the check stopped, does not)."""
        if self._release is not None:
            self._release()

    def column(self, field_name: str) -> str:
        """The column as the clerk sees it: the file's own header, else the Chinese label."""
        return self.headers.get(field_name) or FIELD_LABELS.get(field_name, field_name)


def _header_key(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).casefold()
    return "".join(ch for ch in text if not ch.isspace() and ch not in "*＊:：\ufeff")


_HEADER_LOOKUP = {
    _header_key(alias): field for field, aliases in HEADER_ALIASES.items() for alias in aliases
}


def _map_headers(header: list[Any]) -> tuple[dict[int, str], dict[str, str], list[str]]:
    positions: dict[int, str] = {}
    headers: dict[str, str] = {}
    ignored: list[str] = []
    for index, raw in enumerate(header):
        label = "" if raw is None else str(raw).strip()
        if not label:
            continue
        field_name = _HEADER_LOOKUP.get(_header_key(label))
        if field_name is None:
            ignored.append(label)
            continue
        if field_name in headers:
            raise ImportFileError(
                _(
                    "第1行：列“%(first)s”与“%(second)s”重复",
                    first=headers[field_name],
                    second=label,
                )
            )
        positions[index] = field_name
        headers[field_name] = label
    if not headers:
        raise ImportFileError(
            _(
                "第1行应为表头（经营者名称、统一社会信用代码、名单类型、列入事由、处理日期……），"
                "未找到可识别的列"
            )
        )
    return positions, headers, ignored


def _cell(value: Any) -> Cell:
    if type(value) is str:  # every cell of a CSV, most of a workbook's
        text = value.strip()
        if "\ufeff" in text:
            text = text.replace("\ufeff", "")
        return text or None
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().replace("\ufeff", "")
    return text or None


def _rows(records: Any, positions: dict[int, str]) -> list[Row]:
    return list(_each_row(records, positions))


def _each_row(records: Any, positions: dict[int, str]) -> Iterator[Row]:
    """The rows of `records` (the header read), one at a time; blank lines skipped."""
    kept = 0
    columns = list(positions.items())
    for number, record in enumerate(records, start=2):
        width = len(record)
        cells = {
            field_name: _cell(record[index]) if index < width else None
            for index, field_name in columns
        }
        if all(value is None for value in cells.values()):
            continue  # blank lines are not rows
        kept += 1
        if kept > MAX_ROWS:
            raise ImportFileError(_("文件超过%(max)s行，请拆分后导入", max=MAX_ROWS))
        yield Row(number, cells)


# --- CSV ------------------------------------------------------------------------------

_CHINESE_ENCODINGS = {"gb18030", "gbk", "gb2312", "hz", "cp936"}


def decode(data: bytes) -> tuple[str, str]:
    """Text and encoding of a CSV file: UTF-8 (BOM or not), UTF-16 with BOM, or GB18030."""
    boms = ((b"\xef\xbb\xbf", "utf-8-sig", "UTF-8"), (b"\xff\xfe", "utf-16", "UTF-16"))
    boms += ((b"\xfe\xff", "utf-16", "UTF-16"),)
    for bom, encoding, label in boms:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    _(
                        "文件以 %(encoding)s 标记开头，但第 %(byte)s 字节起不是有效的 "
                        "%(encoding)s 文本，请在 Excel 中另存为“CSV UTF-8”或 .xlsx",
                        encoding=label,
                        byte=exc.start + 1,
                    )
                ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    guess = (best.encoding if best else "").lower().replace("-", "").replace("_", "")
    # GB18030 is a superset of GBK and GB2312; try it first for Chinese guesses or none.
    candidates = ["gb18030"]
    if best is not None and guess not in _CHINESE_ENCODINGS:
        candidates.append(best.encoding)
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            continue
    raise ImportFileError(_("无法识别文件编码，请在 Excel 中另存为“CSV UTF-8”或 .xlsx"))


class _Semicolon(csv.excel):
    delimiter = ";"


def _dialect(sample: str) -> Any:
    """Excel's CSV dialect with the delimiter of the file's header line."""
    # Only the delimiter is sniffed (from the header line); quoting stays Excel's: the
    # sniffer guesses doublequote=False from a header without quotes, which would read the
    # cell "a""b" as a"b" instead of a"b.
    try:
        delimiter = (
            csv.Sniffer().sniff(sample.split("\n", 1)[0] or sample, delimiters=",\t;").delimiter
        )
    except csv.Error:
        delimiter = ","
    if delimiter == ",":
        return csv.excel
    return csv.excel_tab if delimiter == "\t" else _Semicolon


def _csv_error(exc: csv.Error) -> ImportFileError:
    return ImportFileError(_("CSV 格式错误：%(error)s", error=str(exc)))


def read_csv(data: bytes) -> ParsedFile:
    text, encoding = decode(data)
    dialect = _dialect(text[:20_000])
    # read as a stream: the rows are kept, not the records they are made from
    try:
        records = csv.reader(io.StringIO(text, newline=""), dialect)
        del text
        header = next(records, None)
        if header is None:
            raise ImportFileError(_("文件为空"))
        positions, headers, ignored = _map_headers(header)
        rows = _rows(records, positions)
    except csv.Error as exc:
        raise _csv_error(exc) from None
    return ParsedFile("csv", encoding, headers, rows, ignored)


class _Hashed(io.RawIOBase):
    """A binary file read through, with the SHA-256 of what was read. It reads at its own
    position (pread), not the file's offset: a forked process reads on from where it was
    forked, and another forked beside it does the same (registry.imports.validate parses
    a large file in two)."""

    def __init__(self, raw: io.FileIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = os.preadv(self.raw.fileno(), [buffer], self.position)
        self.position += count
        self.hash.update(memoryview(buffer)[:count])
        return count

    def close(self) -> None:
        self.raw.close()
        super().close()


def _open_csv(path: Path, encoding: str) -> ParsedFile:
    """The header of a CSV file in `encoding`, and its rows as a stream from the file."""
    with open(path, encoding=encoding, newline="") as head:
        dialect = _dialect(head.read(20_000))
    hashed = _Hashed(io.FileIO(path))
    handle = io.TextIOWrapper(io.BufferedReader(hashed), encoding=encoding, newline="")
    try:
        records = csv.reader(handle, dialect)
        header = next(records, None)
        if header is None:
            raise ImportFileError(_("文件为空"))
        positions, headers, ignored = _map_headers(header)
    except csv.Error as exc:
        handle.close()
        raise _csv_error(exc) from None
    except BaseException:
        handle.close()
        raise

    def stream(parsed: ParsedFile) -> Iterator[Row]:
        with handle:
            try:
                yield from _each_row(records, positions)
            except csv.Error as exc:
                raise _csv_error(exc) from None
            parsed.sha256 = hashed.hash.hexdigest()

    parsed = ParsedFile("csv", encoding, headers, [], ignored)
    parsed.stream = stream(parsed)
    parsed._release = weakref.finalize(parsed, handle.close)
    return parsed


# --- XLSX -----------------------------------------------------------------------------


def read_xlsx(data: bytes) -> ParsedFile:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike: a file the clerk can fix
        raise ImportFileError(
            _(
                "无法读取 Excel 文件（%(error)s），请用 Excel 另存为 .xlsx 后重试",
                error=type(exc).__name__,
            )
        ) from None
    try:
        if not workbook.worksheets:
            raise ImportFileError(_("工作簿没有工作表"))
        records = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(records, None)
        if header is None:
            raise ImportFileError(_("第一个工作表为空"))
        positions, headers, ignored = _map_headers(list(header))
        rows = _rows(records, positions)
    finally:
        workbook.close()
    return ParsedFile("xlsx", None, headers, rows, ignored)


def read_bytes(data: bytes, filename: str = "") -> ParsedFile:
    """Parse CSV or XLSX, recognised by content (the name only helps the error message)."""
    if not data:
        raise ImportFileError(_("文件为空"))
    if data.startswith(b"PK\x03\x04"):
        return read_xlsx(data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV UTF-8"))
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise ImportFileError(_("该文件不是有效的 .xlsx 文件"))
    return read_csv(data)


def _is_csv(data: bytes, filename: str) -> bool:
    """Whether `read_bytes` reads `data` as CSV (rather than refusing it or reading XLSX)."""
    if not data or data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return False
    return not filename.lower().endswith((".xlsx", ".xlsm"))


def _file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportFileError(
            _("无法读取文件 %(path)s：%(error)s", path=str(path), error=exc.strerror)
        ) from None


def read_path(path: str | Path) -> ParsedFile:
    path = Path(path)
    return read_bytes(_file_bytes(path), path.name)


def open_path(path: str | Path) -> ParsedFile:
    """`read_path` with the rows of a CSV file read as they are asked for (`stream`): its
    text and its rows are never held at once. The encoding is the one `read_path` finds
    (the whole file is decoded once to find it, then let go). An XLSX is read whole."""
    path = Path(path)
    data = _file_bytes(path)
    if not _is_csv(data, path.name):
        return read_bytes(data, path.name)
    _, encoding = decode(data)
    del data
    try:
        return _open_csv(path, encoding)
    except OSError as exc:
        raise ImportFileError(
            _("无法读取文件 %(path)s：%(error)s", path=str(path), error=exc.strerror)
        ) from None
