"""The rebuild's direct segment writer writes what Whoosh's own writer writes: the same
stored fields and the same postings, before and after the follower's writers update and
merge its segment."""

from __future__ import annotations

import pickle
import zlib

from whoosh import index as whoosh_index
from whoosh.query import Term
from whoosh.writing import SegmentWriter

from registry.search import segments
from registry.search.build import codec
from registry.search.engine import make_schema
from registry.search.segments import SegmentBuilder

DOCS = [
    {
        "kind": "firm",
        "eid": str(n),
        "names_norm": f"测试{n}通信有限公司",
        "terms": ["测试", "通信", "有限公司"],
        "name": f"测试{n}通信有限公司",
        "uscc": f"91110000MA00000{n:03d}" if n % 3 else "",
        "licences": " ".join(sorted({f"B2-2020{n % 4:04d}", f"A1.B2-{n:05d}"})),
        "decisions": "工信罚〔2024〕1号 工信罚〔2024〕1号 京通罚\t〔2023〕7号"
        if n % 5 == 0
        else "",
        "province": "11",
        "listings": [{"id": n, "list": "bad", "ground": "B1", "year": 2024}],
    }
    for n in range(1, 41)
]


def _contents(ix) -> tuple[dict, dict]:
    """(eid -> stored fields, (field, term) -> sorted eids) of the live documents."""
    with ix.searcher() as searcher:
        reader = searcher.reader()
        docs = dict(reader.iter_docs())  # live document number -> stored fields
        eids = {n: fields["eid"] for n, fields in docs.items()}
        stored = {fields["eid"]: fields for fields in docs.values()}
        postings = {}
        for field, term in reader.all_terms():
            found = sorted(eids[n] for n in reader.postings(field, term).all_ids() if n in eids)
            if found:
                postings[(field, term)] = found
        return stored, postings


def _index(path, fast: bool):
    path.mkdir()
    ix = whoosh_index.create_in(str(path), make_schema())
    writer = SegmentWriter(ix, codec=codec())
    if fast:
        builder = SegmentBuilder(writer)
        for doc in DOCS:
            builder.add(doc)
        writer.update_document(kind="meta", eid="__meta__", seq=3)
        writer._commit_toc(writer._merge_segments(None, None, None) + [builder.finish()])
        writer._finish()
    else:
        for doc in DOCS:
            writer.add_document(**doc)
        writer.update_document(kind="meta", eid="__meta__", seq=3)
        writer.commit()
    return ix


def test_the_direct_writer_writes_what_whoosh_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(segments, "_BATCH", 7)  # the term table in several writes
    whoosh = _index(tmp_path / "whoosh", fast=False)
    direct = _index(tmp_path / "direct", fast=True)
    stored, postings = _contents(direct)
    assert (stored, postings) == _contents(whoosh)
    assert postings[("decisions", "工信罚〔2024〕1号".encode())] == [
        "10",
        "15",
        "20",
        "25",
        "30",
        "35",
        "40",
        "5",
    ]
    assert postings[("uscc", b"")] == sorted(str(n) for n in range(3, 41, 3))
    assert len(stored) == len(DOCS) + 1


def test_the_follower_updates_and_merges_a_directly_written_segment(tmp_path):
    indexes = [_index(tmp_path / "whoosh", fast=False), _index(tmp_path / "direct", fast=True)]
    for ix in indexes:
        writer = ix.writer()
        writer.update_document(**(DOCS[1] | {"uscc": "91110000MA0000NEW1", "licences": ""}))
        writer.delete_by_term("eid", "7")
        writer.commit(optimize=True)  # one segment: every posting read back and rewritten
        assert len(ix._segments()) == 1
    assert _contents(indexes[1]) == _contents(indexes[0])
    with indexes[1].searcher() as searcher:
        assert list(Term("uscc", "91110000MA0000NEW1").docs(searcher))
        assert not list(Term("eid", "7").docs(searcher))
        assert searcher.document(eid="__meta__")["seq"] == 3


def test_inlined_values_and_stored_blocks_are_what_pickle_and_zlib_write():
    values = segments._InlineValues()
    for docnum in (0, 1, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**40):
        for weight, value in ((1.0, b""), (1.0, b"\x00\x00\x00\x01"), (3.0, b"\x00\x00\x00\x03")):
            expected = pickle.dumps(((docnum,), (weight,), (value,)), 2)
            assert values(docnum, weight, value) == expected
    for size in (0, 1, 300, 65535, 65536, 200_001):
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        written = segments.deflate_stored(data)
        assert zlib.decompress(written) == data
        if size < 16_000:  # one block: byte for byte what zlib writes at level 0
            assert written == zlib.compress(data, 0)
