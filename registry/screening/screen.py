"""Matching counterparties against the firms with something in force, in batches.

Candidates come from the search index (registry.search: exact codes, shared bigrams of
the core name); each is scored (registry.screening.match) on its names first, and the best
ones again, with their codes and province from the index's stored fields when the query
carries any of them (otherwise those fields are read for the results shown only). What is
in force is checked afterwards by the caller, through registry.visibility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from registry.screening.match import (
    DEFAULT_THRESHOLD,
    MARGIN,
    Firm,
    Query,
    name_score,
    score,
)
from registry.screening.normalize import analyse

CANDIDATES = 40  # found per query before scoring
RESCORED = 10  # of which the best by name are scored with their codes and province


class CandidateSource(Protocol):
    def match_candidates(
        self, core: str, uscc: str = "", licence: str = "", limit: int = 40
    ) -> list[Any]: ...

    def firm_fields(self, enterprise_id: int) -> dict[str, Any] | None: ...


@dataclass
class Result:
    enterprise_id: int
    name: str
    uscc: str | None
    province: str | None
    score: float
    match: bool
    explanations: list[dict[str, Any]] = field(default_factory=list)


def _firm(fields: dict[str, Any], names: list[str]) -> Firm:
    return Firm(
        names=names,
        uscc=fields.get("uscc") or "",
        licences=frozenset((fields.get("licences") or "").split()),
        province=fields.get("province") or "",
    )


def match_one(
    index: CandidateSource,
    query: Query,
    threshold: float = DEFAULT_THRESHOLD,
    limit: int = 5,
) -> list[Result]:
    """The best `limit` firms for one counterparty, best first, with scores and reasons."""
    parts = analyse(query.name) if query.name else None
    core = parts.core if parts else ""  # already normalised as the index's names are
    found = index.match_candidates(core, query.uscc_key, query.licence_key, CANDIDATES)
    by_name = []
    for candidate in found:
        first = 1.0 if candidate.codes or parts is None else name_score(parts, candidate.names)
        by_name.append((first, candidate))
    by_name.sort(key=lambda pair: (-pair[0], pair[1].enterprise_id))
    # Codes and province change a score only when the query carries them; otherwise the
    # stored fields (a lookup in the index each) are read for the results shown only.
    by_fields = bool(query.uscc_key or query.licence_key or query.province)
    results = []
    for _first, candidate in by_name[: max(limit, RESCORED)]:
        fields = index.firm_fields(candidate.enterprise_id) if by_fields else {}
        if fields is None:
            continue
        scored = score(query, _firm(fields, candidate.names), parts)
        results.append(
            Result(
                enterprise_id=candidate.enterprise_id,
                name=candidate.names[0],
                uscc=None,
                province=None,
                score=scored.score,
                match=scored.score >= threshold,
                explanations=scored.explanations,
            )
        )
        if by_fields:
            _show(results[-1], fields)
    results.sort(key=lambda r: (-r.score, r.enterprise_id))
    if results:  # another firm that fits clearly better is the one meant
        best = results[0].score
        for result in results:
            result.match = result.match and result.score >= best - MARGIN
    shown: list[Result] = []
    for result in results:
        if len(shown) == limit or result.score <= 0:
            break
        fields = index.firm_fields(result.enterprise_id) if not by_fields else {}
        if fields is None:
            continue
        shown.append(_show(result, fields) if not by_fields else result)
    return shown


def _show(result: Result, fields: dict[str, Any]) -> Result:
    """The result with the firm's name, USCC and province as the index stores them."""
    result.name = fields.get("name") or result.name
    result.uscc = fields.get("uscc") or None
    result.province = fields.get("province") or None
    return result
