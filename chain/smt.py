"""The authenticated state: a compact sparse Merkle tree (SMT) over 256-bit keys.

This module decides how the state root in every header is computed, how state
nodes are stored, and what a state proof is.  Light clients re-implement
``verify_proof``; everything they need is specified here.

Notation
--------
``H(tag, data)`` is the domain-separated SHA3-256 of ``chain.hashing``:
``SHA3-256(len(tag) ‖ tag ‖ data)`` with ``len(tag)`` one byte.  ``‖`` is byte
concatenation.  ``EMPTY`` is 32 zero bytes.

Keys and paths
--------------
A key is exactly 32 bytes, already hashed by the caller (see ``state_key``).  A
value is any non-empty byte string (deleting is how a value is removed; an empty
value is refused with ``ValueError``).  The tree has depth 256.  Bit ``i`` of a
key (``0 <= i < 256``) is taken MSB-first: bit 0 is the top bit of byte 0, i.e.
``(key[i // 8] >> (7 - i % 8)) & 1``.  At depth ``i`` the path goes to the left
child when bit ``i`` is 0 and to the right child when it is 1.  The root sits at
depth 0; the children of a node at depth ``i`` sit at depth ``i + 1``.

Hashes
------
::

    value_hash(value)      = H(b"cairn/smt/value/v1", value)
    leaf_hash(key, value)  = H(b"cairn/smt/leaf/v1", key ‖ value_hash(value))      # 32 + 32 bytes
    node_hash(left, right) = H(b"cairn/smt/node/v1", left ‖ right)                 # 32 + 32 bytes

The hash of a subtree is ``EMPTY`` if it holds no key, ``leaf_hash(k, v)`` if
it holds exactly one key ``k`` (with value ``v``), and otherwise ``node_hash``
of the hashes of its two child subtrees.  The state root is the hash of the
whole tree; the root of the empty tree is ``EMPTY``.

Consequently the tree is *compact*: a subtree with one key is that key's leaf
("shortcut leaf"), placed as high as possible, and a leaf's hash does not
depend on its depth.  There is no path compression for internal nodes: two keys
sharing an ``n``-bit prefix sit under a chain of ``n`` internal nodes, each with
one ``EMPTY`` child.  In a well-formed tree no internal node has children
``(EMPTY, EMPTY)``, ``(EMPTY, leaf)`` or ``(leaf, EMPTY)``: those subtrees
collapse to ``EMPTY`` or to the leaf.  The root is a function of the set of
(key, value) pairs only, never of insertion order or batching.

Storage
-------
Nodes are stored by hash in the node's ``KV`` under ``b"smt/" ‖ hash``.  The
stored bytes are canonical CBOR (``chain.codec``):

* internal node: ``[0, left_hash, right_hash]`` (always exactly 70 bytes);
* leaf: ``[1, key, value]`` (the value is stored inline).

``EMPTY`` is never stored.  Nodes are immutable and content addressed, so a node
written by one block is shared by every later version that still contains it.
The tree reads nodes only through ``KVReader.get``; ``update`` returns the nodes
it created as a dict ``{b"smt/" ‖ hash: node_bytes}`` for the block store to
write in its batch.  It never writes, and it never deletes (pruning old versions
is the store's job).  Stored node bytes are trusted (the node wrote them) and
are not re-hashed on read; a referenced node that is missing raises
``StoreCorrupt``, malformed node bytes raise ``DecodeError``.

Proofs
------
A proof for key ``k`` describes the path from the root down to the first
position at depth ``d`` (the proof's ``depth``) that is not an internal node.
That position holds one of:

* ``MEMBER`` (kind 0): the leaf of ``k`` itself;
* ``ABSENT_EMPTY`` (kind 1): an empty subtree;
* ``ABSENT_LEAF`` (kind 2): the leaf of another key ``k'`` that shares the
  first ``d`` bits with ``k``.  The proof carries ``k'`` and ``value_hash`` of
  its value.

``sibling[i]`` is the hash of the child not taken by the path at depth ``i``
(``0 <= i < d``).  The proof lists only the non-empty siblings, deepest first
(in the order a verifier folds them), and a 32-byte bitmap marks which depths
have a non-empty sibling: bit ``i`` of the bitmap (MSB-first, same convention as
key bits) is 1 iff ``sibling[i] != EMPTY``.

Wire form (canonical CBOR, version 1)::

    [1, kind, depth, bitmap, siblings, other_key, other_value_hash]

    kind              uint 0..2
    depth             uint 0..256
    bitmap            bstr .size 32; bits at positions >= depth are 0;
                      if depth > 0, bit depth-1 is 1 (a leaf or an empty slot
                      always has a non-empty sibling in a well-formed tree)
    siblings          [* bstr .size 32], as many as bits set in bitmap,
                      none equal to EMPTY, deepest first
    other_key         bstr .size 32 if kind == 2, else null
    other_value_hash  bstr .size 32 if kind == 2, else null

``SmtProof.decode`` rejects anything else with ``DecodeError``; constructing an
``SmtProof`` that breaks these rules raises the same error, so an ``SmtProof``
value is always well formed.

Verification of ``(root, k, value, proof)``, where ``value`` is ``None`` to
prove absence::

    if value is not None:  require kind == MEMBER and value != b"";
                           node = leaf_hash(k, value)
    elif kind == ABSENT_EMPTY: node = EMPTY
    elif kind == ABSENT_LEAF:  require other_key != k and other_key shares its
                               first `depth` bits with k;
                               node = H(b"cairn/smt/leaf/v1", other_key ‖ other_value_hash)
    else: reject                                   # a membership proof cannot prove absence
    for i = depth-1 down to 0:
        s = next listed sibling if bitmap bit i is 1 else EMPTY
        node = node_hash(node, s) if bit i of k is 0 else node_hash(s, node)
    accept iff node == root

``verify_proof`` returns the verdict as a bool and never raises;
``require_proof`` runs the same checks and raises ``InvalidProof`` whose
``reason`` names the failed check.

Soundness rests on domain separation (a leaf hash can never be passed off as an
internal node, so the claimed depth is forced) and on the root being the root of
a well-formed tree (a proof of an empty slot or of another key's leaf then
proves that no leaf for ``k`` exists).
"""

