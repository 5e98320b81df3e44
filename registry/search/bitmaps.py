"""The per-process bitmap layer over one Whoosh index generation (pyroaring).

Whoosh stays the persistent index (stored fields, exact codes, the change-sequence
bookkeeping); each process derives from its stored fields, at first use, one roaring
bitmap per name bigram and per facet value over firm ids (``eid``, stable across segment
merges, unlike Whoosh's internal document numbers), and keeps them current:

* when the index generation changes and the meta document's change log covers the
  events since this process's copy (``changes``: ``(from_seq, to_seq, eids)`` per catch-up,
  written by :meth:`SearchIndex.catch_up`), only those firms are re-read;
* otherwise (a rebuild, a gap in the log, an old index) everything is reloaded.

A query is answered without materialising its hits: candidates = AND of the query's
bigram bitmaps; for queries longer than two characters each candidate's normalised names
are checked for the substring (from one compact string, not per-hit Whoosh reads); facet
counts are ``intersection_cardinality`` of the result with each facet bitmap.

Facet values that must hold *on one listing at once* (list, ground, year) are kept as one
bitmap per ``(list, ground, year)`` combination (a few dozen), so a filter is the union of
the combinations it allows. Expiry at read time: ``expiry[day]`` holds the firms with a
listing that expires on ``day``; the firms with any listing expired on the search date
("stale", normally few: a sweep and its catch-up re-index them) are evaluated exactly from
their stored fields instead of the bitmaps.

Each firm's registered name, USCC, province and licence numbers are kept too (compact,
registry.search.facts), so that screening scores and shows its candidates without a
Whoosh stored-field read per candidate; they follow the same events as the names.

Ranking (no BM25 over all hits): exact code matches first, then firms whose current name
contains the query as whole jieba words (通信 ranks 长城通信技术 before 交通信息: one
bitmap per word of the names, from the index's stored ``terms``), then the other firms
whose current name contains it, then those found by a former name only; within each,
shorter current names first (an exact name is the shortest), then by firm id. The empty query lists firms
by latest decision date, newest first. Only the visible page reads Whoosh stored fields,
and each page hit is re-checked against the search date.

Measured with bench/search_micro.py on the 249-firm demo instance (loaded machine, median
of 5, cache cleared): 有限公司 81 ms → 16 ms, 科技有限 27 → 13 ms, recall and precision
100 %. The 100k-firm run is in the lead's report / docs/PERFORMANCE.md once made.
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from pyroaring import BitMap

from registry.search.analysis import NAME_SEPARATOR, name_grams, name_words
from registry.search.facts import FactTable, FirmFacts, facts_of

_MISSING = object()
_MAX_WORD = 8
_LOAD_BATCH = 10_000  # longest vocabulary word tried when cutting a query
_HEADER = 100  # PyObject + roaring_bitmap_t + a dict slot and its key, roughly
FacetKey = tuple[str, str, int]  # (list, ground, year) of one listing
Profile = tuple[str, tuple[FacetKey, ...]]  # a firm's province and its listings' FacetKeys
ProfileValues = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # lists, grounds, years
_KEYWORDS = re.compile("[^ \t\r\n]+")  # how Whoosh's KEYWORD field cuts the licences
# 24 bits of a term's hash: 200,000 terms fill 256 dense containers (about 0.4 MB; with 32
# bits, 63,000 sparse ones and twice the memory). A term that shares the bits of a held one
# is looked up (about one in a hundred at 100,000 firms), finding nothing.
_HASH_MASK = 0xFFFFFF


def code_key(fieldname: str, value: str) -> int:
    """A code term as 24 bits of this process's string hash, for the sets of terms held."""
    return hash((fieldname, value)) & _HASH_MASK


_ASCII_DIGIT = re.compile("[0-9]")


def has_ascii_digit(code: str) -> bool:
    return _ASCII_DIGIT.search(code) is not None


def union(bitmaps: Iterable[BitMap]) -> BitMap:
    items = list(bitmaps)
    return BitMap.union(*items) if items else BitMap()


