"""Each firm's registered name, codes and listings, held per process beside the bitmaps
(compactly).

Screening shows and scores its candidates by their registered name, USCC, province and
licence numbers, and a search page shows each firm found with its listings; reading them
from Whoosh's stored fields cost a term lookup and an unpickling per firm, and from the
database a statement per page. A `FactTable` holds them for the firms of one base load as
two strings with offsets (the name and licences, mostly Chinese; the USCC, province and
listings, ASCII, so a byte a character), a few bytes a firm instead of Python objects:
built while the load streams the stored fields, in their order, it keeps no per-firm
object, and maps a firm's rank in the base bitmap to its place in that order. Firms changed
since the load are held by the caller (registry.search.bitmaps), like their names.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping
from typing import Any, NamedTuple

UNIT = "\x1f"  # between the two values kept in one string per firm
_CHUNK = 4096  # firms' strings joined at a time while adding (few small objects alive)


class FirmFacts(NamedTuple):
    """What screening needs of a firm besides its normalised names (as stored), and what a
    search shows of it (its listings, `encode_listings`)."""

    name: str  # the registered name, as written
    uscc: str
    province: str
    licences: str  # licence numbers, space-separated
    listings: str = ""  # `encode_listings` of its stored listings; "" if not known


def facts_of(doc: Mapping[str, Any]) -> FirmFacts:
    """The facts in a firm's stored fields."""
    return FirmFacts(
        str(doc.get("name") or ""),
        str(doc.get("uscc") or ""),
        str(doc.get("province") or ""),
        str(doc.get("licences") or ""),
        encode_listings(doc.get("listings") or ()),
    )


class ShownListing(NamedTuple):
    """A listing as the index holds it for display: ids of its ground and authority (their
    names are the catalogue's), days as ISO text (None: no such day)."""

    id: int
    list_code: str
    ground_id: int
    authority_id: int
    decided_on: str
    listed_on: str | None
    expires_on: str | None


_LISTING_KEYS = ("id", "list", "ground_id", "authority_id", "decided_on", "listed_on", "expires_on")


def encode_listings(listings: Any) -> str:
    """A firm's stored listings as one ASCII string, latest decision first (the order a
    search shows them in): a few bytes a listing instead of a dict. "" when there are none
    or when any lacks a field shown (an index written before they were stored)."""
    rows = []
    for li in listings:
        if any(key not in li for key in _LISTING_KEYS):
            return ""
        rows.append(
            (
                li["decided_on"],
                int(li["id"]),
                li["list"],
                li["ground_id"],
                li["authority_id"],
                li["listed_on"] or "",
                li["expires_on"] or "",
            )
        )
    rows.sort(reverse=True)
    return ";".join(
        f"{lid},{code},{ground},{authority},{decided},{listed},{expires}"
        for decided, lid, code, ground, authority, listed, expires in rows
    )


def listing_rows(text: str) -> list[list[str]]:
    """`encode_listings` split into each listing's fields as text, in ShownListing's order
    ("" for a day it lacks): for a caller that skips most of them before converting any."""
    return [row.split(",") for row in text.split(";")] if text else []


def decode_listings(text: str) -> list[ShownListing]:
    """`encode_listings` read back."""
    return [
        ShownListing(
            int(lid), code, int(ground), int(authority), decided, listed or None, expires or None
        )
        for lid, code, ground, authority, decided, listed, expires in listing_rows(text)
    ]


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
        code = facts.uscc + UNIT + facts.province + UNIT + facts.listings
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
        codes = self._codes[self._code_ends[slot] : self._code_ends[slot + 1]]
        uscc, province, listings = codes.split(UNIT)
        # (tuple.__new__: the named tuple's own __new__ is a Python function)
        return tuple.__new__(FirmFacts, (name, uscc, province, licences, listings))

    def size(self) -> int:
        """Approximate bytes held."""
        arrays = (self._text_ends, self._code_ends, self._slots or array("I"))
        return (
            sys.getsizeof(self._texts)
            + sys.getsizeof(self._codes)
            + sum(len(a) * a.itemsize for a in arrays)
        )
