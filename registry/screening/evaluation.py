"""A labelled evaluation set for the matcher, generated from the demo data generator.

Each registered firm of registry.fakedata yields queries written the way counterparties
write names in practice (traditional characters, full-width forms, the place in brackets
or in front, the legal form dropped or changed, the region prefix dropped, a branch
added, one character of the industry words changed), labelled with the firm they stand
for; and queries for *other* firms that share most characters (one character of the trade
name changed, or the same name in another city), labelled as matching nothing
registered. Precision = flagged candidates that are right / all flagged; recall = variant
queries whose firm is flagged.
"""

from __future__ import annotations

import functools
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from registry import fakedata, text
from registry.screening.match import Query
from registry.screening.normalize import NameParts, analyse

POSITIVE_KINDS = (
    "traditional",
    "full_width",
    "brackets",
    "legal_form_dropped",
    "legal_form_changed",
    "region_dropped",
    "branch_added",
    "industry_char_changed",
)
NEGATIVE_KINDS = ("trade_char_changed", "other_city")
_FULL_WIDTH = {cp: cp + 0xFEE0 for cp in range(0x21, 0x7F)} | {0x20: 0x3000}
_TYPO_CHARS = "网路络洛科课技枝信言息熄通讯迅数术述务服伏"


@dataclass(frozen=True)
class Case:
    kind: str
    query: Query
    firm: str  # USCC of the firm the query stands for; "" when none is registered
    acceptable: frozenset[str] = frozenset()  # USCCs a flag on which is not an error


@dataclass
class Figures:
    flagged: int = 0
    right: int = 0
    positives: int = 0
    found: int = 0
    by_kind: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    @property
    def precision(self) -> float:
        return self.right / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else 1.0


def registered(n: int, seed: int = 42) -> list[dict[str, str]]:
    """The generated firms as the matcher's candidate source takes them."""
    return [
        {
            "name": f.name,
            "uscc": f.uscc,
            "province": f.province_code,
            "licences": text.canonical_licence(f.licence_no) if f.licence_no else "",
        }
        for f in fakedata.firms(n, seed)
    ]


@functools.cache
def _s2t() -> Any:
    """The simplified → traditional converter, loaded once (its dictionaries take time)."""
    import opencc

    return opencc.OpenCC("s2t")


def _t2s_inverse(name: str) -> str:
    return str(_s2t().convert(name))


def _variant(kind: str, name: str, rng: random.Random) -> str | None:
    p = analyse(name)
    form = p.legal_form or ""
    place = p.region or ""
    if kind == "traditional":
        return _t2s_inverse(name)
    if kind == "full_width":
        return name.replace("（", "(").replace("）", ")").translate(_FULL_WIDTH)
    if kind == "brackets" and place and not p.branch:
        if "（" in name or "(" in name:
            return f"{place}{p.core}{form}"
        return f"{p.trade}（{place}）{p.industry}{form}"
    if kind == "legal_form_dropped" and form and not p.branch:
        return name[: -len(form)]
    if kind == "legal_form_changed" and form and not p.branch:
        other = {"有限公司": "有限责任公司", "有限责任公司": "有限公司"}.get(form, "有限公司")
        return name[: -len(form)] + other
    if kind == "region_dropped" and place and not p.branch and "（" not in name:
        return f"{p.core}{form}"
    if kind == "branch_added" and not p.branch:
        city = rng.choice(rng.choice(fakedata.PROVINCES).cities).name
        return f"{name}{city}分公司"
    if kind == "industry_char_changed" and len(p.industry) >= 2:
        i = rng.randrange(len(p.industry))
        typo = rng.choice([c for c in _TYPO_CHARS if c != p.industry[i]])
        industry = p.industry[:i] + typo + p.industry[i + 1 :]
        return name.replace(p.trade + p.industry, p.trade + industry, 1)
    return None


def _negative(kind: str, name: str, rng: random.Random) -> str | None:
    p = analyse(name)
    if p.branch or p.trade + p.industry not in name:
        return None
    if kind == "trade_char_changed":
        i = rng.randrange(len(p.trade))
        pool = [c for c in fakedata._TRADE_CHARS if c not in p.trade]
        trade = p.trade[:i] + rng.choice(pool) + p.trade[i + 1 :]
        return name.replace(p.trade + p.industry, trade + p.industry, 1)
    if kind == "other_city" and p.city and name.startswith(p.region or "\0"):
        province = rng.choice(fakedata.PROVINCES)
        city = rng.choice(province.cities).name
        if city == p.city:
            return None
        return f"{city}市{p.core}{p.legal_form or ''}"
    return None


def _registered(parts: NameParts, keys: set[str], places: set[tuple[str, str | None]]) -> bool:
    return parts.key in keys or (parts.core, parts.province) in places


def cases(firms: list[dict[str, str]], per_kind: int = 200, seed: int = 7) -> list[Case]:
    """`per_kind` queries of each kind, drawn from `firms` (registered(...))."""
    rng = random.Random(seed)
    by_core: dict[str, set[str]] = defaultdict(set)
    keys = {analyse(f["name"]).key for f in firms}
    # (core, province): a "different" firm generated there may in fact be registered
    places: set[tuple[str, str | None]] = set()
    for firm in firms:
        parts = analyse(firm["name"])
        by_core[parts.core].add(firm["uscc"])
        places.add((parts.core, parts.province or firm["province"]))
    out: list[Case] = []
    for kind in POSITIVE_KINDS + NEGATIVE_KINDS:
        made = 0
        for firm in rng.sample(firms, len(firms)):
            if made >= per_kind:
                break
            if kind in POSITIVE_KINDS:
                name = _variant(kind, firm["name"], rng)
                uscc = firm["uscc"]
            else:
                name = _negative(kind, firm["name"], rng)
                uscc = ""
            if name is None or (not uscc and _registered(analyse(name), keys, places)):
                continue
            # Without its place a name may stand for the same core anywhere.
            same = by_core[analyse(name).core] if kind == "region_dropped" else set()
            out.append(Case(kind, Query(name=name), uscc, frozenset(same | {uscc} - {""})))
            made += 1
    return out


def evaluate(match: Callable[[Query], Iterable[tuple[str, bool]]], cases: list[Case]) -> Figures:
    """Run `match` (query → (uscc, flagged) per candidate) over the cases."""
    figures = Figures()
    for case in cases:
        flagged = {uscc for uscc, is_match in match(case.query) if is_match}
        right = flagged & (case.acceptable | {case.firm} - {""})
        figures.flagged += len(flagged)
        figures.right += len(right)
        tally = figures.by_kind[case.kind]
        tally["queries"] += 1
        tally["flagged"] += len(flagged)
        tally["wrong"] += len(flagged - right)
        if case.firm:
            figures.positives += 1
            figures.found += case.firm in flagged
            tally["found"] += case.firm in flagged
    return figures
