"""Writing a fresh generation's firm documents straight into a Whoosh segment.

What ``SegmentWriter.add_document`` and its commit do for our schema, without their Python
work per document and per term: our indexed fields are exact codes (``ID``: the whole
value is the term; ``KEYWORD``: space-separated codes), so their terms are taken from the
values directly instead of through Whoosh's analysers and posting pool; and a term with
one posting (nearly every code) is written with its posting inlined in the term table, a
form Whoosh's reader and merger read (``W3TermInfo.is_inlined``) but its writer never
produces, instead of a pickled and compressed posting block of its own. The files are the
ones Whoosh writes: the follower's writers update and merge them as any segment.
"""

from __future__ import annotations

import pickle
import re
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
from heapq import merge
from itertools import groupby
from operator import itemgetter
from typing import Any

from whoosh.codec.whoosh3 import W3TermInfo
from whoosh.columns import VarBytesColumn
from whoosh.fields import ID, KEYWORD, UnknownFieldError
from whoosh.filedb import filetables
from whoosh.system import pack_uint, pack_ushort
from whoosh.writing import SegmentWriter

Posting = tuple[str, bytes, int, float, bytes]  # field, term, docnum, weight, value

_INLINE = W3TermInfo._struct  # flags, weight, doc freq, min/max length, max weight, ids
_LENGTHS = filetables._lengths  # a term table row: key and value lengths
_POINTER = filetables._pointer  # a hash table slot: hash and row position
_BATCH = 30_000  # term table pieces written at once
_write_bytes = VarBytesColumn.Writer.add
_KEYWORD = re.compile(r"[^ \t\r\n]+")  # KEYWORD's tokenizer (SpaceSeparatedTokenizer)


class SegmentBuilder:
    """Adds documents to the new segment of `writer` (a SegmentWriter of our schema);
    `finish()` writes the segment and returns it, as ``writer._finalize_segment`` does.
    Documents may also go through `writer` itself (the meta document): both end up in the
    same segment."""

    def __init__(self, writer: SegmentWriter) -> None:
        self._writer = writer
        schema = writer.schema
        self._names = set(schema.names())
        self._stored = {name for name, field in schema.items() if field.stored}
        self._ids = set()
        self._keywords = set()
        for name, field in schema.items():
            if not field.indexed:
                continue
            if _plain(field, ID):
                self._ids.add(name)
            elif _plain(field, KEYWORD):
                self._keywords.add(name)
            else:
                raise TypeError(f"field {name}: only plain ID and KEYWORD fields are indexed")
        # The stored-fields column (PickleColumn over CompressedBytesColumn) and the
        # plain byte column under its compression.
        self._stored_bytes = writer.perdocwriter._colwriters["_stored"]._child
        self._terms: dict[str, dict[bytes, list[tuple[int, float, bytes]]]] = {
            name: {} for name in self._ids | self._keywords
        }

    def add(self, doc: Mapping[str, Any]) -> None:
        """One document, as keyword arguments to ``add_document`` would give it."""
        unknown = doc.keys() - self._names
        if unknown:
            raise UnknownFieldError(f"no field named {sorted(unknown)} in the schema")
        writer = self._writer
        docnum = writer.docnum
        stored = {}
        for name, value in doc.items():
            if value is None:
                continue
            if name in self._stored:
                stored[name] = value
            if name in self._ids:
                self._post(name, value.encode("utf-8"), docnum, 1.0, b"")
            elif name in self._keywords:
                words = _KEYWORD.findall(value)
                for word in dict.fromkeys(words):
                    count = words.count(word) if len(words) > 1 else 1
                    self._post(name, word.encode("utf-8"), docnum, float(count), pack_uint(count))
        perdoc = writer.perdocwriter
        perdoc.start_doc(docnum)
        if stored:
            # What the stored-fields column does (pickle, then deflate) at level 0: the
            # deflate set-up cost more than the rest of a document's writing; the column is
            # half as large again.
            _write_bytes(self._stored_bytes, docnum, zlib.compress(pickle.dumps(stored, 2), 0))
        perdoc.finish_doc()
        writer.docnum = docnum + 1
        writer._added = True

    def _post(self, name: str, term: bytes, docnum: int, weight: float, value: bytes) -> None:
        postings = self._terms[name].get(term)
        if postings is None:
            self._terms[name][term] = [(docnum, weight, value)]
        else:
            postings.append((docnum, weight, value))

    def finish(self) -> Any:
        """Close the segment's files and return the segment (for the TOC)."""
        writer = self._writer
        writer.perdocwriter.close()
        items = merge(writer.pool.iter_postings(), self._postings())
        write_terms(writer.fieldwriter, writer.schema, items)
        writer.fieldwriter.close()
        writer._close_segment()
        writer._assemble_segment()
        return writer.get_segment()

    def _postings(self) -> Iterator[Posting]:
        for name in sorted(self._terms):
            terms = self._terms[name]
            for term in sorted(terms):
                for docnum, weight, value in terms[term]:
                    yield name, term, docnum, weight, value


