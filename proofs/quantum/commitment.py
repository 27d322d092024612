"""Outcome histograms and the Merkle commitment a QUANTUM_V1 provider makes to them.

Histogram encoding
------------------
A histogram of ``shots`` measurements is the canonical CBOR array of ``[outcome, count]``
pairs, sorted by ``outcome`` strictly ascending, with every ``count >= 1`` (outcomes never
seen are absent, so one histogram has exactly one encoding) and ``sum(count) == shots``.
Outcomes are unsigned integers (see ``qasm``: bit ``c`` is classical bit ``c``).

Leaves and tree
---------------
A job has ``S`` slots (the user circuit and the trap circuits, see ``traps``).  The leaf of
slot ``i`` holding histogram ``h`` is

    leaf(i, h) = H("cairn/quantum/leaf/v1", encode([i, h]))

and the provider commits to the root of the binary Merkle tree over ``leaf(0, h_0) ...
leaf(S-1, h_{S-1})`` built as in RFC 9162 §2.1.1 (Certificate Transparency):

    MTH([x])      = x
    MTH(D[0:n])   = H("cairn/quantum/node/v1", MTH(D[0:k]) ‖ MTH(D[k:n]))   for n > 1,

where ``k`` is the largest power of two strictly below ``n``.  Leaf and node hashes use
different tags, so a leaf can never pass for an inner node (second-preimage attacks on
the tree shape fail), and an odd node is never duplicated (no CVE-2012-2459-style
mutation: each root has one leaf list of each size).  The slot index inside the leaf
binds each histogram to its position a second time.

An inclusion proof for slot ``i`` of a tree of size ``S`` is the list of sibling hashes
from the leaf up to the root (the leaf's sibling first).  Its length is fixed by
``(i, S)``; a proof with missing or extra hashes is rejected.

The output digest of a job is ``H("cairn/quantum/output/v1", encode(h_user))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chain.codec import encode
from chain.errors import InvalidProof
from chain.hashing import H, hash_items

LEAF_TAG: Final[bytes] = b"cairn/quantum/leaf/v1"
NODE_TAG: Final[bytes] = b"cairn/quantum/node/v1"
OUTPUT_TAG: Final[bytes] = b"cairn/quantum/output/v1"
MAX_OUTCOME: Final[int] = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of measured outcomes: ``((outcome, count), ...)`` sorted, counts ``>= 1``."""

    counts: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        previous = -1
        for outcome, count in self.counts:
            if not previous < outcome <= MAX_OUTCOME:
                raise ValueError("histogram outcomes must be strictly ascending in [0, 2^64)")
            if count < 1:
                raise ValueError("histogram counts must be >= 1")
            previous = outcome

    @classmethod
    def from_counts(cls, counts: Mapping[int, int] | Iterable[tuple[int, int]]) -> Histogram:
        """Build from a mapping or pairs (zero counts dropped, duplicate outcomes summed)."""
        items = counts.items() if isinstance(counts, Mapping) else counts
        merged: dict[int, int] = {}
        for outcome, count in items:
            merged[int(outcome)] = merged.get(int(outcome), 0) + int(count)
        return cls(tuple((o, c) for o, c in sorted(merged.items()) if c != 0))

    @property
    def shots(self) -> int:
        """Total number of measurements."""
        return sum(c for _, c in self.counts)

    def as_dict(self) -> dict[int, int]:
        """``{outcome: count}``."""
        return dict(self.counts)

    def to_value(self) -> list[list[int]]:
        """The CBOR value: ``[[outcome, count], ...]``."""
        return [[o, c] for o, c in self.counts]

    def encode(self) -> bytes:
        """Canonical CBOR bytes."""
        return encode(self.to_value())

    @classmethod
    def from_value(cls, value: Any, what: str = "histogram") -> Histogram:
        """Check a decoded CBOR value against the encoding rule; ``quantum_bad_histogram`` if not."""
        if not isinstance(value, list):
            raise InvalidProof("quantum_bad_histogram", f"{what}: expected an array")
        pairs: list[tuple[int, int]] = []
        previous = -1
        for item in value:
            if not (isinstance(item, list) and len(item) == 2):
                raise InvalidProof("quantum_bad_histogram", f"{what}: entries must be [outcome, count] pairs")
            outcome, count = item
            if not _is_uint(outcome) or not _is_uint(count):
                raise InvalidProof(
                    "quantum_bad_histogram", f"{what}: outcomes and counts must be unsigned integers"
                )
            if outcome <= previous:
                raise InvalidProof("quantum_bad_histogram", f"{what}: outcomes not strictly ascending")
            if count == 0:
                raise InvalidProof("quantum_bad_histogram", f"{what}: zero count for outcome {outcome}")
            pairs.append((outcome, count))
            previous = outcome
        return cls(tuple(pairs))

    def check(self, what: str, *, shots: int, width: int, mask: int | None = None) -> None:
        """Raise ``quantum_bad_histogram`` unless the counts sum to ``shots`` and every outcome
        fits in ``width`` bits (and, if given, sets no bit outside ``mask``)."""
        total = self.shots
        if total != shots:
            raise InvalidProof(
                "quantum_bad_histogram",
                f"{what}: counts sum to {total}, expected {shots}",
                got=total,
                expected=shots,
            )
        allowed = (1 << width) - 1 if mask is None else mask & ((1 << width) - 1)
        for outcome, _ in self.counts:
            if outcome & ~allowed:
                raise InvalidProof(
                    "quantum_bad_histogram",
                    f"{what}: outcome {outcome} is impossible for this circuit",
                    outcome=outcome,
                )


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_OUTCOME


