"""The fictional data generator (registry.fakedata)."""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from stdnum.cn import uscc

from registry import fakedata
from registry.fakedata import (
    CHINESE_HEADERS,
    GROUND_LISTS,
    HEADERS,
    PROVINCES,
    PROVINCES_BY_CODE,
    FakeFirm,
    FakeListing,
    firms,
    import_rows,
    listings,
    write_csv,
)

SHORTS = "".join(p.short for p in PROVINCES)
LICENCE_RE = re.compile(
    rf"^(?:[{SHORTS}]?[AB][12](?:\.[AB][12])*-(?:19|20)\d{{6}}|[{SHORTS}]ICP证\d{{6}}号)$"
)
DECISION_RE = re.compile(
    rf"^(?:[{SHORTS}]|大连)通管罚〔20\d\d〕[1-9]\d*号$|^工信部罚〔20\d\d〕[1-9]\d*号$"
)
AUTHORITY_CODES = {p.code for p in PROVINCES} | {"MIIT", "210200"}


@pytest.fixture(scope="module")
def big() -> list[FakeFirm]:
    return firms(20_000, seed=7)


@pytest.fixture(scope="module")
def big_listings(big: list[FakeFirm]) -> list[FakeListing]:
    return listings(big, seed=7)


def test_province_table_matches_authorities_csv() -> None:
    path = Path(fakedata.__file__).with_name("data") / "authorities.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["level"] == "province"]
    assert {(r["code"], r["short"]) for r in rows} == {(p.code, p.short) for p in PROVINCES}
    assert len(PROVINCES) == 31
    for p in PROVINCES:
        assert "通信管理局" not in p.name and p.name.startswith(p.prefix)
        assert 1 <= len(p.cities) <= 17
        for city in p.cities:
            assert city.code[:2] == p.code[:2] and len(city.code) == 6
    assert PROVINCES_BY_CODE["440000"].name == "广东省"
    assert "深圳" in {c.name for c in PROVINCES_BY_CODE["440000"].cities}


def test_deterministic() -> None:
    a, b = firms(400, seed=3), firms(400, seed=3)
    assert a == b
    assert listings(a, seed=3) == listings(b, seed=3)
    assert list(import_rows(listings(a, seed=3))) == list(import_rows(listings(b, seed=3)))
    assert firms(400, seed=4) != a
    assert firms(0) == []
    assert listings([]) == []


def test_smaller_set_is_a_prefix() -> None:
    # The demo's few hundred firms are the first of the benchmark's 100k.
    assert firms(5, seed=1) == firms(300, seed=1)[:5]


def test_uscc_valid_and_unique(big: list[FakeFirm]) -> None:
    codes = [f.uscc for f in big]
    assert len(set(codes)) == len(codes)
    for firm in big:
        code = firm.uscc
        assert uscc.is_valid(code), code
        assert code[17] == uscc.calc_check_digit(code[:17])
        assert code[0] == "9" and code[1] in "123"
        assert code[2:4] == firm.province_code[:2]
    assert Counter(f.uscc[1] for f in big).most_common(1)[0][0] == "1"


def test_names_unique_and_realistic(big: list[FakeFirm]) -> None:
    names = [f.name for f in big]
    assert len(set(names)) == len(names)
    assert all(5 <= len(n) <= 40 for n in names)
    assert all(n.endswith(("公司", "店", "部", "室")) for n in names)
    assert any("（" in n and "）" in n for n in names)  # 某某（北京）科技有限公司
    assert any(n.endswith("分公司") for n in names)
    assert any(n.endswith("股份有限公司") for n in names)
    assert any(n.endswith("有限责任公司") for n in names)
    assert any(re.search(r"市.{1,3}区", n) for n in names)  # 广州市天河区...
    assert not any(bad in n for n in names for bad in ("腾讯", "华为", "阿里", "百度"))
    with_city = sum(f.city in f.name for f in big) / len(big)
    assert with_city > 0.7
    # Characters with traditional forms, for t2s search tests.
    assert sum(any(c in n for c in "网络讯联华云电术") for n in names) / len(names) > 0.05


def test_licences_unique_and_printed_forms(big: list[FakeFirm]) -> None:
    numbers = [f.licence_no for f in big if f.licence_no is not None]
    assert len(set(numbers)) == len(numbers)
    assert len(numbers) > 0.9 * len(big)
    for firm in big:
        if firm.licence_no is None:
            continue
        assert LICENCE_RE.match(firm.licence_no), firm.licence_no
        if firm.licence_no[0] not in "AB":  # issued by the province
            assert firm.licence_no[0] == PROVINCES_BY_CODE[firm.province_code].short
    kinds = Counter(f.kind for f in big)
    assert set(kinds) == {"basic", "value_added", "resale", "other"}
    assert kinds["value_added"] > 0.8 * len(big)
    forms = {re.sub(r"[0-9]", "", n) for n in numbers}
    assert {"B-", "粤B-", "A.B-", "京ICP证号"} <= forms


