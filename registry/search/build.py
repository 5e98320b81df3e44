"""Writing the documents of a fresh index generation, in two processes when there are many.

The firms' rows are read in this process, through the caller's session. Turning them
into documents (normalising names, cutting words) and writing Whoosh segments is pure
Python work: with PARALLEL_MIN firms or more, more than one CPU and a single thread (the
`registry reindex` and `registry import` commands), a forked child builds
the second half into a segment of its own while this process builds the first half, and
one commit lists both segments (what Whoosh's own multi-process writer does with
``multisegment=True``, without pickling every document through a queue). The child never
touches the database: it reads the rows this process spooled for it into a file, and
writes its segment files. Both processes hold the rows of a slice of firms at a time.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from whoosh.codec.whoosh3 import W3Codec
from whoosh.writing import SegmentWriter

from registry.search import documents
from registry.search.analysis import load_word_dictionary
from registry.search.segments import SegmentBuilder

PARALLEL_MIN = 5_000
# firms whose rows are read (and, for the child's half, spooled) at once
READ_SLICE = 2_000
_PROGRESS_EVERY = 500


def codec() -> W3Codec:
    """Whoosh's codec without per-document field lengths: no field of ours is scored by
    length (codes and ids are exact terms), and collecting them cost a file lookup for
    every posting."""
    chosen = W3Codec()
    chosen.length_stats = False
    return chosen


def write_generation(
    ix: Any,
    ids: list[int],
    read: Callable[[list[int]], list[tuple[int, Any]]],
    meta: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Add a document per firm of `ids` and the meta document, then commit. `read(ids)`
    gives (firm id, records) as documents.records reads them (None: nothing public). The
    child's half is read first, so this process reads its own while the child writes."""
    load_word_dictionary()  # before the fork: the child shares it
    with _no_cycle_collection():
        _write_generation(ix, ids, read, meta, progress)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cycle collector paused: the rows and documents are plain acyclic containers
    (reference counting frees them), and the collector's passes over the growing lists of
    them cost a seventh of the rebuild's CPU."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write_generation(
    ix: Any,
    ids: list[int],
    read: Callable[[list[int]], list[tuple[int, Any]]],
    meta: dict[str, Any],
    progress: Callable[[int], None] | None,
) -> None:
    writer = SegmentWriter(ix, limitmb=256, codec=codec())
    builder = SegmentBuilder(writer)
    child = None
    try:
        if len(ids) >= PARALLEL_MIN and _may_fork():
            half = len(ids) // 2
            child = _Child(ix, _spooled(ix, ids[half:], read))
            ids = ids[:half]
        for some in _slices(ids):
            _add(builder, read(some), progress)
        writer.update_document(**meta)  # replaces the empty generation's meta document
        # What SegmentWriter.commit does, with the child's segment after this one's.
        segments = writer._merge_segments(None, None, None)
        segments.append(builder.finish())
        if child is not None:
            segments.append(child.segment())
            if progress is not None:
                progress(child.count)
            child = None
        writer._commit_toc(segments)
        writer._finish()
    except BaseException:
        if child is not None:
            child.stop()
        writer.cancel()
        raise


def _slices(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), READ_SLICE):
        yield ids[start : start + READ_SLICE]


def _spooled(
    ix: Any, ids: list[int], read: Callable[[list[int]], list[tuple[int, Any]]]
) -> tuple[BinaryIO, int]:
    """The rows of `ids` pickled a slice at a time into an unnamed file of the new
    generation's folder, and how many firms: the child reads them back a slice at a time,
    so neither process holds the rows of its half (inherited rows would become private to
    both as their reference counts change)."""
    spool = tempfile.TemporaryFile(dir=ix.storage.folder)  # noqa: SIM115 - the child reads it
    try:
        for some in _slices(ids):
            pickle.dump(read(some), spool, protocol=pickle.HIGHEST_PROTOCOL)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, len(ids)


def _may_fork() -> bool:
    """More than one CPU, and no other thread in this process (a command, not a serving
    process's follower): a forked child gets only the forking thread, and a lock another
    thread held at the fork would stay held in the child."""
    return (os.cpu_count() or 1) > 1 and threading.active_count() == 1


def _add(builder: SegmentBuilder, parts: list[tuple[int, Any]], progress) -> None:
    done = 0
    for _, firm in parts:
        if firm is not None:
            builder.add(documents.document(firm))
        done += 1
        if progress is not None and done % _PROGRESS_EVERY == 0:
            progress(_PROGRESS_EVERY)
    if progress is not None and done % _PROGRESS_EVERY:
        progress(done % _PROGRESS_EVERY)


class _Child:
    """A forked process writing `parts` into a segment of `ix`; `segment()` waits for it."""

    def __init__(self, ix: Any, spooled: tuple[BinaryIO, int]) -> None:
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        spool, self.count = spooled
        try:
            self._process = context.Process(target=_child_main, args=(ix, spool, send), daemon=True)
            self._process.start()
        finally:
            spool.close()  # the child has its own descriptor; this process reads none of it
        send.close()

    def segment(self) -> Any:
        try:
            # nosec B301: the bytes come from our own forked child over a private pipe
            status, value = pickle.loads(self._receive.recv_bytes())  # nosec B301
        except EOFError:
            status, value = "error", "the index builder process ended without a result"
        self._process.join()
        if status != "ok":
            raise RuntimeError(f"index builder process failed: {value}")
        return value

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _child_main(ix: Any, spool: BinaryIO, send: Any) -> None:
    try:
        builder = SegmentBuilder(SegmentWriter(ix, _lk=False, limitmb=256, codec=codec()))
        while True:
            try:
                # nosec B301: the bytes were pickled by our parent into a file only it named
                parts = pickle.load(spool)  # nosec B301
            except EOFError:
                break
            _add(builder, parts, None)
        spool.close()
        result = ("ok", builder.finish())
    except BaseException as exc:  # reported to the parent, which raises it
        result = ("error", f"{type(exc).__name__}: {exc}")
    send.send_bytes(pickle.dumps(result))
    send.close()
