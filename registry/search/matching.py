"""Candidates for name matching (screening), from the per-process bitmaps and the index.

A counterparty's name rarely equals the registered one (traditional characters, a missing
region or legal form, a typo), so candidates are not the firms containing the whole query
but those sharing the most of its bigrams: ``levels[k]`` holds the firms that have at least
k + 1 of the query's bigrams, built with a few roaring intersections and unions per bigram
(all in C, no per-firm Python loop), and the best levels are read until enough candidates
are found. Exact codes (USCC, licence number) are looked up in Whoosh as in a search.
Each candidate carries its registered name and codes from the same per-process state
(``Bitmaps.facts``), not from Whoosh's stored fields: scoring and showing it read nothing
more. Scoring is not done here (registry.screening.match): this module only finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap
from whoosh.query import Term

from registry.search.analysis import NAME_SEPARATOR, name_grams
from registry.search.bitmaps import Bitmaps, FirmFacts


@dataclass
class MatchCandidate:
    """A firm with something in force, as the index holds it."""

    enterprise_id: int
    names: list[str]  # normalised, current name first
    facts: FirmFacts  # registered name, USCC, province, licence numbers
    shared: int = 0  # bigrams of the query's name it holds
    codes: set[str] = field(default_factory=set)  # "uscc", "licence_no": found by that code


def _candidate(state: Bitmaps, eid: int, shared: int = 0) -> MatchCandidate | None:
    found = state.names_and_facts(eid)
    if found is None:
        return None
    return MatchCandidate(eid, found[0].split(NAME_SEPARATOR), found[1], shared=shared)


def sharing(state: Bitmaps, grams: list[str], limit: int) -> list[tuple[int, int]]:
    """Up to `limit` (firm id, bigrams shared) with the most of `grams` in common, most
    first; firms sharing fewer than a third of them are not candidates."""
    bitmaps = [state.grams[g] for g in dict.fromkeys(grams) if g in state.grams]
    if not bitmaps:
        return []
    bitmaps.sort(key=len)
    levels: list[BitMap] = []
    for bitmap in bitmaps:
        for k in range(len(levels) - 1, -1, -1):
            more = levels[k] & bitmap
            if not more:
                continue
            if k + 1 == len(levels):
                levels.append(more)
            else:
                levels[k + 1] |= more
        if levels:
            levels[0] |= bitmap
        else:
            levels.append(BitMap(bitmap))
    minimum = max(1, len(set(grams)) // 3)
    found: list[tuple[int, int]] = []
    seen = BitMap()
    for k in range(len(levels) - 1, minimum - 2, -1):
        fresh = levels[k] - seen
        for eid in fresh[: limit - len(found)]:
            found.append((eid, k + 1))
        if len(found) >= limit:
            break
        seen |= fresh
    return found


def by_codes(searcher: Any, uscc: str, licence: str) -> dict[int, set[str]]:
    """Firm ids whose USCC or a licence number equals the (canonical) codes given."""
    found: dict[int, set[str]] = {}
    for fieldname, feature, value in (("uscc", "uscc", uscc), ("licences", "licence_no", licence)):
        if len(value) < 4 or any(ch.isspace() for ch in value):
            continue
        for docnum in Term(fieldname, value).docs(searcher):
            fields = searcher.stored_fields(docnum)
            if fields.get("kind") == "meta" or not str(fields.get("eid", "")).isdigit():
                continue
            found.setdefault(int(fields["eid"]), set()).add(feature)
    return found


def candidates(
    searcher: Any, state: Bitmaps, core: str, uscc: str, licence: str, limit: int
) -> list[MatchCandidate]:
    """Firms found by an exact code first, then those sharing the most bigrams of `core`
    (a normalised name without its qualifiers)."""
    out: dict[int, MatchCandidate] = {}
    for eid, codes in by_codes(searcher, uscc, licence).items():
        found = _candidate(state, eid)
        if found is not None:
            found.codes = codes
            out[eid] = found
    if core:
        for eid, shared in sharing(state, name_grams(core), limit):
            if eid in out:
                out[eid].shared = shared
                continue
            found = _candidate(state, eid, shared)
            if found is not None:
                out[eid] = found
    return list(out.values())


class MemoryCandidates:
    """The same candidate search over firms held in memory (name, uscc, province,
    licences): for evaluating the matcher on generated firms without a database."""

    def __init__(self, firms: list[dict[str, Any]]) -> None:
        from registry import text

        self._codes: dict[tuple[str, str], set[int]] = {}
        docs = []
        for eid, firm in enumerate(firms, start=1):
            fields = dict(firm) | {"eid": str(eid), "listings": []}
            fields["names_norm"] = text.normalize(firm["name"])
            docs.append(fields)
            self._codes.setdefault(("uscc", firm.get("uscc") or ""), set()).add(eid)
            for licence in (firm.get("licences") or "").split():
                self._codes.setdefault(("licence_no", licence), set()).add(eid)
        self._state = Bitmaps.load(docs)

    def match_candidates(
        self, core: str, uscc: str = "", licence: str = "", limit: int = 40
    ) -> list[MatchCandidate]:
        out: dict[int, MatchCandidate] = {}
        for feature, value in (("uscc", uscc), ("licence_no", licence)):
            for eid in self._codes.get((feature, value), ()) if value else ():
                found = out.get(eid) or _candidate(self._state, eid)
                if found is not None:
                    found.codes.add(feature)
                    out[eid] = found
        for eid, shared in sharing(self._state, name_grams(core), limit) if core else ():
            if eid not in out and (found := _candidate(self._state, eid, shared)) is not None:
                out[eid] = found
        return list(out.values())
