"""Checking every row of an import before anything is written.

The database is read in a few preloading queries (authorities, grounds, the firms, licences,
decision numbers and listings the file mentions), not once per row, so that checking an
11,000-row quarterly list takes seconds. The result is a :class:`Plan`: the good rows ready
to apply, the rows that already exist (skipped, idempotent re-import) and every problem with
its row number, column and reason (a Message, in the reader's language where it is shown).
"""

from __future__ import annotations

import itertools
import pickle
import re
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import rules, text
from registry.imports.parse import FIELD_LABELS, ParsedFile, Row
from registry.messages import Message, MessageError, _
from registry.models import Authority, Campaign, Enterprise, Ground, Licence, Listing, Sanction
from registry.rules import Actor
from registry.services.import_batches import REPORT_LIMIT

LIST_NAMES = {
    "bad": "bad",
    "不良名单": "bad",
    "不良": "bad",
    "电信业务经营不良名单": "bad",
    "dishonest": "dishonest",
    "失信名单": "dishonest",
    "失信": "dishonest",
    "电信业务经营失信名单": "dishonest",
}
_PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
_DATE_RES = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
)
_TIME_SUFFIX_RE = re.compile(r"\s+0{1,2}:00(:00)?$")
CHUNK = 500
# The warnings kept with their row and reason: every report shows fewer (the batch's row
# report keeps the first REPORT_LIMIT problems, in row order; the pages and the command
# line fewer still) and counts the rest. A file of 100,000 late rows would otherwise hold
# 100,000 messages (90 MB).
WARNINGS_KEPT = REPORT_LIMIT


@dataclass(frozen=True, slots=True)
class ImportProblem:
    row: int  # 1 is the header row
    column: str  # the header as written in the file
    message: str  # a Message, or text already in the reader's language
    severity: str = "error"  # error | warning

    def describe(self) -> Message:
        """Row, column, kind and reason in one line (the command line prints it)."""
        where = {"row": self.row, "column": self.column, "message": self.message}
        if self.severity == "error":
            return _("第%(row)s行 · %(column)s · 错误：%(message)s", **where)
        return _("第%(row)s行 · %(column)s · 警告：%(message)s", **where)

    def __str__(self) -> str:
        return self.describe()


@dataclass(slots=True)
class PlannedRow:
    """One good row, resolved against the catalogue and the database (its fields in the
    order of _Cells' and of a packed row's: _Packed builds it positionally)."""

    number: int
    name: str
    uscc: str | None
    licence_no: str | None
    licence_key: str | None
    list_code: str
    ground: Ground
    decided_on: date
    authority: Authority
    province_code: str | None
    decision_no: str | None
    decision_key: str | None
    facts: str
    source_expires_on: date | None
    campaign: Campaign | None
    firm_key: str
    add_licence: bool  # the licence is new and belongs to this row's firm
    enterprise: Enterprise | None  # already in the database
    sanction: Sanction | None  # already in the database


# What the check found of a good row beyond its cells: the stored firm and decision it
# names, and whether its licence is to be added.
_Verdict = tuple[Enterprise | None, Sanction | None, bool]


# the verdict of a row naming nothing stored (most of a first import), made once
_NEW: dict[bool, _Verdict] = {True: (None, None, True), False: (None, None, False)}


