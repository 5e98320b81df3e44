"""Audit a remote registry's publication log over HTTP (`registry verify-log --url`).

What a data user can check without trusting the server:

1. the signed tree head `/log/sth.json` verifies with the key `/log/key`;
2. it extends the head saved by the previous run (the `--since` file): same key, same
   root at the same size, or a consistency proof from `/log/proof/consistency` that
   verifies (RFC 9162 section 2.1.4.2); the new head is saved only when all is well;
3. the entries of `/log.json` form the hash chain (registry/publog.py) and their Merkle
   tree has the head's root;
4. the inclusion proofs `/log/proof/inclusion` of the entries added since the saved head
   (all of them on a first run) verify: every stored hash they rest on is shown.

No Flask and no database here: only the published documents.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry import merkle, publog, signing

PAGE = 1000
TIMEOUT = 60

Fetch = Callable[[str], bytes]


class AuditFailed(Exception):
    """The remote log could not be checked or does not hold together."""


@dataclass
class Audit:
    head: signing.TreeHead | None = None
    entries: int = 0
    problems: list[str] = field(default_factory=list)


def http_get(url: str) -> bytes:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise AuditFailed(f"only http and https URLs can be audited: {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "registry verify-log"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # nosec B310
            return bytes(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise AuditFailed(f"cannot fetch {url}: {exc}") from None


def _json(fetch: Fetch, url: str) -> Any:
    try:
        return json.loads(fetch(url))
    except ValueError:
        raise AuditFailed(f"{url} did not answer JSON") from None


def _object(fetch: Fetch, url: str) -> dict[str, Any]:
    value = _json(fetch, url)
    if not isinstance(value, dict):
        raise AuditFailed(f"{url} did not answer a JSON object")
    return value


def _hexes(values: Any, url: str) -> list[bytes]:
    try:
        return [bytes.fromhex(value) for value in values]
    except (TypeError, ValueError):
        raise AuditFailed(f"{url}: the proof is not a list of hex hashes") from None


def audit(base_url: str, since: Path | None = None, fetch: Fetch = http_get) -> Audit:
    result = Audit()
    base = base_url.rstrip("/")
    try:
        public = signing.load_public_pem(fetch(f"{base}/log/key").decode("ascii", "replace"))
    except signing.SigningKeyError as exc:
        raise AuditFailed(f"{base}/log/key: {exc}") from None
    document = _json(fetch, f"{base}/log/sth.json")
    try:
        head = signing.verify(public, document)
    except ValueError as exc:
        raise AuditFailed(f"{base}/log/sth.json: {exc}") from None
    result.head = head
    checked_before = 0
    if since is not None and since.exists():
        problems, checked_before = _check_since(fetch, base, public, since, head)
        result.problems.extend(problems)
    leaves, problems = _check_entries(fetch, base, head)
    result.entries = len(leaves)
    result.problems.extend(problems)
    if not result.problems:
        result.problems.extend(_check_inclusion(fetch, base, head, leaves, checked_before))
    if since is not None and not result.problems:
        since.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return result


def _check_since(
    fetch: Fetch, base: str, public: Any, since: Path, head: signing.TreeHead
) -> tuple[list[str], int]:
    """Problems between the saved head and this one, and the saved size (whose entries the
    previous run checked)."""
    try:
        saved_document = json.loads(since.read_text("utf-8"))
        saved = signing.verify(public, saved_document)
    except ValueError as exc:
        return [f"the saved head in {since} does not verify with the registry's key: {exc}"], 0
    if saved.tree_size > head.tree_size:
        return [f"the log shrank from {saved.tree_size} to {head.tree_size} entries"], 0
    if saved.tree_size == head.tree_size:
        if saved.root_hash != head.root_hash:
            return [f"two different roots for the same size {head.tree_size}"], 0
        return [], saved.tree_size
    if saved.tree_size == 0:
        return [], 0
    url = f"{base}/log/proof/consistency?first={saved.tree_size}&second={head.tree_size}"
    proof = _hexes(_object(fetch, url).get("consistency_path"), url)
    if not merkle.verify_consistency(
        saved.tree_size, head.tree_size, saved.root_hash, head.root_hash, proof
    ):
        return [
            f"the head of {head.tree_size} entries is not consistent with the saved head "
            f"of {saved.tree_size} entries"
        ], 0
    return [], saved.tree_size


def _check_entries(
    fetch: Fetch, base: str, head: signing.TreeHead
) -> tuple[list[bytes], list[str]]:
    """The chain of the first `head.tree_size` entries and their Merkle root."""
    problems: list[str] = []
    leaves: list[bytes] = []
    prev_hash = publog.GENESIS_HASH
    while len(leaves) < head.tree_size:
        url = f"{base}/log.json?after={len(leaves)}&limit={PAGE}"
        page = _json(fetch, url)
        entries = page.get("entries") if isinstance(page, dict) else None
        if not entries:
            break
        for entry in entries:
            if len(leaves) >= head.tree_size:
                break
            number = len(leaves) + 1
            problems.extend(_check_entry(entry, number, prev_hash))
            prev_hash = str(entry.get("entry_hash"))
            try:
                leaves.append(publog.leaf_of(prev_hash))
            except ValueError:
                leaves.append(b"")
    if len(leaves) < head.tree_size:
        problems.append(f"the head has {head.tree_size} entries but /log.json gave {len(leaves)}")
    elif merkle.root_of_leaves(leaves) != head.root_hash:
        problems.append("the Merkle root of the entries differs from the signed tree head")
    return leaves, problems


def _check_entry(entry: Any, number: int, prev_hash: str) -> list[str]:
    if not isinstance(entry, dict):
        return [f"entry {number}: not a JSON object"]
    where = f"entry {number}"
    problems = []
    if entry.get("number") != number:
        problems.append(f"{where}: numbered {entry.get('number')!r}")
    payload = entry.get("payload")
    if not isinstance(payload, str):
        return [*problems, f"{where}: no payload"]
    if entry.get("prev_hash") != prev_hash:
        problems.append(f"{where}: prev_hash does not match the previous entry's hash")
    if hashlib.sha256(payload.encode("utf-8")).hexdigest() != entry.get("content_hash"):
        problems.append(f"{where}: content_hash does not match the payload")
    expected = publog.entry_hash(
        number, str(entry.get("prev_hash")), str(entry.get("content_hash"))
    )
    if expected != entry.get("entry_hash"):
        problems.append(f"{where}: entry_hash does not match number, prev_hash and content_hash")
    return problems


def _check_inclusion(
    fetch: Fetch, base: str, head: signing.TreeHead, leaves: list[bytes], start: int
) -> list[str]:
    """The server's inclusion proofs of the entries from `start` on verify against the head.
    The proof of an odd leaf i carries leaf i - 1 and the siblings above them, so the proofs
    of the odd leaves (and of the last) show every stored hash the new entries rest on."""
    problems = []
    for index in range(start, head.tree_size):
        if index % 2 == 0 and index != head.tree_size - 1:
            continue
        url = f"{base}/log/proof/inclusion?index={index}&size={head.tree_size}"
        proof = _hexes(_object(fetch, url).get("inclusion_path"), url)
        if not merkle.verify_inclusion(index, head.tree_size, leaves[index], proof, head.root_hash):
            problems.append(f"entry {index + 1}: the inclusion proof does not verify")
            if len(problems) >= 20:
                break
    return problems
