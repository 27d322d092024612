"""Histogram encoding and the RFC 9162-shaped Merkle tree over slot histograms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.codec import encode
from chain.errors import InvalidProof
from chain.hashing import H, hash_items
from proofs.quantum.commitment import (
    LEAF_TAG,
    NODE_TAG,
    Histogram,
    leaf_hash,
    merkle_proof,
    merkle_root,
    node_hash,
    output_digest,
    verify_inclusion,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i, Histogram(((i, 1),))) for i in range(n)]


def test_leaf_and_node_rules() -> None:
    h = Histogram(((1, 3), (5, 2)))
    assert h.to_value() == [[1, 3], [5, 2]]
    assert (
        leaf_hash(4, h) == H(LEAF_TAG, encode([4, [[1, 3], [5, 2]]])) == hash_items(LEAF_TAG, 4, h.to_value())
    )
    a, b = b"a" * 32, b"b" * 32
    assert node_hash(a, b) == H(NODE_TAG, a + b)
    assert output_digest(h) == H(b"cairn/quantum/output/v1", h.encode())


def test_tree_shape_matches_rfc9162() -> None:
    ls = leaves(5)
    n = node_hash
    assert merkle_root(ls[:1]) == ls[0]
    assert merkle_root(ls[:3]) == n(n(ls[0], ls[1]), ls[2])
    assert merkle_root(ls) == n(n(n(ls[0], ls[1]), n(ls[2], ls[3])), ls[4])


@pytest.mark.parametrize("size", list(range(1, 20)) + [255, 256])
def test_every_proof_verifies_and_has_fixed_length(size: int) -> None:
    ls = leaves(size)
    root = merkle_root(ls)
    for i in range(size) if size < 50 else (0, 1, size // 2, size - 1):
        proof = merkle_proof(ls, i)
        verify_inclusion(root, ls[i], i, size, proof)
        assert len(proof) <= 8
        # The wrong index, a missing or an extra hash, a flipped sibling: all fail.
        for bad_index in {(i + 1) % size, (i - 1) % size} - {i}:
            with pytest.raises(InvalidProof) as info:
                verify_inclusion(root, ls[i], bad_index, size, proof)
            assert info.value.reason == "quantum_merkle_proof"
        for bad in (proof[:-1], (*proof, b"\x00" * 32)):
            if bad != proof:
                with pytest.raises(InvalidProof):
                    verify_inclusion(root, ls[i], i, size, bad)
        if proof:
            flipped = (bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:])
            with pytest.raises(InvalidProof):
                verify_inclusion(root, ls[i], i, size, flipped)


def test_proof_for_other_size_rejected() -> None:
    """A proof built for a smaller tree (an inner node posing as a leaf) fails for the real size."""
    ls = leaves(4)
    root = merkle_root(ls)
    inner = [node_hash(ls[0], ls[1]), node_hash(ls[2], ls[3])]
    proof = merkle_proof(inner, 0)
    assert merkle_root(inner) == root
    with pytest.raises(InvalidProof):
        verify_inclusion(root, inner[0], 0, 4, proof)
    with pytest.raises(InvalidProof):
        verify_inclusion(root, ls[0], 4, 4, merkle_proof(ls, 0))


def test_histogram_validation() -> None:
    assert Histogram.from_counts({3: 2, 1: 5, 7: 0}).counts == ((1, 5), (3, 2))
    assert Histogram.from_value([[0, 1], [2, 3]]).shots == 4
    bad_values = [
        {},
        [[1, 2, 3]],
        [[1]],
        [[2, 1], [1, 1]],
        [[1, 1], [1, 1]],
        [[1, 0]],
        [[-1, 1]],
        [[1, -1]],
        [[True, 1]],
        [["1", 1]],
        [[2**64, 1]],
        [(1, 2)],
    ]
    for value in bad_values:
        with pytest.raises(InvalidProof) as info:
            Histogram.from_value(value)
        assert info.value.reason == "quantum_bad_histogram"
    with pytest.raises(ValueError):
        Histogram(((2, 1), (1, 1)))
    h = Histogram(((0, 5), (5, 5)))
    h.check("h", shots=10, width=3)
    for kwargs in (
        {"shots": 11, "width": 3},
        {"shots": 10, "width": 2},
        {"shots": 10, "width": 3, "mask": 0b001},
    ):
        with pytest.raises(InvalidProof) as info:
            h.check("h", **kwargs)
        assert info.value.reason == "quantum_bad_histogram"


@given(st.dictionaries(st.integers(0, 2**20), st.integers(1, 10**6), max_size=50))
def test_histogram_round_trip(counts: dict[int, int]) -> None:
    h = Histogram.from_counts(counts)
    assert Histogram.from_value(h.to_value()) == h
    assert h.as_dict() == counts