@dataclass
class Plan:
    total: int
    rows: list[PlannedRow] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # row numbers already in the database
    # every error; the warnings of the first rows (WARNINGS_KEPT), the others only counted
    problems: list[ImportProblem] = field(default_factory=list)
    warning_count: int = 0  # every warning, kept or not
    # decision number key → (date, facts) of its earliest row: the penalty's own date
    new_sanctions: dict[str, tuple[date, str]] = field(default_factory=dict)
    planned: int = 0  # the good rows: `rows`, or the rows `chunks` reads again
    authorities: dict[int, Authority] = field(default_factory=dict)  # of the good rows
    known_firms: dict[str, Enterprise] = field(default_factory=dict)  # USCC → stored firm
    # firm key / new decision key → the number of the last good row naming it
    last_firm_row: dict[str, int] = field(default_factory=dict)
    last_decision_row: dict[str, int] = field(default_factory=dict)
    # A plan checked from a stream: its good rows are not held but spooled, a chunk at a
    # time, to an unnamed file that `chunks` reads back (what the check found is kept by
    # number): the rows written are the rows checked, and the file is neither read nor
    # parsed again.
    spool: _Spool | None = None
    verdicts: dict[int, _Verdict] = field(default_factory=dict)  # of spooled rows: stored ones

    def keep(self, c: _Cells, verdict: _Verdict) -> None:
        """A good row: as a PlannedRow, or (spooled) what the check found."""
        self.planned += 1
        self.authorities.setdefault(c.authority.id, c.authority)
        firm, _, _ = verdict
        if firm is not None and c.uscc:
            self.known_firms[c.uscc] = firm
        self.last_firm_row[c.firm_key] = c.number
        if c.decision_key:
            self.last_decision_row[c.decision_key] = c.number
        if self.spool is None:
            self.rows.append(_planned(c, verdict))
            return
        self.spool.add(c, verdict[2])
        if verdict[0] is not None or verdict[1] is not None:  # most rows name nothing stored
            self.verdicts[c.number] = verdict

    def chunks(self, size: int) -> Iterator[list[PlannedRow]]:
        """The good rows in file order, `size` at a time (a spooled plan's read back)."""
        if self.spool is None:
            for start in range(0, len(self.rows), size):
                yield self.rows[start : start + size]
            return
        chunk: list[PlannedRow] = []
        for row in self.spool.planned(self.verdicts):
            chunk.append(row)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    @property
    def errors(self) -> list[ImportProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[ImportProblem]:
        """The warnings kept (the first WARNINGS_KEPT; `warning_count` counts them all)."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def problem_count(self) -> int:
        """Every problem, the warnings not kept included."""
        return len(self.problems) + self.warning_count - len(self.warnings)

    def warn(self, problem: Callable[[], ImportProblem]) -> None:
        """Count a warning; keep it (made by `problem`) while fewer than WARNINGS_KEPT are."""
        self.warning_count += 1
        if self.warning_count <= WARNINGS_KEPT:
            self.problems.append(problem())

    @property
    def bad_rows(self) -> set[int]:
        return {p.row for p in self.errors}


# --- catalogue lookups ----------------------------------------------------------------


@lru_cache(maxsize=4096)
def _key(value: str) -> str:
    return text.normalize(value).replace(" ", "")


def _province_names(authority: Authority) -> list[str]:
    full = authority.name.removesuffix("通信管理局")
    names = [full, authority.short, authority.code, authority.name]
    for suffix in _PROVINCE_SUFFIXES:
        if full.endswith(suffix) and len(full) > len(suffix):
            names.append(full.removesuffix(suffix))
            break
    return names


class Catalogue:
    """Authorities, grounds, provinces and campaigns, loaded once."""

    def __init__(self, session: Session) -> None:
        self.authorities = list(session.scalars(select(Authority)))
        self.grounds = list(session.scalars(select(Ground)))
        self.campaigns = list(session.scalars(select(Campaign).order_by(Campaign.slug)))
        self.campaign_by_key: dict[str, Campaign] = {}
        for campaign in self.campaigns:
            self.campaign_by_key[_key(campaign.name)] = campaign
            self.campaign_by_key[_key(campaign.slug)] = campaign
        self.authority_by_key: dict[str, Authority] = {}
        for authority in self.authorities:
            self.authority_by_key[_key(authority.code)] = authority
            self.authority_by_key[_key(authority.name)] = authority
        self.ground_by_key: dict[str, Ground] = {}
        for ground in self.grounds:
            self.ground_by_key[_key(ground.code)] = ground
            self.ground_by_key[_key(ground.title)] = ground
        self.province_by_key: dict[str, str] = {}
        for authority in self.authorities:
            if authority.level != "province":
                continue
            for name in _province_names(authority):
                self.province_by_key[_key(name)] = authority.province_code

    def authority(self, value: str) -> Authority | None:
        return self.authority_by_key.get(_key(value))

    def ground(self, value: str) -> Ground | None:
        return self.ground_by_key.get(_key(value))

    def province(self, value: str) -> str | None:
        return self.province_by_key.get(_key(value))

    def campaign(self, value: str) -> Campaign | None:
        return self.campaign_by_key.get(_key(value))


# --- cell parsing ---------------------------------------------------------------------


class CellError(MessageError, ValueError):
    """A cell that cannot be read; `message` says why (`str()` is the Chinese text)."""


def parse_date(value: str | date) -> date:
    """``YYYY-MM-DD``, ``YYYY/M/D``, ``YYYY.M.D``, ``YYYY年M月D日`` or an Excel date cell."""
    if isinstance(value, date):
        return value
    raw = _TIME_SUFFIX_RE.sub("", text.clean_display(value))
    for pattern in _DATE_RES:
        match = pattern.match(raw)
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                raise CellError(_("日期“%(value)s”不存在", value=value)) from None
    raise CellError(
        _(
            "日期“%(value)s”格式不正确，应为 2020-03-15、2020/3/15 或 2020年3月15日",
            value=value,
        )
    )


def _chunks(values: Iterable, size: int = CHUNK) -> Iterator[list]:
    batch: list = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- first pass: each cell on its own ------------------------------------------------


@dataclass(slots=True)
class _Cells:
    """First pass: a row's cells parsed on their own, without the database."""

    number: int  # the row's, as the clerk sees it (the header is row 1)
    name: str = ""
    uscc: str | None = None
    licence_no: str | None = None
    licence_key: str | None = None
    list_code: str | None = None
    ground: Ground | None = None
    decided_on: date | None = None
    authority: Authority | None = None
    province_code: str | None = None
    decision_no: str | None = None
    decision_key: str | None = None
    facts: str = ""
    source_expires_on: date | None = None
    campaign: Campaign | None = None
    _firm_key: str | None = None

    @property
    def firm_key(self) -> str:
        """ "U:" and the USCC, else "L:" and the licence key (made once: the checks keep it
        in several maps, one string for all)."""
        key = self._firm_key
        if key is None:
            key = self._firm_key = f"U:{self.uscc}" if self.uscc else f"L:{self.licence_key}"
        return key


class _Packed:
    """A row's cells as a plain tuple, the way they cross the forked parser's pipe and go to
    the spool: _Cells' fields in order with the catalogue's entries by id, then whether the
    row's licence is to be added. `pack` and `cells` are each other's inverse."""

    def __init__(self, catalogue: Catalogue, default: Authority | None) -> None:
        self.authorities: dict[int | None, Authority | None] = {
            a.id: a for a in catalogue.authorities
        }
        if default is not None:
            self.authorities[default.id] = default
        self.authorities[None] = None
        self.grounds: dict[int | None, Ground | None] = {g.id: g for g in catalogue.grounds}
        self.grounds[None] = None
        self.campaigns: dict[int | None, Campaign | None] = {c.id: c for c in catalogue.campaigns}
        self.campaigns[None] = None

    @staticmethod
    def pack(c: _Cells, add_licence: bool = False) -> tuple[Any, ...]:
        """The firm key goes as made so far: a good row's is (Plan.keep asks for it)."""
        ground, authority, campaign = c.ground, c.authority, c.campaign
        return (
            (c.number, c.name, c.uscc, c.licence_no, c.licence_key, c.list_code)
            + (ground.id if ground is not None else None, c.decided_on)
            + (authority.id if authority is not None else None, c.province_code)
            + (c.decision_no, c.decision_key, c.facts, c.source_expires_on)
            + (campaign.id if campaign is not None else None, c._firm_key, add_licence)
        )

    def _resolved(self, v: tuple[Any, ...]) -> tuple[Any, ...]:
        """A packed row with the catalogue's entries for their ids."""
        return (
            *v[:6],
            self.grounds[v[6]],
            v[7],
            self.authorities[v[8]],
            *v[9:14],
            self.campaigns[v[14]],
            *v[15:],
        )

    def cells(self, v: tuple[Any, ...]) -> _Cells:
        """The _Cells of a packed row (its last item, add_licence, is not one of them)."""
        return _Cells(*self._resolved(v)[:-1])

    def planned(
        self, v: tuple[Any, ...], firm: Enterprise | None, sanction: Sanction | None
    ) -> PlannedRow:
        """The PlannedRow of a packed good row and the stored firm and decision it names."""
        return PlannedRow(*self._resolved(v), firm, sanction)


class _Spool:
    """The good rows of a plan checked from a stream, packed (_Packed) and pickled CHUNK at
    a time into an unnamed temporary file. The stored firm and decision a row names stay
    in memory (the plan's `verdicts`): they are the session's objects."""

    def __init__(self, packed: _Packed) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed once read back
        # or when the plan goes unread (a dry run, a failed check)
        weakref.finalize(self, self.file.close)
        self.packed = packed
        self.pending: list[tuple[Any, ...]] = []

    def add(self, c: _Cells, add_licence: bool) -> None:
        self.pending.append(self.packed.pack(c, add_licence))
        if len(self.pending) == CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            pickle.dump(self.pending, self.file, protocol=pickle.HIGHEST_PROTOCOL)
            self.pending = []

    def planned(self, verdicts: dict[int, _Verdict]) -> Iterator[PlannedRow]:
        """The rows in the order they were added, once (the file is closed at the end);
        each row's verdict taken out of `verdicts`."""
        self._flush()
        self.file.seek(0)
        planned = self.packed.planned
        while True:
            try:
                # nosec B301: pickled by this process into a file only it named
                rows = pickle.load(self.file)  # nosec B301
            except EOFError:
                break
            for row in rows:
                firm, sanction, _ = verdicts.pop(row[0], _NEW[False])
                yield planned(row, firm, sanction)
        self.file.close()


def _required_columns(
    parsed: ParsedFile, default_authority: Authority | None
) -> list[ImportProblem]:
    problems = []
    required = ["name", "list", "ground", "decided_on"]
    if default_authority is None:
        required.append("authority")
    for name in required:
        if name not in parsed.headers:
            label = FIELD_LABELS[name]
            message = (
                _("缺少必填列“%(label)s”（或使用 --authority 指定）", label=label)
                if name == "authority"
                else _("缺少必填列“%(label)s”", label=label)
            )
            problems.append(ImportProblem(1, label, message))
    if "uscc" not in parsed.headers and "licence_no" not in parsed.headers:
        problems.append(
            ImportProblem(
                1,
                FIELD_LABELS["uscc"],
                _("缺少“统一社会信用代码”或“许可证编号”列"),
            )
        )
    return problems


class _FirstPass:
    """What the column parsers share: the file, the catalogue, the authority given on the
    command line, today, and the problems found so far."""

    def __init__(
        self,
        parsed: ParsedFile,
        catalogue: Catalogue,
        default_authority: Authority | None,
        on: date,
    ) -> None:
        self.parsed = parsed
        self.catalogue = catalogue
        self.default_authority = default_authority
        self.on = on
        self.problems: list[ImportProblem] = []

    def error(self, c: _Cells, field_name: str, message: Message) -> None:
        self.problems.append(ImportProblem(c.number, self.parsed.column(field_name), message))


def _cell(row: Row, field_name: str) -> str | date | None:
    """The cell as read: text, a date (Excel) or None when empty."""
    return row.cells.get(field_name)


def _text(row: Row, field_name: str) -> str:
    """The cell as display text ("" when empty; an Excel date as YYYY-MM-DD)."""
    value = row.cells.get(field_name)
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else text.clean_display(value)


def _name(p: _FirstPass, c: _Cells, raw: str) -> None:
    c.name = raw
    if not raw:
        p.error(c, "name", _("必填项“经营者名称”为空"))
    elif len(raw) < 2 or len(raw) > 200:
        p.error(c, "name", _("经营者名称应为2–200个字符"))


def _uscc(p: _FirstPass, c: _Cells, raw: str) -> None:
    if raw:
        try:
            c.uscc = text.validate_uscc(raw)
        except text.InvalidUscc as exc:
            p.error(c, "uscc", exc.message)


def _document_number(
    column: str,
    key: str,
    canonical: Callable[[str], str],
    longest: int,
    incomplete: Callable[[str], Message],
) -> Callable[[_FirstPass, _Cells, str], None]:
    """The parser of a printed document number in `column`: kept as printed, its canonical
    form in `key` when 4 to `longest` characters long, else the `incomplete` problem."""

    def parse(p: _FirstPass, c: _Cells, raw: str) -> None:
        if raw:
            setattr(c, column, raw)
            canonical_form = canonical(raw)
            if 4 <= len(canonical_form) <= longest:
                setattr(c, key, canonical_form)
            else:
                p.error(c, column, incomplete(raw))

    return parse


_licence_no = _document_number(
    "licence_no",
    "licence_key",
    text.canonical_licence,
    60,
    lambda raw: _("许可证编号“%(number)s”不完整", number=raw),
)


def _firm_identified(p: _FirstPass, c: _Cells, raw_uscc: str) -> None:
    """A row check: the firm needs a USCC or a licence number (the licence parser ran)."""
    if not raw_uscc and c.licence_no is None:
        p.error(c, "uscc", _("统一社会信用代码和许可证编号至少填写一项"))


def _list(p: _FirstPass, c: _Cells, raw: str) -> None:
    if not raw:
        p.error(c, "list", _("必填项“名单类型”为空"))
        return
    c.list_code = LIST_NAMES.get(_key(raw))
    if c.list_code is None:
        p.error(c, "list", _("未知的名单类型“%(value)s”，应为“不良名单”或“失信名单”", value=raw))


def _ground(p: _FirstPass, c: _Cells, raw: str) -> None:
    """The ground by code or title: active, and of the row's list (the list parser ran)."""
    if not raw:
        p.error(c, "ground", _("必填项“列入事由”为空"))
        return
    ground = p.catalogue.ground(raw)
    if ground is None:
        codes = tuple(g.code for g in p.catalogue.grounds if g.active)
        p.error(
            c,
            "ground",
            _(
                "未知的列入事由“%(value)s”，应为事由代码（%(codes)s）或目录中的事由全文",
                value=raw,
                codes=codes,
            ),
        )
    elif not ground.active:
        p.error(c, "ground", _("列入事由 %(code)s 已停用", code=ground.code))
    elif c.list_code and ground.list_code != c.list_code:
        p.error(
            c,
            "ground",
            _("列入事由 %(code)s 属于不良名单，与名单类型不符", code=ground.code)
            if ground.list_code == "bad"
            else _("列入事由 %(code)s 属于失信名单，与名单类型不符", code=ground.code),
        )
    else:
        c.ground = ground


def _decided_on(p: _FirstPass, c: _Cells, raw: str | date | None) -> None:
    if raw is None:
        p.error(c, "decided_on", _("必填项“处理日期”为空"))
        return
    try:
        decided_on = parse_date(raw)
    except CellError as exc:
        p.error(c, "decided_on", exc.message)
        return
    if decided_on > p.on:
        p.error(
            c,
            "decided_on",
            _("处理日期%(date)s晚于今天，不能列入", date=decided_on.isoformat()),
        )
    else:
        c.decided_on = decided_on


def _authority(p: _FirstPass, c: _Cells, raw: str) -> None:
    if raw:
        c.authority = p.catalogue.authority(raw)
        if c.authority is None:
            p.error(
                c,
                "authority",
                _("未知的列入单位“%(value)s”，应为机构代码（如 440000、MIIT）或全称", value=raw),
            )
    elif p.default_authority is not None:
        c.authority = p.default_authority
    else:
        p.error(c, "authority", _("必填项“列入单位”为空（或使用 --authority 指定）"))


def _province(p: _FirstPass, c: _Cells, raw: str) -> None:
    """The province by name, short name or code; else the authority's (its parser ran)."""
    if raw:
        c.province_code = p.catalogue.province(raw)
        if c.province_code is None:
            p.error(
                c,
                "province",
                _(
                    "未知的省份“%(value)s”，应为省名（广东省）、简称（粤、广东）或行政区划代码",
                    value=raw,
                ),
            )
    elif c.authority is not None:
        c.province_code = c.authority.province_code


_decision_no = _document_number(
    "decision_no",
    "decision_key",
    text.canonical_decision_no,
    80,
    lambda raw: _("处罚决定书文号“%(number)s”不完整", number=raw),
)


def _facts(p: _FirstPass, c: _Cells, raw: str) -> None:
    c.facts = raw.strip()


def _source_expires_on(p: _FirstPass, c: _Cells, raw: str | date | None) -> None:
    if raw is not None:
        try:
            c.source_expires_on = parse_date(raw)
        except CellError as exc:
            p.error(c, "source_expires_on", exc.message)


def _campaign(p: _FirstPass, c: _Cells, raw: str) -> None:
    """A campaign of the catalogue, by name or slug."""
    if not raw:
        return
    c.campaign = p.catalogue.campaign(raw)
    if c.campaign is None:
        slugs = tuple(campaign.slug for campaign in p.catalogue.campaigns)
        p.error(
            c,
            "campaign",
            _(
                "未知的专项行动“%(value)s”，应为目录中专项行动的名称或标识（%(slugs)s）",
                value=raw[:200],
                slugs=slugs,
            ),
        )


def _source_term(p: _FirstPass, c: _Cells, raw: str | date | None) -> None:
    """A row check: a ground whose term is the source decision's needs that decision's
    end date, still to come (the ground and source_expires_on parsers ran)."""
    if c.ground is None or c.ground.term_kind != "source":
        return
    code = c.ground.code
    if c.source_expires_on is None and raw is None:
        p.error(
            c,
            "source_expires_on",
            _(
                "列入事由 %(code)s 的期限以原决定为准，请在“原决定截止日期”列填写原决定的截止日期",
                code=code,
            ),
        )
    elif c.source_expires_on is not None and c.source_expires_on <= p.on:
        p.error(
            c,
            "source_expires_on",
            _("原决定已于%(date)s截止，不能再列入", date=c.source_expires_on.isoformat()),
        )


_Reader = Callable[[Row, str], Any]
_Parser = Callable[[_FirstPass, _Cells, Any], None]

# (column, how its cell is read, parser), run in this order on every row: a parser may use
# what the ones above it set; a row's problems are listed in this order.
_COLUMNS: tuple[tuple[str, _Reader, _Parser], ...] = (
    ("name", _text, _name),
    ("uscc", _text, _uscc),
    ("licence_no", _text, _licence_no),
    ("uscc", _text, _firm_identified),
    ("list", _text, _list),
    ("ground", _text, _ground),
    ("decided_on", _cell, _decided_on),
    ("authority", _text, _authority),
    ("province", _text, _province),
    ("decision_no", _text, _decision_no),
    ("facts", _text, _facts),
    ("source_expires_on", _cell, _source_expires_on),
    ("source_expires_on", _cell, _source_term),
    ("campaign", _text, _campaign),
)


def _parsed_cells(check: _FirstPass, rows: Iterable[Row]) -> Iterator[_Cells]:
    """Each row's cells parsed on their own (the problems go to `check`)."""
    for row in rows:
        c = _Cells(row.number)
        for field_name, read, parse in _COLUMNS:
            parse(check, c, read(row, field_name))
        yield c


_FirstChunk = tuple[list[_Cells], list[ImportProblem]]


# Forked processes parsing a large file's chunks in turn (chunk i by process i % _PARSERS):
# the cells' parsing and checks cost twice this process's checks against the database.
_PARSERS = 2


def _first_pass(check: _FirstPass, aside: bool) -> Iterator[_FirstChunk]:
    """The file's rows CHUNK at a time, their cells parsed on their own, with the chunk's
    problems. `aside`: parsed in forked processes (the second core) while this one checks
    the chunks before against the database; the same cells and problems."""
    if not aside:
        for rows in _chunks(check.parsed.each_row()):
            yield _parsed_chunk(check, rows)
        return
    from registry import forked

    cells_of = _Packed(check.catalogue, check.default_authority).cells
    parsers = [forked.stream(_first_pass_sent, check, k, _PARSERS) for k in range(_PARSERS)]
    try:
        for parser in itertools.cycle(parsers):
            values, found, sha256 = next(parser)
            if sha256 is not None:  # the end (no chunk of that turn): the bytes read
                check.parsed.sha256 = sha256
                return
            yield [cells_of(v) for v in values], found
    finally:
        for parser in parsers:
            parser.close()
        check.parsed.close()  # the children read the file; this process never will


def _parsed_chunk(check: _FirstPass, rows: list[Row]) -> _FirstChunk:
    """A chunk's rows, their cells parsed, with the problems found in them."""
    cells = list(_parsed_cells(check, rows))
    found, check.problems = check.problems, []
    return cells, found


def _first_pass_sent(
    check: _FirstPass, part: int, parts: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[ImportProblem], str | None]]:
    """`_first_pass` as a forked process sends it: each row's cells packed (_Packed), of
    the chunks whose number is `part` modulo `parts` (every row is read, to know where the
    chunks begin); then the file's SHA-256."""
    pack = _Packed.pack
    for number, rows in enumerate(_chunks(check.parsed.each_row())):
        if number % parts == part:
            cells, found = _parsed_chunk(check, rows)
            yield [pack(c) for c in cells], found, None
    yield [], [], check.parsed.sha256