from __future__ import annotations

import enum
import hashlib
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chain import codec
from chain.errors import DecodeError, ErrorCode, InvalidProof, StoreCorrupt
from chain.hashing import H, tag_prefix
from chain.kv import KVReader

KEY_BITS = 256
"""Depth of the tree: number of bits in a key."""

HASH_LEN = 32
"""Length of keys, hashes and the bitmap, in bytes."""

EMPTY_ROOT: bytes = bytes(HASH_LEN)
"""The hash of an empty subtree, and so the root of the empty tree: 32 zero bytes."""

NODE_KEY_PREFIX = b"smt/"
"""``KV`` keys of tree nodes are this prefix followed by the node's hash."""

PROOF_VERSION = 1
"""First element of an encoded ``SmtProof``."""

LEAF_TAG = b"cairn/smt/leaf/v1"
VALUE_TAG = b"cairn/smt/value/v1"
NODE_TAG = b"cairn/smt/node/v1"
STATE_KEY_TAG = b"cairn/state-key/v1"

_EMPTY = EMPTY_ROOT
_sha3 = hashlib.sha3_256
_LEAF_PREFIX = tag_prefix(LEAF_TAG)
_VALUE_PREFIX = tag_prefix(VALUE_TAG)
_NODE_PREFIX = tag_prefix(NODE_TAG)

# Canonical CBOR of ``[0, left, right]``: array(3), uint 0, bstr(32) head, left, bstr(32) head, right.
_INTERNAL_HEAD = b"\x83\x00\x58\x20"
_BSTR32_HEAD = b"\x58\x20"
# Canonical CBOR of ``[1, key, ...]``: array(3), uint 1, bstr(32) head; then key, value head, value.
_LEAF_HEAD = b"\x83\x01\x58\x20"
_INTERNAL_LEN = len(_INTERNAL_HEAD) + HASH_LEN + len(_BSTR32_HEAD) + HASH_LEN