def test_listings_grounds_and_lists(big: list[FakeFirm], big_listings: list[FakeListing]) -> None:
    ids = {id(f) for f in big}
    assert all(id(item.firm) in ids for item in big_listings)
    assert len(big) <= len(big_listings) < 1.1 * len(big)
    grounds = Counter(item.ground_code for item in big_listings)
    assert set(grounds) == set(GROUND_LISTS)
    assert 0.75 < grounds["B1"] / len(big_listings) < 0.92
    for item in big_listings:
        assert item.list_code == ("bad" if item.ground_code[0] == "B" else "dishonest")
        assert item.authority_code in AUTHORITY_CODES
        assert item.facts
        if item.authority_code not in ("MIIT", "210200"):
            assert item.authority_code == item.firm.province_code
        if item.ground_code in ("B1", "D4"):
            assert item.decision_no is None
        else:
            assert item.decision_no is not None and DECISION_RE.match(item.decision_no)
            if item.authority_code == "MIIT":
                assert item.decision_no.startswith("工信部罚")
    miit = sum(item.authority_code == "MIIT" for item in big_listings) / len(big_listings)
    assert 0.05 < miit < 0.2
    per_firm = Counter(item.firm.uscc for item in big_listings)
    assert 1 <= max(per_firm.values()) <= 2
    assert sum(v == 2 for v in per_firm.values()) > 50
    # B1 goes out in batches: few distinct dates, one big mid-2019 batch.
    b1_dates = Counter(item.decided_on for item in big_listings if item.ground_code == "B1")
    assert len(b1_dates) <= 2 * (2026 - 2018 + 1)
    top = b1_dates.most_common(1)[0][0]
    assert (top.year, top.month) == (2019, 7)
    assert any(item.campaign == "商务楼宇宽带垄断专项整治" for item in big_listings)


def test_decision_numbers_unique_except_unfulfilled_penalty(
    big_listings: list[FakeListing],
) -> None:
    by_no: dict[str, list[FakeListing]] = {}
    for item in big_listings:
        if item.decision_no:
            by_no.setdefault(item.decision_no, []).append(item)
    for items in by_no.values():
        if len(items) > 1:  # a B3 penalty and the D2 listing for not carrying it out
            assert len(items) == 2
            assert {i.ground_code for i in items} == {"B3", "D2"}
            assert items[0].firm is items[1].firm
            d2 = next(i for i in items if i.ground_code == "D2")
            assert d2.decision_no in d2.facts


def test_dates_within_range(big: list[FakeFirm], big_listings: list[FakeListing]) -> None:
    assert all(date(2018, 1, 1) <= i.decided_on <= date(2026, 10, 31) for i in big_listings)
    start, end = date(2021, 3, 1), date(2021, 12, 31)
    narrow = listings(big[:3000], seed=9, start=start, end=end)
    assert narrow and all(start <= i.decided_on <= end for i in narrow)
    one_day = listings(big[:200], start=date(2020, 5, 5), end=date(2020, 5, 5))
    assert {i.decided_on for i in one_day} == {date(2020, 5, 5)}
    with pytest.raises(ValueError):
        listings(big[:1], start=end, end=start)


def test_import_rows(big_listings: list[FakeListing]) -> None:
    rows = list(import_rows(big_listings[:500]))
    assert len(rows) == 500
    for row, item in zip(rows, big_listings, strict=False):
        assert tuple(row) == HEADERS
        assert all(isinstance(v, str) for v in row.values())
        assert row["uscc"] == item.firm.uscc and row["list"] in ("bad", "dishonest")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", row["decided_on"])
        assert row["province"] == PROVINCES_BY_CODE[item.firm.province_code].name
        assert row["decision_no"] == (item.decision_no or "")


def test_csv_chinese_headers_with_bom(tmp_path: Path, big_listings: list[FakeListing]) -> None:
    sample = big_listings[:300]
    path = tmp_path / "import.csv"
    assert write_csv(path, sample, chinese_headers=True) == 300
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == [CHINESE_HEADERS[h] for h in HEADERS]
        back = list(reader)
    expected = list(import_rows(sample))
    assert len(back) == len(expected)
    titles = {"bad": "不良名单", "dishonest": "失信名单"}
    for got, want in zip(back, expected, strict=True):
        for header in HEADERS:
            value = titles[want[header]] if header == "list" else want[header]
            assert got[CHINESE_HEADERS[header]] == value


def test_csv_english_headers_without_bom(tmp_path: Path, big_listings: list[FakeListing]) -> None:
    sample = big_listings[:50]
    path = tmp_path / "import.csv"
    write_csv(str(path), sample, bom=False)
    assert path.read_bytes().startswith(b"name,uscc,")
    with path.open(encoding="utf-8", newline="") as fh:
        assert list(csv.DictReader(fh)) == list(import_rows(sample))


def test_d4_rows_carry_the_source_decisions_end_date(big_listings: list[FakeListing]) -> None:
    """D4 (联合惩戒) lasts as long as the source decision: the importer needs its end date
    (原决定截止日期), which runs past the generator's end so a generated file imports."""
    rows = list(import_rows(big_listings))
    d4 = [
        (row, item)
        for row, item in zip(rows, big_listings, strict=True)
        if item.ground_code == "D4"
    ]
    assert d4
    for row, item in d4:
        end = date.fromisoformat(row["source_expires_on"])
        assert end == item.source_expires_on and end >= item.decided_on.replace(day=1)
        assert end.year - item.decided_on.year >= 3 and end > date(2027, 10, 31)
    assert all(
        row["source_expires_on"] == ""
        for row, item in zip(rows, big_listings, strict=True)
        if item.ground_code != "D4"
    )
