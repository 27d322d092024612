"""Binary Merkle roots over lists of encoded items (txs, proofs, evidence, receipts).

Rule (the RFC 6962 shape with Cairn's domain tags):

* ``root([]) = H(b"cairn/merkle/empty/v1", b"")``
* ``root([x]) = H(b"cairn/merkle/leaf/v1", x)``
* ``root(xs) = H(b"cairn/merkle/node/v1", root(xs[:k]) ‖ root(xs[k:]))`` where ``k``
  is the largest power of two strictly less than ``len(xs)``.

Leaves and nodes hash under different tags, so an inner node can never be passed
off as a leaf.  ``prove`` and ``verify`` give inclusion proofs for light clients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from chain.hashing import H, tag_prefix

EMPTY_ROOT = H(b"cairn/merkle/empty/v1", b"")
_LEAF = tag_prefix(b"cairn/merkle/leaf/v1")
_NODE = tag_prefix(b"cairn/merkle/node/v1")


def leaf_hash(item: bytes) -> bytes:
    return hashlib.sha3_256(_LEAF + item).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha3_256(_NODE + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_root_of_hashes(hashes[:k]), _root_of_hashes(hashes[k:]))


def merkle_root(items: Sequence[bytes]) -> bytes:
    """The Merkle root of ``items`` (each item is already-encoded bytes)."""
    if not items:
        return EMPTY_ROOT
    return _root_of_hashes([leaf_hash(i) for i in items])


def merkle_prove(items: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from the leaf at ``index`` up to the root."""
    if not 0 <= index < len(items):
        raise IndexError("merkle_prove: index out of range")
    hashes = [leaf_hash(i) for i in items]
    path: list[bytes] = []

    def walk(lo: int, hi: int) -> None:
        if hi - lo == 1:
            return
        k = lo + _split(hi - lo)
        if index < k:
            walk(lo, k)
            path.append(_root_of_hashes(hashes[k:hi]))
        else:
            walk(k, hi)
            path.append(_root_of_hashes(hashes[lo:k]))

    walk(0, len(items))
    return path


def merkle_verify(root: bytes, item: bytes, index: int, total: int, path: Sequence[bytes]) -> bool:
    """True when ``item`` is at ``index`` of a list of ``total`` items with this ``root``."""
    if not 0 <= index < total:
        return False
    # Recompute the sequence of split decisions from the top, then fold bottom-up.
    sides: list[bool] = []  # True when our subtree is the left child
    lo, hi = 0, total
    while hi - lo > 1:
        k = lo + _split(hi - lo)
        if index < k:
            sides.append(True)
            hi = k
        else:
            sides.append(False)
            lo = k
    if len(sides) != len(path):
        return False
    acc = leaf_hash(item)
    for is_left, sibling in zip(reversed(sides), path, strict=True):
        acc = node_hash(acc, sibling) if is_left else node_hash(sibling, acc)
    return acc == root
