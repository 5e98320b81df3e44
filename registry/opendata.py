"""Open-data files: the exports built once per change, and their Frictionless Data Package.

`build_if_changed` writes ``listings.csv``, ``listings.json``, ``listings.xlsx`` and
``datapackage.json`` into the export folder when what they show can have changed: a new
event (every write records one; a rename or a sanction made public changes exported columns
without a publication-log entry) or a new day (listings expire at read time, in
Asia/Shanghai). The data package names the publication log head the files were built at. Each file is
written to a temporary file in the same folder, fsynced and put in place with `os.replace`,
so a reader opens either the old file or the new one, never half of one; the data package
goes last, so it never names files older than it says. A serving process runs it in a child
process of its own (registry.opendata_child); the next builder deletes the temporary files
a killed one left.

One builder at a time, chosen by two locks taken without waiting (a process that finds
either taken skips and tries again later):

- an exclusive `flock` of ``.lock`` in the export folder: the processes of one host (and of
  every host mounting the same folder) never write the same temporary files at once;
- on PostgreSQL, a transaction-scoped advisory lock: one writer per deployment, so the hosts
  do not all run the same export queries against the shared database after each change.
  A host whose folder is its own builds after the elected one has finished (it finds the
  lock free on its next step); hosts sharing one folder find the files current and skip.
  SQLite is one host, where the file lock is enough.

`current` tells a download whether the files show what the database shows now (the same
log head, the same day); until they do the download is streamed from the database. No Flask
here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import exports, rules
from registry.durable import fsync_dir
from registry.publog import GENESIS_HASH

PACKAGE = "datapackage.json"
FILES = {fmt: f"listings.{fmt}" for fmt in exports.FORMATS}
MEDIA_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
LOCK_FILE = ".lock"
# pg_try_advisory_xact_lock key: any fixed number no other part of the registry uses.
ADVISORY_KEY = 7_316_202_601
LICENSE = {
    "name": "CC-BY-4.0",
    "path": "https://creativecommons.org/licenses/by/4.0/",
    "title": "Creative Commons Attribution 4.0",
}

# key: (type, Chinese description, English description) for the Table Schema.
FIELDS: dict[str, tuple[str, str, str]] = {
    "name": ("string", "电信业务经营者的名称", "Name of the telecom operator"),
    "uscc": ("string", "18 位统一社会信用代码", "18-character unified social credit code"),
    "licence_no": (
        "string",
        "电信业务经营许可证编号（首个）",
        "Number of the operator's (first) telecom business licence",
    ),
    "list": ("string", "名单类型：不良名单或失信名单", "List: bad-conduct or dishonesty list"),
    "ground": ("string", "列入事由代码", "Code of the ground for listing"),
    "decided_on": ("date", "处理（处罚决定）日期", "Date of the decision"),
    "authority": ("string", "作出列入决定的通信管理局", "Authority that listed the operator"),
    "decision_no": (
        "string",
        "行政处罚决定书文号（已公开的）",
        "Number of the penalty decision, when public",
    ),
    "facts": ("string", "违法事实", "Facts of the violation"),
    "province": ("string", "省份代码", "Province code"),
    "campaign": ("string", "专项行动名称", "Name of the enforcement campaign, if any"),
    "listed_on": ("date", "列入名单的日期", "Date the listing was published"),
    "expires_on": ("date", "公示期满日期（失信名单无期限时为空）", "Date the listing expires"),
}


@dataclass(frozen=True)
class Head:
    """What the files were built at: the publication log head (named in the data package),
    the last event (every write records one: a firm renamed or a sanction made public
    changes exported columns without a log entry) and the day (expiry at read time)."""

    number: int
    hash: str
    day: date
    counter: int


# The log head and the last event in one statement (one snapshot: a commit between two
# reads cannot mix them), without parameters (any driver's style), for a Session or a
# request's driver connection alike.
HEAD_SQL = (
    "SELECT (SELECT number FROM log_entry ORDER BY number DESC LIMIT 1),"
    " (SELECT entry_hash FROM log_entry ORDER BY number DESC LIMIT 1),"
    " (SELECT max(seq) FROM event)"
)


def head_of(row: Sequence[Any], on: date) -> Head:
    """The Head of HEAD_SQL's row on day `on` (an empty log: 0 and the genesis hash)."""
    number, hash_, latest = row
    if number is None:
        number, hash_ = 0, GENESIS_HASH
    return Head(number, hash_, on, latest or 0)