_INTERNAL = 0
_LEAF = 1
_PROOF_MAX_SIZE = 16 * 1024  # a full 256-sibling proof is about 8.9 KiB

# A decoded node: ``(0, left, right)`` or ``(1, key, value)``.
_Node = tuple[int, bytes, bytes]


# --- hashing --------------------------------------------------------------------------


def value_hash(value: bytes) -> bytes:
    """``H(b"cairn/smt/value/v1", value)``: what a leaf commits to for its value."""
    return _sha3(_VALUE_PREFIX + value).digest()


def leaf_hash(key: bytes, value: bytes) -> bytes:
    """``H(b"cairn/smt/leaf/v1", key ‖ value_hash(value))``: the hash of a one-key subtree."""
    return _sha3(_LEAF_PREFIX + key + _sha3(_VALUE_PREFIX + value).digest()).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``H(b"cairn/smt/node/v1", left ‖ right)``: the hash of an internal node."""
    return _sha3(_NODE_PREFIX + left + right).digest()


def state_key(namespace: str, *parts: bytes) -> bytes:
    """The tree key of a state entry: ``H(b"cairn/state-key/v1", encode([namespace, *parts]))``.

    ``namespace`` is one of the names of ARCHITECTURE §4 (``"acct"``, ``"code"``,
    ``"stor"``, ...); ``parts`` are byte strings (integers such as an epoch
    number are passed as fixed-width big-endian bytes).  The CBOR framing keeps
    ``("stor", a, bc)`` and ``("stor", ab, c)`` apart.
    """
    if not isinstance(namespace, str) or not namespace:
        raise ValueError("state_key: namespace must be a non-empty string")
    items: list[Any] = [namespace]
    for part in parts:
        if not isinstance(part, bytes):
            raise TypeError(f"state_key: parts must be bytes, got {type(part).__name__}")
        items.append(bytes(part))
    return H(STATE_KEY_TAG, codec.encode(items))


# --- nodes ----------------------------------------------------------------------------


def _bstr_head(length: int) -> bytes:
    """The canonical CBOR head of a byte string of ``length`` bytes (shortest form)."""
    if length < 24:
        return bytes([0x40 | length])
    if length < 0x100:
        return bytes([0x58, length])
    if length < 0x10000:
        return b"\x59" + length.to_bytes(2, "big")
    if length < 0x100000000:
        return b"\x5a" + length.to_bytes(4, "big")
    return b"\x5b" + length.to_bytes(8, "big")


def _encode_leaf(key: bytes, value: bytes) -> bytes:
    """Canonical CBOR of ``[1, key, value]`` (equal to ``codec.encode``, built directly)."""
    return _LEAF_HEAD + key + _bstr_head(len(value)) + value


def _decode_node(data: bytes) -> _Node:
    """Parse stored node bytes strictly; ``DecodeError`` if they are not a canonical node.

    Internal nodes and leaves with values under 256 bytes are parsed by hand
    (they are the hot path); anything else goes through the strict codec.
    """
    size = len(data)
    prefix = data[:4]
    if size == _INTERNAL_LEN and prefix == _INTERNAL_HEAD and data[36:38] == _BSTR32_HEAD:
        left = data[4:36]
        right = data[38:]
        if left == _EMPTY and right == _EMPTY:
            raise DecodeError("smt node: internal node with two empty children", code=ErrorCode.DECODE_SHAPE)
        return (_INTERNAL, left, right)
    if prefix == _LEAF_HEAD and size > 37:
        head = data[36]
        if 0x41 <= head <= 0x57 and size == 37 + head - 0x40:
            return (_LEAF, data[4:36], data[37:])
        if head == 0x58 and data[37] >= 24 and size == 38 + data[37]:
            return (_LEAF, data[4:36], data[38:])
    # Stored nodes were written by this node: no size limit beyond their own length.
    items = codec.expect_array(codec.decode(data, max_size=max(size, 1)), "smt node", 3)
    kind = codec.expect_int(items[0], "smt node kind", hi=_LEAF)
    if kind == _INTERNAL:  # a well-formed internal node takes the fast path above
        raise DecodeError("smt node: malformed internal node", code=ErrorCode.DECODE_SHAPE)
    key = codec.expect_bytes(items[1], "smt leaf key", length=HASH_LEN)
    value = codec.expect_bytes(items[2], "smt leaf value")
    if not value:
        raise DecodeError("smt leaf: empty value", code=ErrorCode.BAD_LENGTH)
    return (_LEAF, key, value)


def _load(nodes: KVReader, node: bytes) -> _Node:
    """Read and parse the stored node with hash ``node``; ``StoreCorrupt`` if it is missing."""
    data = nodes.get(NODE_KEY_PREFIX + node)
    if data is None:
        raise StoreCorrupt("smt node missing from the store", node=node.hex())
    return _decode_node(data)


def _first(pair: tuple[bytes, bytes | None]) -> bytes:
    return pair[0]


def _check_key(key: Any) -> bytes:
    if not isinstance(key, bytes) or len(key) != HASH_LEN:
        raise ValueError("smt key must be exactly 32 bytes")
    return bytes(key)


# --- proofs ---------------------------------------------------------------------------


class ProofKind(enum.IntEnum):
    """What the path of a proof ends at (see the module docstring)."""

    MEMBER = 0
    """The leaf of the queried key: proves its value."""
    ABSENT_EMPTY = 1
    """An empty subtree: proves the key is absent."""
    ABSENT_LEAF = 2
    """The leaf of another key sharing the path prefix: proves the key is absent."""


def _shape_error(message: str) -> DecodeError:
    return DecodeError(f"smt proof: {message}", code=ErrorCode.DECODE_SHAPE)


def _is_hash(value: Any) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_LEN


@dataclass(frozen=True, slots=True)
class SmtProof:
    """A proof of membership or non-membership of one key (wire form in the module docstring).

    Construction checks every rule of the wire form and raises ``DecodeError``
    if one is broken, so a value of this type is always well formed.
    """

    kind: ProofKind
    """What the path ends at."""
    depth: int
    """Depth ``d`` of the position the path ends at (0..256); also the number of siblings, empty or not."""
    bitmap: bytes
    """32 bytes; bit ``i`` (MSB-first) is 1 iff the sibling at depth ``i`` is non-empty."""
    siblings: tuple[bytes, ...]
    """The non-empty sibling hashes, deepest first."""
    other_key: bytes | None = None
    """For ``ABSENT_LEAF``: the key of the leaf found at the end of the path."""
    other_value_hash: bytes | None = None
    """For ``ABSENT_LEAF``: ``value_hash`` of that leaf's value."""

    def __post_init__(self) -> None:
        kind = self.kind
        if not isinstance(kind, int) or isinstance(kind, bool):
            raise _shape_error("kind must be an integer")
        try:
            object.__setattr__(self, "kind", ProofKind(kind))
        except ValueError:
            raise _shape_error(f"unknown kind {kind}") from None
        depth = self.depth
        if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= KEY_BITS:
            raise _shape_error(f"depth {depth!r} out of range [0, {KEY_BITS}]")
        if not _is_hash(self.bitmap):
            raise DecodeError("smt proof: bitmap must be 32 bytes", code=ErrorCode.BAD_LENGTH)
        siblings = tuple(self.siblings)
        object.__setattr__(self, "siblings", siblings)
        for sibling in siblings:
            if not _is_hash(sibling):
                raise DecodeError("smt proof: sibling must be 32 bytes", code=ErrorCode.BAD_LENGTH)
            if sibling == _EMPTY:
                raise _shape_error("an empty sibling must be omitted, not listed")
        bits = int.from_bytes(self.bitmap, "big")
        if bits & ((1 << (KEY_BITS - depth)) - 1):
            raise _shape_error("bitmap marks a sibling at or below the proof depth")
        if bits.bit_count() != len(siblings):
            raise _shape_error(f"bitmap marks {bits.bit_count()} siblings, proof lists {len(siblings)}")
        if depth > 0 and not (bits >> (KEY_BITS - depth)) & 1:
            raise _shape_error("the deepest sibling of a well-formed path is never empty")
        if self.kind == ProofKind.ABSENT_LEAF:
            if not _is_hash(self.other_key) or not _is_hash(self.other_value_hash):
                raise DecodeError(
                    "smt proof: other leaf key and value hash must be 32 bytes", code=ErrorCode.BAD_LENGTH
                )
        elif self.other_key is not None or self.other_value_hash is not None:
            raise _shape_error("only an ABSENT_LEAF proof carries another leaf")

    def encode(self) -> bytes:
        """Canonical CBOR ``[1, kind, depth, bitmap, siblings, other_key, other_value_hash]``."""
        return codec.encode(
            [
                PROOF_VERSION,
                int(self.kind),
                self.depth,
                bytes(self.bitmap),
                [bytes(s) for s in self.siblings],
                None if self.other_key is None else bytes(self.other_key),
                None if self.other_value_hash is None else bytes(self.other_value_hash),
            ]
        )

    @classmethod
    def decode(cls, data: bytes) -> SmtProof:
        """Parse the wire form strictly; ``DecodeError`` on any deviation (see the module docstring)."""
        items = codec.expect_versioned(
            codec.decode(data, max_size=_PROOF_MAX_SIZE), "smt proof", PROOF_VERSION, 7
        )
        kind = codec.expect_int(items[1], "smt proof kind", hi=max(ProofKind))
        depth = codec.expect_int(items[2], "smt proof depth", hi=KEY_BITS)
        bitmap = codec.expect_bytes(items[3], "smt proof bitmap", length=HASH_LEN)
        raw_siblings = codec.expect_array(items[4], "smt proof siblings")
        siblings = tuple(codec.expect_bytes(s, "smt proof sibling", length=HASH_LEN) for s in raw_siblings)
        other_key = (
            None if items[5] is None else codec.expect_bytes(items[5], "smt proof other key", length=HASH_LEN)
        )
        other_value_hash = (
            None
            if items[6] is None
            else codec.expect_bytes(items[6], "smt proof other value hash", length=HASH_LEN)
        )
        return cls(ProofKind(kind), depth, bitmap, siblings, other_key, other_value_hash)


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: SmtProof) -> bool:
    """True iff ``proof`` shows that ``key`` maps to ``value`` in the tree with root ``root``.

    ``value=None`` asks for a proof that ``key`` is absent.  Pure: uses only
    hashing.  Returns False, never raises, for anything that does not verify
    (including a membership proof offered as an absence proof and vice versa,
    or arguments of the wrong length).  The algorithm is in the module docstring.
    """
    return _proof_failure(root, key, value, proof) is None


