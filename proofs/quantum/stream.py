"""Deterministic randomness for QUANTUM_V1: a SHA3-256 counter-mode stream.

Every random choice the quantum verifier makes (which trap circuits a job carries, where
the user circuit sits among them, which trap slots a later beacon opens) comes from this
stream, never from the operating system, so every validator derives the same choices.

Rule.  A stream is opened with a domain tag and a list of seed items (beacon bytes, task
id, indices).  The seed is their canonical CBOR framing ``seed = encode([item, ...])``, and
block ``j`` (``j = 0, 1, 2, ...``) of the stream is

    block_j = H(tag, seed ‖ j as an 8-byte big-endian integer)

(``chain.hashing.H``: SHA3-256 with the tag length-prefixed).  The stream is the
concatenation ``block_0 ‖ block_1 ‖ ...``, consumed front to back.

Integers.  ``randbelow(m)`` with ``b = bit_length(m - 1)`` reads ``ceil(b / 8)`` bytes as a
big-endian integer, keeps its low ``b`` bits and retries while the value is ``>= m``
(rejection sampling: exactly uniform, never biased by a modulo).  ``randbelow(1)`` reads
nothing and returns 0.  A Fisher–Yates shuffle of ``n`` items draws ``randbelow(i + 1)``
for ``i = n - 1`` down to ``1`` and swaps item ``i`` with the drawn index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from chain.codec import encode
from chain.hashing import H

T = TypeVar("T")


class BeaconStream:
    """A reader over the SHA3 counter-mode stream for ``(tag, *items)`` (see the module rule).

    The stream is a value with a read position; it is the only mutable object in this
    package and never leaves the function that opened it.
    """

    __slots__ = ("_buffer", "_counter", "_seed", "_tag")

    def __init__(self, tag: bytes, *items: Any) -> None:
        self._tag = tag
        self._seed = encode(list(items))
        self._counter = 0
        self._buffer = b""

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes of the stream."""
        if n < 0:
            raise ValueError("cannot read a negative number of bytes")
        chunks = [self._buffer]
        have = len(self._buffer)
        while have < n:
            block = H(self._tag, self._seed + self._counter.to_bytes(8, "big"))
            self._counter += 1
            chunks.append(block)
            have += len(block)
        data = b"".join(chunks)
        out, self._buffer = data[:n], data[n:]
        return out

    def randbelow(self, m: int) -> int:
        """A uniform integer in ``[0, m)`` by rejection sampling (``m >= 1``)."""
        if m < 1:
            raise ValueError("randbelow needs m >= 1")
        if m == 1:
            return 0
        bits = (m - 1).bit_length()
        nbytes = (bits + 7) // 8
        mask = (1 << bits) - 1
        while True:
            value = int.from_bytes(self.read(nbytes), "big") & mask
            if value < m:
                return value

    def shuffled(self, items: Sequence[T]) -> list[T]:
        """A Fisher–Yates shuffle of ``items`` (a new list)."""
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.randbelow(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def subset(self, n: int, k: int) -> tuple[int, ...]:
        """``k`` distinct integers of ``range(n)``, ascending: the first ``k`` of a shuffle."""
        if not 0 <= k <= n:
            raise ValueError("subset needs 0 <= k <= n")
        return tuple(sorted(self.shuffled(range(n))[:k]))
