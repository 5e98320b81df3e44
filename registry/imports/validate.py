"""Checking every row of an import before anything is written.

The database is read in a few preloading queries (authorities, grounds, the firms, licences,
decision numbers and listings the file mentions), not once per row, so that checking an
11,000-row quarterly list takes seconds. The result is a :class:`Plan`: the good rows ready
to apply, the rows that already exist (skipped, idempotent re-import) and every problem with
its row number, column and a reason in Chinese and English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import rules, text
from registry.imports.parse import FIELD_LABELS, ParsedFile, Row
from registry.models import Authority, Enterprise, Ground, Licence, Listing, Sanction
from registry.rules import Actor

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


@dataclass(frozen=True)
class ImportProblem:
    row: int  # 1 is the header row
    column: str  # the header as written in the file
    message: str  # Chinese / English
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        kind = "错误 error" if self.severity == "error" else "警告 warning"
        return f"第{self.row}行 row {self.row} · {self.column} · {kind}: {self.message}"


@dataclass
class PlannedRow:
    """One good row, resolved against the catalogue and the database."""

    number: int
    name: str
    uscc: str | None
    licence_no: str | None
    licence_key: str | None
    firm_key: str
    enterprise: Enterprise | None  # already in the database
    authority: Authority
    ground: Ground
    list_code: str
    decided_on: date
    province_code: str | None
    decision_no: str | None
    decision_key: str | None
    sanction: Sanction | None  # already in the database
    facts: str
    source_expires_on: date | None
    add_licence: bool = False  # the licence is new and belongs to this row's firm


@dataclass
class Plan:
    total: int
    rows: list[PlannedRow] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # row numbers already in the database
    problems: list[ImportProblem] = field(default_factory=list)
    # decision number key → (date, facts) of its earliest row: the penalty's own date
    new_sanctions: dict[str, tuple[date, str]] = field(default_factory=dict)

    @property
    def errors(self) -> list[ImportProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[ImportProblem]:
        return [p for p in self.problems if p.severity == "warning"]

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
    """Authorities, grounds and provinces, loaded once."""

    def __init__(self, session: Session) -> None:
        self.authorities = list(session.scalars(select(Authority)))
        self.grounds = list(session.scalars(select(Ground)))
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


# --- cell parsing ---------------------------------------------------------------------


class CellError(ValueError):
    pass


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
                raise CellError(
                    f"日期“{value}”不存在 / {value!r} is not a real date (no such day)"
                ) from None
    raise CellError(
        f"日期“{value}”格式不正确，应为 2020-03-15、2020/3/15 或 2020年3月15日 / "
        f"{value!r} is not a date: write 2020-03-15, 2020/3/15 or 2020年3月15日"
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


# --- the check ------------------------------------------------------------------------


@dataclass
class _Cells:
    """First pass: a row's cells parsed on their own, without the database."""

    row: Row
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

    @property
    def firm_key(self) -> str:
        return f"U:{self.uscc}" if self.uscc else f"L:{self.licence_key}"


def _required_columns(
    parsed: ParsedFile, default_authority: Authority | None
) -> list[ImportProblem]:
    problems = []
    required = ["name", "list", "ground", "decided_on"]
    if default_authority is None:
        required.append("authority")
    for name in required:
        if name not in parsed.headers:
            hint = (
                "（或使用 --authority 指定）/ (or give --authority)" if name == "authority" else ""
            )
            problems.append(
                ImportProblem(
                    1,
                    FIELD_LABELS[name],
                    f"缺少必填列“{FIELD_LABELS[name]}”{hint} / missing required column {name!r}",
                )
            )
    if "uscc" not in parsed.headers and "licence_no" not in parsed.headers:
        problems.append(
            ImportProblem(
                1,
                FIELD_LABELS["uscc"],
                "缺少“统一社会信用代码”或“许可证编号”列 / need a uscc or a licence_no column",
            )
        )
    return problems


