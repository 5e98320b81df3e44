"""A SQLite database's write-ahead log copied into the database file by another process,
while this one goes on.

SQLite copies the log into the file (a checkpoint) in the connection that commits, once the
log holds more than a thousand pages: after a large import's single transaction, that is
every page the import wrote (half a gigabyte for a hundred thousand listings), read back,
written again and synced, while the command waits. The import's connections commit without
it (`defer`), and a process of its own runs the checkpoint (`start`) while the command
builds the search index, which is work for the CPU where the checkpoint is mostly the
disk's. The command waits for it before it ends (`wait`).

A passive checkpoint never waits for readers or writers, nor makes them wait; what it
leaves is copied by SQLite's own checkpoints later (the next commit past the threshold, or
the last connection's close), as it would have been. Nothing is lost either way: the log
is part of the database until it is copied.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess  # nosec B404 - our own interpreter, with fixed code
import sys
from typing import Any

log = logging.getLogger(__name__)

_CODE = (
    "import sqlite3, sys\n"
    "connection = sqlite3.connect(sys.argv[1], timeout=0)\n"
    "connection.execute('PRAGMA wal_checkpoint(PASSIVE)').fetchone()\n"
    "connection.close()\n"
)
_WAIT_SECONDS = 600.0


def defer(connection: sqlite3.Connection) -> int:
    """Commits on `connection` no longer checkpoint; its setting before, for `restore`."""
    before = connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    return int(before)


def restore(connection: sqlite3.Connection, pages: int) -> None:
    connection.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")


def start(database: str | None) -> subprocess.Popen[Any] | None:
    """A process checkpointing the database file `database` (a SQLite URL's path); None
    when there is none to checkpoint (in memory) or the process cannot be started (the
    log is then copied by SQLite later)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    try:
        return subprocess.Popen(  # nosec B603 - sys.executable and our own code
            [sys.executable, "-c", _CODE, database],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
    except OSError as error:
        log.warning("the database's log is left to SQLite's own checkpoints: %s", error)
        return None


def wait(process: subprocess.Popen[Any] | None) -> None:
    """Wait for `start`'s process. Its failure costs nothing but time later: SQLite's own
    checkpoints copy what it did not."""
    if process is None:
        return
    try:
        code = process.wait(_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        code = -1
    if code != 0:
        log.warning("the checkpoint of the database's log ended with %s", code)
