"""Domain-separated SHA3-256.

Rule: ``H(tag, data) = SHA3-256(len(tag) ‖ tag ‖ data)`` where ``len(tag)`` is one
byte and ``tag`` is an ASCII string such as ``b"cairn/tx/v1"``.  The length prefix
makes the split between tag and data unambiguous, so no two (tag, data) pairs
hash the same input.  When several values are hashed together they are first
framed as one canonical CBOR array: ``hash_items(tag, a, b, ...) = H(tag,
encode([a, b, ...]))``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from chain.codec import encode


@lru_cache(maxsize=256)
def tag_prefix(tag: bytes) -> bytes:
    """The bytes hashed before the data for ``tag`` (precompute it on hot paths)."""
    if not 0 < len(tag) < 256:
        raise ValueError("hash tag must be 1..255 bytes")
    return bytes([len(tag)]) + tag


def H(tag: bytes, data: bytes) -> bytes:
    """SHA3-256 of ``data`` under the domain ``tag``; 32 bytes."""
    return hashlib.sha3_256(tag_prefix(tag) + data).digest()


def hash_items(tag: bytes, *items: Any) -> bytes:
    """``H(tag, encode(list(items)))``: hash several values with CBOR framing."""
    return H(tag, encode(list(items)))