def _first_pass(
    parsed: ParsedFile, catalogue: Catalogue, default_authority: Authority | None, on: date
) -> tuple[list[_Cells], list[ImportProblem]]:
    problems: list[ImportProblem] = []
    out: list[_Cells] = []

    for row in parsed.rows:
        c = _Cells(row)

        def error(field_name: str, message: str, row: Row = row) -> None:
            problems.append(ImportProblem(row.number, parsed.column(field_name), message))

        def cell(field_name: str, row: Row = row) -> str | date | None:
            return row.cells.get(field_name)

        def text_cell(field_name: str, row: Row = row) -> str:
            value = row.cells.get(field_name)
            if value is None:
                return ""
            return value.isoformat() if isinstance(value, date) else text.clean_display(value)

        c.name = text_cell("name")
        if not c.name:
            error("name", "必填项“经营者名称”为空 / required field name is empty")
        elif len(c.name) < 2 or len(c.name) > 200:
            error("name", "经营者名称应为2–200个字符 / the name must be 2–200 characters")

        raw_uscc = text_cell("uscc")
        if raw_uscc:
            try:
                c.uscc = text.validate_uscc(raw_uscc)
            except ValueError as exc:
                error("uscc", str(exc))
        raw_licence = text_cell("licence_no")
        if raw_licence:
            c.licence_no = raw_licence
            c.licence_key = text.canonical_licence(raw_licence)
            if len(c.licence_key) < 4 or len(c.licence_key) > 60:
                error(
                    "licence_no",
                    f"许可证编号“{raw_licence}”不完整 / licence number {raw_licence!r} is incomplete",
                )
                c.licence_key = None
        if not raw_uscc and not raw_licence:
            error(
                "uscc",
                "统一社会信用代码和许可证编号至少填写一项 / give the USCC or the licence number",
            )

        raw_list = text_cell("list")
        if not raw_list:
            error("list", "必填项“名单类型”为空 / required field list is empty")
        else:
            c.list_code = LIST_NAMES.get(_key(raw_list))
            if c.list_code is None:
                error(
                    "list",
                    f"未知的名单类型“{raw_list}”，应为“不良名单”或“失信名单” / "
                    f"unknown list {raw_list!r}: write bad (不良名单) or dishonest (失信名单)",
                )

        raw_ground = text_cell("ground")
        if not raw_ground:
            error("ground", "必填项“列入事由”为空 / required field ground is empty")
        else:
            c.ground = catalogue.ground(raw_ground)
            if c.ground is None:
                codes = "、".join(g.code for g in catalogue.grounds if g.active)
                error(
                    "ground",
                    f"未知的列入事由“{raw_ground}”，应为事由代码（{codes}）或目录中的事由全文 / "
                    f"unknown ground {raw_ground!r}: use a code ({codes}) or the catalogue title",
                )
            elif not c.ground.active:
                error(
                    "ground", f"列入事由 {c.ground.code} 已停用 / ground {c.ground.code} is retired"
                )
                c.ground = None
            elif c.list_code and c.ground.list_code != c.list_code:
                error(
                    "ground",
                    f"列入事由 {c.ground.code} 属于{'不良名单' if c.ground.list_code == 'bad' else '失信名单'}，"
                    f"与名单类型不符 / ground {c.ground.code} belongs to the {c.ground.list_code} list",
                )
                c.ground = None

        raw_date = cell("decided_on")
        if raw_date is None:
            error("decided_on", "必填项“处理日期”为空 / required field decided_on is empty")
        else:
            try:
                c.decided_on = parse_date(raw_date)
            except CellError as exc:
                error("decided_on", str(exc))
            else:
                if c.decided_on > on:
                    error(
                        "decided_on",
                        f"处理日期{c.decided_on.isoformat()}晚于今天，不能列入 / "
                        f"decision date {c.decided_on.isoformat()} is in the future",
                    )
                    c.decided_on = None

        raw_authority = text_cell("authority")
        if raw_authority:
            c.authority = catalogue.authority(raw_authority)
            if c.authority is None:
                error(
                    "authority",
                    f"未知的列入单位“{raw_authority}”，应为机构代码（如 440000、MIIT）或全称 / "
                    f"unknown authority {raw_authority!r}: use its code (440000, MIIT) or full name",
                )
        elif default_authority is not None:
            c.authority = default_authority
        else:
            error(
                "authority",
                "必填项“列入单位”为空（或使用 --authority 指定） / "
                "required field authority is empty (or give --authority)",
            )

        raw_province = text_cell("province")
        if raw_province:
            c.province_code = catalogue.province(raw_province)
            if c.province_code is None:
                error(
                    "province",
                    f"未知的省份“{raw_province}”，应为省名（广东省）、简称（粤、广东）或行政区划代码 / "
                    f"unknown province {raw_province!r}: use 广东省, 粤, 广东 or 440000",
                )
        elif c.authority is not None:
            c.province_code = c.authority.province_code

        raw_decision = text_cell("decision_no")
        if raw_decision:
            c.decision_no = raw_decision
            c.decision_key = text.canonical_decision_no(raw_decision)
            if len(c.decision_key) < 4 or len(c.decision_key) > 80:
                error(
                    "decision_no",
                    f"处罚决定书文号“{raw_decision}”不完整 / decision number {raw_decision!r} is incomplete",
                )
                c.decision_key = None

        c.facts = (text_cell("facts") or "").strip()

        raw_end = cell("source_expires_on")
        if raw_end is not None:
            try:
                c.source_expires_on = parse_date(raw_end)
            except CellError as exc:
                error("source_expires_on", str(exc))
        if c.ground is not None and c.ground.term_kind == "source":
            if c.source_expires_on is None and raw_end is None:
                error(
                    "source_expires_on",
                    f"列入事由 {c.ground.code} 的期限以原决定为准，请在“原决定截止日期”列填写原决定的截止日期 / "
                    f"ground {c.ground.code} lasts as long as the source decision: "
                    "fill in the source_expires_on column",
                )
            elif c.source_expires_on is not None and c.source_expires_on <= on:
                error(
                    "source_expires_on",
                    f"原决定已于{c.source_expires_on.isoformat()}截止，不能再列入 / "
                    f"the source decision ended on {c.source_expires_on.isoformat()}",
                )
        out.append(c)
    return out, problems