def require_proof(root: bytes, key: bytes, value: bytes | None, proof: SmtProof) -> None:
    """Like ``verify_proof``, but raise ``InvalidProof`` naming the failed check.

    ``reason`` is one of ``"smt_bad_argument"``, ``"smt_kind_mismatch"``,
    ``"smt_other_leaf_is_key"``, ``"smt_other_leaf_off_path"``,
    ``"smt_root_mismatch"``.
    """
    reason = _proof_failure(root, key, value, proof)
    if reason is not None:
        raise InvalidProof(
            reason, f"state proof for {bytes(key).hex() if _is_hash(key) else key!r} does not verify"
        )


def _proof_failure(root: bytes, key: bytes, value: bytes | None, proof: SmtProof) -> str | None:
    """None if the proof verifies, else the name of the check that failed."""
    if not _is_hash(root) or not _is_hash(key) or not isinstance(proof, SmtProof):
        return "smt_bad_argument"
    depth = proof.depth
    key_int = int.from_bytes(key, "big")
    if value is None:
        if proof.kind == ProofKind.ABSENT_EMPTY:
            node = _EMPTY
        elif proof.kind == ProofKind.ABSENT_LEAF:
            other_key = proof.other_key
            other_value_hash = proof.other_value_hash
            if other_key is None or other_value_hash is None:
                return "smt_bad_argument"
            if not _is_hash(other_key) or not _is_hash(other_value_hash):
                return "smt_bad_argument"
            if other_key == key:
                return "smt_other_leaf_is_key"
            if (int.from_bytes(other_key, "big") ^ key_int) >> (KEY_BITS - depth):
                return "smt_other_leaf_off_path"
            node = _sha3(_LEAF_PREFIX + other_key + other_value_hash).digest()
        else:
            return "smt_kind_mismatch"  # a membership proof cannot prove absence
    else:
        if not isinstance(value, bytes) or not value:
            return "smt_bad_argument"
        if proof.kind != ProofKind.MEMBER:
            return "smt_kind_mismatch"
        node = leaf_hash(key, value)
    bits = int.from_bytes(proof.bitmap, "big")
    siblings = proof.siblings
    used = 0
    for i in range(depth - 1, -1, -1):
        shift = KEY_BITS - 1 - i
        if (bits >> shift) & 1:
            if used >= len(siblings):
                return "smt_bad_argument"
            sibling = siblings[used]
            used += 1
        else:
            sibling = _EMPTY
        if (key_int >> shift) & 1:
            node = _sha3(_NODE_PREFIX + sibling + node).digest()
        else:
            node = _sha3(_NODE_PREFIX + node + sibling).digest()
    if used != len(siblings):
        return "smt_bad_argument"
    return None if node == root else "smt_root_mismatch"


