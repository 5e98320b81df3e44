"""The public cache's second tier: answers kept in one SQLite file that every worker of a
host reads, so that an answer one worker built serves the others.

Each worker keeps its own answers in memory (registry/web/cache.py); an answer it does not
hold is looked up here before it is built, and an answer it builds is stored here too. An
entry is served only for the "event" counter value it was built at, exactly like the
worker's own: a counter that moved makes every entry stale at once, and the first worker
to store at the new value deletes the old ones. Nothing is kept by time.

The file is a cache: it lives on the host's own disk (never a network share: SQLite's
locks need a local file system), holds nothing that cannot be built again, and may be
deleted at any time. Its size is bounded (the oldest entries go first). A file that
cannot be opened, read or written makes this process carry on without the second tier,
with one warning in the log: the site is served as before, only a little slower.

Entries are keyed by a digest of the request's key and of the code that built them (the
package's version and its files' sizes and times), so that during a rolling deploy an
old worker's answer never serves a new worker's request.

Beside the file, a Bloom filter of the digests stored (`KeyFilter`, the file's name with
`-keys`, 512 KB, memory-mapped by every worker): a key it has never seen is not looked up
in the file. Most of the long tail is asked for once and never stored, and the filter's
answer costs a tenth of the lookup's. It only ever says "maybe" of a key stored: a bit
lost or left over costs a lookup or a build, never a wrong answer.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import mmap
import os
import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Entry = tuple[int, str, list, bytes]  # counter value, status, headers, body

_SETUP_SECONDS = 5.0  # how long a worker may wait for the others to set the file up

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answer (
    key BLOB PRIMARY KEY,
    version INTEGER NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS answer_version ON answer (version);
CREATE TABLE IF NOT EXISTS held (one INTEGER PRIMARY KEY CHECK (one = 1), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO held VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS answer_added AFTER INSERT ON answer
    BEGIN UPDATE held SET bytes = bytes + NEW.size; END;
CREATE TRIGGER IF NOT EXISTS answer_removed AFTER DELETE ON answer
    BEGIN UPDATE held SET bytes = bytes - OLD.size; END;
"""
_FIND = "SELECT version, status, headers, body FROM answer WHERE key = ?"
# The oldest entries, a batch at a time, while the file holds more than its bound.
_DROP_OLDEST = (
    "DELETE FROM answer WHERE rowid IN (SELECT rowid FROM answer ORDER BY rowid LIMIT 32)"
)


_FILTER_BYTES = 2**19  # 4 Mbit: 4 bits a key, about 1 in 10^6 wrongly "maybe" at 32,000 keys
_FILTER_MASK = _FILTER_BYTES * 8 - 1


class KeyFilter:
    """A Bloom filter of the digests stored in the shared file, in a file of its own that
    every worker of the host maps into memory. Set only by a store, inside the store's write
    transaction (SQLite's lock on the file orders the writers); cleared when a store removes
    the entries of another counter value."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < _FILTER_BYTES:
                os.ftruncate(fd, _FILTER_BYTES)  # zeros: no key seen
            self._map = mmap.mmap(fd, _FILTER_BYTES)
        finally:
            os.close(fd)

    @staticmethod
    def _bits(digest: bytes) -> tuple[int, int, int, int]:
        """Four bit positions from a digest's first 16 bytes (already a keyed hash)."""
        value = int.from_bytes(digest[:16], "little")
        mask = _FILTER_MASK
        return (value & mask, (value >> 32) & mask, (value >> 64) & mask, (value >> 96) & mask)

    def may_hold(self, digest: bytes) -> bool:
        # The first bit first, without a loop around them: a key never stored (the long
        # tail) is told by one byte of the map.
        found = self._map
        first, second, third, fourth = self._bits(digest)
        return bool(
            found[first >> 3] & (1 << (first & 7))
            and found[second >> 3] & (1 << (second & 7))
            and found[third >> 3] & (1 << (third & 7))
            and found[fourth >> 3] & (1 << (fourth & 7))
        )

    def add(self, digest: bytes) -> None:
        found = self._map
        for bit in self._bits(digest):
            found[bit >> 3] |= 1 << (bit & 7)

    def clear(self) -> None:
        self._map[:] = bytes(_FILTER_BYTES)


