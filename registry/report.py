"""The firm report (信用报告): a firm's listings, their penalty decisions and their removals
as the publication log stood at one moment, with the signed tree head of the log at that
size and the inclusion proof of every entry shown — so anyone can check it without us.

A report is built from immutable log entries only, so it can be rebuilt at any time from
its number, ``<USCC>-<tree size>-<time, Asia/Shanghai, YYYYMMDDHHMMSS>-<digest>``: the
digest is the first 12 hex digits of the SHA-256 of the report's canonical JSON without
its number and links. Nothing is stored. Verifying a report rebuilds it from its number:
equal, it is genuine; different, it was changed; and it is superseded when entries about
the firm were logged after it or a listing it shows in force has since expired.
No Flask here.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import merkle, publog, rules, signing
from registry.models import Enterprise, Listing, LogEntry

NUMBER = re.compile(r"([0-9A-Z]{18})-([0-9]{1,12})-([0-9]{14})-([0-9a-f]{12})")
STAMP = "%Y%m%d%H%M%S"
UNSIGNED = ("report_number", "verify_url")
STATUS_BY_ACTION = {"remove": "removed", "annul": "annulled", "expire": "expired"}


@dataclass(frozen=True)
class ReportNumber:
    uscc: str
    tree_size: int
    at: datetime  # aware, Asia/Shanghai, whole seconds
    digest: str

    def __str__(self) -> str:
        return f"{self.uscc}-{self.tree_size}-{self.at.strftime(STAMP)}-{self.digest}"


def parse_number(text: str) -> ReportNumber | None:
    """The parts of a report number; None when it is not one."""
    match = NUMBER.fullmatch(text or "")
    if match is None:
        return None
    uscc, size, stamp, digest = match.groups()
    try:
        at = datetime.strptime(stamp, STAMP).replace(tzinfo=rules.SHANGHAI)
    except ValueError:
        return None
    return ReportNumber(uscc, int(size), at, digest)


def digest(document: dict[str, Any]) -> str:
    core = {key: value for key, value in document.items() if key not in UNSIGNED}
    return hashlib.sha256(publog.canonical_json(core).encode("utf-8")).hexdigest()[:12]


def signed_head(session: Session, key: Ed25519PrivateKey, size: int) -> dict[str, Any]:
    """The signed tree head of the log's first `size` entries (deterministic: the timestamp
    is entry `size`'s time and Ed25519 signatures are deterministic)."""
    last = session.get(LogEntry, size)
    if last is None:
        raise ValueError(f"the log has no entry {size}")
    at = last.at if last.at.tzinfo is not None else last.at.replace(tzinfo=UTC)
    head = signing.TreeHead(size, int(at.timestamp() * 1000), publog.root_at(session, size))
    return signing.sign(key, head)


def _firm_entries(session: Session, firm: Enterprise, size: int) -> list[LogEntry]:
    ids = select(Listing.id).where(Listing.enterprise_id == firm.id)
    return list(
        session.scalars(
            select(LogEntry)
            .where(
                LogEntry.entity_type == "listing",
                LogEntry.entity_id.in_(ids),
                LogEntry.number <= size,
            )
            .order_by(LogEntry.number)
        )
    )


def _listings(entries: list[LogEntry], day: date) -> list[dict[str, Any]]:
    """Each listing the entries name, as its publication showed it, with its status on
    `day`: in force, removed, annulled or expired."""
    found: dict[int, dict[str, Any]] = {}
    for entry in entries:
        payload = json.loads(entry.payload)
        item = found.setdefault(entry.entity_id, {"id": entry.entity_id, "entries": []})
        item["entries"].append(entry.number)
        if entry.action == "publish":
            keys = ("list", "ground", "ground_title", "authority_name", "decision_no")
            item.update({key: payload.get(key) for key in keys})
            item.update(
                {key: payload.get(key) for key in ("decided_on", "listed_on", "expires_on")}
            )
            item["status"] = "in_force"
        else:
            item["status"] = STATUS_BY_ACTION.get(entry.action, entry.action)
            item["ended_on"] = rules.today(_aware(entry.at)).isoformat()
    for item in found.values():
        expires = item.get("expires_on")
        if item.get("status") == "in_force" and expires and date.fromisoformat(expires) <= day:
            item["status"] = "expired"
    return sorted(found.values(), key=lambda item: (item.get("listed_on") or "", item["id"]))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _entry(session: Session, entry: LogEntry, size: int) -> dict[str, Any]:
    return {
        "number": entry.number,
        "leaf_index": entry.number - 1,
        "action": entry.action,
        "payload": entry.payload,
        "prev_hash": entry.prev_hash,
        "content_hash": entry.content_hash,
        "entry_hash": entry.entry_hash,
        "inclusion_path": [
            node.hex() for node in publog.inclusion_proof(session, entry.number - 1, size)
        ],
    }


