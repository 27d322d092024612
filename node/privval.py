"""The validator's signer, guarded against double signing across crashes.

Rule: the signer remembers the last (height, round, step) it signed, with the
block hash, time and signature, in ``priv_validator_state.cbor``.  For a new
request at ``(h, r, s)``:

* below the last signed ``(h, r, s)`` → refused (``DoubleSignRefused``);
* equal, for the same block hash → the stored vote is returned unchanged (a
  restarted validator re-broadcasts exactly what it signed before);
* equal, for another block hash → refused;
* above → the new state is written and fsynced (file, then its directory)
  *before* the signature is returned, so a crash at any instant can never
  leave a released signature that the file does not know about.

Steps order: ``PROPOSE (0) < PREVOTE (1) < PRECOMMIT (2)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chain.codec import decode, encode, expect_bytes, expect_int, expect_versioned
from chain.errors import ChainError, DecodeError
from chain.keys import PrivateKey

STEP_PROPOSE = 0
STEP_PREVOTE = 1
STEP_PRECOMMIT = 2


DigestFn = Callable[[int], bytes]
"""Given the vote time, the digest to sign (the time is part of what is signed)."""


class DoubleSignRefused(ChainError):
    """The signer refused a request that could conflict with an earlier signature."""


@dataclass(frozen=True, slots=True)
class LastSigned:
    height: int
    round: int
    step: int
    block_hash: bytes
    time_ms: int
    signature: bytes

    def encode(self) -> bytes:
        return encode([1, self.height, self.round, self.step, self.block_hash, self.time_ms, self.signature])

    @classmethod
    def decode(cls, data: bytes) -> LastSigned:
        i = expect_versioned(decode(data), "priv validator state", 1, 7)
        return cls(expect_int(i[1], "height"), expect_int(i[2], "round"), expect_int(i[3], "step", hi=2),
                   expect_bytes(i[4], "block_hash", max_len=32), expect_int(i[5], "time_ms"),
                   expect_bytes(i[6], "signature", max_len=64))


class PrivValidator:
    """Signs consensus messages for one key; see the module docstring."""

    def __init__(self, key: PrivateKey, state_file: Path) -> None:
        self.key = key
        self.path = state_file
        self.last: LastSigned | None = None
        if state_file.exists():
            try:
                self.last = LastSigned.decode(state_file.read_bytes())
            except DecodeError as exc:
                raise DoubleSignRefused(f"{state_file} is corrupt; refusing to sign: {exc.message}") from None

    def _persist(self, last: LastSigned) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(last.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.last = last

    def sign(self, height: int, round_: int, step: int, block_hash: bytes, time_ms: int,
             digest_for: DigestFn) -> tuple[int, bytes]:
        """Sign ``digest_for(time_ms)``; returns ``(time_ms, signature)`` (maybe the stored ones)."""
        hrs = (height, round_, step)
        last = self.last
        if last is not None:
            prev = (last.height, last.round, last.step)
            if hrs < prev:
                raise DoubleSignRefused(f"already signed {prev}, refusing {hrs}")
            if hrs == prev:
                if last.block_hash != bytes(block_hash):
                    raise DoubleSignRefused(f"already signed another block at {hrs}")
                return last.time_ms, last.signature
        signature = bytes(self.key.sign_digest(digest_for(time_ms)))
        self._persist(LastSigned(height, round_, step, bytes(block_hash), time_ms, signature))
        return time_ms, signature

