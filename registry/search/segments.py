"""Writing a fresh generation's firm documents straight into a Whoosh segment.

What ``SegmentWriter.add_document`` and its commit do for our schema, without their Python
work per document and per term: our indexed fields are exact codes (``ID``: the whole
value is the term; ``KEYWORD``: space-separated codes), so their terms are taken from the
values directly instead of through Whoosh's analysers and posting pool; and a term with
one posting (nearly every code) is written with its posting inlined in the term table, a
form Whoosh's reader and merger read (``W3TermInfo.is_inlined``) but its writer never
produces, instead of a pickled and compressed posting block of its own. The files are the
ones Whoosh writes: the follower's writers update and merge them as any segment.

Per document and per term the work is kept to what the files need: a term's postings are
kept as bare document numbers (with a count where a keyword repeats), the inlined
posting's pickle is a per-format template around the document number, and the stored
fields go into zlib's stored-block format (what level 0 writes) without zlib's per-call
set-up.
"""

from __future__ import annotations

import pickle
import re
import struct
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
from hashlib import md5
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
# A term's postings as the builder keeps them: a document number alone (the field's
# posting of count 1), (docnum, count) for a keyword repeated in a document, or a whole
# (docnum, weight, value) from Whoosh's own pool; one of them, or a list of them.
Entry = int | tuple[int, int] | tuple[int, float, bytes]

