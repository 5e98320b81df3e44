"""Matching counterparties against the firms with something in force, in batches.

Candidates come from the search index (registry.search: exact codes, shared bigrams of
the core name), each with its registered name, codes and province; each is scored
(registry.screening.match) on its names first, and the best ones again with their codes
and province. What is in force is checked afterwards by the caller, through
registry.visibility.
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
from registry.screening.normalize import NameParts, analyse, analyse_normalised
from registry.search.matching import MatchCandidate

CANDIDATES = 40  # found per query before scoring
RESCORED = 10  # of which the best by name are scored with their codes and province


class CandidateSource(Protocol):
    def match_candidates(
        self, core: str, uscc: str = "", licence: str = "", limit: int = 40
    ) -> list[MatchCandidate]: ...


@dataclass
class Result:
    enterprise_id: int
    name: str
    uscc: str | None
    province: str | None
    score: float
    match: bool
    explanations: list[dict[str, Any]] = field(default_factory=list)


def _firm(candidate: MatchCandidate, parts: list[NameParts]) -> Firm:
    facts = candidate.facts
    return Firm(
        names=candidate.names,
        uscc=facts.uscc,
        licences=frozenset(facts.licences.split()),
        province=facts.province,
        parts=parts,
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
        names = [analyse_normalised(name) for name in candidate.names]
        first = 1.0 if candidate.codes or parts is None else name_score(parts, names)
        by_name.append((first, candidate, names))
    by_name.sort(key=lambda entry: (-entry[0], entry[1].enterprise_id))
    results = []
    for _first, candidate, names in by_name[: max(limit, RESCORED)]:
        scored = score(query, _firm(candidate, names), parts)
        facts = candidate.facts
        results.append(
            Result(
                enterprise_id=candidate.enterprise_id,
                name=facts.name or candidate.names[0],
                uscc=facts.uscc or None,
                province=facts.province or None,
                score=scored.score,
                match=scored.score >= threshold,
                explanations=scored.explanations,
            )
        )
    results.sort(key=lambda r: (-r.score, r.enterprise_id))
    if results:  # another firm that fits clearly better is the one meant
        best = results[0].score
        for result in results:
            result.match = result.match and result.score >= best - MARGIN
    return [result for result in results if result.score > 0][:limit]
