"""The Whoosh index: one document per firm with something in force. Nothing outside
registry/search imports Whoosh.

Layout on disk: ``INDEX_DIR/CURRENT`` is a symbolic link to a generation directory
(``gen-...``) holding a Whoosh index. ``rebuild`` writes a new generation and swaps the
link with one atomic rename, so readers never see a half-built index. The last applied
``Event.seq`` lives in a metadata document of the same index and is committed together
with the documents it covers.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import re
import shutil
import threading
import time
import uuid
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pyroaring import BitMap
from sqlalchemy.orm import Session
from whoosh import index as whoosh_index
from whoosh.fields import ID, KEYWORD, STORED, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError
from whoosh.query import Term

from registry import rules, text, visibility
from registry.search import build, documents, matching
from registry.search.analysis import normalise_query
from registry.search.bitmaps import Bitmaps, code_key, facet_values, fits, has_ascii_digit
from registry.search.facts import FirmFacts

log = logging.getLogger(__name__)

META_ID = "__meta__"
# A query of CJK ideographs only (the unified block and extension A): most of the long tail.
_IDEOGRAPHS = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]+")
CURRENT = "CURRENT"
LISTS = ("bad", "dishonest")
FACETS = ("list", "province", "ground", "year")
Counts = dict[str, int]  # a facet's value -> its number of firms
MAX_PAGE = 10_000
_CACHE_SIZE = 64
_DOCS_SIZE = 10_000  # stored fields of this many firms kept per process (a few MB)
_INCREMENTAL_LIMIT = 20_000  # more changed firms than this: reload all bitmaps
_LOG_ENTRIES = 200
# A catch-up touching this many firms, and half those indexed, builds a new generation.
_REBUILD_MIN = 5_000


def _close_open(held: dict[str, Any]) -> None:
    searcher = held.pop("searcher", None)
    if searcher is not None:
        searcher.close()


def _storage(path: Path) -> FileStorage:
    """The index directory, read with plain reads: with Whoosh's default memory maps a
    worker at 100k firms held 277 MB resident after loading its bitmaps, without them
    107 MB (the stored fields are read once at load, then a page of hits at a time)."""
    return FileStorage(str(path), supports_mmap=False)


def make_schema() -> Schema:
    return Schema(
        # kind and province are never looked up as terms (bitmaps hold the provinces).
        kind=STORED(),
        eid=ID(stored=True, unique=True),
        # Names are matched by the per-process bigram bitmaps built from the stored
        # normalised names, and ranked with the stored jieba words ("terms"): no Whoosh
        # postings for them (they were half the indexing time and never read).
        names_norm=STORED(),
        terms=STORED(),
        name=STORED(),
        uscc=ID(stored=True),
        licences=KEYWORD(stored=True),
        decisions=KEYWORD(),
        province=STORED(),
        listings=STORED(),
        seq=STORED(),
        counter=STORED(),
        changes=STORED(),
        epoch=STORED(),
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
    """A firm found. Searched with `fields=False`, only `enterprise_id` and `code_match`
    are filled in (name "", uscc and province None, no listings)."""

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


@dataclass
class _View:
    """One open searcher on one index generation, and what its meta document says."""

    path: Path
    ix: Any
    searcher: Any
    generation: int
    seq: int  # the highest Event.seq this generation applied
    # The event counter read before those events: everything committed up to it is in
    # this generation (the counter may be ahead of seq: numbers are reserved in blocks).
    counter: int
    meta: dict[str, Any]

    @property
    def key(self) -> tuple[str, int]:
        return str(self.path), self.generation


class IndexUnavailable(RuntimeError):
    """The index folder cannot be read and no earlier generation is open in this process."""


class RebuildLocked(RuntimeError):
    """Another rebuild of the same index folder is running."""


REBUILD_LOCK = ".rebuild.lock"


class SearchIndex:
    """One process's handle on the index directory: one open searcher, replaced only when
    someone asks it to look at the disk (`force`): the follower after each catch-up, and a
    search whose caller knows the database is ahead of the searcher (`refresh_to`). With
    `refresh_interval` set, it also looks when that many seconds have passed (tools only)."""

    def __init__(self, root: str | os.PathLike[str], refresh_interval: float | None = None):
        self.root = Path(root)
        self.refresh_interval = refresh_interval
        self._view: _View | None = None
        # The open searcher holds its segment files open (plain reads, see _storage):
        # closed when this handle is collected, not left to the garbage collector.
        self._open: dict[str, Any] = {}
        weakref.finalize(self, _close_open, self._open)
        self._checked = 0.0  # time.monotonic() of the last look at the disk
        self._epoch: str | None = None  # the database's epoch, as last read
        self.opened = 0  # searchers opened, for tests and diagnostics
        self._docs: dict[int, dict[str, Any] | None] = {}  # eid -> stored fields (this view)
        self._cache: OrderedDict[tuple, _Answer] = OrderedDict()
        self._bm_lock = threading.RLock()
        self._bitmaps: Bitmaps | None = None
        # segment id -> its decision terms, and whether one has no ASCII digit
        self._decision_segments: dict[str, tuple[BitMap, bool]] = {}
        self.error: str | None = None  # why the last look at the disk failed, if it did

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

    def _reader(self, force: bool = False) -> _View:
        """The open searcher, refreshed if the index changed on disk (looked at no more than
        every `refresh_interval` seconds unless `force`). Callers use it under `_bm_lock`:
        a refresh may close what the previous searcher used."""
        with self._bm_lock:
            view = self._view
            now = time.monotonic()
            if (
                view is not None
                and not force
                and (self.refresh_interval is None or now - self._checked < self.refresh_interval)
            ):
                return view
            try:
                return self._open_view(view, now)
            except Exception as exc:
                if view is not None:  # keep answering from the generation already open
                    log.error("search index unreadable, serving the open generation: %s", exc)
                    self.error = f"{type(exc).__name__}: {exc}"
                    return view
                self.error = f"{type(exc).__name__}: {exc}"
                raise IndexUnavailable(self.error) from exc

    def _open_view(self, view: _View | None, now: float) -> _View:
        with self._bm_lock:
            path = self._current_path()
            if view is not None and view.path == path:
                if view.ix.latest_generation() == view.generation:  # one directory listing
                    self._checked = now
                    return view
                ix = view.ix
            else:
                ix = _storage(path).open_index()
            # A fresh reader: Searcher.refresh() reuses segment readers and keeps their old
            # deletions, so a re-indexed firm (and the meta document) would show twice.
            searcher = ix.searcher()
            self.opened += 1
            meta = searcher.document(eid=META_ID) or {}
            view = _View(
                path=path,
                ix=ix,
                searcher=searcher,
                generation=searcher.reader().generation(),
                seq=int(meta.get("seq") or 0),
                counter=max(int(meta.get("counter") or 0), int(meta.get("seq") or 0)),
                meta=meta,
            )
            if self._view is not None:  # nobody else holds it: all use is under _bm_lock
                self._view.searcher.close()
            self._view, self._checked = view, now
            self._open["searcher"] = searcher
            self._docs = {}
            self.error = None
            return view

    # --- following the database ----------------------------------------------------------

    def last_applied(self, force: bool = False) -> int:
        """The event counter value up to which the index holds every change (as this process
        last saw it; `force` looks at the disk). Compare it with the database's counter."""
        return self._reader(force).counter

    def ensure_current(
        self, session: Session, on: date | None = None, *, touched_at_least: int = 0
    ) -> bool:
        """The follower's step: catch up if the database has events the index has not
        applied (one counter read compared with the seq kept in memory; the disk is looked
        at only when the database is ahead). False when the index is still behind because
        another process holds the writer lock (that process applies them).
        `touched_at_least`: see catch_up."""
        if self._of_another_database(session):
            log.warning(
                "the search index in %s was written from another database (created again or"
                " restored): rebuilding it",
                self.root,
            )
            try:
                self.rebuild(session)
            except RebuildLocked:
                return False
        latest = documents.committed_seq(session)
        if latest > self.last_applied() and latest > self.last_applied(force=True):
            self.catch_up(session, on, touched_at_least=touched_at_least)
            return self.last_applied() >= latest
        return True

    def _of_another_database(self, session: Session) -> bool:
        """Whether the open generation was written from another database history than the
        one `session` reads (its epoch, documents.database_epoch): an index folder kept
        while its database was created again or restored. The database's epoch is read
        when the generation's differs from the one last read, so once per process; a
        database replaced while the process runs is not noticed (the workers restart with
        a new database). A generation written before epochs were kept, or before the
        database had an Event, is taken as this database's."""
        held = self._reader().meta.get("epoch")
        if not held or held == self._epoch:
            return False
        return held != self._read_epoch(session)

    def _read_epoch(self, session: Session) -> str:
        """The database's epoch, read now and kept as the one last read."""
        self._epoch = documents.database_epoch(session)
        return self._epoch

    def refresh_to(self, seq: int) -> bool:
        """Look at the disk if this process's searcher holds less than `seq` (the event
        counter the caller read): the follower may have applied it meanwhile. Never writes.
        True when the open searcher holds everything up to `seq`."""
        if seq <= self.last_applied():
            return True
        return self.last_applied(force=True) >= seq

    def catch_up(
        self, session: Session, on: date | None = None, *, touched_at_least: int = 0
    ) -> int | None:
        """Re-index the firms touched by events after the last applied one.

        Returns how many firms were re-indexed, or None when another writer holds the
        index (it, or the next catch-up, will apply the same events). `touched_at_least`:
        how many firms the caller knows it changed since (an import's new firms): when
        that alone is enough to build a new generation, the events are not read to count
        the firms (a second over the hundreds of thousands a large import leaves).
        """
        ix = self._reader().ix
        try:
            writer = ix.writer(timeout=0.0)
        except LockError:
            return None
        try:
            view = self._reader(force=True)  # we hold the writer lock: this is the latest
            if view.ix is not ix:  # rebuilt meanwhile: start again on the current generation
                writer.cancel()
                return self.catch_up(session, on)
            meta = view.meta
            last = view.seq
            if on is None and touched_at_least >= self._rebuild_size(view):
                writer.cancel()
                return self._rebuild_instead(session, touched_at_least)
            # The counter first: every number up to it is committed (or never used), so the
            # events read next include all of them; later ones are applied again, harmlessly.
            counter = documents.committed_seq(session)
            upto, firms = documents.touched_since(session, last)
            for name in ("changes", "terms", "counter", "epoch"):  # an index written before these
                if name not in writer.schema:
                    writer.add_field(name, STORED())
            if upto == last and counter <= view.counter:
                writer.cancel()
                return 0
            if on is None and len(firms) >= self._rebuild_size(view):
                writer.cancel()  # e.g. a large import: a new generation is written faster
                return self._rebuild_instead(session, len(firms))
            for firm_id, doc in documents.documents(session, firms, on or rules.today()):
                if doc is None:
                    writer.delete_by_term("eid", str(firm_id))
                else:
                    writer.update_document(**doc)
            log_ = _changes_log(meta.get("changes") if meta else None, last, upto, firms)
            writer.update_document(
                kind="meta",
                eid=META_ID,
                seq=upto,
                counter=max(counter, upto),
                changes=log_,
                epoch=self._read_epoch(session),
            )
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        self._reader(force=True)
        return len(firms)

    @staticmethod
    def _rebuild_size(view: _View) -> int:
        """Touching this many firms, a catch-up builds a new generation instead."""
        return max(_REBUILD_MIN, view.searcher.doc_count() // 2)

    def _rebuild_instead(self, session: Session, firms: int) -> int | None:
        try:
            self.rebuild(session)
        except RebuildLocked:  # a reindex is running: it applies these events too
            return None
        return firms

    def rebuild(self, session: Session, progress: Callable[[int, int], None] | None = None) -> int:
        """Build a fresh generation from the database and swap it in atomically.

        `progress(done, total)` is called as firms are written. Returns the number of firms.
        Raises RebuildLocked when another process is rebuilding the same folder.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / REBUILD_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released if the process dies
            except BlockingIOError:
                raise RebuildLocked(str(self.root)) from None
            return self._rebuild(session, progress)
        finally:
            os.close(fd)

    def _rebuild(self, session: Session, progress: Callable[[int, int], None] | None) -> int:
        # Read first: events committed meanwhile are applied again later, harmlessly.
        counter = documents.committed_seq(session)
        upto = documents.max_seq(session)
        on = rules.today()
        ids = documents.indexable_ids(session, on)
        gen = self._new_generation()
        ix = _storage(gen).open_index()
        done = 0

        def step(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, len(ids))

        meta = {
            "kind": "meta",
            "eid": META_ID,
            "seq": upto,
            "counter": max(counter, upto),
            "epoch": self._read_epoch(session),
        }
        try:
            build.write_generation(
                ix, ids, lambda some: list(documents.records(session, some, on)), meta, step
            )
        except BaseException:
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
        self._reader(force=True)
        return len(ids)

    # --- searching ------------------------------------------------------------------------

    def bitmaps(self) -> Bitmaps:
        """This process's bitmaps for the current index generation (loaded or refreshed)."""
        with self._bm_lock:
            return self._refresh(self._reader())

    def _refresh(self, view: _View) -> Bitmaps:
        key = view.key
        state = self._bitmaps
        if state is not None and state.key == key:
            return state
        searcher, meta, seq = view.searcher, view.meta, view.seq
        eids = None
        if state is not None and state.key is not None and state.key[0] == key[0]:
            eids = _changed_since(meta.get("changes"), state.seq, seq)
        if eids is not None and len(eids) <= _INCREMENTAL_LIMIT:
            changed: dict[int, dict | None] = {}
            for eid in eids:
                doc = searcher.document(eid=str(eid))
                changed[eid] = doc if doc is not None and "listings" in doc else None
            state.apply(changed)
        else:
            state = Bitmaps.load(searcher.all_stored_fields())
            _give_back_freed_memory()
        state.decision_codes, digitless = self._decision_codes(searcher)
        if digitless:
            state.digitless_codes.add("decisions")
        state.key, state.seq = key, seq
        self._bitmaps = state
        self._cache.clear()
        return state

    def _decision_codes(self, searcher: Any) -> tuple[BitMap, bool]:
        """`code_key` of every term of the decisions field in the searcher's segments (the
        field is not stored), and whether any term has no ASCII digit: each segment's terms
        read once, when first seen. Terms of deleted documents stay until their segment is
        merged away (a lookup then finds nothing, as it would have without the set)."""
        held: dict[str, tuple[BitMap, bool]] = {}
        parts = []
        digitless = False
        for reader, _offset in searcher.reader().leaf_readers():
            segment = reader.segment() if hasattr(reader, "segment") else None
            name = segment.segment_id() if segment is not None else None
            found = self._decision_segments.get(name) if name else None
            if found is None:
                terms = [term.decode("utf-8") for term in reader.lexicon("decisions")]
                found = (
                    BitMap(code_key("decisions", term) for term in terms),
                    any(not has_ascii_digit(term) for term in terms),
                )
            if name:
                held[name] = found
            parts.append(found[0])
            digitless = digitless or found[1]
        self._decision_segments = held
        return (BitMap.union(*parts) if parts else BitMap()), digitless

    def search(
        self,
        query: str,
        filters: SearchFilters | None = None,
        page: int = 1,
        per_page: int = 20,
        on: date | None = None,
        *,
        fields: bool = True,
        facets: bool = True,
    ) -> SearchResult:
        """Firms whose names contain the query (2+ characters) or whose USCC, licence or
        decision number equals it; exact code matches first. Never raises on any query.
        `fields=False`: the hits carry only their firm ids, for callers that read the firms
        from the database anyway; the page's stored fields are then not read (on a long
        tail of queries, most of them are not in this process's cache). `facets=False`:
        for callers that show none, the facets are not counted (the result's are empty
        unless an earlier search of the same answer counted them)."""
        filters = filters or SearchFilters()
        on = on or rules.today()
        page = min(max(1, page), MAX_PAGE)
        per_page = min(max(1, per_page), 100)
        raw = query if isinstance(query, str) else ""
        q = normalise_query(raw)
        with self._bm_lock:
            view = self._reader()
            state = self._refresh(view)
            searcher = view.searcher
            key = (state.version, raw[:400], q, filters, on)
            answer = self._cache.get(key)
            if answer is None:
                answer = self._answer(searcher, state, raw[:400], q, filters, on)
                self._cache[key] = answer
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            if facets and answer.facets is None:
                answer.facets = _facets(state, answer)
            start = (page - 1) * per_page
            hits = self._page(searcher, state, answer, filters, on, start, per_page, fields)
        return SearchResult(
            query=q,
            total=answer.total,
            page=page,
            per_page=per_page,
            hits=hits,
            facets=answer.facets or {},
            too_short=answer.too_short,
        )

    def match_candidates(
        self, core: str, uscc: str = "", licence: str = "", limit: int = 40
    ) -> list[matching.MatchCandidate]:
        """Firms that may be the counterparty: those with the USCC or licence number given
        (canonical forms), then those sharing the most bigrams of `core` (normalised name
        without its region, legal form and branch). Never raises on any input."""
        with self._bm_lock:
            view = self._reader()
            state = self._refresh(view)
            return matching.candidates(view.searcher, state, core, uscc, licence, limit)

    def firm_facts(self, eids: list[int], newest: int, epoch: str) -> dict[int, FirmFacts] | None:
        """The registered name, codes and listings (`FirmFacts`) this process holds of the
        firms `eids` in the open generation, for those it holds; None unless the generation
        applied every event up to `newest` (the database's highest Event.seq) of the
        database whose history `epoch` names (documents.database_epoch)."""
        with self._bm_lock:
            view = self._reader()
            if view.seq < newest or view.meta.get("epoch") != epoch:
                return None
            state = self._refresh(view)
            found = {}
            for eid in eids:
                facts = state.facts(eid)
                if facts is not None:
                    found[eid] = facts
            return found

    def _stored(self, searcher: Any, eid: int) -> dict[str, Any] | None:
        """A firm's stored fields from the open searcher, remembered until it is replaced
        (a Whoosh term lookup per hit was a third of a search)."""
        docs = self._docs
        if eid in docs:
            return docs[eid]
        if len(docs) >= _DOCS_SIZE:
            docs.clear()
        fields = docs[eid] = searcher.document(eid=str(eid))
        return fields

    def _answer(
        self, searcher: Any, state: Bitmaps, raw: str, q: str, filters: SearchFilters, on: date
    ) -> _Answer:
        """Everything but the page: the result as bitmaps in rank order, total, facets."""
        day = on.isoformat()
        answer = _Answer()
        # Per facet, value -> firms (defaultdict: made and counted in C, where Counter's
        # construction and missing keys are Python).
        counts: dict[str, Counts] = {name: defaultdict(int) for name in FACETS}
        # 1. exact code matches (few): through Whoosh, evaluated from their stored fields
        seen = BitMap()
        codes = _code_terms(state, raw)
        # Each term's postings read directly: a search for Or(terms) built a union array
        # the size of the index, which costs milliseconds a query at scale.
        docnums = sorted({n for term in codes for n in term.docs(searcher)})
        if docnums:
            for docnum in docnums:
                fields = searcher.stored_fields(docnum)
                if "eid" not in fields or fields.get("kind") == "meta":
                    continue
                seen.add(int(fields["eid"]))
                in_force = _in_force(fields, filters, day)
                if in_force is not None:
                    answer.codes.append(int(fields["eid"]))
                    _count(counts, fields, in_force)
        # 2. names: candidates from bigram bitmaps, checked when longer than two characters
        if not q:
            matched = state.alive - seen
            tiers = [(matched, state.by_latest())]
        elif len(q) < 2:
            answer.too_short = not seen
            matched = BitMap()
            tiers = []
        else:
            matched = state.candidates(q)
            if seen:
                matched = matched - seen
            if len(q) > 2:
                matched = state.containing(matched, q)
            former = state.former_only(matched, q)
            current = matched - former
            # Whole words of a name rank it before names the query spans: two or more firms
            # need ranking; one (most of the long tail) is first in either tier, and the
            # query's cut into words is not made.
            aligned = current & state.aligned(state.segment(q)) if len(current) > 1 else BitMap()
            lengths = state.by_length()
            tiers = [(aligned, lengths), (current - aligned, lengths), (former, lengths)]
        # 3. filters and expiry: bitmaps for firms with nothing expired, stored fields else
        stale = matched & state.stale(day)
        clean = matched - stale
        if filters.province is not None:
            clean &= state.province.get(filters.province, BitMap())
        allowed = clean & state.allowed(filters.list_code, filters.ground, filters.year)
        kept_stale = BitMap()
        for eid in stale:
            fields = self._stored(searcher, eid)
            in_force = _in_force(fields, filters, day) if fields else None
            if in_force is not None:
                kept_stale.add(eid)
                _count(counts, fields, in_force)
        result = allowed | kept_stale if kept_stale else allowed
        answer.tiers = [(result & tier, order) for tier, order in tiers]
        answer.total = len(answer.codes) + len(result)
        # 4. facets: counted when a caller asks for them (`_facets`)
        answer.counting = (allowed, clean, counts, filters)
        return answer

    def _page(
        self,
        searcher: Any,
        state: Bitmaps,
        answer: _Answer,
        filters: SearchFilters,
        on: date,
        start: int,
        count: int,
        fields: bool = True,
    ) -> list[SearchHit]:
        """Load the stored fields of the visible page only, re-checked against the date.
        Without `fields`, the ids alone: `_answer` already checked every firm of the result
        against the same day and filters (the bitmaps for those with nothing expired, the
        stored fields for the others), on the same generation."""
        day = on.isoformat()
        wanted: list[tuple[int, bool]] = [(eid, True) for eid in answer.codes[start:]][:count]
        skip = max(0, start - len(answer.codes))
        for result, buckets in answer.tiers:
            if len(wanted) >= count:
                break
            if skip >= len(result):
                skip -= len(result)
                continue
            if len(result) <= _PER_FIRM:  # a few firms: each one's bucket looked up
                ordered = _in_buckets(result, buckets)
                wanted.extend((eid, False) for eid in ordered[skip : skip + count - len(wanted)])
                skip = max(0, skip - len(ordered))
                continue
            for bucket in buckets:
                size = result.intersection_cardinality(bucket)
                if skip >= size:
                    skip -= size
                    continue
                part = (result & bucket)[skip : skip + count - len(wanted)]
                skip = 0
                wanted.extend((eid, False) for eid in part)
                if len(wanted) >= count:
                    break
        if not fields:
            return [SearchHit(eid, "", None, None, [], code_match) for eid, code_match in wanted]
        hits = []
        for eid, code_match in wanted:
            stored = self._stored(searcher, eid)
            in_force = _in_force(stored, filters, day) if stored else None
            if in_force is None:  # the index moved on since the bitmaps: skip, never fail
                continue
            hits.append(
                SearchHit(
                    enterprise_id=eid,
                    name=stored["name"],
                    uscc=stored["uscc"] or None,
                    province=stored["province"] or None,
                    listings=in_force,
                    code_match=code_match,
                )
            )
        return hits


@dataclass
class _Answer:
    codes: list[int] = field(default_factory=list)  # exact code matches, in force, first
    tiers: list[tuple[BitMap, list[BitMap]]] = field(default_factory=list)  # result, order
    total: int = 0
    facets: dict[str, list[tuple[str, int]]] | None = None  # None: not counted yet
    too_short: bool = False
    # What the facets are counted from: the firms with nothing expired (`clean`, and of
    # them those in the filters, `allowed`) and the counts of the others, the filters.
    counting: tuple[BitMap, BitMap, dict[str, Counts], SearchFilters] | None = None


def _facets(state: Bitmaps, answer: _Answer) -> dict[str, list[tuple[str, int]]]:
    """The answer's facets: cardinalities of intersections, no hit materialised (on the
    bitmaps the answer was made from: its cache key holds their version)."""
    assert answer.counting is not None
    allowed, clean, counts, filters = answer.counting
    if len(clean) <= _PER_FIRM:  # (allowed is a part of clean)
        _count_per_firm(state, counts, allowed, clean, filters)
    else:
        _count_provinces(counts["province"], allowed, state.provinces_by_size())
        per_value = state.facet_bitmaps(filters.list_code, filters.ground, filters.year)
        for name, values in per_value.items():
            _count_values(counts[name], clean, values)
    facets = {
        name: sorted(((k, v) for k, v in counter.items() if v), key=lambda kv: (-kv[1], kv[0]))
        for name, counter in counts.items()
    }
    facets["year"] = sorted(((k, v) for k, v in counts["year"].items() if v), reverse=True)
    answer.counting = None
    return facets


# At most this many firms are counted one by one, from each firm's profile (its province
# and listing combinations, as the bitmaps hold them); more, by one intersection per
# value. Most queries of the long tail find a few firms: a profile is one lookup where a
# firm's membership was tested in every value's bitmap (each a few cache lines, mostly
# not in the CPU's caches between two requests).
_PER_FIRM = 8


def _count_per_firm(
    state: Bitmaps,
    counts: dict[str, Counts],
    allowed: BitMap,
    clean: BitMap,
    filters: SearchFilters,
) -> None:
    """`_count_provinces` of `allowed` and `_count_values` of `clean` for a few firms: the
    same counts (a firm is in a value's bitmap when one of its combinations fits the
    filters and has that value), from the firms' profiles."""
    provinces = counts["province"]
    for eid in allowed:
        province = state.profile(eid)[0]
        if province:
            provinces[province] += 1
    lists, grounds, years = counts["list"], counts["ground"], counts["year"]
    list_code, ground, year = filters.list_code, filters.ground, filters.year
    filtered = list_code is not None or ground is not None or year is not None
    for eid in clean:
        if filtered:
            combos = state.profile(eid)[1]
            values = facet_values(key for key in combos if fits(key, list_code, ground, year))
        else:
            values = state.profile_values(eid)
        for value in values[0]:
            lists[value] += 1
        for value in values[1]:
            grounds[value] += 1
        for value in values[2]:
            years[value] += 1


def _count_provinces(counter: Counts, firms: BitMap, provinces: list[tuple[str, BitMap]]) -> None:
    """Add each province's number of `firms` to `counter` (the largest province first)."""
    # A firm has one province: once every firm is counted, the others hold none.
    left = len(firms)
    for province, bitmap in provinces:
        found = firms.intersection_cardinality(bitmap)
        if found:
            counter[province] += found
            left -= found
            if left <= 0:
                break


def _count_values(counter: Counts, firms: BitMap, values: Mapping[str, BitMap]) -> None:
    """Add each value's number of `firms` (those in its bitmap) to `counter`."""
    for value, bitmap in values.items():
        found = firms.intersection_cardinality(bitmap)
        if found:
            counter[value] += found


def _in_buckets(firms: BitMap, buckets: list[BitMap]) -> list[int]:
    """`firms` in the order of the (disjoint) buckets, by id within one, as the buckets'
    intersections with `firms` list them; a firm in none is left out."""
    placed = []
    for eid in firms:
        for i, bucket in enumerate(buckets):
            if eid in bucket:
                placed.append((i, eid))
                break
    placed.sort()
    return [eid for _i, eid in placed]


def _code_terms(state: Bitmaps, raw: str) -> list[Term]:
    """The query's USCC, licence and decision number terms that may be in the index (a
    term no document holds is not looked up: the lookup would find nothing)."""
    if _IDEOGRAPHS.fullmatch(raw) and not state.may_hold_ideographic_code():
        # Every canonical form of a query of ideographs alone is ideographs alone (NFKC and
        # t2s keep them so), and every code held has an ASCII digit: none can be equal.
        return []
    codes = []
    for fieldname, value in (
        ("uscc", text.canonical_uscc(raw)),
        ("licences", text.canonical_licence(raw)),
        ("decisions", text.canonical_decision_no(raw)),
    ):
        if (
            len(value) >= 4
            and not any(ch.isspace() for ch in value)
            and state.may_hold_code(fieldname, value)
        ):
            codes.append(Term(fieldname, value))
    return codes


def _in_force(
    fields: Mapping[str, Any], filters: SearchFilters, day: str
) -> list[dict[str, Any]] | None:
    """The firm's listings in force on `day` that match the filters; None if it drops out."""
    if filters.province is not None and fields.get("province") != filters.province:
        return None
    in_force = [
        li
        for li in fields.get("listings") or []
        if visibility.stored_listing_in_force(li, day) and filters.listing_matches(li)
    ]
    return in_force or None


def _count(counts: dict[str, Counts], fields: Mapping[str, Any], in_force: list[dict]) -> None:
    if fields.get("province"):
        counts["province"][fields["province"]] += 1
    for name in ("list", "ground", "year"):
        for value in {str(li[name]) for li in in_force}:
            counts[name][value] += 1


def _changed_since(log: Any, have: int, upto: int) -> set[int] | None:
    """Firm ids changed by the events in (have, upto] according to the meta change log, or
    None when the log does not cover them (then everything is reloaded)."""
    if upto == have:
        return set()
    if upto < have or not log:
        return None
    eids: set[int] = set()
    covered = upto
    for from_seq, to_seq, changed in reversed(log):
        if to_seq <= have:
            break
        if changed is None or to_seq != covered:
            return None
        eids.update(changed)
        covered = from_seq
    return eids if covered <= have else None


def _changes_log(previous: Any, last: int, upto: int, firms: set[int]) -> list:
    """The meta change log with one more catch-up, trimmed to the recent ones."""
    log = list(previous or [])
    log.append((last, upto, sorted(firms) if len(firms) <= _INCREMENTAL_LIMIT else None))
    total = 0
    kept: list = []
    for entry in reversed(log):
        total += len(entry[2] or ())
        if len(kept) >= _LOG_ENTRIES or total > _INCREMENTAL_LIMIT:
            break
        kept.append(entry)
    return list(reversed(kept)) or log[-1:]


def _give_back_freed_memory() -> None:
    """Hand the heap a whole load freed (the stored fields of every firm, read once) back
    to the system: glibc's allocator keeps it otherwise, and every worker's resident size
    would carry it for its lifetime. Not on other C libraries (no malloc_trim there)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
