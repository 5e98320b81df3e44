"""Merkle tree hashes, proofs and their verification as RFC 9162 (CT 2.0) section 2.1 defines.

The tree over n leaves: MTH({}) = SHA-256(""), a leaf hashes as SHA-256(0x00 || data), a
node as SHA-256(0x01 || left || right), and D[0:n] splits at k, the largest power of two
smaller than n. Proofs are computed from a `NodeSource`: the hashes of the perfect,
aligned subtrees (``level`` ℓ, ``index`` i covers leaves i·2^ℓ … (i+1)·2^ℓ - 1), which the
publication log stores as it grows (registry/publog.py). Any other subtree is put together
from at most log2(n) of those, so a proof needs O(log n) stored hashes.

`nodes_needed` runs an algorithm once over a source that only records which stored hashes
it asks for, so the caller can fetch them all in one query. No database, no Flask here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

EMPTY_ROOT = hashlib.sha256(b"").digest()
T = TypeVar("T")


class NodeSource(Protocol):
    def __call__(self, level: int, index: int) -> bytes: ...


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree(nodes: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from the stored perfect subtrees."""
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and start % size == 0:
        return nodes(size.bit_length() - 1, start // size)
    k = split_point(size)
    return node_hash(subtree(nodes, start, start + k), subtree(nodes, start + k, end))


def root(nodes: NodeSource, size: int) -> bytes:
    return subtree(nodes, 0, size)


def inclusion_path(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1, leaf first; 0 <= index < size."""
    if not 0 <= index < size:
        raise ValueError("index must be smaller than size")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree(nodes, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(nodes: NodeSource, first: int, second: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1; 0 < first <= second."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    proof: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(subtree(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree(nodes, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree(nodes, start, end))
    proof.reverse()
    return proof


def nodes_needed(algorithm: Callable[[NodeSource], object]) -> set[tuple[int, int]]:
    """The (level, index) pairs `algorithm` reads, found by running it on placeholders."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return EMPTY_ROOT

    algorithm(record)
    return wanted


def parents(
    first_index: int, leaves: list[bytes], stored: NodeSource
) -> Iterable[tuple[int, int, bytes]]:
    """The perfect subtrees completed by appending `leaves` at `first_index` onwards:
    (level, index, hash) for every level, leaves included. Left siblings from before the
    batch are read from `stored`."""
    made: dict[tuple[int, int], bytes] = {}

    def get(level: int, index: int) -> bytes:
        return made[(level, index)] if (level, index) in made else stored(level, index)

    for offset, leaf in enumerate(leaves):
        index = first_index + offset
        made[(0, index)] = leaf
        yield 0, index, leaf
        level, value = 0, leaf
        while index % 2 == 1:
            value = node_hash(get(level, index - 1), value)
            level, index = level + 1, index // 2
            made[(level, index)] = value
            yield level, index, value


def build(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect subtree over `leaves` (for a full rebuild or a check)."""
    return {(lv, ix): h for lv, ix, h in parents(0, leaves, _nothing_stored)}


def _nothing_stored(level: int, index: int) -> bytes:
    raise KeyError((level, index))


# --- verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2), for clients ----------------------


def _step(fn: int, sn: int) -> tuple[bool, int, int]:
    """One step of the RFC 9162 verification walk up the tree: whether the next path node
    is a left sibling, and the node numbers (fn, sn) one level up."""
    left = fn % 2 == 1 or fn == sn
    if left:
        while fn % 2 == 0 and fn != 0:
            fn >>= 1
            sn >>= 1
    return left, fn >> 1, sn >> 1


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: list[bytes], expected_root: bytes
) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        left, fn, sn = _step(fn, sn)
        r = node_hash(p, r) if left else node_hash(r, p)
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    if first > second or first < 1:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        left, fn, sn = _step(fn, sn)
        if left:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    return sn == 0 and fr == first_root and sr == second_root


def root_of_leaves(leaves: list[bytes]) -> bytes:
    """MTH of a full list of leaf hashes, iteratively (for clients holding every entry)."""
    if not leaves:
        return EMPTY_ROOT
    nodes = build(leaves)
    return root(lambda level, index: nodes[(level, index)], len(leaves))