# --- second pass: each row against the database and the rows before it -------------------


@dataclass
class _Known:
    """What the database already knows about the firms, licences and decisions of a file."""

    by_uscc: dict[str, Enterprise] = field(default_factory=dict)
    by_id: dict[int, Enterprise] = field(default_factory=dict)
    licences: dict[str, Licence] = field(default_factory=dict)
    sanctions: dict[str, Sanction] = field(default_factory=dict)
    # (firm id, list, ground id, decision date) of the firms' listings not annulled
    listing_keys: set[tuple[int, str, int, date]] = field(default_factory=set)


def _preload(session: Session, cells: list[_Cells], known: _Known) -> None:
    """What the database knows of the firms, licences and decisions `cells` name, added to
    `known`: a few queries in chunks of CHUNK keys, not one per row. Only what this call
    finds is looked at again (what earlier calls found is in `known` already)."""
    by_id = known.by_id
    added: set[int] = set()  # firms new to `by_id`
    for batch in _chunks({c.uscc for c in cells if c.uscc and c.uscc not in known.by_uscc}):
        for firm in session.scalars(select(Enterprise).where(Enterprise.uscc.in_(batch))):
            known.by_uscc[firm.uscc] = firm
            if firm.id not in by_id:
                by_id[firm.id] = firm
                added.add(firm.id)
    owners: set[int] = set()
    licence_keys = {c.licence_key for c in cells if c.licence_key} - known.licences.keys()
    for batch in _chunks(licence_keys):
        for licence in session.scalars(select(Licence).where(Licence.number_canonical.in_(batch))):
            known.licences[licence.number_canonical] = licence
            owners.add(licence.enterprise_id)
    for batch in _chunks(owners - by_id.keys()):
        for firm in session.scalars(select(Enterprise).where(Enterprise.id.in_(batch))):
            by_id[firm.id] = firm
            added.add(firm.id)
    decision_keys = {c.decision_key for c in cells if c.decision_key} - known.sanctions.keys()
    for batch in _chunks(decision_keys):
        for sanction in session.scalars(
            select(Sanction).where(Sanction.decision_no_canonical.in_(batch))
        ):
            known.sanctions[sanction.decision_no_canonical] = sanction
    for batch in _chunks(added):
        known.listing_keys.update(
            tuple(key)
            for key in session.execute(
                select(
                    Listing.enterprise_id, Listing.list_code, Listing.ground_id, Listing.decided_on
                ).where(Listing.enterprise_id.in_(batch), Listing.state != "annulled")
            )
        )