# --- the tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class SparseMerkleTree:
    """A read-only view of one version of the state tree: a node store and a root.

    The view never changes: ``update`` returns the new root and the nodes to
    write, and the caller opens a new view on the new root once they are stored
    (or over an overlay that holds them).
    """

    nodes: KVReader
    """Where nodes are read from, under ``b"smt/" ‖ hash``."""
    root: bytes
    """The root hash of this version; ``EMPTY_ROOT`` for the empty tree."""

    def __post_init__(self) -> None:
        if not _is_hash(self.root):
            raise ValueError("smt root must be exactly 32 bytes")
        object.__setattr__(self, "root", bytes(self.root))

    def get(self, key: bytes) -> bytes | None:
        """The value stored under ``key``, or None if the key is absent."""
        key = _check_key(key)
        key_int = int.from_bytes(key, "big")
        node = self.root
        depth = 0
        while node != _EMPTY:
            kind, a, b = _load(self.nodes, node)
            if kind == _LEAF:
                return b if a == key else None
            if depth >= KEY_BITS:
                raise StoreCorrupt("smt internal node below depth 256", node=node.hex())
            node = b if (key_int >> (KEY_BITS - 1 - depth)) & 1 else a
            depth += 1
        return None

    def prove(self, key: bytes) -> SmtProof:
        """A proof of the value of ``key``, or of its absence, against ``self.root``."""
        key = _check_key(key)
        key_int = int.from_bytes(key, "big")
        node = self.root
        depth = 0
        bits = 0
        siblings: list[bytes] = []
        kind = ProofKind.ABSENT_EMPTY
        other_key: bytes | None = None
        other_value_hash: bytes | None = None
        while node != _EMPTY:
            node_kind, a, b = _load(self.nodes, node)
            if node_kind == _LEAF:
                if a == key:
                    kind = ProofKind.MEMBER
                else:
                    kind = ProofKind.ABSENT_LEAF
                    other_key, other_value_hash = a, value_hash(b)
                break
            if depth >= KEY_BITS:
                raise StoreCorrupt("smt internal node below depth 256", node=node.hex())
            shift = KEY_BITS - 1 - depth
            node, sibling = (b, a) if (key_int >> shift) & 1 else (a, b)
            if sibling != _EMPTY:
                bits |= 1 << shift
                siblings.append(sibling)
            depth += 1
        siblings.reverse()
        try:
            return SmtProof(
                kind, depth, bits.to_bytes(HASH_LEN, "big"), tuple(siblings), other_key, other_value_hash
            )
        except DecodeError as exc:
            raise StoreCorrupt(f"smt path to {key.hex()} is not well formed: {exc}") from exc

    def update(self, changes: Mapping[bytes, bytes | None]) -> tuple[bytes, dict[bytes, bytes]]:
        """Apply a batch of changes (``None`` deletes) and return ``(new_root, node_writes)``.

        ``node_writes`` maps ``b"smt/" ‖ hash`` to node bytes for every node of
        the new version that this batch created (it may include nodes the store
        already holds, with the same bytes).  Nothing is written and ``self``
        does not change.  The keys are sorted once and the tree is walked once,
        splitting the sorted keys by their bit at each depth, so every internal
        node on a changed path is rebuilt and hashed exactly once.  Deleting an
        absent key is a no-op.  Raises ``ValueError`` for a key that is not 32
        bytes or a value that is empty or not bytes.
        """
        checked: list[tuple[bytes, bytes | None]] = []
        for key, value in changes.items():
            if value is not None and (not isinstance(value, bytes) or not value):
                raise ValueError("smt values must be non-empty bytes (delete with None)")
            checked.append((_check_key(key), None if value is None else bytes(value)))
        if not checked:
            return self.root, {}
        checked.sort(key=_first)
        keys = [key for key, _ in checked]
        values = [value for _, value in checked]
        batch = _Batch(self.nodes, keys, values)
        root, _ = batch.apply(self.root, 0, 0, len(keys))
        return root, batch.writes