def validate(
    session: Session,
    parsed: ParsedFile,
    *,
    default_authority: Authority | None = None,
    publisher: Actor | None = None,
    on: date | None = None,
) -> Plan:
    """Check every row against the catalogue, the database and the rest of the file."""
    on = on or rules.today()
    plan = Plan(total=len(parsed.rows))
    header_problems = _required_columns(parsed, default_authority)
    if header_problems:
        plan.problems.extend(header_problems)
        return plan
    catalogue = Catalogue(session)
    cells, problems = _first_pass(parsed, catalogue, default_authority, on)
    plan.problems.extend(problems)
    bad = {p.row for p in problems}

    # Preload what the database already knows about the firms, licences and decisions.
    usccs = {c.uscc for c in cells if c.uscc}
    licence_keys = {c.licence_key for c in cells if c.licence_key}
    decision_keys = {c.decision_key for c in cells if c.decision_key}
    by_uscc: dict[str, Enterprise] = {}
    for batch in _chunks(usccs):
        for firm in session.scalars(select(Enterprise).where(Enterprise.uscc.in_(batch))):
            by_uscc[firm.uscc] = firm
    licences: dict[str, Licence] = {}
    for batch in _chunks(licence_keys):
        for licence in session.scalars(select(Licence).where(Licence.number_canonical.in_(batch))):
            licences[licence.number_canonical] = licence
    firm_ids = {licence.enterprise_id for licence in licences.values()} - {
        f.id for f in by_uscc.values()
    }
    by_id: dict[int, Enterprise] = {f.id: f for f in by_uscc.values()}
    for batch in _chunks(firm_ids):
        for firm in session.scalars(select(Enterprise).where(Enterprise.id.in_(batch))):
            by_id[firm.id] = firm
    sanctions: dict[str, Sanction] = {}
    for batch in _chunks(decision_keys):
        for sanction in session.scalars(
            select(Sanction).where(Sanction.decision_no_canonical.in_(batch))
        ):
            sanctions[sanction.decision_no_canonical] = sanction
    existing_keys: set[tuple[int, str, int, date]] = set()
    for batch in _chunks(by_id):
        existing_keys.update(
            tuple(key)
            for key in session.execute(
                select(
                    Listing.enterprise_id, Listing.list_code, Listing.ground_id, Listing.decided_on
                ).where(Listing.enterprise_id.in_(batch), Listing.state != "annulled")
            )
        )

    seen_rows: dict[tuple[str, str, int, date], int] = {}
    licence_owner: dict[str, tuple[str, int]] = {}  # licence key → (firm key, first row)
    decision_owner: dict[str, tuple[str, int, int]] = {}  # key → (firm key, authority, row)
    new_licences: set[str] = set()

    for c in cells:
        number = c.row.number
        if number in bad:
            continue
        row_errors: list[ImportProblem] = []

        def error(
            field_name: str, message: str, number: int = number, row_errors=row_errors
        ) -> None:
            row_errors.append(ImportProblem(number, parsed.column(field_name), message))

        # Which firm: by USCC, else by licence number.
        firm = by_uscc.get(c.uscc) if c.uscc else None
        licence = licences.get(c.licence_key) if c.licence_key else None
        if licence is not None:
            owner = by_id.get(licence.enterprise_id) or licence.enterprise
            if firm is None and not c.uscc:
                firm = owner
            elif owner is not firm:
                error(
                    "licence_no",
                    f"许可证编号“{c.licence_no}”已登记在另一经营者“{owner.name}”名下 / "
                    f"licence {c.licence_no!r} is registered to another operator ({owner.name})",
                )
        if c.licence_key:
            first = licence_owner.setdefault(c.licence_key, (c.firm_key, number))
            if first[0] != c.firm_key:
                error(
                    "licence_no",
                    f"许可证编号与第{first[1]}行的另一经营者相同 / "
                    f"the same licence number is given for another operator on row {first[1]}",
                )

        # Duplicate row in the file (same firm, list, ground and decision date).
        key = (c.firm_key, c.list_code, c.ground.id, c.decided_on)
        if key in seen_rows:
            error(
                "decided_on",
                f"与第{seen_rows[key]}行重复（同一经营者、名单、事由和处理日期） / "
                f"duplicate of row {seen_rows[key]} (same operator, list, ground and date)",
            )
        else:
            seen_rows[key] = number

        # Decision number: links the existing sanction of the same firm, never another firm's.
        sanction = None
        if c.decision_key:
            sanction = sanctions.get(c.decision_key)
            if sanction is not None:
                if firm is None or sanction.enterprise_id != firm.id:
                    error(
                        "decision_no",
                        f"处罚决定书文号“{c.decision_no}”已登记在另一经营者名下 / "
                        f"decision {c.decision_no!r} is recorded for another operator",
                    )
                elif sanction.authority_id != c.authority.id:
                    error(
                        "decision_no",
                        f"处罚决定书“{c.decision_no}”由其他机构作出，不能由{c.authority.name}列入 / "
                        "the decision belongs to another authority",
                    )
                elif sanction.state == "annulled":
                    error(
                        "decision_no",
                        f"处罚决定书“{c.decision_no}”已撤销 / decision {c.decision_no!r} was annulled",
                    )
            else:
                first = decision_owner.setdefault(
                    c.decision_key, (c.firm_key, c.authority.id, number)
                )
                if first[0] != c.firm_key:
                    error(
                        "decision_no",
                        f"处罚决定书文号与第{first[2]}行的另一经营者相同 / "
                        f"the same decision number is given for another operator on row {first[2]}",
                    )
                elif first[1] != c.authority.id:
                    error(
                        "decision_no",
                        f"处罚决定书文号与第{first[2]}行相同但列入单位不同 / "
                        f"same decision number as row {first[2]} with another authority",
                    )
            if sanction is not None:
                try:
                    rules.check_list_for_sanction(c.list_code, sanction.measures)
                except rules.RuleViolation as exc:
                    error("list", exc.message)

        if publisher is not None and not rules.may(publisher, "publish", c.authority.id):
            error(
                "authority",
                f"审核员 {publisher.username} 无权发布{c.authority.name}的名单记录 / "
                f"{publisher.username} may not publish this authority's listings",
            )

        if row_errors:
            plan.problems.extend(row_errors)
            continue
        if firm is not None and (firm.id, c.list_code, c.ground.id, c.decided_on) in existing_keys:
            plan.unchanged.append(number)
            continue

        add_licence = bool(c.licence_key and licence is None and c.licence_key not in new_licences)
        if add_licence and firm is not None and firm.authority_id != c.authority.id:
            plan.problems.append(
                ImportProblem(
                    number,
                    parsed.column("licence_no"),
                    f"经营者“{firm.name}”由其他机构维护，许可证编号未登记，请联系该机构 / "
                    "the operator is maintained by another authority: the licence is not added",
                    "warning",
                )
            )
            add_licence = False
        if add_licence:
            new_licences.add(c.licence_key)
        if c.decision_key and sanction is None:
            known = plan.new_sanctions.get(c.decision_key)
            if known is None or c.decided_on < known[0]:
                plan.new_sanctions[c.decision_key] = (c.decided_on, c.facts)

        listed_on = on if publisher is not None else None
        if rules.is_overdue(c.decided_on, listed_on, on):
            deadline = rules.listing_deadline(c.decided_on)
            plan.problems.append(
                ImportProblem(
                    number,
                    parsed.column("decided_on"),
                    f"已超过30日列入期限（处理日期{c.decided_on.isoformat()}，应于{deadline.isoformat()}前列入；"
                    f"办法第42条） / past the 30-day listing deadline ({deadline.isoformat()}; art. 42)",
                    "warning",
                )
            )
        plan.rows.append(
            PlannedRow(
                number=number,
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
            )
        )
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