@dataclass
class _SecondPass:
    """The rows that passed the first pass, one by one, into `plan`: the firm, licence and
    decision each names, checked against the database and the rows before it."""

    parsed: ParsedFile
    known: _Known
    publisher: Actor | None
    on: date
    plan: Plan
    seen_rows: dict[tuple[str, str, int, date], int] = field(default_factory=dict)
    # licence key → (firm key, first row)
    licence_owner: dict[str, tuple[str, int]] = field(default_factory=dict)
    # decision key → (firm key, authority, row)
    decision_owner: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    new_licences: set[str] = field(default_factory=set)

    def problem(
        self, c: _Cells, field_name: str, message: Message, severity: str = "error"
    ) -> ImportProblem:
        return ImportProblem(c.number, self.parsed.column(field_name), message, severity)

    def add(self, c: _Cells) -> None:
        errors: list[ImportProblem] = []
        firm, licence = self._firm(c, errors)
        self._duplicate(c, errors)
        sanction = self._decision(c, firm, errors)
        self._publisher(c, errors)
        if errors:
            self.plan.problems.extend(errors)
        elif firm is not None and (
            (firm.id, c.list_code, c.ground.id, c.decided_on) in self.known.listing_keys
        ):
            self.plan.unchanged.append(c.number)
        else:
            self._plan_row(c, firm, licence, sanction)

    def _firm(
        self, c: _Cells, errors: list[ImportProblem]
    ) -> tuple[Enterprise | None, Licence | None]:
        """Which firm: by USCC, else by licence number; a licence is one firm's."""
        firm = self.known.by_uscc.get(c.uscc) if c.uscc else None
        licence = self.known.licences.get(c.licence_key) if c.licence_key else None
        if licence is not None:
            owner = self.known.by_id.get(licence.enterprise_id) or licence.enterprise
            if firm is None and not c.uscc:
                firm = owner
            elif owner is not firm:
                errors.append(
                    self.problem(
                        c,
                        "licence_no",
                        _(
                            "许可证编号“%(number)s”已登记在另一经营者“%(name)s”名下",
                            number=c.licence_no,
                            name=owner.name,
                        ),
                    )
                )
        if c.licence_key:
            first = self.licence_owner.setdefault(c.licence_key, (c.firm_key, c.number))
            if first[0] != c.firm_key:
                errors.append(
                    self.problem(
                        c,
                        "licence_no",
                        _("许可证编号与第%(row)s行的另一经营者相同", row=first[1]),
                    )
                )
        return firm, licence

    def _duplicate(self, c: _Cells, errors: list[ImportProblem]) -> None:
        """The same firm, list, ground and decision date as an earlier row of the file."""
        key = (c.firm_key, c.list_code, c.ground.id, c.decided_on)
        first = self.seen_rows.setdefault(key, c.number)
        if first != c.number:
            errors.append(
                self.problem(
                    c,
                    "decided_on",
                    _("与第%(row)s行重复（同一经营者、名单、事由和处理日期）", row=first),
                )
            )

    def _decision(
        self, c: _Cells, firm: Enterprise | None, errors: list[ImportProblem]
    ) -> Sanction | None:
        """A decision number links the stored decision of the same firm, never another
        firm's; a new one is the same firm's and authority's on every row naming it."""
        if not c.decision_key:
            return None
        sanction = self.known.sanctions.get(c.decision_key)
        if sanction is None:
            self._new_decision(c, errors)
            return None
        message: Message | None
        if firm is None or sanction.enterprise_id != firm.id:
            message = _("处罚决定书文号“%(number)s”已登记在另一经营者名下", number=c.decision_no)
        elif sanction.authority_id != c.authority.id:
            message = _(
                "处罚决定书“%(number)s”由其他机构作出，不能由%(authority)s列入",
                number=c.decision_no,
                authority=c.authority.name,
            )
        elif sanction.state == "annulled":
            message = _("处罚决定书“%(number)s”已撤销", number=c.decision_no)
        else:
            message = None
        if message is not None:
            errors.append(self.problem(c, "decision_no", message))
        try:
            rules.check_list_for_sanction(c.list_code, sanction.measures)
        except rules.RuleViolation as exc:
            errors.append(self.problem(c, "list", exc.message))
        return sanction

    def _new_decision(self, c: _Cells, errors: list[ImportProblem]) -> None:
        first = self.decision_owner.setdefault(
            c.decision_key, (c.firm_key, c.authority.id, c.number)
        )
        if first[0] != c.firm_key:
            errors.append(
                self.problem(
                    c,
                    "decision_no",
                    _("处罚决定书文号与第%(row)s行的另一经营者相同", row=first[2]),
                )
            )
        elif first[1] != c.authority.id:
            errors.append(
                self.problem(
                    c,
                    "decision_no",
                    _("处罚决定书文号与第%(row)s行相同但列入单位不同", row=first[2]),
                )
            )

    def _publisher(self, c: _Cells, errors: list[ImportProblem]) -> None:
        publisher = self.publisher
        if publisher is not None and not rules.may(publisher, "publish", c.authority.id):
            errors.append(
                self.problem(
                    c,
                    "authority",
                    _(
                        "审核员 %(user)s 无权发布%(authority)s的名单记录",
                        user=publisher.username,
                        authority=c.authority.name,
                    ),
                )
            )

    def _plan_row(
        self, c: _Cells, firm: Enterprise | None, licence: Licence | None, sanction: Sanction | None
    ) -> None:
        """A good row: its warnings, and what applying it will create."""
        plan = self.plan
        add_licence = bool(
            c.licence_key and licence is None and c.licence_key not in self.new_licences
        )
        if add_licence and firm is not None and firm.authority_id != c.authority.id:
            name = firm.name
            plan.warn(
                lambda: self.problem(
                    c,
                    "licence_no",
                    _("经营者“%(name)s”由其他机构维护，许可证编号未登记，请联系该机构", name=name),
                    "warning",
                )
            )
            add_licence = False
        if add_licence:
            self.new_licences.add(c.licence_key)
        if c.decision_key and sanction is None:
            known = plan.new_sanctions.get(c.decision_key)
            if known is None or c.decided_on < known[0]:
                plan.new_sanctions[c.decision_key] = (c.decided_on, c.facts)
        self._overdue(c)
        plan.keep(c, (firm, sanction, add_licence) if firm or sanction else _NEW[add_licence])

    def _overdue(self, c: _Cells) -> None:
        """A warning: listed later than 30 days after the decision (art. 42)."""
        listed_on = self.on if self.publisher is not None else None
        if rules.is_overdue(c.decided_on, listed_on, self.on):
            deadline = rules.listing_deadline(c.decided_on)
            self.plan.warn(
                lambda: self.problem(
                    c,
                    "decided_on",
                    _(
                        "已超过30日列入期限（处理日期%(date)s，应于%(deadline)s前列入；办法第42条）",
                        date=c.decided_on.isoformat(),
                        deadline=deadline.isoformat(),
                    ),
                    "warning",
                )
            )