class _Batch:
    """The state of one ``SparseMerkleTree.update`` call: the sorted changes and the writes.

    The walk never reads a node it produced (new nodes are only passed upwards),
    so it works whether or not the store already holds them.
    """

    __slots__ = ("nodes", "keys", "ints", "values", "writes", "existing")

    def __init__(self, nodes: KVReader, keys: list[bytes], values: list[bytes | None]) -> None:
        self.nodes = nodes
        self.keys = keys
        self.ints = [int.from_bytes(k, "big") for k in keys]
        self.values = values
        self.writes: dict[bytes, bytes] = {}
        # Leaves met on the way down, by key: (value, hash); reused as-is when they move.
        self.existing: dict[bytes, tuple[bytes, bytes]] = {}

    def _leaf(self, key: bytes, value: bytes) -> bytes:
        known = self.existing.get(key)
        if known is not None and known[0] == value:
            return known[1]
        node = _sha3(_LEAF_PREFIX + key + _sha3(_VALUE_PREFIX + value).digest()).digest()
        self.writes[NODE_KEY_PREFIX + node] = _encode_leaf(key, value)
        return node

    def _internal(self, left: bytes, right: bytes) -> bytes:
        node = _sha3(_NODE_PREFIX + left + right).digest()
        self.writes[NODE_KEY_PREFIX + node] = _INTERNAL_HEAD + left + _BSTR32_HEAD + right
        return node

    def _build(
        self, ints: list[int], keys: list[bytes], values: list[bytes], lo: int, hi: int, depth: int
    ) -> bytes:
        """The hash of a subtree at ``depth`` holding exactly the ``hi - lo >= 1`` given entries.

        The entries are sorted and share their first ``depth`` bits, so the ones
        whose bit ``depth`` is 1 start at the first one not below that common
        prefix followed by a 1 bit (a binary search).
        """
        if hi - lo == 1:
            return self._leaf(keys[lo], values[lo])
        shift = KEY_BITS - 1 - depth
        mid = bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
        left = self._build(ints, keys, values, lo, mid, depth + 1) if mid > lo else _EMPTY
        right = self._build(ints, keys, values, mid, hi, depth + 1) if hi > mid else _EMPTY
        return self._internal(left, right)

    def _fresh(
        self, ints: list[int], keys: list[bytes], values: list[bytes], depth: int
    ) -> tuple[bytes, bool | None]:
        if not keys:
            return _EMPTY, False
        return self._build(ints, keys, values, 0, len(keys), depth), len(keys) == 1

    def apply(self, node: bytes, depth: int, lo: int, hi: int) -> tuple[bytes, bool | None]:
        """Apply changes ``[lo, hi)`` (``lo < hi``) to the subtree ``node`` at ``depth``.

        Returns the new subtree hash and whether it is a leaf (None when the
        subtree is unchanged and its kind was not looked up).
        """
        ints = self.ints
        if node == _EMPTY:
            keys, values = self.keys, self.values
            new_ints: list[int] = []
            new_keys: list[bytes] = []
            new_values: list[bytes] = []
            for i in range(lo, hi):
                value = values[i]
                if value is not None:
                    new_ints.append(ints[i])
                    new_keys.append(keys[i])
                    new_values.append(value)
            return self._fresh(new_ints, new_keys, new_values, depth)
        kind, a, b = _load(self.nodes, node)
        if kind == _LEAF:
            return self._merge_leaf(node, a, b, depth, lo, hi)
        if depth >= KEY_BITS:
            raise StoreCorrupt("smt internal node below depth 256", node=node.hex())
        shift = KEY_BITS - 1 - depth
        mid = bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
        left, left_leaf = self.apply(a, depth + 1, lo, mid) if mid > lo else (a, None)
        right, right_leaf = self.apply(b, depth + 1, mid, hi) if hi > mid else (b, None)
        if left == a and right == b:
            return node, False
        # Collapse: a leaf whose sibling subtree is empty moves up to this position.
        if left == _EMPTY:
            if right == _EMPTY:
                return _EMPTY, False
            if right_leaf is None:
                right_leaf = _load(self.nodes, right)[0] == _LEAF
            if right_leaf:
                return right, True
        elif right == _EMPTY:
            if left_leaf is None:
                left_leaf = _load(self.nodes, left)[0] == _LEAF
            if left_leaf:
                return left, True
        new = _sha3(_NODE_PREFIX + left + right).digest()  # self._internal, inlined on the hot path
        self.writes[NODE_KEY_PREFIX + new] = _INTERNAL_HEAD + left + _BSTR32_HEAD + right
        return new, False

    def _merge_leaf(
        self, node: bytes, leaf_key: bytes, leaf_value: bytes, depth: int, lo: int, hi: int
    ) -> tuple[bytes, bool | None]:
        """Apply changes ``[lo, hi)`` to a subtree at ``depth`` that is the single leaf ``node``.

        The leaf joins the change list (unless a change replaces or deletes its
        key) and the subtree is rebuilt from the surviving entries.
        """
        ints, keys, values = self.ints, self.keys, self.values
        leaf_int = int.from_bytes(leaf_key, "big")
        if depth and (leaf_int ^ ints[lo]) >> (KEY_BITS - depth):
            raise StoreCorrupt("smt leaf is not on its key's path", node=node.hex(), depth=depth)
        self.existing[leaf_key] = (leaf_value, node)
        pos = bisect_left(ints, leaf_int, lo, hi)
        replaced = pos < hi and ints[pos] == leaf_int
        new_ints: list[int] = []
        new_keys: list[bytes] = []
        new_values: list[bytes] = []
        for i in range(lo, hi):
            if i == pos and not replaced:
                new_ints.append(leaf_int)
                new_keys.append(leaf_key)
                new_values.append(leaf_value)
            value = values[i]
            if value is not None:
                new_ints.append(ints[i])
                new_keys.append(keys[i])
                new_values.append(value)
        if pos == hi:
            new_ints.append(leaf_int)
            new_keys.append(leaf_key)
            new_values.append(leaf_value)
        return self._fresh(new_ints, new_keys, new_values, depth)
