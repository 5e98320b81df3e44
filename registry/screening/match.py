"""How alike a counterparty and a registered firm are: a score in [0, 1] with its reasons.

An exact unified social credit code or licence number settles it (score 1). Otherwise the
names are compared part by part (registry.screening.normalize): the trade name (字号) is
what tells firms apart, so a one-character difference there costs much (the square of its
similarity); the industry words are generic and cost little; the qualifiers multiply the
result — a different province or city, a different legal form family, a branch on one side
only, a conflicting credit code. Pure functions, no database, no Flask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, cast

from rapidfuzz.distance import Levenshtein

from registry import text
from registry.screening.normalize import NameParts, QualifierKey, analyse

DEFAULT_THRESHOLD = 0.8

# Multipliers for the qualifiers (see docs/SCREENING.md for how they were chosen).
REGION_CONFLICT = 0.75
LEGAL_FORM_DIFFERS = 0.93
LEGAL_FORM_MISSING = 0.97
BRANCH_ONE_SIDE = 0.95
BRANCH_DIFFERS = 0.85
PROVINCE_DIFFERS = 0.9
CODE_CONFLICT = 0.85
INDUSTRY_WEIGHT = 0.5
REGION_LESS_SPECIFIC = 0.94
# A candidate is flagged only when no other fits clearly better (by more than this).
MARGIN = 0.05


@dataclass(frozen=True)
class Query:
    """A counterparty as the caller knows it; every field may be empty."""

    name: str = ""
    uscc: str = ""
    licence_no: str = ""
    province: str = ""

    @cached_property
    def uscc_key(self) -> str:
        return text.canonical_uscc(self.uscc) if self.uscc else ""

    @cached_property
    def licence_key(self) -> str:
        return text.canonical_licence(self.licence_no) if self.licence_no else ""


@dataclass(frozen=True)
class Firm:
    """A registered firm as the matcher sees it: names current first, codes canonical."""

    names: Sequence[str]
    uscc: str = ""
    licences: frozenset[str] = frozenset()
    province: str = ""
    parts: Sequence[NameParts] = ()  # the names taken apart, when already done


@dataclass
class Scored:
    score: float
    explanations: list[dict[str, Any]] = field(default_factory=list)


def _why(feature: str, result: str, factor: float, **detail: Any) -> dict[str, Any]:
    return {"feature": feature, "result": result, "factor": round(factor, 4)} | detail


def _part_similarities(q: NameParts, c: NameParts) -> tuple[float, float]:
    """(trade name, industry) similarity from the edits turning the query's core into the
    firm's: an edit inside the firm's trade name (or the query's) counts against the trade
    name, any other against the industry. The registered name's cut is trusted, the query's
    only where the firm's says nothing (its cut goes wrong when its industry has a typo)."""
    firm_trade, query_trade = len(c.trade), len(q.trade)
    ops = cast(list[tuple[str, int, int]], Levenshtein.editops(q.core, c.core).as_list())
    trade_edits = 0
    for tag, src, dest in ops:
        if tag == "delete":  # a character of the query only
            trade_edits += src < query_trade and dest <= firm_trade
        else:  # "replace", "insert": a character of the firm's name
            trade_edits += dest < firm_trade
    industry_edits = len(ops) - trade_edits
    trade = 1 - trade_edits / max(firm_trade, query_trade, 1)
    rest = max(len(c.industry), len(q.core) - query_trade, 1)
    return max(0.0, trade), max(0.0, 1 - industry_edits / rest)


def _core_score(q: NameParts, c: NameParts) -> tuple[float, float, float]:
    """(trade name, industry similarity, their score) of the two cores."""
    if q.core == c.core:
        trade, industry = 1.0, 1.0
    else:
        trade, industry = _part_similarities(q, c)
    return trade, industry, trade**2 * (1 - INDUSTRY_WEIGHT * (1 - industry))


def name_similarity(q: NameParts, c: NameParts) -> Scored:
    """The name part of the score (qualifiers included), with its explanations."""
    trade, industry, score = _core_score(q, c)
    qualifiers = _qualifiers(q, c)
    for factor, *_ in qualifiers:
        score *= factor
    if q.core == c.core:
        why = [_why("name", "same_core", 1.0, core=c.core)]
    else:
        why = [
            _why("trade_name", _same(trade), trade**2, query=q.trade, firm=c.trade),
            _why(
                "industry",
                _same(industry),
                1 - INDUSTRY_WEIGHT * (1 - industry),
                query=q.core[len(q.trade) :],
                firm=c.industry,
            ),
        ]
    for factor, feature, result, mine, theirs in qualifiers:
        why.append(_why(feature, result, factor, query=mine, firm=theirs))
    return Scored(score, why)


def _same(similarity: float) -> str:
    return "similar" if similarity < 1 else "same"


Qualifier = tuple[float, str, str, str | None, str | None]
Rule = tuple[float, str, str]  # factor, feature, result


@lru_cache(maxsize=4096)  # few combinations of forms, places and branches
def _rules(q: QualifierKey, c: QualifierKey) -> tuple[Rule, ...]:
    """(factor, feature, result) for each qualifier that differs, from the two names'
    (legal form family, province, city, branch)."""
    q_family, q_province, q_city, q_branch = q
    c_family, c_province, c_city, c_branch = c
    out: list[Rule] = []
    if q_family and c_family:
        if q_family != c_family:
            out.append((LEGAL_FORM_DIFFERS, "legal_form", "differs"))
    elif q_family or c_family:
        out.append((LEGAL_FORM_MISSING, "legal_form", "missing"))
    if q_province and c_province:
        if q_province != c_province or (q_city and c_city and q_city != c_city):
            out.append((REGION_CONFLICT, "region", "differs"))
        elif bool(q_city) != bool(c_city):
            out.append((REGION_LESS_SPECIFIC, "region", "less_specific"))
    if q_branch != c_branch:
        if q_branch and c_branch:
            out.append((BRANCH_DIFFERS, "branch", "differs"))
        else:
            out.append((BRANCH_ONE_SIDE, "branch", "one_side"))
    return tuple(out)


def _qualifiers(q: NameParts, c: NameParts) -> list[Qualifier]:
    """(factor, feature, result, query's value, firm's value) for each qualifier that differs
    (each feature is named as the NameParts field it shows)."""
    return [
        (factor, feature, result, getattr(q, feature), getattr(c, feature))
        for factor, feature, result in _rules(q.qualifier_key, c.qualifier_key)
    ]


def name_score(q: NameParts, names: Sequence[NameParts]) -> float:
    """The best name score over a firm's names (taken apart), without explanations (the
    same number as name_similarity's, for ranking many candidates before explaining the
    best)."""
    best = 0.0
    for c in names:
        score = _core_score(q, c)[2]
        for factor, _feature, _result in _rules(q.qualifier_key, c.qualifier_key):
            score *= factor
        best = max(best, score)
    return best


def score(query: Query, firm: Firm, parts: NameParts | None = None) -> Scored:
    """Score one firm for one query. `parts` is analyse(query.name), when already made."""
    uscc, licence = query.uscc_key, query.licence_key
    if uscc and firm.uscc and uscc == firm.uscc:
        return Scored(1.0, [_why("uscc", "exact", 1.0, value=uscc)])
    if licence and licence in firm.licences:
        return Scored(1.0, [_why("licence_no", "exact", 1.0, value=licence)])
    best = Scored(0.0)
    if query.name:
        q = parts or analyse(query.name)
        for i, name in enumerate(firm.names):
            found = name_similarity(q, firm.parts[i] if firm.parts else analyse(name))
            if i:
                found.explanations.insert(0, _why("name", "former_name", 1.0, firm=name))
            if found.score > best.score:
                best = found
    if uscc and firm.uscc and text.looks_like_uscc(uscc):
        best.score *= CODE_CONFLICT
        best.explanations.append(_why("uscc", "differs", CODE_CONFLICT, query=uscc, firm=firm.uscc))
    if query.province and firm.province and query.province != firm.province:
        best.score *= PROVINCE_DIFFERS
        best.explanations.append(
            _why("province", "differs", PROVINCE_DIFFERS, query=query.province, firm=firm.province)
        )
    best.score = round(min(1.0, max(0.0, best.score)), 4)
    return best