def output_digest(histogram: Histogram) -> bytes:
    """``H("cairn/quantum/output/v1", encode(histogram))``: the job's output digest."""
    return H(OUTPUT_TAG, histogram.encode())


def leaf_hash(slot: int, histogram: Histogram) -> bytes:
    """``H("cairn/quantum/leaf/v1", encode([slot, histogram]))``."""
    return hash_items(LEAF_TAG, slot, histogram.to_value())


def node_hash(left: bytes, right: bytes) -> bytes:
    """``H("cairn/quantum/node/v1", left ‖ right)``."""
    return H(NODE_TAG, left + right)


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree over ``leaves`` (at least one)."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def merkle_proof(leaves: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """The inclusion proof of ``leaves[index]``: sibling hashes, the leaf's sibling first."""
    if not 0 <= index < len(leaves):
        raise ValueError("leaf index out of range")
    if len(leaves) == 1:
        return ()
    k = _split(len(leaves))
    if index < k:
        return merkle_proof(leaves[:k], index) + (merkle_root(leaves[k:]),)
    return merkle_proof(leaves[k:], index - k) + (merkle_root(leaves[:k]),)


def _root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    if size == 1:
        return leaf if not proof else None
    if not proof:
        return None
    k = _split(size)
    sibling, rest = proof[-1], proof[:-1]
    if index < k:
        left = _root_from_proof(leaf, index, k, rest)
        return None if left is None else node_hash(left, sibling)
    right = _root_from_proof(leaf, index - k, size - k, rest)
    return None if right is None else node_hash(sibling, right)


def verify_inclusion(root: bytes, leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> None:
    """Raise ``InvalidProof("quantum_merkle_proof")`` unless ``proof`` places ``leaf`` at
    ``index`` of a tree of ``size`` leaves whose root is ``root``."""
    if not 0 <= index < size:
        raise InvalidProof("quantum_merkle_proof", f"leaf index {index} outside a tree of {size}", slot=index)
    computed = _root_from_proof(leaf, index, size, proof)
    if computed is None:
        raise InvalidProof(
            "quantum_merkle_proof",
            f"inclusion proof for slot {index} has the wrong length {len(proof)}",
            slot=index,
        )
    if computed != root:
        raise InvalidProof(
            "quantum_merkle_proof", f"slot {index} histogram is not the one committed to", slot=index
        )
