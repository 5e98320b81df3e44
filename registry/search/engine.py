"""The Whoosh index: one document per firm with something in force. Nothing outside
registry/search imports Whoosh.

Layout on disk: ``INDEX_DIR/CURRENT`` is a symbolic link to a generation directory
(``gen-...``) holding a Whoosh index. ``rebuild`` writes a new generation and swaps the
link with one atomic rename, so readers never see a half-built index. The last applied
``Event.seq`` lives in a metadata document of the same index and is committed together
with the documents it covers.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from whoosh import index as whoosh_index
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.index import LockError
from whoosh.query import And, AndMaybe, Or, Term

from registry import rules, text
from registry.search import documents
from registry.search.analysis import (
    NAME_SEPARATOR,
    BigramTokenizer,
    JiebaTokenizer,
    name_grams,
    normalise_query,
    words,
)

log = logging.getLogger(__name__)

META_ID = "__meta__"
CURRENT = "CURRENT"
LISTS = ("bad", "dishonest")
FACETS = ("list", "province", "ground", "year")
MAX_PAGE = 10_000
_CACHE_SIZE = 64


def make_schema() -> Schema:
    return Schema(
        kind=ID(),
        eid=ID(stored=True, unique=True),
        names=TEXT(analyzer=BigramTokenizer(), phrase=False),
        words=TEXT(analyzer=JiebaTokenizer(), phrase=False),
        names_norm=STORED(),
        name=STORED(),
        uscc=ID(stored=True),
        licences=KEYWORD(stored=True),
        decisions=KEYWORD(),
        province=ID(stored=True),
        listings=STORED(),
        seq=STORED(),
    )


@dataclass(frozen=True)
class SearchFilters:
    """Optional facet filters; a firm matches when it has a listing in force that satisfies
    list, ground and year at once, and its province is `province`."""

    list_code: str | None = None
    province: str | None = None
    ground: str | None = None
    year: int | None = None

    def listing_matches(self, listing: Mapping[str, Any]) -> bool:
        return (
            (self.list_code is None or listing["list"] == self.list_code)
            and (self.ground is None or listing["ground"] == self.ground)
            and (self.year is None or listing["year"] == self.year)
        )


@dataclass
class SearchHit:
    enterprise_id: int
    name: str
    uscc: str | None
    province: str | None
    listings: list[dict[str, Any]]  # in force on the search date, matching the filters
    code_match: bool = False


@dataclass
class SearchResult:
    query: str  # the normalised query actually searched
    total: int
    page: int
    per_page: int
    hits: list[SearchHit]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    too_short: bool = False  # a one-character name query (two or more are needed)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class SearchIndex:
    """One process's handle on the index directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._ix: Any = None
        self._ix_path: Path | None = None
        self._cache: OrderedDict[tuple, tuple[list[SearchHit], dict]] = OrderedDict()
        self.started = False

    # --- opening ------------------------------------------------------------------------

    def _current_path(self) -> Path:
        link = self.root / CURRENT
        if not link.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            gen = self._new_generation()
            try:
                os.symlink(gen.name, link)
            except FileExistsError:  # another process created it first
                shutil.rmtree(gen, ignore_errors=True)
        return (self.root / os.readlink(link)).resolve()

    def _new_generation(self) -> Path:
        gen = self.root / f"gen-{uuid.uuid4().hex}"
        gen.mkdir(parents=True)
        ix = whoosh_index.create_in(str(gen), make_schema())
        writer = ix.writer()
        writer.add_document(kind="meta", eid=META_ID, seq=0)
        writer.commit()
        return gen

    def _index(self) -> Any:
        with self._lock:
            path = self._current_path()
            if self._ix is None or path != self._ix_path:
                self._ix = whoosh_index.open_dir(str(path))
                self._ix_path = path
            return self._ix

    def _generation_key(self, ix: Any) -> tuple[str, int]:
        return str(self._ix_path), ix.latest_generation()

    # --- following the database ----------------------------------------------------------

    def last_applied(self) -> int:
        """The highest Event.seq whose changes the index holds."""
        with self._index().searcher() as searcher:
            meta = searcher.document(eid=META_ID)
        return int(meta["seq"]) if meta else 0

    def ensure_current(self, session: Session, on: date | None = None) -> None:
        """Catch up if the database has events the index has not applied (one cheap query)."""
        self.started = True
        if documents.max_seq(session) > self.last_applied():
            self.catch_up(session, on)

    def catch_up(self, session: Session, on: date | None = None) -> int | None:
        """Re-index the firms touched by events after the last applied one.

        Returns how many firms were re-indexed, or None when another writer holds the
        index (it, or the next catch-up, will apply the same events).
        """
        ix = self._index()
        try:
            writer = ix.writer(timeout=0.0)
        except LockError:
            return None
        try:
            with ix.searcher() as searcher:
                meta = searcher.document(eid=META_ID)
            last = int(meta["seq"]) if meta else 0
            upto, firms = documents.touched_since(session, last)
            if upto == last:
                writer.cancel()
                return 0
            for firm_id, doc in documents.documents(session, firms, on or rules.today()):
                if doc is None:
                    writer.delete_by_term("eid", str(firm_id))
                else:
                    writer.update_document(**doc)
            writer.update_document(kind="meta", eid=META_ID, seq=upto)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        return len(firms)

    def rebuild(self, session: Session, progress: Callable[[int, int], None] | None = None) -> int:
        """Build a fresh generation from the database and swap it in atomically.

        `progress(done, total)` is called as firms are written. Returns the number of firms.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        upto = documents.max_seq(session)  # read first: later events are re-applied, harmless
        on = rules.today()
        ids = documents.indexable_ids(session, on)
        gen = self._new_generation()
        ix = whoosh_index.open_dir(str(gen))
        writer = ix.writer(limitmb=256)
        done = 0
        try:
            for _, doc in documents.documents(session, ids, on):
                if doc is not None:
                    writer.add_document(**doc)
                done += 1
                if progress is not None and (done % 200 == 0 or done == len(ids)):
                    progress(done, len(ids))
            writer.update_document(kind="meta", eid=META_ID, seq=upto)
            writer.commit()
        except BaseException:
            writer.cancel()
            shutil.rmtree(gen, ignore_errors=True)
            raise
        link = self.root / CURRENT
        previous = os.readlink(link) if link.is_symlink() else None
        tmp = self.root / f"{CURRENT}.{uuid.uuid4().hex}"
        os.symlink(gen.name, tmp)
        os.replace(tmp, link)  # atomic: readers see the old or the new generation
        keep = {gen.name, previous}
        for old in self.root.glob("gen-*"):
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
        return len(ids)

    # --- searching ------------------------------------------------------------------------

    def search(
        self,
        query: str,
        filters: SearchFilters | None = None,
        page: int = 1,
        per_page: int = 20,
        on: date | None = None,
    ) -> SearchResult:
        """Firms whose names contain the query (2+ characters) or whose USCC, licence or
        decision number equals it; exact code matches first. Never raises on any query."""
        filters = filters or SearchFilters()
        on = on or rules.today()
        page = min(max(1, page), MAX_PAGE)
        per_page = min(max(1, per_page), 100)
        raw = query if isinstance(query, str) else ""
        q = normalise_query(raw)
        ix = self._index()
        key = (self._generation_key(ix), raw[:400], q, filters, on)
        cached = self._cache.get(key)
        if cached is None:
            with ix.searcher() as searcher:
                ranked, too_short = self._ranked(searcher, raw[:400], q)
            cached = self._filter(ranked, filters, on) + (too_short,)
            self._cache[key] = cached
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        hits, facets, too_short = cached
        start = (page - 1) * per_page
        return SearchResult(
            query=q,
            total=len(hits),
            page=page,
            per_page=per_page,
            hits=hits[start : start + per_page],
            facets=facets,
            too_short=too_short,
        )

    def _ranked(self, searcher: Any, raw: str, q: str) -> tuple[list[tuple[dict, bool]], bool]:
        ranked: list[tuple[dict, bool]] = []
        seen: set[str] = set()
        codes = []
        for fieldname, value in (
            ("uscc", text.canonical_uscc(raw)),
            ("licences", text.canonical_licence(raw)),
            ("decisions", text.canonical_decision_no(raw)),
        ):
            if len(value) >= 4 and not any(ch.isspace() for ch in value):
                codes.append(Term(fieldname, value))
        if codes:
            for hit in searcher.search(Or(codes), limit=None):
                fields = hit.fields()
                seen.add(fields["eid"])
                ranked.append((fields, True))
        if not q:
            firms = [hit.fields() for hit in searcher.search(Term("kind", "firm"), limit=None)]
            firms.sort(key=lambda f: max(li["decided_on"] for li in f["listings"]), reverse=True)
            ranked.extend((f, False) for f in firms if f["eid"] not in seen)
            return ranked, False
        if len(q) < 2:
            return ranked, not ranked
        required = And([Term("names", gram) for gram in sorted(set(name_grams(q)))])
        ranking = [Term("words", w) for w in sorted(set(words(q)))]
        whoosh_query = AndMaybe(required, Or(ranking)) if ranking else required
        matches = []
        for hit in searcher.search(whoosh_query, limit=None):
            fields = hit.fields()
            if fields["eid"] in seen:
                continue
            names = fields["names_norm"].split(NAME_SEPARATOR)
            if not any(q in name for name in names):  # bigrams all present, not adjacent
                continue
            current = names[0]
            matches.append(((current != q, q not in current, -hit.score, len(current)), fields))
        matches.sort(key=lambda m: m[0])
        ranked.extend((fields, False) for _, fields in matches)
        return ranked, False

    @staticmethod
    def _filter(
        ranked: list[tuple[dict, bool]], filters: SearchFilters, on: date
    ) -> tuple[list[SearchHit], dict[str, list[tuple[str, int]]]]:
        day = on.isoformat()
        hits: list[SearchHit] = []
        counts: dict[str, Counter] = {name: Counter() for name in FACETS}
        for fields, code_match in ranked:
            if filters.province is not None and fields["province"] != filters.province:
                continue
            in_force = [
                li
                for li in fields["listings"]
                if (li["expires_on"] is None or li["expires_on"] > day)
                and filters.listing_matches(li)
            ]
            if not in_force:
                continue
            hits.append(
                SearchHit(
                    enterprise_id=int(fields["eid"]),
                    name=fields["name"],
                    uscc=fields["uscc"] or None,
                    province=fields["province"] or None,
                    listings=in_force,
                    code_match=code_match,
                )
            )
            if fields["province"]:
                counts["province"][fields["province"]] += 1
            for name, key in (("list", "list"), ("ground", "ground"), ("year", "year")):
                for value in {str(li[key]) for li in in_force}:
                    counts[name][value] += 1
        facets = {
            name: sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
            for name, counter in counts.items()
        }
        facets["year"] = sorted(counts["year"].items(), reverse=True)
        return hits, facets
