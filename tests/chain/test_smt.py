"""The compact sparse Merkle tree: roots, storage, batch updates and proofs.

The reference functions at the top are written from the hashing rules in the
``chain.smt`` docstring with ``hashlib`` alone, so they check the module rather
than repeat it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain import codec
from chain.errors import DecodeError, ErrorCode, InvalidProof, StoreCorrupt
from chain.kv import MemoryKV
from chain.smt import (
    EMPTY_ROOT,
    NODE_KEY_PREFIX,
    ProofKind,
    SmtProof,
    SparseMerkleTree,
    leaf_hash,
    node_hash,
    require_proof,
    state_key,
    value_hash,
    verify_proof,
)

ZERO = bytes(32)

# --- an independent reference ---------------------------------------------------------


def ref_h(tag: bytes, data: bytes) -> bytes:
    return hashlib.sha3_256(bytes([len(tag)]) + tag + data).digest()


def ref_leaf(key: bytes, value: bytes) -> bytes:
    return ref_h(b"cairn/smt/leaf/v1", key + ref_h(b"cairn/smt/value/v1", value))


def ref_node(left: bytes, right: bytes) -> bytes:
    return ref_h(b"cairn/smt/node/v1", left + right)


def bit(key: bytes, i: int) -> int:
    return (key[i // 8] >> (7 - i % 8)) & 1


def ref_root(entries: dict[bytes, bytes], depth: int = 0) -> bytes:
    """The root by the definition: EMPTY, the single leaf, or node(left, right)."""
    if not entries:
        return ZERO
    if len(entries) == 1:
        ((key, value),) = entries.items()
        return ref_leaf(key, value)
    left = {k: v for k, v in entries.items() if bit(k, depth) == 0}
    right = {k: v for k, v in entries.items() if bit(k, depth) == 1}
    return ref_node(ref_root(left, depth + 1), ref_root(right, depth + 1))


def key_with_bits(*bits: int, fill: int = 0) -> bytes:
    """A key whose first bits are ``bits`` and whose remaining bits are all ``fill``."""
    value = 0
    for b in bits:
        value = (value << 1) | b
    rest = 256 - len(bits)
    value = (value << rest) | (((1 << rest) - 1) if fill else 0)
    return value.to_bytes(32, "big")


def mix(base: bytes, other: bytes, shared: int) -> bytes:
    """The first ``shared`` bits of ``base`` followed by the remaining bits of ``other``."""
    mask = ((1 << shared) - 1) << (256 - shared)
    full = (1 << 256) - 1
    value = (int.from_bytes(base, "big") & mask) | (int.from_bytes(other, "big") & (full ^ mask))
    return value.to_bytes(32, "big")


# --- helpers --------------------------------------------------------------------------


def commit(kv: MemoryKV, root: bytes, changes: dict[bytes, bytes | None]) -> bytes:
    """Run one update against ``kv``, check it wrote nothing itself, then store its nodes."""
    before = dict(kv.data)
    new_root, writes = SparseMerkleTree(kv, root).update(changes)
    assert kv.data == before, "update must not write"
    check_writes(writes)
    kv.write_batch(writes)
    return new_root


def check_writes(writes: dict[bytes, bytes]) -> None:
    """Every write is ``smt/ ‖ hash`` -> canonical node bytes that hash to ``hash``."""
    for kv_key, data in writes.items():
        assert kv_key.startswith(b"smt/") and len(kv_key) == 36
        items = codec.decode(data)
        assert codec.encode(items) == data
        if items[0] == 0:
            assert ref_node(items[1], items[2]) == kv_key[4:]
        else:
            assert items[0] == 1
            assert ref_leaf(items[1], items[2]) == kv_key[4:]


def walk(kv: MemoryKV, node: bytes, depth: int = 0, path: int = 0) -> dict[bytes, bytes]:
    """All entries under ``node`` at ``depth``, checking the stored tree is complete and well formed.

    ``path`` holds the bits that lead to ``node`` (bit ``i`` of the path at depth ``i``).
    """
    if node == ZERO:
        return {}
    data = kv.get(NODE_KEY_PREFIX + node)
    assert data is not None, "a node of the tree is missing from the store"
    items = codec.decode(data)
    if items[0] == 1:
        key, value = items[1], items[2]
        assert ref_leaf(key, value) == node
        assert int.from_bytes(key, "big") >> (256 - depth) == path >> (256 - depth), "leaf off its path"
        return {key: value}
    assert items[0] == 0 and depth < 256
    left, right = items[1], items[2]
    assert ref_node(left, right) == node
    assert not (left == ZERO and right == ZERO)
    for child, other in ((left, right), (right, left)):
        if other == ZERO:
            child_data = kv.get(NODE_KEY_PREFIX + child)
            assert child_data is not None and codec.decode(child_data)[0] == 0, "(EMPTY, leaf) not collapsed"
    found = walk(kv, left, depth + 1, path)
    found.update(walk(kv, right, depth + 1, path | (1 << (255 - depth))))
    return found


def rejected(root: bytes, key: bytes, value: bytes | None, proof: SmtProof, changes: dict[str, Any]) -> bool:
    """True if the altered proof cannot be built (DecodeError) or it, or its re-decoded form, fails."""
    try:
        altered = dataclasses.replace(proof, **changes)
        again = SmtProof.decode(altered.encode())
    except DecodeError:
        return True
    return not verify_proof(root, key, value, altered) and not verify_proof(root, key, value, again)


def flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def flip_bit(bitmap: bytes, i: int) -> bytes:
    return (int.from_bytes(bitmap, "big") ^ (1 << (255 - i))).to_bytes(32, "big")


def tampered(proof: SmtProof) -> list[dict[str, Any]]:
    """Ways to alter a proof, as ``dataclasses.replace`` arguments."""
    out: list[dict[str, Any]] = []
    for i in range(len(proof.siblings)):
        for j in (0, 31):
            sibs = list(proof.siblings)
            sibs[i] = flip_byte(sibs[i], j)
            out.append({"siblings": tuple(sibs)})
    for i in range(min(proof.depth + 1, 256)):
        out.append({"bitmap": flip_bit(proof.bitmap, i)})
    bits = int.from_bytes(proof.bitmap, "big")
    for depth in sorted({proof.depth - 1, proof.depth + 1, 0, 256} - {proof.depth}):
        if 0 <= depth <= 256:
            out.append({"depth": depth})
            # keep the sibling count consistent: move the bitmap along with the depth
            shift = depth - proof.depth
            moved = bits >> shift if shift > 0 else bits << -shift
            if moved < 1 << 256:
                out.append({"depth": depth, "bitmap": moved.to_bytes(32, "big")})
    for kind in [k for k in ProofKind if k != proof.kind]:
        out.append({"kind": kind})
        out.append({"kind": kind, "other_key": ZERO[:31] + b"\x01", "other_value_hash": ZERO})
        out.append({"kind": kind, "other_key": None, "other_value_hash": None})
    if proof.other_key is not None and proof.other_value_hash is not None:
        out.append({"other_key": flip_byte(proof.other_key, 31)})
        out.append({"other_key": flip_byte(proof.other_key, 0)})
        out.append({"other_value_hash": flip_byte(proof.other_value_hash, 5)})
    if len(proof.siblings) >= 2:
        out.append({"siblings": tuple(reversed(proof.siblings))})
    return out


# --- strategies -----------------------------------------------------------------------

values = st.binary(min_size=1, max_size=40)


@st.composite
def key_sets(draw: st.DrawFn, min_size: int = 0, max_size: int = 12) -> list[bytes]:
    """Distinct keys, many sharing long prefixes with a base key (forcing deep paths)."""
    base = draw(st.binary(min_size=32, max_size=32))
    count = draw(st.integers(min_size, max_size))
    keys: list[bytes] = []
    seen: set[bytes] = set()
    for _ in range(count):
        other = draw(st.binary(min_size=32, max_size=32))
        shared = draw(st.one_of(st.just(0), st.integers(0, 256), st.integers(240, 255)))
        key = mix(base, other, shared)
        if key not in seen:
            seen.add(key)
            keys.append(key)
    return keys


@st.composite
def entry_sets(draw: st.DrawFn, min_size: int = 0, max_size: int = 12) -> dict[bytes, bytes]:
    keys = draw(key_sets(min_size, max_size))
    return {k: draw(values) for k in keys}


# --- golden vectors -------------------------------------------------------------------

KEY_A = key_with_bits(0, 0)  # 0x00...
KEY_B = key_with_bits(0, 1)  # 0x40...
KEY_C = key_with_bits(1)  # 0x80...
GOLDEN = {KEY_A: b"alpha", KEY_B: b"beta", KEY_C: b"gamma"}
GOLDEN_ROOT = "b0002b120cf3ddbb922ece2db6dc60f1fbfad413c7a17c6b54ac02ea840e4747"


def test_empty_root_is_zero() -> None:
    assert EMPTY_ROOT == ZERO
    assert SparseMerkleTree(MemoryKV(), EMPTY_ROOT).update({}) == (EMPTY_ROOT, {})


def test_golden_one_leaf_is_the_leaf_hash() -> None:
    root, _ = SparseMerkleTree(MemoryKV(), EMPTY_ROOT).update({KEY_C: b"gamma"})
    expected = hashlib.sha3_256(
        b"\x11cairn/smt/leaf/v1" + KEY_C + hashlib.sha3_256(b"\x12cairn/smt/value/v1gamma").digest()
    ).digest()
    assert root == expected == leaf_hash(KEY_C, b"gamma")


def test_golden_two_leaves_differing_at_bit_zero() -> None:
    root, _ = SparseMerkleTree(MemoryKV(), EMPTY_ROOT).update({KEY_C: b"gamma", KEY_A: b"alpha"})
    expected = ref_node(ref_leaf(KEY_A, b"alpha"), ref_leaf(KEY_C, b"gamma"))
    assert root == expected == node_hash(leaf_hash(KEY_A, b"alpha"), leaf_hash(KEY_C, b"gamma"))


def test_golden_three_leaves() -> None:
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, dict(GOLDEN))
    by_hand = ref_node(
        ref_node(ref_leaf(KEY_A, b"alpha"), ref_leaf(KEY_B, b"beta")), ref_leaf(KEY_C, b"gamma")
    )
    assert root == by_hand
    assert root.hex() == GOLDEN_ROOT
    # exactly the five nodes of the tree are written, in the documented byte format
    inner = ref_node(ref_leaf(KEY_A, b"alpha"), ref_leaf(KEY_B, b"beta"))
    assert kv.data == {
        b"smt/" + ref_leaf(KEY_A, b"alpha"): codec.encode([1, KEY_A, b"alpha"]),
        b"smt/" + ref_leaf(KEY_B, b"beta"): codec.encode([1, KEY_B, b"beta"]),
        b"smt/" + ref_leaf(KEY_C, b"gamma"): codec.encode([1, KEY_C, b"gamma"]),
        b"smt/" + inner: codec.encode([0, ref_leaf(KEY_A, b"alpha"), ref_leaf(KEY_B, b"beta")]),
        b"smt/" + root: codec.encode([0, inner, ref_leaf(KEY_C, b"gamma")]),
    }


def test_golden_proof_layout() -> None:
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, dict(GOLDEN))
    proof = SparseMerkleTree(kv, root).prove(KEY_B)
    bitmap = bytes([0xC0]) + bytes(31)
    assert proof == SmtProof(
        ProofKind.MEMBER, 2, bitmap, (ref_leaf(KEY_A, b"alpha"), ref_leaf(KEY_C, b"gamma"))
    )
    assert proof.encode() == codec.encode(
        [1, 0, 2, bitmap, [ref_leaf(KEY_A, b"alpha"), ref_leaf(KEY_C, b"gamma")], None, None]
    )
    assert verify_proof(root, KEY_B, b"beta", proof)


def test_golden_state_key() -> None:
    address = bytes(range(20))
    expected = ref_h(b"cairn/state-key/v1", codec.encode(["acct", address]))
    assert state_key("acct", address) == expected
    assert state_key("stor", b"a", b"bc") != state_key("stor", b"ab", b"c")
    assert state_key("acct", address) != state_key("val", address)
    assert state_key("param") == ref_h(b"cairn/state-key/v1", codec.encode(["param"]))
    with pytest.raises(TypeError):
        state_key("acct", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        state_key("", address)


# --- roots and updates ----------------------------------------------------------------


@given(entry_sets(max_size=16), st.lists(st.integers(1, 5), min_size=1, max_size=8))
def test_root_independent_of_order_and_batching(entries: dict[bytes, bytes], sizes: list[int]) -> None:
    expected = ref_root(entries)
    items = list(entries.items())

    kv_one = MemoryKV()
    assert commit(kv_one, EMPTY_ROOT, dict(entries)) == expected

    kv_chunks = MemoryKV()
    root = EMPTY_ROOT
    start = 0
    index = 0
    while start < len(items):
        size = sizes[index % len(sizes)]
        root = commit(kv_chunks, root, dict(items[start : start + size]))
        start += size
        index += 1
    assert root == expected

    kv_single = MemoryKV()
    root = EMPTY_ROOT
    for key, value in reversed(items):
        root = commit(kv_single, root, {key: value})
    assert root == expected

    tree = SparseMerkleTree(kv_single, root)
    assert walk(kv_single, root) == entries
    for key, value in entries.items():
        assert tree.get(key) == value


@given(entry_sets(max_size=10), st.data())
def test_batches_of_mixed_changes_match_the_model(entries: dict[bytes, bytes], data: st.DataObject) -> None:
    kv = MemoryKV()
    model = dict(entries)
    root = commit(kv, EMPTY_ROOT, dict(entries))
    for _ in range(3):
        pool = list(model) + data.draw(key_sets(max_size=6))
        changes: dict[bytes, bytes | None] = {}
        for key in pool:
            action = data.draw(st.sampled_from(["keep", "delete", "set"]))
            if action == "delete":
                changes[key] = None  # deleting an absent key is a no-op
            elif action == "set":
                changes[key] = data.draw(values)
        root = commit(kv, root, changes)
        for key, value in changes.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        assert root == ref_root(model)
        assert walk(kv, root) == model
        tree = SparseMerkleTree(kv, root)
        for key in pool:
            assert tree.get(key) == model.get(key)


@given(entry_sets(max_size=10), entry_sets(min_size=1, max_size=10))
def test_deletes_restore_the_previous_root(base: dict[bytes, bytes], extra: dict[bytes, bytes]) -> None:
    extra = {k: v for k, v in extra.items() if k not in base}
    kv = MemoryKV()
    root_base = commit(kv, EMPTY_ROOT, dict(base))
    root_more = commit(kv, root_base, dict(extra))
    back = commit(kv, root_more, dict.fromkeys(extra))
    assert back == root_base
    # one key at a time, in the other order
    root = root_more
    for key in sorted(extra, reverse=True):
        root = commit(kv, root, {key: None})
    assert root == root_base
    assert commit(kv, root_more, dict.fromkeys([*base, *extra])) == EMPTY_ROOT


def test_update_of_a_value_and_no_op_changes() -> None:
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, dict(GOLDEN))
    tree = SparseMerkleTree(kv, root)
    assert tree.update({key_with_bits(1, 1): None}) == (root, {})  # delete absent
    assert tree.update({KEY_B: b"beta"}) == (root, {})  # same value
    new_root = commit(kv, root, {KEY_B: b"BETA"})
    assert new_root == ref_root({**GOLDEN, KEY_B: b"BETA"})
    assert SparseMerkleTree(kv, new_root).get(KEY_B) == b"BETA"
    assert SparseMerkleTree(kv, root).get(KEY_B) == b"beta"  # the old version is still readable


def test_deepest_possible_leaves() -> None:
    """Two keys differing only in the last bit sit at depth 256 under a chain of 255 nodes."""
    low = key_with_bits(fill=0)
    high = (1).to_bytes(32, "big")
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, {low: b"0", high: b"1"})
    assert root == ref_root({low: b"0", high: b"1"})
    assert len(kv.data) == 2 + 256
    tree = SparseMerkleTree(kv, root)
    proof = tree.prove(high)
    assert (proof.kind, proof.depth, proof.siblings) == (ProofKind.MEMBER, 256, (ref_leaf(low, b"0"),))
    assert verify_proof(root, high, b"1", proof)
    assert commit(kv, root, {low: None}) == ref_leaf(high, b"1")


def test_values_of_every_length_class_round_trip() -> None:
    sizes = [1, 23, 24, 255, 256, 65535, 65536, 100_000]
    entries = {
        key_with_bits(*[int(c) for c in f"{i:08b}"]): bytes([i + 1]) * size for i, size in enumerate(sizes)
    }
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, dict(entries))
    assert root == ref_root(entries)
    tree = SparseMerkleTree(kv, root)
    for key, value in entries.items():
        assert tree.get(key) == value
        assert verify_proof(root, key, value, tree.prove(key))


def test_update_never_reads_what_it_produced() -> None:
    """The update works against a store that holds only the old version, and writes nothing."""

    class FrozenReader:
        def __init__(self, data: dict[bytes, bytes]) -> None:
            self.data = dict(data)
            self.reads: list[bytes] = []

        def get(self, key: bytes) -> bytes | None:
            self.reads.append(key)
            return self.data.get(key)

    kv = MemoryKV()
    entries = {hashlib.sha3_256(bytes([i])).digest(): bytes([i]) * 3 for i in range(64)}
    root = commit(kv, EMPTY_ROOT, dict(entries))
    reader = FrozenReader(kv.data)
    changes: dict[bytes, bytes | None] = {hashlib.sha3_256(bytes([i, 1])).digest(): b"n" for i in range(40)}
    changes.update(dict.fromkeys(list(entries)[:30]))
    new_root, writes = SparseMerkleTree(reader, root).update(changes)
    assert reader.data == kv.data
    assert not set(reader.reads) & (set(writes) - set(kv.data))
    model = {k: v for k, v in entries.items() if k not in changes}
    model.update({k: v for k, v in changes.items() if v is not None})
    assert new_root == ref_root(model)


def test_bad_arguments() -> None:
    tree = SparseMerkleTree(MemoryKV(), EMPTY_ROOT)
    with pytest.raises(ValueError):
        tree.update({bytes(31): b"x"})
    with pytest.raises(ValueError):
        tree.update({bytes(32): b""})
    with pytest.raises(ValueError):
        tree.update({bytes(32): "text"})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        tree.get(bytes(33))
    with pytest.raises(ValueError):
        tree.prove(b"short")
    with pytest.raises(ValueError):
        tree.update({"text key": b"x", bytes(32): None})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        SparseMerkleTree(MemoryKV(), bytes(31))
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.root = bytes(32)  # type: ignore[misc]


def test_missing_and_malformed_nodes() -> None:
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, dict(GOLDEN))
    inner = ref_node(ref_leaf(KEY_A, b"alpha"), ref_leaf(KEY_B, b"beta"))

    broken = MemoryKV(kv.data)
    del broken.data[b"smt/" + inner]
    tree = SparseMerkleTree(broken, root)
    assert tree.get(KEY_C) == b"gamma"  # the path to C does not touch the missing node
    for call in (lambda: tree.get(KEY_A), lambda: tree.prove(KEY_B), lambda: tree.update({KEY_A: None})):
        with pytest.raises(StoreCorrupt) as info:
            call()
        assert info.value.code == ErrorCode.STORE_CORRUPT

    with pytest.raises(StoreCorrupt):
        SparseMerkleTree(MemoryKV(), hashlib.sha3_256(b"nothing").digest()).get(KEY_A)

    for garbage in (
        b"",
        b"\xff",
        codec.encode([2, KEY_A, b"x"]),
        codec.encode([1, KEY_A, b""]),
        codec.encode([1, KEY_A[:31], b"x"]),
        codec.encode([0, ZERO, ZERO]),
        codec.encode([0, ZERO[:31], ZERO]),
        codec.encode([1, KEY_A, b"x"]) + b"\x00",
        b"\x83\x01\x58\x20" + KEY_A + b"\x58\x05hello",  # non-canonical length head
    ):
        bad = MemoryKV(kv.data)
        bad.data[b"smt/" + inner] = garbage
        with pytest.raises(DecodeError):
            SparseMerkleTree(bad, root).get(KEY_A)


# --- proofs ---------------------------------------------------------------------------


@given(entry_sets(max_size=12), key_sets(max_size=6))
def test_proofs_of_membership_and_absence(entries: dict[bytes, bytes], probes: list[bytes]) -> None:
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, dict(entries))
    tree = SparseMerkleTree(kv, root)
    for key, value in entries.items():
        proof = tree.prove(key)
        assert proof.kind == ProofKind.MEMBER
        assert SmtProof.decode(proof.encode()) == proof
        assert verify_proof(root, key, value, proof)
        assert not verify_proof(root, key, value + b"!", proof)
        assert not verify_proof(root, key, None, proof)
    for key in probes:
        if key in entries:
            continue
        proof = tree.prove(key)
        assert proof.kind in (ProofKind.ABSENT_EMPTY, ProofKind.ABSENT_LEAF)
        assert SmtProof.decode(proof.encode()) == proof
        assert verify_proof(root, key, None, proof)
        assert not verify_proof(root, key, b"x", proof)
        # an absence proof says nothing about a present key
        for present, value in entries.items():
            assert not verify_proof(root, present, None, proof)
            assert not verify_proof(root, present, value, proof)


@given(entry_sets(min_size=1, max_size=8), key_sets(max_size=3))
def test_tampered_proofs_fail(entries: dict[bytes, bytes], probes: list[bytes]) -> None:
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, dict(entries))
    tree = SparseMerkleTree(kv, root)
    cases: list[tuple[bytes, bytes | None]] = [(k, v) for k, v in list(entries.items())[:3]]
    cases += [(k, None) for k in probes if k not in entries]
    for key, value in cases:
        proof = tree.prove(key)
        assert verify_proof(root, key, value, proof)
        for changes in tampered(proof):
            assert rejected(root, key, value, proof, changes), changes
        assert not verify_proof(flip_byte(root, 0), key, value, proof)


def absence_tree() -> tuple[MemoryKV, bytes, dict[bytes, bytes]]:
    """A tree with a deep pair (a, b share 255 bits) and a high leaf d at depth 1."""
    a = key_with_bits()  # 0x00..00
    b = (1).to_bytes(32, "big")  # 0x00..01
    d = key_with_bits(1)  # 0x80..00
    entries = {a: b"a", b: b"b", d: b"d"}
    kv = MemoryKV()
    return kv, commit(kv, EMPTY_ROOT, dict(entries)), entries


def test_absence_in_an_empty_slot_deep_in_the_tree() -> None:
    kv, root, entries = absence_tree()
    tree = SparseMerkleTree(kv, root)
    c = (2).to_bytes(32, "big")  # 0x00..10: leaves the a/b chain at depth 254
    proof = tree.prove(c)
    assert proof.kind == ProofKind.ABSENT_EMPTY
    assert proof.depth == 255
    assert proof.other_key is None and proof.other_value_hash is None
    pair = ref_node(ref_leaf(key_with_bits(), b"a"), ref_leaf((1).to_bytes(32, "big"), b"b"))
    assert proof.siblings[0] == pair  # at depth 254: the subtree holding a and b
    assert proof.siblings[-1] == ref_leaf(key_with_bits(1), b"d")
    assert len(proof.siblings) == 2
    assert verify_proof(root, c, None, proof)
    for key, value in entries.items():
        assert not verify_proof(root, key, None, proof)
        assert not verify_proof(root, key, value, proof)


def test_absence_beside_another_leaf() -> None:
    kv, root, entries = absence_tree()
    tree = SparseMerkleTree(kv, root)
    d = key_with_bits(1)
    e = key_with_bits(1, 1)  # shares bit 0 with d, which sits alone at depth 1
    proof = tree.prove(e)
    assert proof.kind == ProofKind.ABSENT_LEAF
    assert (proof.depth, proof.other_key, proof.other_value_hash) == (1, d, value_hash(b"d"))
    assert verify_proof(root, e, None, proof)
    # the other leaf's own key is present: the same proof cannot make it absent
    assert not verify_proof(root, d, None, proof)
    assert not verify_proof(root, d, b"d", proof)
    # a key off the other leaf's path (bit 0 is 0) is not proven absent by it
    f = key_with_bits(0, 1)
    assert tree.get(f) is None
    assert not verify_proof(root, f, None, proof)
    assert verify_proof(root, f, None, tree.prove(f))


def test_other_leaf_must_share_the_path_even_when_hashes_line_up() -> None:
    """Against a hand-made root that puts a leaf off its own path, only the prefix rule saves us."""
    other = key_with_bits(1, 1)  # belongs on the right at depth 0
    key = key_with_bits(0, 1)  # queried: goes left at depth 0
    sibling = ref_leaf(key_with_bits(1, 0), b"s")
    forged_root = ref_node(ref_leaf(other, b"o"), sibling)
    proof = SmtProof(ProofKind.ABSENT_LEAF, 1, bytes([0x80]) + bytes(31), (sibling,), other, value_hash(b"o"))
    assert not verify_proof(forged_root, key, None, proof)
    # the same shape with a leaf that does share the first bit verifies
    near = key_with_bits(0, 0)
    honest_root = ref_node(ref_leaf(near, b"o"), sibling)
    assert verify_proof(honest_root, key, None, dataclasses.replace(proof, other_key=near))
    # and a leaf equal to the queried key never proves its absence
    alone = SmtProof(ProofKind.ABSENT_LEAF, 0, ZERO, (), key, value_hash(b"k"))
    assert not verify_proof(ref_leaf(key, b"k"), key, None, alone)


def test_membership_proof_is_not_an_absence_proof() -> None:
    kv, root, entries = absence_tree()
    tree = SparseMerkleTree(kv, root)
    for key, value in entries.items():
        proof = tree.prove(key)
        assert not verify_proof(root, key, None, proof)
        # relabelled as an absence proof it still fails
        relabelled = dataclasses.replace(proof, kind=ProofKind.ABSENT_EMPTY)
        assert not verify_proof(root, key, None, relabelled)
        assert verify_proof(root, key, value, proof)


def test_proofs_on_tiny_trees() -> None:
    key = key_with_bits(1, 0, 1)
    other = key_with_bits(0, 1, 1)
    empty = SparseMerkleTree(MemoryKV(), EMPTY_ROOT).prove(key)
    assert empty == SmtProof(ProofKind.ABSENT_EMPTY, 0, ZERO, ())
    assert verify_proof(EMPTY_ROOT, key, None, empty)
    assert not verify_proof(EMPTY_ROOT, key, b"v", empty)

    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, {key: b"v"})
    tree = SparseMerkleTree(kv, root)
    member = tree.prove(key)
    assert member == SmtProof(ProofKind.MEMBER, 0, ZERO, ())
    assert verify_proof(root, key, b"v", member)
    absent = tree.prove(other)
    assert absent == SmtProof(ProofKind.ABSENT_LEAF, 0, ZERO, (), key, value_hash(b"v"))
    assert verify_proof(root, other, None, absent)
    assert not verify_proof(root, key, None, absent)
    assert not verify_proof(EMPTY_ROOT, other, None, absent)


def test_verify_never_raises_on_junk() -> None:
    kv = MemoryKV()
    root = commit(kv, EMPTY_ROOT, dict(GOLDEN))
    proof = SparseMerkleTree(kv, root).prove(KEY_A)
    junk: list[tuple[Any, Any, Any, Any]] = [
        (root[:31], KEY_A, b"alpha", proof),
        (root, KEY_A[:31], b"alpha", proof),
        (root, KEY_A, b"", proof),
        (root, KEY_A, "alpha", proof),
        (None, KEY_A, b"alpha", proof),
        (root, KEY_A, b"alpha", proof.encode()),
        (root, KEY_A, None, None),
    ]
    for args in junk:
        assert verify_proof(*args) is False
    assert verify_proof(root, KEY_A, b"alpha", proof) is True


def test_require_proof_names_the_failed_check() -> None:
    kv, root, entries = absence_tree()
    tree = SparseMerkleTree(kv, root)
    d = key_with_bits(1)
    e = key_with_bits(1, 1)
    f = key_with_bits(0, 1)
    beside = tree.prove(e)
    member = tree.prove(d)
    require_proof(root, d, b"d", member)
    require_proof(root, e, None, beside)
    cases: list[tuple[Any, ...]] = [
        (root, d, None, member, "smt_kind_mismatch"),
        (root, e, b"x", beside, "smt_kind_mismatch"),
        (root, d, None, beside, "smt_other_leaf_is_key"),
        (root, f, None, beside, "smt_other_leaf_off_path"),
        (root, d, b"D", member, "smt_root_mismatch"),
        (root[:31], d, b"d", member, "smt_bad_argument"),
        (root, d, b"", member, "smt_bad_argument"),
    ]
    for root_arg, key, value, proof, reason in cases:
        with pytest.raises(InvalidProof) as info:
            require_proof(root_arg, key, value, proof)
        assert info.value.reason == reason
        assert info.value.code == ErrorCode.PROOF_INVALID
        assert not verify_proof(root_arg, key, value, proof)


# --- proof encoding -------------------------------------------------------------------


def sample_proofs() -> list[SmtProof]:
    kv, root, entries = absence_tree()
    tree = SparseMerkleTree(kv, root)
    return [
        tree.prove(key_with_bits()),
        tree.prove((2).to_bytes(32, "big")),
        tree.prove(key_with_bits(1, 1)),
        SparseMerkleTree(MemoryKV(), EMPTY_ROOT).prove(ZERO),
    ]


def test_proof_encoding_round_trips() -> None:
    kinds = set()
    for proof in sample_proofs():
        kinds.add(proof.kind)
        data = proof.encode()
        assert SmtProof.decode(data) == proof
        assert SmtProof.decode(data).encode() == data
        assert codec.decode(data)[:3] == [1, int(proof.kind), proof.depth]
    assert kinds == set(ProofKind)


def test_proof_decode_rejects_truncated_and_trailing_bytes() -> None:
    for proof in sample_proofs():
        data = proof.encode()
        for cut in range(len(data)):
            with pytest.raises(DecodeError):
                SmtProof.decode(data[:cut])
        with pytest.raises(DecodeError):
            SmtProof.decode(data + b"\x00")


def test_proof_decode_rejects_malformed_fields() -> None:
    member, deep_empty, beside, _ = sample_proofs()
    good = codec.decode(deep_empty.encode())
    sib = good[4][0]
    bitmap = good[3]

    def variant(**changes: Any) -> list[Any]:
        names = ["version", "kind", "depth", "bitmap", "siblings", "other_key", "other_value_hash"]
        return [changes.get(name, good[i]) for i, name in enumerate(names)]

    bad_values: list[Any] = [
        variant(version=2),
        variant(version=0),
        variant(kind=3),
        variant(kind=True),
        variant(kind=-1),
        variant(depth=257),
        variant(depth=-1),
        variant(depth=254),  # a marked sibling at the proof depth
        variant(depth=256),  # deepest sibling empty
        variant(bitmap=bitmap[:31]),
        variant(bitmap=bitmap + b"\x00"),
        variant(bitmap=ZERO),  # count mismatch
        variant(siblings=good[4][:1]),
        variant(siblings=[*good[4], sib]),
        variant(siblings=[sib[:31], good[4][1]]),
        variant(siblings=[ZERO, good[4][1]]),  # an empty sibling listed
        variant(siblings=b"".join(good[4])),
        variant(other_key=KEY_A),  # another leaf on an ABSENT_EMPTY proof
        variant(kind=2),  # ABSENT_LEAF without the other leaf
        variant(kind=2, other_key=KEY_A),
        variant(kind=2, other_key=KEY_A, other_value_hash=ZERO[:31]),
        good[:6],
        [*good, None],
        {"proof": good},
        "proof",
    ]
    for value in bad_values:
        with pytest.raises(DecodeError):
            SmtProof.decode(codec.encode(value))
    # non-canonical encodings of a valid proof
    data = deep_empty.encode()
    assert data[:3] == b"\x87\x01\x01"
    with pytest.raises(DecodeError) as info:
        SmtProof.decode(b"\x87\x01\x18\x01" + data[3:])  # kind 1 in a two-byte head
    assert info.value.code == ErrorCode.DECODE_NON_CANONICAL
    with pytest.raises(DecodeError):
        SmtProof.decode(b"\x9f" + data[1:] + b"\xff")  # indefinite-length array
    with pytest.raises(DecodeError):
        SmtProof.decode(b"")
    # the valid ones still decode
    for proof in (member, deep_empty, beside):
        assert SmtProof.decode(proof.encode()) == proof


def test_proof_constructor_enforces_the_same_rules() -> None:
    with pytest.raises(DecodeError):
        SmtProof(ProofKind.MEMBER, 1, ZERO, ())
    with pytest.raises(DecodeError):
        SmtProof(7, 0, ZERO, ())  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        SmtProof(ProofKind.MEMBER, 0, ZERO, (), KEY_A, ZERO)
    proof = SmtProof(1, 1, bytes([0x80]) + bytes(31), [KEY_C])  # type: ignore[arg-type]
    assert proof.kind is ProofKind.ABSENT_EMPTY and proof.siblings == (KEY_C,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        proof.depth = 2  # type: ignore[misc]
