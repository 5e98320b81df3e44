"""Each firm's registered name and codes, held per process beside the bitmaps (compactly).

Screening shows and scores its candidates by their registered name, USCC, province and
licence numbers; reading them from Whoosh's stored fields cost a term lookup and an
unpickling per candidate. A `FactTable` holds them for the firms of one base load as two
strings with offsets (the name and licences, mostly Chinese; the USCC and province,
ASCII, so a byte a character), a few bytes a firm instead of Python objects: built while
the load streams the stored fields, in their order, it keeps no per-firm object, and maps
a firm's rank in the base bitmap to its place in that order. Firms changed since the load
are held by the caller (registry.search.bitmaps), like their names.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping
from typing import Any, NamedTuple

UNIT = "\x1f"  # between the two values kept in one string per firm
_CHUNK = 4096  # firms' strings joined at a time while adding (few small objects alive)


class FirmFacts(NamedTuple):
    """What screening needs of a firm besides its normalised names (as stored)."""

    name: str  # the registered name, as written
    uscc: str
    province: str
    licences: str  # licence numbers, space-separated


def facts_of(doc: Mapping[str, Any]) -> FirmFacts:
    """The facts in a firm's stored fields."""
    return FirmFacts(
        str(doc.get("name") or ""),
        str(doc.get("uscc") or ""),
        str(doc.get("province") or ""),
        str(doc.get("licences") or ""),
    )


class FactTable:
    """The facts of the firms of one load: `add` each (any order), `seal`, then `get` by
    the firm's rank in the base bitmap (1 for the smallest firm id)."""

    def __init__(self) -> None:
        self._pending: tuple[list[str], list[str]] = ([], [])
        self._chunks: tuple[list[str], list[str]] | None = ([], [])
        self._eids = array("I")
        self._texts = ""
        self._codes = ""
        self._text_ends = array("I", [0])
        self._code_ends = array("I", [0])
        self._slots: array | None = None  # rank - 1 -> place in load order; None: the same

    def add(self, eid: int, facts: FirmFacts) -> None:
        assert self._chunks is not None, "sealed"
        texts, codes = self._pending
        text = facts.name + UNIT + facts.licences
        code = facts.uscc + UNIT + facts.province
        texts.append(text)
        codes.append(code)
        self._text_ends.append(self._text_ends[-1] + len(text))
        self._code_ends.append(self._code_ends[-1] + len(code))
        self._eids.append(eid)
        if len(texts) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        assert self._chunks is not None
        for pending, chunks in zip(self._pending, self._chunks, strict=True):
            chunks.append("".join(pending))
            pending.clear()

    def seal(self) -> FactTable:
        """Done adding: the strings are made and the order by firm id is noted."""
        if self._chunks is not None:
            self._flush()
            self._texts, self._codes = ("".join(chunks) for chunks in self._chunks)
            self._chunks = None
            eids = self._eids
            if any(eids[i] >= eids[i + 1] for i in range(len(eids) - 1)):
                order = sorted(range(len(eids)), key=eids.__getitem__)  # stable
                last = len(order) - 1  # of a firm given twice, its later facts
                self._slots = array(
                    "I",
                    (s for k, s in enumerate(order) if k == last or eids[order[k + 1]] != eids[s]),
                )
            self._eids = array("I")
        return self

    def get(self, rank: int) -> FirmFacts:
        slot = rank - 1 if self._slots is None else self._slots[rank - 1]
        name, licences = self._texts[self._text_ends[slot] : self._text_ends[slot + 1]].split(UNIT)
        uscc, province = self._codes[self._code_ends[slot] : self._code_ends[slot + 1]].split(UNIT)
        return FirmFacts(name, uscc, province, licences)

    def size(self) -> int:
        """Approximate bytes held."""
        arrays = (self._text_ends, self._code_ends, self._slots or array("I"))
        return (
            sys.getsizeof(self._texts)
            + sys.getsizeof(self._codes)
            + sum(len(a) * a.itemsize for a in arrays)
        )
