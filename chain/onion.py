"""A validator's beacon onion: the secret chain of hashes whose layers it reveals one per proposal.

``x_0 = seed``, ``x_{i+1} = onion_hash(x_i)`` (``chain.staking.onion_hash``), tip
``x_length`` registered on chain.  To propose on top of a record whose onion is
``x_j`` the validator reveals ``x_{j-1}``.  Layers are recomputed from
checkpoints kept every ``CHECKPOINT`` layers, so memory is ``length /
CHECKPOINT`` hashes and a reveal costs at most ``CHECKPOINT`` hashes.  Pure: the
seed comes in as bytes.
"""

from __future__ import annotations

from functools import lru_cache

from chain.staking import onion_hash

CHECKPOINT = 1024


@lru_cache(maxsize=64)
def _checkpoints(seed: bytes, length: int) -> tuple[tuple[bytes, ...], bytes]:
    """Every ``CHECKPOINT``-th layer and the tip (a pure function, cached per process)."""
    points: list[bytes] = []
    x = bytes(seed)
    for i in range(length + 1):
        if i % CHECKPOINT == 0:
            points.append(x)
        if i < length:
            x = onion_hash(x)
    return tuple(points), x


class Onion:
    def __init__(self, seed: bytes, length: int) -> None:
        if length < 1:
            raise ValueError("an onion needs at least one layer")
        self.length = length
        self._checkpoints, self.tip = _checkpoints(bytes(seed), length)
        self._index = length  # the layer we believe is on chain

    def layer(self, i: int) -> bytes:
        """``x_i``."""
        if not 0 <= i <= self.length:
            raise IndexError("onion layer out of range")
        x = self._checkpoints[i // CHECKPOINT]
        for _ in range(i % CHECKPOINT):
            x = onion_hash(x)
        return x

    def _find(self, value: bytes) -> int | None:
        if self.layer(self._index) == value:
            return self._index
        for start in range(0, self.length + 1, CHECKPOINT):  # a full scan: only after a surprise
            x = self._checkpoints[start // CHECKPOINT]
            for i in range(start, min(start + CHECKPOINT, self.length + 1)):
                if x == value:
                    return i
                x = onion_hash(x)
        return None

    def reveal_for(self, current: bytes) -> bytes | None:
        """The layer to reveal when the chain holds ``current``; ``None`` if not ours or used up."""
        j = self._find(bytes(current))
        if j is None or j == 0:
            return None
        self._index = j - 1
        return self.layer(j - 1)
