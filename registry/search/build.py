"""Writing the documents of a fresh index generation, in two processes when there are many.

The firms' rows are read in this process, through the caller's session. Turning them
into documents (normalising names, cutting words) and writing Whoosh segments is pure
Python work: with PARALLEL_MIN firms or more, more than one CPU and a single thread (the
`registry reindex` and `registry import` commands), a forked child builds
the second half into a segment of its own while this process builds the first half, and
one commit lists both segments (what Whoosh's own multi-process writer does with
``multisegment=True``, without pickling every document through a queue). The child never
touches the database: it only reads the rows it inherited and writes its segment files.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from whoosh.codec.whoosh3 import W3Codec
from whoosh.writing import SegmentWriter

from registry.search import documents
from registry.search.analysis import load_word_dictionary
from registry.search.segments import SegmentBuilder

PARALLEL_MIN = 20_000
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
            child = _Child(ix, read(ids[half:]))
            ids = ids[:half]
        parts = read(ids)
        _add(builder, parts, progress)
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

    def __init__(self, ix: Any, parts: list[tuple[int, Any]]) -> None:
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self.count = len(parts)
        box = [parts]  # emptied once forked: the child has its copy, this process needs none
        self._process = context.Process(target=_child_main, args=(ix, box, send), daemon=True)
        self._process.start()
        box.clear()
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


def _child_main(ix: Any, box: list[list[tuple[int, Any]]], send: Any) -> None:
    try:
        builder = SegmentBuilder(SegmentWriter(ix, _lk=False, limitmb=256, codec=codec()))
        _add(builder, box.pop(), None)
        result = ("ok", builder.finish())
    except BaseException as exc:  # reported to the parent, which raises it
        result = ("error", f"{type(exc).__name__}: {exc}")
    send.send_bytes(pickle.dumps(result))
    send.close()
