"""Open data: the listings in force as CSV, JSON and XLSX (docs/INTERFACES.md, "Exports").

The columns are those of the import format, so an export can be imported
elsewhere as it is, followed by the listing and expiry dates (the importer ignores unknown
columns). Rows are streamed from the database (`yield_per`), so 100k listings never sit in
memory at once. Spreadsheet cells that would start a formula are neutralised. No Flask here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import date
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import visibility
from registry.models import Authority, Campaign, Enterprise, Ground, Licence, Listing, Sanction

# (key, Chinese header): the import format's columns, then the published dates.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "经营者名称"),
    ("uscc", "统一社会信用代码"),
    ("licence_no", "许可证编号"),
    ("list", "名单类型"),
    ("ground", "列入事由"),
    ("decided_on", "处理日期"),
    ("authority", "列入单位"),
    ("decision_no", "处罚决定书文号"),
    ("facts", "违法事实"),
    ("province", "省份"),
    ("campaign", "专项行动"),
    ("listed_on", "列入日期"),
    ("expires_on", "有效期至"),
)
KEYS = tuple(key for key, _ in COLUMNS)
LIST_LABELS = {"bad": "不良名单", "dishonest": "失信名单"}
FORMATS = ("csv", "json", "xlsx")
BATCH = 1000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def listing_row(listing: Listing) -> dict[str, Any]:
    enterprise = listing.enterprise
    sanction = listing.sanction
    licence = enterprise.licences[0].number if enterprise.licences else None
    return {
        "name": enterprise.name,
        "uscc": enterprise.uscc,
        "licence_no": licence,
        "list": listing.list_code,
        "ground": listing.ground.code,
        "decided_on": listing.decided_on.isoformat(),
        "authority": listing.authority.name,
        "decision_no": visibility.public_decision_no(sanction),
        "facts": listing.facts or None,
        "province": enterprise.province_code,
        "campaign": listing.campaign.name if listing.campaign else None,
        "listed_on": _iso(listing.listed_on),
        "expires_on": _iso(listing.expires_on),
    }


def rows(
    session: Session, on: date, *, release: bool = False, as_of: date | None = None
) -> Iterator[dict[str, Any]]:
    """Every listing in force on `on` (or at the end of the past day `as_of`), oldest first,
    as plain rows: the ids, then one query per BATCH listings (no ORM objects: building
    three per listing would dominate an export)."""
    first_licence = (
        select(Licence.number)
        .where(Licence.enterprise_id == Listing.enterprise_id)
        .order_by(Licence.id)
        .limit(1)
        .correlate(Listing)
        .scalar_subquery()
    )
    order = (Listing.listed_on, Listing.id)
    in_force = (
        visibility.listing_in_force_as_of(as_of)
        if as_of is not None
        else visibility.listing_in_force(on)
    )
    ids = session.scalars(select(Listing.id).where(in_force).order_by(*order)).all()
    query = (
        select(
            Enterprise.name,
            Enterprise.uscc,
            first_licence.label("licence_no"),
            Listing.list_code,
            Ground.code,
            Listing.decided_on,
            Authority.name,
            visibility.public_decision_no_column(),
            Listing.facts,
            Enterprise.province_code,
            Campaign.name,
            Listing.listed_on,
            Listing.expires_on,
        )
        .select_from(Listing)
        .join(Enterprise, Enterprise.id == Listing.enterprise_id)
        .join(Ground, Ground.id == Listing.ground_id)
        .join(Authority, Authority.id == Listing.authority_id)
        .outerjoin(Sanction, Sanction.id == Listing.sanction_id)
        .outerjoin(Campaign, Campaign.id == Listing.campaign_id)
        .order_by(*order)
    )
    # Batches fetched whole: no cursor stays open while the client reads (a streaming
    # cursor kept connections out of the pool when downloads were cut off under load).
    if release:  # a streamed download: hand the connection back before the first byte
        session.rollback()
    for start in range(0, len(ids), BATCH):
        batch = session.execute(query.where(Listing.id.in_(ids[start : start + BATCH]))).all()
        # ... and after every batch, so a client that stops reading holds no pooled
        # connection (a few slow clients would otherwise exhaust the pool).
        if release:
            session.rollback()
        yield from (_row(values) for values in batch)


def _row(values: Any) -> dict[str, Any]:
    (
        name,
        uscc,
        licence_no,
        list_code,
        ground,
        decided_on,
        authority,
        decision_no,
        facts,
        province,
        campaign,
        listed_on,
        expires_on,
    ) = values
    return {
        "name": name,
        "uscc": uscc,
        "licence_no": licence_no,
        "list": list_code,
        "ground": ground,
        "decided_on": decided_on.isoformat(),
        "authority": authority,
        "decision_no": decision_no,
        "facts": facts or None,
        "province": province,
        "campaign": campaign,
        "listed_on": _iso(listed_on),
        "expires_on": _iso(expires_on),
    }


def _spreadsheet_cells(row: dict[str, Any]) -> list[Any]:
    values = dict(row)
    values["list"] = LIST_LABELS.get(values["list"], values["list"])
    return [neutralise(values[key]) if values[key] is not None else "" for key in KEYS]


def iter_csv(records: Iterable[dict[str, Any]], chunk_rows: int = 500) -> Iterator[str]:
    """UTF-8 CSV text with a BOM (so Excel reads the Chinese), in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([header for _, header in COLUMNS])
    for count, row in enumerate(records, start=1):
        writer.writerow(_spreadsheet_cells(row))
        if count % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def iter_json(records: Iterable[dict[str, Any]], on: date) -> Iterator[str]:
    """`{"as_of": ..., "columns": [...], "listings": [...]}`, one listing per chunk."""
    header = {"as_of": on.isoformat(), "columns": dict(COLUMNS)}
    yield json.dumps(header, ensure_ascii=False)[:-1] + ',"listings":['
    for index, row in enumerate(records):
        yield ("," if index else "") + "\n" + json.dumps(row, ensure_ascii=False)
    yield "\n]}\n"


def write_xlsx(records: Iterable[dict[str, Any]], target: IO[bytes] | str) -> None:
    """A write-only workbook (rows go straight to the zip, not kept in memory)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("名单")
    sheet.append([header for _, header in COLUMNS])
    for row in records:
        sheet.append(_spreadsheet_cells(row))
    workbook.save(target)