def head_now(session: Session, on: date | None = None) -> Head:
    return head_of(session.execute(text(HEAD_SQL)).one(), on or rules.today())


def read_package(folder: str | Path) -> dict[str, Any] | None:
    """The data package in `folder`, or None when there is none (not built yet)."""
    try:
        return json.loads((Path(folder) / PACKAGE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


_KEPT: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}


def kept_package(folder: str | Path) -> dict[str, Any] | None:
    """`read_package`, parsed once per version of the file in this process: the file is
    replaced, never written in place, so its inode, size and time tell a new one (a stat
    per call instead of reading and parsing it)."""
    path = os.path.join(folder, PACKAGE)
    try:
        stat = os.stat(path)
    except OSError:
        return None
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    kept = _KEPT.get(path)
    if kept is not None and kept[0] == version:
        return kept[1]
    package = read_package(folder)
    if package is not None:
        _KEPT[path] = (version, package)
    return package


def built_head(package: dict[str, Any] | None) -> Head | None:
    if not package:
        return None
    try:
        built = package["registry"]
        return Head(
            int(built["publog_number"]),
            built["publog_hash"],
            date.fromisoformat(built["as_of"]),
            int(built["last_event"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def current(folder: str | Path, head: Head) -> dict[str, Any] | None:
    """The data package when the files in `folder` were built at `head`, else None."""
    package = kept_package(folder)
    return package if built_head(package) == head else None


def resource(package: dict[str, Any], fmt: str) -> dict[str, Any] | None:
    return next((r for r in package.get("resources", []) if r.get("format") == fmt), None)


def build_if_changed(session: Session, folder: str | Path, on: date | None = None) -> bool:
    """Rebuild the files when the log head or the day moved since they were built. False
    when another process holds the lock (not caught up yet); True otherwise."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    head = head_now(session, on)
    if built_head(kept_package(root)) == head:  # (a stat when this process parsed it)
        return True
    with _file_lock(root) as held:
        if not held or not _database_lock(session):
            return False
        head = head_now(session, on)  # what the lock's holder may have built meanwhile
        if built_head(read_package(root)) == head:
            return True
        _remove_abandoned(root)
        build(session, root, head)
    return True


def builder_free(session: Session, folder: str | Path) -> bool:
    """Whether no builder holds the locks now, each taken and let go at once (on PostgreSQL
    the advisory lock stays held until the session's transaction ends: the caller ends it).
    A process about to start a builder elsewhere asks first, rather than start one that
    would find the locks taken."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root) as held:
        if not held:
            return False
    return _database_lock(session)


def _remove_abandoned(folder: Path) -> None:
    """Delete the temporary files of builders that died mid-build (a worker killed by a
    restart or a deploy): only the holder of the folder's lock writes them, so while it is
    held none of them is being written. Without this each killed build would leave up to
    the size of the three files behind."""
    for name in (*FILES.values(), PACKAGE):
        for tmp in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def build(session: Session, folder: Path, head: Head) -> dict[str, Any]:
    """Write the three files and then the data package, each atomically."""
    sizes: dict[str, tuple[int, str]] = {}
    for fmt in exports.FORMATS:

        def write(out: IO[bytes], fmt: str = fmt) -> None:
            records = exports.rows(session, head.day)
            if fmt == "csv":
                for chunk in exports.iter_csv(records):
                    out.write(chunk.encode("utf-8"))
            elif fmt == "json":
                for chunk in exports.iter_json(records, head.day):
                    out.write(chunk.encode("utf-8"))
            else:
                exports.write_xlsx(records, out)

        sizes[fmt] = _write_atomically(folder / FILES[fmt], write)
    package = datapackage(head, sizes)
    body = json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8")
    _write_atomically(folder / PACKAGE, lambda out: out.write(body))
    return package


def datapackage(head: Head, sizes: dict[str, tuple[int, str]] | None) -> dict[str, Any]:
    """The Frictionless Data Package (v1) describing the three files; without `sizes` (the
    files are not built yet) it has no sizes and hashes."""
    day = head.day.isoformat()

    def schema(names: str) -> dict[str, Any]:
        fields = []
        for key, header in exports.COLUMNS:
            type_, zh, en = FIELDS[key]
            field: dict[str, Any] = {
                "name": header if names == "headers" else key,
                "title": f"{header} / {key}",
                "type": type_,
                "description": f"{zh}。{en}.",
            }
            if type_ == "date":
                field["format"] = "%Y-%m-%d"
            if key == "list":
                field["constraints"] = {
                    "enum": list(exports.LIST_LABELS.values())
                    if names == "headers"
                    else list(exports.LIST_LABELS)
                }
            fields.append(field)
        return {"fields": fields, "missingValues": [""]}

    def entry(fmt: str) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": f"listings-{fmt}",
            "path": FILES[fmt],
            "profile": "tabular-data-resource" if fmt != "json" else "data-resource",
            "format": fmt,
            "mediatype": MEDIA_TYPES[fmt],
            "encoding": "utf-8-sig" if fmt == "csv" else "utf-8",
            "title": f"公示中的名单（{fmt.upper()}） / Listings in force ({fmt.upper()})",
        }
        if sizes is not None:
            size, digest = sizes[fmt]
            described.update({"bytes": size, "hash": f"sha256:{digest}"})
        return described

    csv_resource = {**entry("csv"), "schema": schema("headers")}
    xlsx_resource = {
        **entry("xlsx"),
        "schema": schema("headers"),
        "dialect": {"sheet": "名单"},
    }
    json_resource = {
        **entry("json"),
        "description": (
            '{"as_of", "columns", "listings": [...]}；每条记录的字段见 listings-csv 的表结构'
            "（JSON 中为英文键名，名单类型为 bad / dishonest）。"
            " One object per listing under `listings`, keyed by the English field names of"
            " the listings-csv schema (list: bad or dishonest)."
        ),
    }
    return {
        "profile": "data-package",
        "name": "telecom-credit-registry-listings",
        "title": "电信业务经营不良名单和失信名单 / Telecom operators' bad-conduct and dishonesty lists",
        "description": (
            f"截至 {day}（北京时间）公示中的名单记录；已移出、期满或撤销的记录不在其中。"
            f" The listings in force on {day} (Asia/Shanghai); removed, expired and annulled"
            " listings are not included."
        ),
        "licenses": [LICENSE],
        "created": f"{day}T00:00:00+08:00",
        "version": f"{head.number}",
        "resources": [csv_resource, json_resource, xlsx_resource],
        "registry": {
            "as_of": day,
            "publog_number": head.number,
            "publog_hash": head.hash,
            "last_event": head.counter,
        },
    }


def _write_atomically(path: Path, write: Callable[[IO[bytes]], Any]) -> tuple[int, str]:
    """Write through a temporary file in the same folder, fsync, `os.replace`. Returns the
    size and SHA-256 of what was written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
            out.seek(0)
            digest = hashlib.sha256()
            size = 0
            for block in iter(lambda: out.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        os.chmod(tmp, 0o644)  # served by nginx too
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return size, digest.hexdigest()


@contextlib.contextmanager
def _file_lock(folder: Path) -> Iterator[bool]:
    """The folder's builder lock, without waiting: yields False when another process has it."""
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released if the process dies
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _database_lock(session: Session) -> bool:
    """On PostgreSQL, the deployment's builder lock until the session's transaction ends."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY}
        ).scalar()
    )