def build(
    session: Session, key: Ed25519PrivateKey, firm: Enterprise, size: int, at: datetime
) -> dict[str, Any] | None:
    """The report on `firm` at log size `size`, made at `at`; None when no entry up to
    that size names it (nothing public to report)."""
    at = at.astimezone(rules.SHANGHAI).replace(microsecond=0)
    entries = _firm_entries(session, firm, size) if size > 0 else []
    if not entries or not firm.uscc:
        return None
    latest = json.loads(entries[-1].payload)
    document: dict[str, Any] = {
        "format": "registry-firm-report/1",
        "generated_at": at.isoformat(),
        "firm": {"name": latest.get("name"), "uscc": firm.uscc},
        "tree_head": signed_head(session, key, size),
        "listings": _listings(entries, at.date()),
        "entries": [_entry(session, entry, size) for entry in entries],
    }
    number = ReportNumber(firm.uscc, size, at, digest(document))
    return {"report_number": str(number)} | document


def current(
    session: Session, key: Ed25519PrivateKey, firm: Enterprise, at: datetime
) -> dict[str, Any] | None:
    """The report on `firm` now: at the whole log's size."""
    return build(session, key, firm, publog.tree_size(session), at)


def rebuild(session: Session, key: Ed25519PrivateKey, number: str) -> dict[str, Any] | None:
    """The report a number names, rebuilt from the log; None when no such report exists
    (bad number, unknown firm, a size past the log, or a digest that does not match)."""
    parts = parse_number(number)
    if parts is None or parts.tree_size > publog.tree_size(session):
        return None
    firm = session.scalar(select(Enterprise).where(Enterprise.uscc == parts.uscc))
    if firm is None:
        return None
    document = build(session, key, firm, parts.tree_size, parts.at)
    if document is None or document["report_number"] != str(parts):
        return None
    return document


@dataclass(frozen=True)
class Verdict:
    status: str  # genuine | changed | unknown
    superseded: bool
    problems: tuple[str, ...]
    report: dict[str, Any] | None  # the report as the log rebuilds it


def proofs_hold(document: dict[str, Any], public: Any) -> list[str]:
    """Check a report on its own: the tree head's signature, and each entry's hashes and
    inclusion proof against that head. Returns the problems found."""
    problems: list[str] = []
    try:
        head = signing.verify(public, document["tree_head"])
    except (KeyError, ValueError) as exc:
        return [f"tree head: {exc}"]
    for entry in document.get("entries", []):
        try:
            content = publog.sha256_hex(entry["payload"])
            expected = publog.entry_hash(entry["number"], entry["prev_hash"], content)
            path = [bytes.fromhex(node) for node in entry["inclusion_path"]]
            ok = expected == entry["entry_hash"] and merkle.verify_inclusion(
                entry["leaf_index"], head.tree_size, publog.leaf_of(expected), path, head.root_hash
            )
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(f"entry {entry.get('number')}: not in the signed tree")
    return problems


def superseded(session: Session, document: dict[str, Any], today: date) -> bool:
    """Entries about the firm were logged after the report, or a listing it shows in force
    has expired since."""
    size = document["tree_head"]["tree_size"]
    ids = [item["id"] for item in document["listings"]]
    later = session.scalar(
        select(LogEntry.number)
        .where(
            LogEntry.entity_type == "listing",
            LogEntry.entity_id.in_(ids),
            LogEntry.number > size,
        )
        .limit(1)
    )
    lapsed = any(
        item.get("status") == "in_force"
        and item.get("expires_on")
        and date.fromisoformat(item["expires_on"]) <= today
        for item in document["listings"]
    )
    return later is not None or lapsed


def verify(session: Session, key: Ed25519PrivateKey, document: Any, today: date) -> Verdict:
    """Check a report (its JSON) against the log: rebuilt from its number, is it the same?"""
    number = document.get("report_number") if isinstance(document, dict) else None
    rebuilt = rebuild(session, key, number) if isinstance(number, str) else None
    if rebuilt is None:
        return Verdict("unknown", False, ("no such report",), None)
    problems = tuple(proofs_hold(rebuilt, key.public_key()))
    if problems:
        return Verdict("changed", False, problems, rebuilt)
    same = publog.canonical_json(_signed_part(document)) == publog.canonical_json(
        _signed_part(rebuilt)
    )
    status = "genuine" if same else "changed"
    return Verdict(status, superseded(session, rebuilt, today), (), rebuilt)


def _signed_part(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "verify_url"}
