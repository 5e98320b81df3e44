"""The open-data files built by a process of their own, for a serving process's follower.

Building the three files of a large registry holds the interpreter (the GIL) for the
length of the build and raises the process's resident memory by the rows read and written:
in a web worker's follower thread, the worker's requests would wait behind it and the worker
would pass what it is allowed. A serving process therefore checks, in its own thread, whether the files are behind (a
cheap read) and, when they are, runs the build in a fresh interpreter started for it
(`python -m registry.opendata_child FOLDER PARENT_PID`, the database URL in the environment,
never on a command line where `ps` shows it) and waits for it without holding a
transaction. The child takes the builder locks itself (registry.opendata), dies with the
process that started it, and says how it went by its exit code. A fresh interpreter, not a
fork: a worker has other threads, and a lock one of them held would stay held in a forked
child.

The child lowers its priority first (`nice`): it is derived work, and a web worker's
requests and the search index's follower come before it when the cores are busy.
Starting an interpreter costs about half a second of CPU, more than building the files of a
small registry: when the files last built were small (under IN_PROCESS_BYTES together), the
follower builds them in its own thread, as commands and tests do (`follow_now`), and as an
app does whose database another process cannot open (SQLite in memory).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# (The registry and SQLAlchemy are imported where they are used: the child lowers its
# priority before it loads them.)

URL_VARIABLE = "REGISTRY_OPENDATA_DATABASE_URL"
# Files last built smaller than this, together, are built again in the follower's thread
# (about 1,200 listings: a tenth of a second's work, against half a second to start a child).
IN_PROCESS_BYTES = 1_000_000
NICENESS = 10  # the child's priority, below the serving processes'
# The child's exit code when another process holds a builder lock: not caught up, no fault.
BUSY = 75  # EX_TEMPFAIL
_ERROR_TAIL = 2000  # characters of a failed child's stderr kept in the error


def can_build_elsewhere(url: str) -> bool:
    """Whether another process can open the database at `url` (not SQLite in memory)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database or ""
    return database not in ("", ":memory:") and parsed.query.get("mode") != "memory"


def build_if_changed(session: Session, folder: str | Path, url: str) -> bool:
    """`opendata.build_if_changed`, its build run by a child process: True when the files
    are current (already, or built now), False when another process holds a builder lock.
    A child that failed raises RuntimeError with the end of what it wrote."""
    from registry import opendata

    root = Path(folder)
    package = opendata.kept_package(root)
    if opendata.built_head(package) == opendata.head_now(session):
        return True
    if package is not None and _built_bytes(package) < IN_PROCESS_BYTES:
        return opendata.build_if_changed(session, root)
    # Another process is building (this host's other worker, or another host on PostgreSQL):
    # no child started only to find the lock taken, on every step until that build ends.
    free = opendata.builder_free(session, root)
    session.rollback()  # no snapshot (nor advisory lock) held here while the child works
    if not free:
        return False
    environment = dict(os.environ)
    environment[URL_VARIABLE] = url
    # The child imports the registry from where this process did.
    environment["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    done = subprocess.run(
        [sys.executable, "-m", __name__, str(root), str(os.getpid())],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if done.returncode == 0:
        return True
    if done.returncode == BUSY:
        return False
    tail = done.stderr.decode("utf-8", "replace")[-_ERROR_TAIL:]
    raise RuntimeError(f"the open-data builder exited with {done.returncode}: {tail}")


def _built_bytes(package: dict[str, Any]) -> int:
    """The size of the files a data package describes (0 for one without sizes)."""
    return sum(int(entry.get("bytes") or 0) for entry in package.get("resources", []))


def main(argv: list[str]) -> int:
    """The child: build the files in `argv[0]` if they are behind; 0, or BUSY."""
    from registry.forked import die_with

    folder, parent = argv
    die_with(int(parent))
    os.nice(NICENESS)
    from registry import opendata
    from registry.db import make_engine, make_session_factory

    engine = make_engine(os.environ[URL_VARIABLE])
    try:
        with make_session_factory(engine)() as session:
            return 0 if opendata.build_if_changed(session, folder) else BUSY
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