@functools.cache
def code_fingerprint(package: Path) -> bytes:
    """What identifies the code serving: every source, template and catalogue file of the
    package with its size and modification time."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".html", ".mo", ".toml", ".txt", ".xml", ".json"):
            stat = path.stat()
            digest.update(
                f"{path.relative_to(package)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    return digest.digest()


class SharedAnswers:
    """The host's file of kept answers, opened lazily in each process (and thread)."""

    def __init__(self, path: Path, max_bytes: int, fingerprint: bytes) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.fingerprint = fingerprint
        self.broken: str | None = None  # why this process stopped using the file
        self._local = threading.local()
        # The key filter's map (shared by the process's threads, and valid in a child after
        # a fork: the mapping is of the file); None: not opened yet; False: unusable.
        self._keys: KeyFilter | Literal[False] | None = None
        self._purged_at: int | None = None
        self.epoch: str | None = None  # the database's history (PublicCache reads it)

    # --- the two operations -------------------------------------------------------------

    def find(self, key: Sequence[str], version: int) -> Entry | None:
        """The entry kept for `key` at counter value `version`, if another worker built it."""
        if self.broken is not None:
            return None
        digest = self._digest(key)
        keys = self._keys
        if keys is None:
            keys = self._keys = self._key_filter()
        if keys is not False and not keys.may_hold(digest):
            return None  # no worker stored it: not looked up in the file
        connection = self._connection()
        if connection is None:
            return None
        try:
            row = connection.execute(_FIND, (digest,)).fetchone()
        except sqlite3.Error as error:
            if not _busy(error):  # a moment's lock (a checkpoint) is a miss, not a fault
                self._give_up(error)
            return None
        if row is None or row[0] != version:
            return None
        headers = [tuple(line.split(": ", 1)) for line in row[2].split("\r\n")] if row[2] else []
        return (row[0], row[1], headers, row[3])

    def store(self, key: Sequence[str], entry: Entry) -> None:
        """Keep `entry` for the other workers; entries of other counter values go first.
        While another worker writes, the entry is simply not shared (nobody waits)."""
        connection = self._connection()
        if connection is None:
            return
        _, status, headers, body = entry
        lines = "\r\n".join(f"{name}: {value}" for name, value in headers)
        digest = self._digest(key)
        try:
            connection.execute("BEGIN IMMEDIATE")
            self._write(connection, digest, entry[0], (status, lines, body))
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                with suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            if not _busy(error):  # busy: another worker is writing, this one is not shared
                self._give_up(error)

    def _write(
        self, connection: sqlite3.Connection, digest: bytes, version: int, answer: tuple
    ) -> None:
        status, lines, body = answer
        keys = self._keys
        if keys is None:
            keys = self._keys = self._key_filter()
        if version != self._purged_at:
            # Older entries are stale; newer ones can only be of another database history
            # (restored from a backup) or of a worker a moment ahead: built again if needed.
            purge = connection.execute("DELETE FROM answer WHERE version <> ?", (version,))
            if purge.rowcount and keys:
                keys.clear()  # (what another worker added at `version` meanwhile: a miss)
            self._purged_at = version
        connection.execute("DELETE FROM answer WHERE key = ?", (digest,))
        connection.execute(
            "INSERT INTO answer VALUES (?, ?, ?, ?, ?, ?)",
            (digest, version, len(body) + len(lines) + 100, status, lines, body),
        )
        if keys:
            keys.add(digest)
        while connection.execute("SELECT bytes FROM held").fetchone()[0] > self.max_bytes:
            if connection.execute(_DROP_OLDEST).rowcount == 0:
                break

    # --- the file -------------------------------------------------------------------------

    def _digest(self, key: Sequence[str]) -> bytes:
        text = "\x1f".join((self.epoch or "", *key)).encode("utf-8", "surrogatepass")
        return hashlib.blake2b(text, digest_size=20, key=self.fingerprint).digest()

    def _connection(self) -> sqlite3.Connection | None:
        if self.broken is not None:
            return None
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            return local.connection
        try:
            connection = self._open()
        except (OSError, sqlite3.Error) as error:
            self._give_up(error)
            return None
        local.pid, local.connection = os.getpid(), connection
        return connection

    def _key_filter(self) -> KeyFilter | Literal[False]:
        """This process's map of the key filter; False (every key looked up in the file)
        when it cannot be opened."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # (a find may come first)
            return KeyFilter(self.path.with_name(self.path.name + "-keys"))
        except (OSError, ValueError) as error:
            log.warning("the shared cache's key filter is not used by this process: %s", error)
            return False

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Workers started together set the file up together. Turning WAL on needs the only
        # lock on the file, and SQLite answers "locked" at once, without its busy wait, to
        # the one of two such workers that would otherwise deadlock; that worker tries
        # again a moment later. Afterwards a writer never waits (a store that finds the
        # file busy is skipped, not queued).
        deadline = time.monotonic() + _SETUP_SECONDS
        while True:
            try:
                return self._set_up()
            except sqlite3.Error as error:
                if not _busy(error) or time.monotonic() > deadline:
                    raise
            time.sleep(random.uniform(0.005, 0.05))

    def _set_up(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=_SETUP_SECONDS, isolation_level=None, check_same_thread=False
        )
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")  # readers never wait
            # No sync per write; a power loss may lose the last entries, never the file's
            # consistency (in WAL mode, syncs happen at checkpoints only).
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA cache_size = -1024")  # 1 MB: the OS keeps the pages
            connection.executescript(_SCHEMA)
            connection.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            connection.close()
            raise
        return connection

    def _give_up(self, error: BaseException) -> None:
        self.broken = f"{type(error).__name__}: {error}"
        log.warning(
            "the shared cache of public answers at %s is not used by this process: %s",
            self.path,
            self.broken,
        )


def _busy(error: sqlite3.Error) -> bool:
    """The file is locked by another worker for a moment (SQLITE_BUSY, SQLITE_LOCKED)."""
    return isinstance(error, sqlite3.OperationalError) and (
        "locked" in str(error) or "busy" in str(error)
    )