def _plain(field: Any, kind: type) -> bool:
    """A field of exactly `kind` with its defaults (what `add` reproduces)."""
    if type(field) is not kind:
        return False
    default = kind()
    return (
        field.analyzer == default.analyzer
        and type(field.format) is type(default.format)
        and field.format.field_boost == 1.0
        and not field.scorable
        and not field.vector
        and not field.column_type
        and not field.separate_spelling()
    )


def write_terms(fieldwriter: Any, schema: Any, items: Iterable[Posting]) -> None:
    """What ``FieldWriter.add_postings`` does with sorted postings, a term with a single
    posting inlined in its term information, the term table written in bulk."""
    table = fieldwriter._tindex
    _add_rows(table, _rows(fieldwriter, schema, items))
    table._write_hashes = lambda: _write_hashes(table)  # called by its close()


def _rows(fieldwriter: Any, schema: Any, items: Iterable[Posting]) -> Iterator[tuple[bytes, bytes]]:
    """The term table's (key, value) rows of sorted postings."""
    current = None
    for (name, term), group in groupby(items, key=itemgetter(0, 1)):
        if name != current:
            if current is not None:
                fieldwriter.finish_field()
            fieldwriter.start_field(name, schema[name])
            current = name
        key = pack_ushort(fieldwriter._fieldid) + term
        postings = list(group)
        if len(postings) == 1:
            _, _, docnum, weight, value = postings[0]
            info = _INLINE.pack(True, weight, 1, 0, 0, weight, docnum, docnum)
            # The values are kept even when empty: a merge copies them as bytes.
            yield key, info + pickle.dumps(((docnum,), (weight,), (value or b"",)), 2)
        else:  # FieldWriter.finish_term, without its row's write
            fieldwriter.start_term(term)
            for _, _, docnum, weight, value in postings:
                fieldwriter.add(docnum, weight, value, 0)
            yield key, fieldwriter._postwriter.finish_postings().to_bytes()
    if current is not None:
        fieldwriter.finish_field()


def _add_rows(table: Any, rows: Iterable[tuple[bytes, bytes]]) -> None:
    """``OrderedHashWriter.add`` for each (key, value), keys increasing, written in
    batches."""
    dbfile = table.dbfile
    position = dbfile.tell()
    positions = array("q")
    chunks: list[bytes] = []
    buckets, hashed, last = table.buckets, table.hashfn, table.lastkey
    for key, value in rows:
        if key <= last:
            raise ValueError(f"keys must increase: {last!r}..{key!r}")
        last = key
        code = hashed(key)
        buckets[code & 255].append((code, position))
        positions.append(position)
        chunks += (_LENGTHS.pack(len(key), len(value)), key, value)
        position += _LENGTHS.size + len(key) + len(value)
        if len(chunks) >= _BATCH:
            dbfile.write(b"".join(chunks))
            chunks.clear()
    dbfile.write(b"".join(chunks))
    table.index.extend(positions)
    table.lastkey = last


def _write_hashes(table: Any) -> None:
    """``HashWriter._write_hashes``, each bucket's table packed and written at once."""
    dbfile = table.dbfile
    empty = _POINTER.pack(0, 0)
    for entries in table.buckets:
        size = 2 * len(entries)
        table.directory.append((dbfile.tell(), size))
        slots: list[tuple[int, int] | None] = [None] * size
        for entry in entries:
            slot = (entry[0] >> 8) % size
            while slots[slot] is not None:
                slot = (slot + 1) % size
            slots[slot] = entry
        dbfile.write(b"".join(empty if s is None else _POINTER.pack(*s) for s in slots))
