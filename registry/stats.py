"""Statistics of the public lists: in force today, new listings and removals per quarter,
counts by list, ground, province and authority, and the timeliness of publication (art. 42).

Only what registry.visibility lets the public see is counted. Every number comes from a SQL
aggregate (GROUP BY); Python only folds the grouped rows (a few hundred, however many
listings there are) into the shapes the page, the JSON and the CSV show. No Flask here.

Dates, all Asia/Shanghai calendar days (see docs/DOMAIN.md, "Statistics"):

- a listing is *new* in the quarter of its `listed_on`, the Asia/Shanghai date of its
  publication (the day of the "publish" event and of its publication-log entry);
- it *leaves* the list (a removal) in the quarter of its exit day: for a removed or annulled
  listing the Asia/Shanghai date of `ended_at`; for an expired one — recorded by the sweep or
  not yet — its `expires_on`, the first day it is no longer in force;
- *timeliness*: days = listed_on − decided_on; a listing is on time when days ≤ 30
  (rules.LISTING_DEADLINE_DAYS: day 30 is the last day on time, as in rules.is_overdue).
  It is counted in the quarter of its listed_on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from registry import rules, visibility
from registry.models import Authority, Enterprise, Ground, Listing
from registry.sqldates import days_between
from registry.sqldates import quarter_of as _quarter
from registry.sqldates import year_of as _year

# --- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    year: int | None = None
    province: str | None = None  # GB/T 2260 province code of the firm


@dataclass
class QuarterCounts:
    year: int
    quarter: int
    published: int = 0
    removed: int = 0
    expired: int = 0
    annulled: int = 0

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.quarter}"

    @property
    def ended(self) -> int:
        return self.removed + self.expired + self.annulled


@dataclass
class GroupCounts:
    code: str
    name: str
    in_force: int = 0
    published: int = 0  # new in the period
    ended: int = 0  # removed, expired or annulled in the period


@dataclass
class Timeliness:
    authority_code: str
    authority_name: str
    quarter: str  # "2026-Q1", or "" for all quarters of the period
    listings: int
    on_time: int
    median_days: float | None

    @property
    def share(self) -> float | None:
        """Share published within the deadline, 0..1 (None when nothing was published)."""
        return self.on_time / self.listings if self.listings else None


@dataclass
class Statistics:
    today: date
    filters: Filters
    in_force: dict[str, int]  # list code -> listings in force today
    quarters: list[QuarterCounts]
    by_list: list[GroupCounts]
    by_ground: list[GroupCounts]
    by_province: list[GroupCounts]
    by_authority: list[GroupCounts]
    timeliness: list[Timeliness]  # per authority and quarter
    timeliness_totals: list[Timeliness] = field(default_factory=list)  # per authority

    @property
    def in_force_total(self) -> int:
        return sum(self.in_force.values())


# --- queries --------------------------------------------------------------------------


def _period(column: Any, year: int | None) -> ColumnElement[bool]:
    if year is None:
        return column.is_not(None)
    return and_(column >= date(year, 1, 1), column <= date(year, 12, 31))


def _base(filters: Filters) -> Any:
    stmt = select().select_from(Listing).where(visibility.listing_ever_published())
    if filters.province is not None:
        stmt = stmt.join(Enterprise, Enterprise.id == Listing.enterprise_id).where(
            Enterprise.province_code == filters.province
        )
    return stmt


def _quarter_range(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    year, quarter = first
    while (year, quarter) <= last:
        out.append((year, quarter))
        year, quarter = (year, quarter + 1) if quarter < 4 else (year + 1, 1)
    return out


def _quarters(session: Session, filters: Filters, today: date) -> list[QuarterCounts]:
    counts: dict[tuple[int, int], QuarterCounts] = {}

    def slot(year: int, quarter: int) -> QuarterCounts:
        key = (int(year), int(quarter))
        if key not in counts:
            counts[key] = QuarterCounts(*key)
        return counts[key]

    base = _base(filters)
    new_year, new_quarter = _year(Listing.listed_on), _quarter(Listing.listed_on)
    for year, quarter, n in session.execute(
        base.add_columns(new_year, new_quarter, func.count())
        .where(_period(Listing.listed_on, filters.year))
        .group_by(new_year, new_quarter)
    ):
        slot(year, quarter).published = n
    day = visibility.listing_left_on(today)
    kind = visibility.listing_exit_kind()
    end_year, end_quarter = _year(day), _quarter(day)
    for year, quarter, how, n in session.execute(
        base.add_columns(end_year, end_quarter, kind, func.count())
        .where(day.is_not(None), _period(day, filters.year))
        .group_by(end_year, end_quarter, kind)
    ):
        setattr(slot(year, quarter), how, n)
    if filters.year is not None:
        keys = _quarter_range((filters.year, 1), (filters.year, 4))
    elif counts:
        now = (today.year, (today.month + 2) // 3)
        keys = _quarter_range(min(counts), max(max(counts), now))
    else:
        keys = []
    return [counts.get(key) or QuarterCounts(*key) for key in keys]


def _names(session: Session) -> tuple[dict[int, tuple[str, str]], dict[int, tuple[str, str]]]:
    authorities = {
        row.id: (row.code, row.name)
        for row in session.execute(select(Authority.id, Authority.code, Authority.name))
    }
    grounds = {
        row.id: (row.code, row.title)
        for row in session.execute(select(Ground.id, Ground.code, Ground.title))
    }
    return authorities, grounds


def _groups(
    session: Session,
    filters: Filters,
    today: date,
    authorities: dict[int, tuple[str, str]],
    grounds: dict[int, tuple[str, str]],
) -> tuple[dict[str, int], dict[str, list[GroupCounts]]]:
    """One grouped query, folded into the four breakdowns."""
    day = visibility.listing_left_on(today)
    in_force = func.sum(case((visibility.listing_in_force(today), 1), else_=0))
    new = func.sum(case((_period(Listing.listed_on, filters.year), 1), else_=0))
    ended = func.sum(case((and_(day.is_not(None), _period(day, filters.year)), 1), else_=0))
    stmt = (
        select(
            Listing.list_code,
            Listing.ground_id,
            Enterprise.province_code,
            Listing.authority_id,
            in_force,
            new,
            ended,
        )
        .join(Enterprise, Enterprise.id == Listing.enterprise_id)
        .where(visibility.listing_ever_published())
        .group_by(
            Listing.list_code, Listing.ground_id, Enterprise.province_code, Listing.authority_id
        )
    )
    if filters.province is not None:
        stmt = stmt.where(Enterprise.province_code == filters.province)
    province_names = {
        code[:2] + "0000": name.removesuffix("通信管理局")
        for code, name in authorities.values()
        if code[:1].isdigit()
    }
    folds: dict[str, dict[str, GroupCounts]] = {
        "list": {},
        "ground": {},
        "province": {},
        "authority": {},
    }
    totals = {code: 0 for code in ("bad", "dishonest")}
    for list_code, ground_id, province, authority_id, n_force, n_new, n_ended in session.execute(
        stmt
    ):
        totals[list_code] = totals.get(list_code, 0) + int(n_force or 0)
        keys = {
            "list": (list_code, list_code),
            "ground": grounds.get(ground_id, (str(ground_id), "")),
            "province": (province or "", province_names.get(province or "", province or "")),
            "authority": authorities.get(authority_id, (str(authority_id), "")),
        }
        for dimension, (code, name) in keys.items():
            row = folds[dimension].setdefault(code, GroupCounts(code, name))
            row.in_force += int(n_force or 0)
            row.published += int(n_new or 0)
            row.ended += int(n_ended or 0)
    ordered = {
        dimension: sorted(rows.values(), key=lambda r: r.code) for dimension, rows in folds.items()
    }
    return totals, ordered


def quarter_start(day: date, back: int = 0) -> date:
    """First day of the quarter `back` quarters before the one holding `day`."""
    index = day.year * 4 + (day.month - 1) // 3 - back
    return date(index // 4, index % 4 * 3 + 1, 1)


def _median(histogram: dict[int, int]) -> float | None:
    """Median of a multiset given as value -> count (mean of the two middles when even)."""
    n = sum(histogram.values())
    if n == 0:
        return None
    values = sorted(histogram)

    def nth(index: int) -> int:  # 0-based
        seen = 0
        for value in values:
            seen += histogram[value]
            if index < seen:
                return value
        raise IndexError(index)  # pragma: no cover

    if n % 2:
        return float(nth(n // 2))
    return (nth(n // 2 - 1) + nth(n // 2)) / 2


def timeliness(
    session: Session,
    filters: Filters,
    authority_id: int | None = None,
    authorities: dict[int, tuple[str, str]] | None = None,
    since: date | None = None,
) -> tuple[list[Timeliness], list[Timeliness]]:
    """Art. 42 timeliness per authority and quarter, and per authority over the period
    (of one authority only with `authority_id`; from the day `since` on when given)."""
    if authorities is None:
        authorities, _grounds = _names(session)
    days = days_between(Listing.listed_on, Listing.decided_on)
    year, quarter = _year(Listing.listed_on), _quarter(Listing.listed_on)
    stmt = (
        _base(filters)
        .add_columns(Listing.authority_id, year, quarter, days, func.count())
        .where(_period(Listing.listed_on, filters.year))
        .group_by(Listing.authority_id, year, quarter, days)
    )
    if authority_id is not None:
        stmt = stmt.where(Listing.authority_id == authority_id)
    if since is not None:
        stmt = stmt.where(Listing.listed_on >= since)
    per_quarter: dict[tuple[int, int, int], dict[int, int]] = defaultdict(dict)
    per_authority: dict[int, dict[int, int]] = defaultdict(dict)
    for auth, y, q, d, n in session.execute(stmt):
        key = (auth, int(y), int(q))
        per_quarter[key][int(d)] = per_quarter[key].get(int(d), 0) + n
        per_authority[auth][int(d)] = per_authority[auth].get(int(d), 0) + n

    def build(auth: int, label: str, histogram: dict[int, int]) -> Timeliness:
        code, name = authorities.get(auth, (str(auth), ""))
        return Timeliness(
            authority_code=code,
            authority_name=name,
            quarter=label,
            listings=sum(histogram.values()),
            on_time=sum(n for d, n in histogram.items() if d <= rules.LISTING_DEADLINE_DAYS),
            median_days=_median(histogram),
        )

    def order(auth: int) -> str:
        return authorities.get(auth, (str(auth), ""))[0]

    rows = [
        build(auth, f"{y}-Q{q}", histogram)
        for (auth, y, q), histogram in sorted(
            per_quarter.items(), key=lambda item: (order(item[0][0]), item[0][1:])
        )
    ]
    totals = [
        build(auth, "", histogram)
        for auth, histogram in sorted(per_authority.items(), key=lambda item: order(item[0]))
    ]
    return rows, totals


def compute(session: Session, filters: Filters, today: date | None = None) -> Statistics:
    today = today or rules.today()
    authorities, grounds = _names(session)
    in_force, groups = _groups(session, filters, today, authorities, grounds)
    rows, totals = timeliness(session, filters, authorities=authorities)
    return Statistics(
        today=today,
        filters=filters,
        in_force=in_force,
        quarters=_quarters(session, filters, today),
        by_list=groups["list"],
        by_ground=groups["ground"],
        by_province=groups["province"],
        by_authority=groups["authority"],
        timeliness=rows,
        timeliness_totals=totals,
    )


# --- machine shapes -------------------------------------------------------------------


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _timeliness_dict(row: Timeliness) -> dict[str, Any]:
    out: dict[str, Any] = {
        "authority": row.authority_code,
        "authority_name": row.authority_name,
        "listings": row.listings,
        "on_time": row.on_time,
        "share_on_time": _share(row.share),
        "median_days": row.median_days,
    }
    if row.quarter:
        out["quarter"] = row.quarter
    return out


def as_dict(stats: Statistics) -> dict[str, Any]:
    def groups(rows: Iterable[GroupCounts]) -> list[dict[str, Any]]:
        return [
            {
                "code": r.code,
                "name": r.name,
                "in_force": r.in_force,
                "published": r.published,
                "ended": r.ended,
            }
            for r in rows
        ]

    return {
        "today": stats.today.isoformat(),
        "filters": {"year": stats.filters.year, "province": stats.filters.province},
        "deadline_days": rules.LISTING_DEADLINE_DAYS,
        "in_force": {"total": stats.in_force_total, **stats.in_force},
        "quarters": [
            {
                "quarter": q.label,
                "published": q.published,
                "removed": q.removed,
                "expired": q.expired,
                "annulled": q.annulled,
                "ended": q.ended,
            }
            for q in stats.quarters
        ],
        "by_list": groups(stats.by_list),
        "by_ground": groups(stats.by_ground),
        "by_province": groups(stats.by_province),
        "by_authority": groups(stats.by_authority),
        "timeliness": [_timeliness_dict(r) for r in stats.timeliness],
        "timeliness_by_authority": [_timeliness_dict(r) for r in stats.timeliness_totals],
    }


CSV_HEADER = ("table", "key", "name", "measure", "value")


def csv_rows(stats: Statistics) -> Iterable[tuple[Any, ...]]:
    """Long format: one number per row, the same numbers as as_dict."""
    yield CSV_HEADER
    yield ("in_force", "total", "", "listings", stats.in_force_total)
    for code, n in stats.in_force.items():
        yield ("in_force", code, "", "listings", n)
    for q in stats.quarters:
        for measure in ("published", "removed", "expired", "annulled", "ended"):
            yield ("quarters", q.label, "", measure, getattr(q, measure))
    for table, rows in (
        ("by_list", stats.by_list),
        ("by_ground", stats.by_ground),
        ("by_province", stats.by_province),
        ("by_authority", stats.by_authority),
    ):
        for r in rows:
            for measure in ("in_force", "published", "ended"):
                yield (table, r.code, r.name, measure, getattr(r, measure))
    for table, trows in (
        ("timeliness", stats.timeliness),
        ("timeliness_by_authority", stats.timeliness_totals),
    ):
        for t in trows:
            key = f"{t.authority_code} {t.quarter}".strip()
            yield (table, key, t.authority_name, "listings", t.listings)
            yield (table, key, t.authority_name, "on_time", t.on_time)
            yield (table, key, t.authority_name, "share_on_time", _share(t.share))
            yield (table, key, t.authority_name, "median_days", t.median_days)