def _planned(c: _Cells, verdict: _Verdict) -> PlannedRow:
    """The PlannedRow of a good row's cells and what the check found."""
    firm, sanction, add_licence = verdict
    assert c.authority is not None and c.ground is not None
    assert c.list_code is not None and c.decided_on is not None
    return PlannedRow(
        number=c.number,
        name=c.name,
        uscc=c.uscc,
        licence_no=c.licence_no,
        licence_key=c.licence_key,
        firm_key=c.firm_key,
        enterprise=firm,
        authority=c.authority,
        ground=c.ground,
        list_code=c.list_code,
        decided_on=c.decided_on,
        province_code=c.province_code,
        decision_no=c.decision_no,
        decision_key=c.decision_key,
        sanction=sanction,
        facts=c.facts,
        source_expires_on=c.source_expires_on,
        add_licence=add_licence,
        campaign=c.campaign,
    )


def validate(
    session: Session,
    parsed: ParsedFile,
    *,
    default_authority: Authority | None = None,
    publisher: Actor | None = None,
    on: date | None = None,
    spool: bool = False,
    parse_aside: bool = False,
) -> Plan:
    """Check every row against the catalogue, the database and the rest of the file.

    The rows are checked CHUNK at a time as they are read. With `spool` the plan does not
    hold its good rows: they go to a temporary file as they are checked, and `Plan.chunks`
    reads them back for the writing. With `parse_aside` the cells are parsed in a forked
    process (registry.forked.stream) while this one checks the chunks before."""
    on = on or rules.today()
    plan = Plan(total=len(parsed.rows))
    header_problems = _required_columns(parsed, default_authority)
    if header_problems:
        plan.total = sum(1 for _ in parsed.each_row())
        plan.problems.extend(header_problems)
        return plan
    check = _FirstPass(parsed, Catalogue(session), default_authority, on)
    if spool:
        plan.spool = _Spool(_Packed(check.catalogue, default_authority))
    known = _Known()
    second = _SecondPass(parsed, known, publisher, on, plan)
    plan.total = 0
    for cells, found in _first_pass(check, parse_aside):
        plan.total += len(cells)
        plan.problems.extend(found)
        bad = {p.row for p in found}
        _preload(session, cells, known)
        for c in cells:
            if c.number not in bad:
                second.add(c)
    plan.problems.sort(key=lambda p: (p.row, p.severity != "error"))
    return plan


__all__ = [
    "Catalogue",
    "CellError",
    "Plan",
    "PlannedRow",
    "ImportProblem",
    "parse_date",
    "validate",
]
