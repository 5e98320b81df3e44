"""Writing the documents of a fresh index generation, in two processes when there are many.

The firms' rows are read in this process, through the caller's session. Turning them
into documents (normalising names, cutting words) and writing Whoosh segments is pure
Python work: with PARALLEL_MIN firms or more, more than one CPU and a single thread (the
`registry reindex` and `registry import` commands), a forked child builds the first firms
into a segment of its own while this process builds the rest, and one commit lists both
segments (what Whoosh's own multi-process writer does with ``multisegment=True``, without
pickling every document through a queue). The child never touches the database: this
process reads the rows a slice at a time and appends them to a spool file, telling the
child over a pipe where each slice ends, so the child builds while this process reads.

Reading costs this process about as much as building, so an even split would leave the
child idle half the time. Instead this process feeds the child until the child's backlog
(and the finishing of its segment) would take it as long as reading and building the
remaining firms here, by the times per firm measured as they go (the child's building,
this process's reading), and then builds that remainder. Both segments hold their firms
in id order, as a one-process build does.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from whoosh.codec.whoosh3 import W3Codec
from whoosh.writing import SegmentWriter

from registry.search import documents
from registry.search.analysis import load_word_dictionary
from registry.search.segments import SegmentBuilder

PARALLEL_MIN = 5_000
# firms whose rows are read (and, for the child's part, spooled) at once
READ_SLICE = 1_000
_PROGRESS_EVERY = 500
# Writing a segment's term tables when it is finished, per firm, as a share of building its
# documents (measured on 100,000 firms: 1.1-1.2 s after 2.6-2.8 s of building)
FINISH_SHARE = 0.4
_LENGTH = struct.Struct("<Q")  # a spooled slice's length; 0 ends the feed


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
    """Add a document per firm of `ids` (in that order) and the meta document, then
    commit. `read(ids)` gives (firm id, records) as documents.records reads them (None:
    nothing public)."""
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
    child = None
    try:
        if len(ids) >= PARALLEL_MIN and _may_fork():
            child = _Child(ix)
            fed = child.feed(ids, read, progress)
            ids = ids[fed:]
        builder = SegmentBuilder(writer)
        for some in _slices(ids):
            _add(builder, read(some), progress)
        writer.update_document(**meta)  # replaces the empty generation's meta document
        # What SegmentWriter.commit does, with the child's segment (the first firms)
        # before this one's.
        segments = writer._merge_segments(None, None, None)
        own = builder.finish()
        if child is not None:
            segments.append(child.segment(progress))
            child = None
        segments.append(own)
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


def keep_the_rest(
    backlog: int, fed: int, remaining: int, child_per_firm: float, read_per_firm: float
) -> bool:
    """Whether to stop feeding the child and build the `remaining` firms here: the child's
    `backlog` (firms spooled, not yet built) and the finishing of the segment of all it was
    `fed` would take it at least as long as reading, building and finishing the remaining
    firms here (building taken to cost what it costs the child)."""
    if child_per_firm <= 0.0:  # the child has not built a slice yet: nothing to go on
        return False
    finish = FINISH_SHARE * child_per_firm
    child = backlog * child_per_firm + fed * finish
    return child >= remaining * (read_per_firm + child_per_firm + finish)


class _Child:
    """A forked process writing the firms it is fed into a segment of `ix`."""

    def __init__(self, ix: Any) -> None:
        context = multiprocessing.get_context("fork")
        # An unnamed file in the new generation's folder: the slices are appended here and
        # the child reads each at its offset (the descriptor's shared position untouched).
        self._spool = tempfile.TemporaryFile(dir=ix.storage.folder)  # noqa: SIM115 - closed in feed/stop
        self._receive, send = context.Pipe(duplex=False)
        wake, self._wake = context.Pipe(duplex=False)
        # The child's firms built and its busy nanoseconds (shared memory, written by it).
        self._built = context.Value("q", 0, lock=False)
        self._busy = context.Value("q", 0, lock=False)
        self._reported = 0
        try:
            self._process = context.Process(
                target=_child_main,
                args=(ix, self._spool.fileno(), wake, send, self._built, self._busy),
                daemon=True,
            )
            self._process.start()
        except BaseException:
            self._spool.close()
            raise
        finally:
            wake.close()
            send.close()

    def feed(
        self,
        ids: list[int],
        read: Callable[[list[int]], list[tuple[int, Any]]],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Spool slices of `ids` to the child from the first on, until the rest is better
        built here; how many firms the child was given."""
        fed = 0
        reading = 0.0
        try:
            while fed < len(ids):
                built = self._built.value
                child_per_firm = self._busy.value / 1e9 / built if built else 0.0
                if fed and keep_the_rest(
                    fed - built, fed, len(ids) - fed, child_per_firm, reading / fed
                ):
                    break
                started = time.perf_counter()
                some = ids[fed : fed + READ_SLICE]
                data = pickle.dumps(read(some), protocol=pickle.HIGHEST_PROTOCOL)
                self._spool.write(data)
                self._spool.flush()
                reading += time.perf_counter() - started
                self._wake.send_bytes(_LENGTH.pack(len(data)))
                fed += len(some)
                self._report(progress)
            self._wake.send_bytes(_LENGTH.pack(0))
        except BrokenPipeError:  # the child ended early: its own error says why
            self.segment()
            raise
        finally:
            self._wake.close()
            self._spool.close()  # the child holds its own descriptor
        return fed

    def _report(self, progress: Callable[[int], None] | None) -> None:
        built = self._built.value
        if progress is not None and built > self._reported:
            progress(built - self._reported)
        self._reported = built

    def segment(self, progress: Callable[[int], None] | None = None) -> Any:
        """Wait for the child's segment."""
        try:
            # nosec B301: the bytes come from our own forked child over a private pipe
            status, value = pickle.loads(self._receive.recv_bytes())  # nosec B301
        except EOFError:
            status, value = "error", "the index builder process ended without a result"
        self._process.join()
        if status != "ok":
            raise RuntimeError(f"index builder process failed: {value}")
        self._report(progress)
        return value

    def stop(self) -> None:
        if not self._wake.closed:
            self._wake.close()
        self._spool.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _child_main(ix: Any, spool: int, wake: Any, send: Any, built: Any, busy: Any) -> None:
    try:
        builder = SegmentBuilder(SegmentWriter(ix, _lk=False, limitmb=256, codec=codec()))
        offset = 0
        while True:
            (length,) = _LENGTH.unpack(wake.recv_bytes())
            if not length:
                break
            started = time.perf_counter_ns()
            data = os.pread(spool, length, offset)
            offset += length
            # nosec B301: the bytes were pickled by our parent into a file only it named
            parts = pickle.loads(data)  # nosec B301
            del data
            _add(builder, parts, None)
            busy.value += time.perf_counter_ns() - started
            built.value += len(parts)
        result = ("ok", builder.finish())
    except BaseException as exc:  # reported to the parent, which raises it
        result = ("error", f"{type(exc).__name__}: {exc}")
    send.send_bytes(pickle.dumps(result))
    send.close()