_INLINE = W3TermInfo._struct  # flags, weight, doc freq, min/max length, max weight, ids
_LENGTHS = filetables._lengths  # a term table row: key and value lengths
_POINTER = filetables._pointer  # a hash table slot: hash and row position
_BATCH = 30_000  # term table pieces written at once
_write_bytes = VarBytesColumn.Writer.add
_KEYWORD = re.compile(r"[^ \t\r\n]+")  # KEYWORD's tokenizer (SpaceSeparatedTokenizer)
_STORED_BLOCK = 0xFFFF  # the most bytes a deflate stored block holds
_HALVES = struct.Struct("<HH")  # a stored block's length and its complement
_ADLER = struct.Struct(">I")
_MARK = 0x7A5B3C1D  # a document number pickled as BININT, cut out of the templates


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
        self._terms: dict[str, dict[bytes, Entry | list[Entry]]] = {
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
                _post(self._terms[name], value.encode("utf-8"), docnum)
            elif name in self._keywords:
                terms = self._terms[name]
                words = _KEYWORD.findall(value)
                for word in dict.fromkeys(words):
                    count = words.count(word) if len(words) > 1 else 1
                    _post(terms, word.encode("utf-8"), docnum if count == 1 else (docnum, count))
        perdoc = writer.perdocwriter
        perdoc.start_doc(docnum)
        if stored:
            # What the stored-fields column does: pickle, then zlib (here its stored
            # blocks, what level 0 writes: the set-up of a deflate stream cost more than the
            # rest of a document's writing).
            _write_bytes(self._stored_bytes, docnum, deflate_stored(pickle.dumps(stored, 2)))
        perdoc.finish_doc()
        writer.docnum = docnum + 1
        writer._added = True

    def finish(self) -> Any:
        """Close the segment's files and return the segment (for the TOC)."""
        writer = self._writer
        writer.perdocwriter.close()
        # Postings of documents added through the writer itself (the meta document).
        for (name, term), group in groupby(writer.pool.iter_postings(), key=itemgetter(0, 1)):
            terms = self._terms.setdefault(name, {})
            for _, _, docnum, weight, value in group:
                _post(terms, term, (docnum, weight, value))
            entries = terms[term]
            if isinstance(entries, list):
                entries.sort(key=_docnum)
        write_terms(writer.fieldwriter, writer.schema, self._terms, self._ids)
        writer.fieldwriter.close()
        writer._close_segment()
        writer._assemble_segment()
        return writer.get_segment()


def _post(terms: dict[bytes, Entry | list[Entry]], term: bytes, entry: Entry) -> None:
    found = terms.get(term)
    if found is None:
        terms[term] = entry
    elif isinstance(found, list):
        found.append(entry)
    else:
        terms[term] = [found, entry]


def _docnum(entry: Entry) -> int:
    return entry if isinstance(entry, int) else entry[0]


def _posting(entry: Entry, plain_id: bool) -> tuple[int, float, bytes]:
    """(docnum, weight, value) of an entry: an ID field's or a keyword's posting."""
    if isinstance(entry, int):
        return (entry, 1.0, b"") if plain_id else (entry, 1.0, pack_uint(1))
    if len(entry) == 2:
        docnum, count = entry
        return docnum, float(count), pack_uint(count)
    return entry  # type: ignore[return-value]


def deflate_stored(data: bytes) -> bytes:
    """`data` as a zlib stream of stored (uncompressed) deflate blocks."""
    parts = [b"\x78\x01"]
    size = len(data)
    start = 0
    while True:
        block = data[start : start + _STORED_BLOCK]
        start += len(block)
        parts += (
            b"\x01" if start >= size else b"\x00",
            _HALVES.pack(len(block), len(block) ^ 0xFFFF),
        )
        parts.append(block)
        if start >= size:
            break
    parts.append(_ADLER.pack(zlib.adler32(data)))
    return b"".join(parts)


def pickled_int(number: int) -> bytes:
    """A non-negative int as pickle protocol 2 writes it."""
    if number <= 0xFF:
        return b"K" + number.to_bytes(1, "little")
    if number <= 0xFFFF:
        return b"M" + number.to_bytes(2, "little")
    if number <= 0x7FFFFFFF:
        return b"J" + number.to_bytes(4, "little")
    return pickle.dumps(number, 2)[2:-1]  # LONG1, without the protocol and STOP


class _InlineValues:
    """``pickle.dumps(((docnum,), (weight,), (value,)), 2)``, the inlined posting's
    values, from a template per (weight, value) with the document number put in."""

    def __init__(self) -> None:
        self._templates: dict[tuple[float, bytes], tuple[bytes, bytes]] = {}

    def __call__(self, docnum: int, weight: float, value: bytes) -> bytes:
        template = self._templates.get((weight, value))
        if template is None:
            whole = pickle.dumps(((_MARK,), (weight,), (value,)), 2)
            # The document number comes first, right after the protocol header.
            head, _, tail = whole.partition(pickled_int(_MARK))
            template = self._templates[(weight, value)] = (head, tail)
        return template[0] + pickled_int(docnum) + template[1]


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


def write_terms(
    fieldwriter: Any,
    schema: Any,
    fields: Mapping[str, Mapping[bytes, Entry | list[Entry]]],
    plain_ids: set[str],
) -> None:
    """What ``FieldWriter.add_postings`` does with the postings of `fields` (field name ->
    term -> entries, as SegmentBuilder keeps them), a term with a single posting inlined in
    its term information, the term table written in bulk."""
    table = fieldwriter._tindex
    _add_rows(table, _rows(fieldwriter, schema, fields, plain_ids))
    table._write_hashes = lambda: _write_hashes(table)  # called by its close()


def _rows(
    fieldwriter: Any,
    schema: Any,
    fields: Mapping[str, Mapping[bytes, Entry | list[Entry]]],
    plain_ids: set[str],
) -> Iterator[tuple[bytes, bytes]]:
    """The term table's (key, value) rows, fields and terms in order."""
    inline_values = _InlineValues()
    pack_inline = _INLINE.pack
    for name in sorted(fields):
        terms = fields[name]
        if not terms:
            continue
        plain_id = name in plain_ids
        fieldwriter.start_field(name, schema[name])
        prefix = pack_ushort(fieldwriter._fieldid)
        single = (1.0, b"") if plain_id else (1.0, pack_uint(1))
        for term in sorted(terms):
            entries = terms[term]
            if isinstance(entries, int):  # one posting of count 1: most terms
                weight, value = single
                docnum = entries
            elif not isinstance(entries, list):
                docnum, weight, value = _posting(entries, plain_id)
            else:  # FieldWriter.finish_term, without its row's write
                fieldwriter.start_term(term)
                for entry in entries:
                    docnum, weight, value = _posting(entry, plain_id)
                    fieldwriter.add(docnum, weight, value, 0)
                yield prefix + term, fieldwriter._postwriter.finish_postings().to_bytes()
                continue
            info = pack_inline(True, weight, 1, 0, 0, weight, docnum, docnum)
            # The values are kept even when empty: a merge copies them as bytes.
            yield prefix + term, info + inline_values(docnum, weight, value or b"")
        fieldwriter.finish_field()


def _add_rows(table: Any, rows: Iterable[tuple[bytes, bytes]]) -> None:
    """``OrderedHashWriter.add`` for each (key, value), keys increasing, written in
    batches."""
    dbfile = table.dbfile
    position = dbfile.tell()
    positions = array("q")
    chunks: list[bytes] = []
    buckets, hashed, last = table.buckets, table.hashfn, table.lastkey
    if hashed is filetables.md5_hash:  # the same number, without a hex string between
        hashed = _md5_hash
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


def _md5_hash(key: bytes) -> int:
    """``filetables.md5_hash``: the digest's last four bytes as a big-endian number."""
    return int.from_bytes(md5(key, usedforsecurity=False).digest()[12:], "big")


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