class Bitmaps:
    """Bitmaps of one index generation; `key` and `seq` say which."""

    def __init__(self) -> None:
        self.key: tuple[str, int] | None = None
        self.seq = 0
        self.version = 0  # bumped on every change, for result caches
        self.alive = BitMap()
        self.grams: dict[str, BitMap] = {}
        self.province: dict[str, BitMap] = {}
        self.combos: dict[FacetKey, BitMap] = {}
        self.expiry: dict[str, BitMap] = {}  # ISO day -> firms with a listing ending then
        self.latest: dict[str, BitMap] = {}  # ISO day -> firms whose latest decision is then
        self.lengths: dict[int, BitMap] = {}  # length of the current normalised name
        self.former = BitMap()  # firms with former names
        self.words: dict[str, BitMap] = {}  # jieba word of any name -> firms (ranking)
        # `code_key` of every USCC and licence term of the firms loaded (and of firms since
        # changed or removed: a superset), and of every decision term of the generation's
        # segments (set by the index; None: not known, so every lookup is made).
        self.codes = BitMap()
        self.decision_codes: BitMap | None = None
        # The fields (uscc, licences, decisions) of which a code held has no ASCII digit
        # (none of the real ones): a query that cannot have one is not looked up there.
        self.digitless_codes: set[str] = set()
        # Names: one string of the base load in firm id order, plus an overlay of firms
        # changed since (eid -> names, or None when gone). A base firm's names are
        # `_blob[_spans[eid] : _spans[eid + 1]]` (a firm id not in the base spans nothing):
        # indexed by the firm id itself, so a name check needs no rank lookup in `_base`.
        self._base = BitMap()
        self._blob = ""
        self._spans = array("I", [0])
        self._overlay: dict[int, str | None] = {}
        # Registered name and codes of the base load, and of the firms changed since.
        self._facts = FactTable().seal()
        self._facts_overlay: dict[int, FirmFacts | None] = {}
        self._stale_cache: tuple[str, int, BitMap] | None = None
        self._latest_order: list[str] | None = None
        self._length_order: list[BitMap] | None = None
        self._provinces_order: list[tuple[str, BitMap]] | None = None
        self._facet_cache: dict[tuple, dict[str, dict[str, BitMap]]] = {}
        # Each firm's facet profile (its province and listing combinations, as
        # `province` and `combos` hold it), for counting the facets of a few firms without
        # a membership test in every facet value's bitmap: the distinct profiles (a few
        # thousand at 100,000 firms) and, indexed by firm id, each firm's (0: none).
        self._profiles: list[Profile] = [("", ())]
        self._profile_ids: dict[Profile, int] = {("", ()): 0}
        # Each profile's distinct list, ground and year values as the facets name them.
        self._profile_values: list[ProfileValues] = [((), (), ())]
        self._firm_profiles = array("H")

    # --- building -----------------------------------------------------------------------

    @classmethod
    def load(cls, docs: Iterable[Mapping[str, Any]]) -> Bitmaps:
        """Build from the stored fields of every firm document (others are ignored)."""
        self = cls()
        # Ids gathered in arrays of 32-bit ints and poured into the bitmaps every
        # _LOAD_BATCH firms: the transient lists of a whole load were most of a worker's
        # memory at 100k firms (Python keeps the arenas they leave).
        grams: dict[str, array] = {}
        words: dict[str, array] = {}
        pieces: list[tuple[int, str]] = []
        facts = FactTable()
        pending = 0
        for doc in docs:
            eid = _eid(doc)
            if eid is None:
                continue
            names = doc.get("names_norm") or ""
            pieces.append((eid, names))
            firm_facts = facts_of(doc)
            facts.add(eid, firm_facts)
            self._add_codes(firm_facts)
            for gram in _grams(names):
                found = grams.get(gram)
                if found is None:
                    found = grams[gram] = array("I")
                found.append(eid)
            self._add_facets(eid, doc, names)
            for word in doc.get("terms") or ():
                found = words.get(word)
                if found is None:
                    found = words[word] = array("I")
                found.append(eid)
            pending += 1
            if pending >= _LOAD_BATCH:
                _pour(self.grams, grams)
                _pour(self.words, words)
                pending = 0
        _pour(self.grams, grams)
        _pour(self.words, words)
        pieces.sort()
        self._pack(pieces, facts.seal())
        self.alive = BitMap(self._base)
        self.optimise()
        return self

    def _pack(self, names: list[tuple[int, str]], facts: FactTable) -> None:
        """The base load: `names` (eid, normalised names) in eid order, their facts."""
        self._base = BitMap(eid for eid, _ in names)
        spans = array("I")
        total = 0
        for eid, value in names:
            while len(spans) <= eid:  # this firm's start, and the empty spans before it
                spans.append(total)
            total += len(value)
        spans.append(total)
        self._spans = spans
        self._blob = "".join(value for _, value in names)
        self._facts = facts

    def _add_codes(self, facts: FirmFacts) -> None:
        """The firm's USCC and licence numbers, as the index's terms for them."""
        if facts.uscc:
            self.codes.add(code_key("uscc", facts.uscc))
            if not has_ascii_digit(facts.uscc):
                self.digitless_codes.add("uscc")
        for licence in _KEYWORDS.findall(facts.licences):
            self.codes.add(code_key("licences", licence))
            if not has_ascii_digit(licence):
                self.digitless_codes.add("licences")

    def may_hold_ideographic_code(self) -> bool:
        """Whether a code held may have no ASCII digit (False: each one has at least one).
        Unknown decision terms (no set of them yet) may."""
        return bool(self.digitless_codes) or self.decision_codes is None

    def may_hold_code(self, fieldname: str, value: str) -> bool:
        """False when no document of the generation has the term `value` in `fieldname`
        (uscc, licences or decisions): its lookup would find nothing. True: look it up."""
        if fieldname == "decisions":
            codes = self.decision_codes
            return codes is None or code_key(fieldname, value) in codes
        return code_key(fieldname, value) in self.codes

    def _add_facets(self, eid: int, doc: Mapping[str, Any], names: str) -> None:
        current = names.split(NAME_SEPARATOR, 1)[0]
        if NAME_SEPARATOR in names:
            self.former.add(eid)
        self.lengths.setdefault(len(current), BitMap()).add(eid)
        if doc.get("province"):
            self.province.setdefault(doc["province"], BitMap()).add(eid)
        listings = doc.get("listings") or []
        combos = set()
        for li in listings:
            key = (li["list"], li["ground"], int(li["year"]))
            combos.add(key)
            self.combos.setdefault(key, BitMap()).add(eid)
            if li.get("expires_on"):
                self.expiry.setdefault(li["expires_on"], BitMap()).add(eid)
        if listings:
            self.latest.setdefault(max(li["decided_on"] for li in listings), BitMap()).add(eid)
        self._set_profile(eid, (doc.get("province") or "", tuple(sorted(combos))))

    def _set_profile(self, eid: int, profile: Profile) -> None:
        found = self._profile_ids.get(profile)
        if found is None:
            found = self._profile_ids[profile] = len(self._profiles)
            self._profiles.append(profile)
            self._profile_values.append(facet_values(profile[1]))
            if found > 0xFFFF and self._firm_profiles.typecode == "H":
                self._firm_profiles = array("I", self._firm_profiles)
        held = self._firm_profiles
        if len(held) <= eid:
            held.extend([0] * (eid + 1 - len(held)))
        held[eid] = found

    def profile(self, eid: int) -> Profile:
        """The firm's province ("" when none) and listing combinations, as the `province`
        and `combos` bitmaps hold it (("", ()) for a firm not held)."""
        held = self._firm_profiles
        return self._profiles[held[eid] if eid < len(held) else 0]

    def profile_values(self, eid: int) -> ProfileValues:
        """`facet_values` of the firm's combinations (kept per profile)."""
        held = self._firm_profiles
        return self._profile_values[held[eid] if eid < len(held) else 0]

    def apply(self, changed: Mapping[int, Mapping[str, Any] | None]) -> None:
        """Replace the firms in `changed` (eid -> stored fields, or None when removed)."""
        if not changed:
            return
        gone = BitMap(changed)
        for eid in changed:
            old = self.names(eid)
            if old:
                for gram in _grams(old):
                    bitmap = self.grams.get(gram)
                    if bitmap is not None:
                        bitmap.discard(eid)
                for word in name_words(old):  # what the index stored for these names
                    bitmap = self.words.get(word)
                    if bitmap is not None:
                        bitmap.discard(eid)
        for group in (self.province, self.combos, self.expiry, self.latest, self.lengths):
            for bitmap in group.values():
                bitmap -= gone
        self.former -= gone
        self.alive -= gone
        for eid, doc in changed.items():
            if doc is None:
                self._overlay[eid] = self._facts_overlay[eid] = None
                if eid < len(self._firm_profiles):
                    self._firm_profiles[eid] = 0
                continue
            names = doc.get("names_norm") or ""
            self._overlay[eid] = names
            firm_facts = self._facts_overlay[eid] = facts_of(doc)
            self._add_codes(firm_facts)
            self.alive.add(eid)
            for gram in _grams(names):
                self.grams.setdefault(gram, BitMap()).add(eid)
            for word in doc.get("terms") or ():
                self.words.setdefault(word, BitMap()).add(eid)
            self._add_facets(eid, doc, names)
        groups = (self.grams, self.words, self.province, self.combos, self.expiry, self.latest)
        for group in groups:
            for value in [k for k, bitmap in group.items() if not bitmap]:
                del group[value]
        if len(self._overlay) > 1000 and len(self._overlay) * 10 > len(self._base):
            self._compact()
        self.changed()

    def _compact(self) -> None:
        names = [(eid, self.names(eid) or "") for eid in self.alive]
        facts = FactTable()
        for eid in self.alive:
            facts.add(eid, self.facts(eid) or FirmFacts("", "", "", ""))
        self._overlay, self._facts_overlay = {}, {}
        self._pack(names, facts.seal())

    def optimise(self) -> None:
        for group in (self.grams, self.words, self.province, self.combos, self.expiry, self.latest):
            for bitmap in group.values():
                bitmap.run_optimize()
                bitmap.shrink_to_fit()
        self.codes.shrink_to_fit()
        self.changed()

    def changed(self) -> None:
        self.version += 1
        self._stale_cache = None
        self._latest_order = None
        self._length_order = None
        self._provinces_order = None
        self._facet_cache = {}

    # --- reading ------------------------------------------------------------------------

    def names(self, eid: int) -> str | None:
        """The normalised names (newline-separated, current first) of a firm, or None."""
        value = self._overlay.get(eid, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[return-value]
        if eid not in self._base:
            return None
        return self._blob[self._spans[eid] : self._spans[eid + 1]]

    def facts(self, eid: int) -> FirmFacts | None:
        """The registered name and codes of a firm, or None."""
        value = self._facts_overlay.get(eid, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[return-value]
        if eid not in self._base:
            return None
        return self._facts.get(self._base.rank(eid))

    def names_and_facts(self, eid: int) -> tuple[str, FirmFacts] | None:
        """`names` and `facts` of a firm at once (one rank lookup), or None."""
        if eid in self._overlay:
            names, facts = self._overlay[eid], self._facts_overlay[eid]
            return None if names is None or facts is None else (names, facts)
        if eid not in self._base:
            return None
        names = self._blob[self._spans[eid] : self._spans[eid + 1]]
        return names, self._facts.get(self._base.rank(eid))

    def candidates(self, q: str) -> BitMap:
        """Firms whose names hold every bigram of `q` (2+ characters)."""
        bitmaps = []
        for gram in sorted(set(name_grams(q))):
            bitmap = self.grams.get(gram)
            if bitmap is None:
                return BitMap()
            bitmaps.append(bitmap)
        bitmaps.sort(key=len)
        return BitMap.intersection(*bitmaps) if bitmaps else BitMap()

    def segment(self, q: str) -> list[str]:
        """`q` cut into the fewest words of the index's vocabulary (the jieba words of the
        names), or [] when it cannot be: the query side of the ranking, without loading
        jieba's dictionary (60 MB) into every web worker."""
        if q in self.words:
            return [q]
        longest = min(len(q), _MAX_WORD)
        best: list[list[str] | None] = [None] * (len(q) + 1)
        best[0] = []
        for end in range(1, len(q) + 1):
            for start in range(max(0, end - longest), end):
                head = best[start]
                if head is not None and q[start:end] in self.words:
                    cut = [*head, q[start:end]]
                    if best[end] is None or len(cut) < len(best[end]):  # type: ignore[arg-type]
                        best[end] = cut
        return best[len(q)] or []

    def aligned(self, query_words: list[str]) -> BitMap:
        """Firms having every one of `query_words` among the jieba words of their names
        (a query that is whole words of a name, not a span across two)."""
        bitmaps = []
        for word in set(query_words):
            bitmap = self.words.get(word)
            if bitmap is None:
                return BitMap()
            bitmaps.append(bitmap)
        return BitMap.intersection(*bitmaps) if bitmaps else BitMap()

    def containing(self, candidates: BitMap, q: str) -> BitMap:
        """The candidates one of whose names contains `q` (bigrams all present is not enough
        for three or more characters: they may not be adjacent)."""
        if NAME_SEPARATOR in q:
            return BitMap()
        blob, spans, base = self._blob, self._spans, self._base
        overlay = self._overlay
        find = blob.find  # within the firm's names, without slicing them out
        if not overlay and candidates.issubset(base):  # (without changes since the load, all are)
            return BitMap([eid for eid in candidates if find(q, spans[eid], spans[eid + 1]) >= 0])
        out = []
        for eid in candidates:
            value = overlay.get(eid, _MISSING)
            if value is _MISSING:
                if eid in base and find(q, spans[eid], spans[eid + 1]) >= 0:
                    out.append(eid)
            elif value is not None and q in value:
                out.append(eid)
        return BitMap(out)

    def former_only(self, matched: BitMap, q: str) -> BitMap:
        """The matched firms whose current name does not contain `q` (found by a former name)."""
        out = []
        for eid in matched & self.former:
            names = self.names(eid) or ""
            if q not in names.split(NAME_SEPARATOR, 1)[0]:
                out.append(eid)
        return BitMap(out)

    def stale(self, day: str) -> BitMap:
        """Firms with a listing whose expiry date is on or before `day` (ISO)."""
        cached = self._stale_cache
        if cached is not None and cached[0] == day and cached[1] == self.version:
            return cached[2]
        result = union(bitmap for expires, bitmap in self.expiry.items() if expires <= day)
        self._stale_cache = (day, self.version, result)
        return result

    def allowed(self, list_code: str | None, ground: str | None, year: int | None) -> BitMap:
        """Firms with one listing of this list, ground and year at once (None: any)."""
        if list_code is None and ground is None and year is None:
            return self.alive
        return union(bm for key, bm in self.combos.items() if fits(key, list_code, ground, year))

    def facet_bitmaps(
        self, list_code: str | None, ground: str | None, year: int | None
    ) -> dict[str, dict[str, BitMap]]:
        """For the list/ground/year facets: value -> firms with one listing that has that
        value and satisfies the filters. Kept until the bitmaps change: the unions were a
        sixth of a code lookup at 100k firms, the same for every query."""
        key = (list_code, ground, year)
        cached = self._facet_cache.get(key)
        if cached is None:
            if len(self._facet_cache) >= 64:
                self._facet_cache.clear()
            cached = self._facet_cache[key] = self._facet_bitmaps(list_code, ground, year)
        return cached

    def _facet_bitmaps(
        self, list_code: str | None, ground: str | None, year: int | None
    ) -> dict[str, dict[str, BitMap]]:
        grouped: dict[str, dict[str, list[BitMap]]] = {"list": {}, "ground": {}, "year": {}}
        for key, bitmap in self.combos.items():
            if not fits(key, list_code, ground, year):
                continue
            for name, value in zip(("list", "ground", "year"), key, strict=True):
                grouped[name].setdefault(str(value), []).append(bitmap)
        return {
            name: {value: union(bms) for value, bms in values.items()}
            for name, values in grouped.items()
        }

    def provinces_by_size(self) -> list[tuple[str, BitMap]]:
        """The province bitmaps, the largest first (kept until the bitmaps change)."""
        if self._provinces_order is None:
            self._provinces_order = sorted(
                self.province.items(), key=lambda item: (-len(item[1]), item[0])
            )
        return self._provinces_order

    def by_latest(self) -> list[BitMap]:
        """Firm bitmaps by latest decision date, newest first."""
        if self._latest_order is None:
            self._latest_order = sorted(self.latest, reverse=True)
        return [self.latest[day] for day in self._latest_order]

    def by_length(self) -> list[BitMap]:
        """Firm bitmaps by the length of their current name, shortest first (kept until the
        bitmaps change)."""
        if self._length_order is None:
            self._length_order = [self.lengths[n] for n in sorted(self.lengths)]
        return self._length_order

    def memory(self) -> dict[str, int]:
        """Approximate bytes held: each bitmap's containers plus ~100 bytes of Python and
        CRoaring headers and its dictionary key, and the compact names."""
        everything = [
            bm
            for group in (
                self.grams,
                self.words,
                self.province,
                self.combos,
                self.expiry,
                self.latest,
            )
            for bm in group.values()
        ] + [*self.lengths.values(), self.former, self.alive, self._base, self.codes]
        bitmaps = sum(sys.getsizeof(bm) + _HEADER for bm in everything)
        names = sys.getsizeof(self._blob) + len(self._spans) * self._spans.itemsize
        facts = self._facts.size()
        profiles = len(self._firm_profiles) * self._firm_profiles.itemsize + sum(
            sys.getsizeof(p) + sys.getsizeof(p[1]) for p in self._profiles
        )
        return {
            "bitmaps": bitmaps,
            "names": names,
            "facts": facts,
            "profiles": profiles,
            "bitmap_count": len(everything),
        }

    def count(self) -> int:
        return (
            len(self.grams)
            + len(self.words)
            + len(self.province)
            + len(self.combos)
            + len(self.expiry)
            + len(self.latest)
            + len(self.lengths)
        )


def _pour(target: dict[str, BitMap], ids: dict[str, array]) -> None:
    for key, values in ids.items():
        bitmap = target.get(key)
        if bitmap is None:
            target[key] = BitMap(values)
        else:
            bitmap.update(values)
    ids.clear()


def facet_values(combos: Iterable[FacetKey]) -> ProfileValues:
    """The distinct list, ground and year values of listing combinations, as text (the
    values the facets name: `facet_bitmaps`' keys)."""
    keys = list(combos)
    return (
        tuple(dict.fromkeys(str(key[0]) for key in keys)),
        tuple(dict.fromkeys(str(key[1]) for key in keys)),
        tuple(dict.fromkeys(str(key[2]) for key in keys)),
    )


def fits(key: FacetKey, list_code: str | None, ground: str | None, year: int | None) -> bool:
    """Whether a listing's (list, ground, year) satisfies the filters (None: any)."""
    return (
        (list_code is None or key[0] == list_code)
        and (ground is None or key[1] == ground)
        and (year is None or key[2] == year)
    )


def _eid(doc: Mapping[str, Any]) -> int | None:
    value = doc.get("eid")
    if not value or not str(value).isdigit() or doc.get("listings") is None:
        return None
    return int(value)


def _grams(names: str) -> set[str]:
    grams: set[str] = set()
    for name in names.split(NAME_SEPARATOR):
        grams.update(name_grams(name))
    return grams
