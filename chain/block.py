"""Headers, blocks, votes, commits and validator sets (ARCHITECTURE §3, §5).

Wire forms (canonical CBOR arrays, version first)::

    Header    = [1, chain_id, height, time_ms, prev_hash, last_commit_hash, txs_root,
                 proofs_root, evidence_root, receipts_root, state_root,
                 validators_hash, next_validators_hash, proposer, beacon_reveal, beacon]
    Block     = [1, Header, [tx bytes], [proof bytes], [evidence bytes], Commit / null]
    Commit    = [1, height, round, block_hash, [[validator, time_ms, signature], ...]]
    Validator = [address, pubkey, power]

* ``block_hash = H(b"cairn/header/v1", encode(header))``: the header commits to
  everything else through its roots.
* Each list root is ``chain.merkle.merkle_root`` over the items' exact bytes;
  ``last_commit_hash = H(b"cairn/commit/v1", encode(commit))`` or the zero hash
  when there is no last commit (the first block).
* A precommit signs ``signing_digest(b"cairn/vote/v1", chain_id,
  encode([2, height, round, block_hash, time_ms]))``.
* ``validators_hash = H(b"cairn/valset/v1", encode([[address, pubkey, power], ...]))``
  over validators sorted by address.
* ``time_ms`` is milliseconds since the Unix epoch, supplied by the proposer; the
  kernel never reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chain.codec import (
    decode,
    encode,
    expect_array,
    expect_bytes,
    expect_int,
    expect_str,
    expect_versioned,
)
from chain.errors import ErrorCode, InvalidBlock
from chain.hashing import H
from chain.keys import PrivateKey, address_of, signing_digest, verify_signature
from chain.types import ZERO_HASH, Address, Hash32, PublicKey32, Signature64

BLOCK_VERSION = 1
VOTE_TAG = b"cairn/vote/v1"
PREVOTE = 1
PRECOMMIT = 2
MAX_BLOCK_BYTES_HARD = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Validator:
    """One member of a validator set; ``power`` is its bonded stake."""

    address: Address
    pubkey: PublicKey32
    power: int

    def encode_value(self) -> list[Any]:
        return [bytes(self.address), bytes(self.pubkey), self.power]

    @classmethod
    def decode_value(cls, value: Any) -> Validator:
        items = expect_array(value, "validator", 3)
        pubkey = PublicKey32(expect_bytes(items[1], "validator.pubkey", length=32))
        address = Address(expect_bytes(items[0], "validator.address", length=20))
        if address_of(pubkey) != address:
            raise InvalidBlock("validator address does not match its key", code=ErrorCode.BLOCK_BAD_VALIDATORS)
        return cls(address, pubkey, expect_int(items[2], "validator.power", lo=1))


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """Validators sorted by address, no duplicates, each with positive power."""

    validators: tuple[Validator, ...]

    def __post_init__(self) -> None:
        addrs = [v.address for v in self.validators]
        if addrs != sorted(addrs) or len(set(addrs)) != len(addrs):
            raise InvalidBlock("validator set must be sorted by address without duplicates",
                               code=ErrorCode.BLOCK_BAD_VALIDATORS)

    @classmethod
    def of(cls, validators: Iterable[Validator]) -> ValidatorSet:
        return cls(tuple(sorted(validators, key=lambda v: bytes(v.address))))

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    def get(self, address: bytes) -> Validator | None:
        for v in self.validators:
            if v.address == address:
                return v
        return None

    def encode_value(self) -> list[Any]:
        return [v.encode_value() for v in self.validators]

    def encode(self) -> bytes:
        return encode(self.encode_value())

    def hash(self) -> Hash32:
        return Hash32(H(b"cairn/valset/v1", self.encode()))

    @classmethod
    def decode_value(cls, value: Any) -> ValidatorSet:
        return cls(tuple(Validator.decode_value(v) for v in expect_array(value, "validator set")))


@dataclass(frozen=True, slots=True)
class Header:
    """A block header; see the module docstring for the meaning of each root."""

    chain_id: str
    height: int
    time_ms: int
    prev_hash: Hash32
    last_commit_hash: Hash32
    txs_root: Hash32
    proofs_root: Hash32
    evidence_root: Hash32
    receipts_root: Hash32
    state_root: Hash32
    validators_hash: Hash32
    next_validators_hash: Hash32
    proposer: Address
    beacon_reveal: bytes
    beacon: Hash32

    def encode_value(self) -> list[Any]:
        return [
            BLOCK_VERSION,
            self.chain_id,
            self.height,
            self.time_ms,
            bytes(self.prev_hash),
            bytes(self.last_commit_hash),
            bytes(self.txs_root),
            bytes(self.proofs_root),
            bytes(self.evidence_root),
            bytes(self.receipts_root),
            bytes(self.state_root),
            bytes(self.validators_hash),
            bytes(self.next_validators_hash),
            bytes(self.proposer),
            bytes(self.beacon_reveal),
            bytes(self.beacon),
        ]

    def encode(self) -> bytes:
        return encode(self.encode_value())

    def hash(self) -> Hash32:
        return Hash32(H(b"cairn/header/v1", self.encode()))

    @classmethod
    def decode_value(cls, value: Any) -> Header:
        i = expect_versioned(value, "header", BLOCK_VERSION, 16)

        def h32(n: int, name: str) -> Hash32:
            return Hash32(expect_bytes(i[n], f"header.{name}", length=32))

        return cls(
            chain_id=expect_str(i[1], "header.chain_id", max_len=64),
            height=expect_int(i[2], "header.height"),
            time_ms=expect_int(i[3], "header.time_ms"),
            prev_hash=h32(4, "prev_hash"),
            last_commit_hash=h32(5, "last_commit_hash"),
            txs_root=h32(6, "txs_root"),
            proofs_root=h32(7, "proofs_root"),
            evidence_root=h32(8, "evidence_root"),
            receipts_root=h32(9, "receipts_root"),
            state_root=h32(10, "state_root"),
            validators_hash=h32(11, "validators_hash"),
            next_validators_hash=h32(12, "next_validators_hash"),
            proposer=Address(expect_bytes(i[13], "header.proposer", length=20)),
            beacon_reveal=expect_bytes(i[14], "header.beacon_reveal", max_len=64),
            beacon=h32(15, "beacon"),
        )

    @classmethod
    def decode(cls, data: bytes) -> Header:
        return cls.decode_value(decode(data, max_size=4096))


def vote_digest(chain_id: str, vote_type: int, height: int, round_: int, block_hash: bytes, time_ms: int) -> bytes:
    """What a validator signs for a vote."""
    return signing_digest(VOTE_TAG, chain_id, encode([vote_type, height, round_, bytes(block_hash), time_ms]))


@dataclass(frozen=True, slots=True)
class CommitSig:
    """One validator's precommit inside a commit."""

    validator: Address
    time_ms: int
    signature: Signature64


@dataclass(frozen=True, slots=True)
class Commit:
    """>2/3 of the voting power precommitting ``block_hash`` at ``height``/``round``."""

    height: int
    round: int
    block_hash: Hash32
    signatures: tuple[CommitSig, ...]

    def encode_value(self) -> list[Any]:
        return [
            BLOCK_VERSION,
            self.height,
            self.round,
            bytes(self.block_hash),
            [[bytes(s.validator), s.time_ms, bytes(s.signature)] for s in self.signatures],
        ]

    def encode(self) -> bytes:
        return encode(self.encode_value())

    def hash(self) -> Hash32:
        return Hash32(H(b"cairn/commit/v1", self.encode()))

    @classmethod
    def decode_value(cls, value: Any) -> Commit:
        i = expect_versioned(value, "commit", BLOCK_VERSION, 5)
        sigs = []
        for s in expect_array(i[4], "commit.signatures"):
            s = expect_array(s, "commit signature", 3)
            sigs.append(
                CommitSig(
                    Address(expect_bytes(s[0], "commit.validator", length=20)),
                    expect_int(s[1], "commit.time_ms"),
                    Signature64(expect_bytes(s[2], "commit.signature", length=64)),
                )
            )
        return cls(
            expect_int(i[1], "commit.height"),
            expect_int(i[2], "commit.round", hi=2**32),
            Hash32(expect_bytes(i[3], "commit.block_hash", length=32)),
            tuple(sigs),
        )

    @classmethod
    def decode(cls, data: bytes) -> Commit:
        return cls.decode_value(decode(data, max_size=1024 * 1024))


def sign_commit_sig(key: PrivateKey, chain_id: str, height: int, round_: int, block_hash: bytes, time_ms: int) -> CommitSig:
    """A validator's precommit for ``block_hash`` as it appears in a commit."""
    digest = vote_digest(chain_id, PRECOMMIT, height, round_, block_hash, time_ms)
    return CommitSig(key.address, time_ms, key.sign_digest(digest))


def verify_commit(commit: Commit, *, chain_id: str, validators: ValidatorSet, height: int, block_hash: bytes) -> int:
    """Check that ``commit`` finalizes ``block_hash`` at ``height``; return the power that signed.

    Rule: signatures are sorted by validator address with no duplicates, each from
    a member of ``validators`` and valid, and their power sums to more than 2/3 of
    the set's total (``3 × signed > 2 × total``).  Raises ``InvalidBlock(BLOCK_BAD_COMMIT)``.
    """
    if commit.height != height or commit.block_hash != block_hash:
        raise InvalidBlock(
            f"commit is for height {commit.height}, expected {height}, or for another block",
            code=ErrorCode.BLOCK_BAD_COMMIT,
        )
    signed = 0
    last = b""
    for s in commit.signatures:
        if bytes(s.validator) <= last:
            raise InvalidBlock("commit signatures not sorted or duplicated", code=ErrorCode.BLOCK_BAD_COMMIT)
        last = bytes(s.validator)
        v = validators.get(s.validator)
        if v is None:
            raise InvalidBlock("commit signed by a non-validator", code=ErrorCode.BLOCK_BAD_COMMIT)
        digest = vote_digest(chain_id, PRECOMMIT, commit.height, commit.round, block_hash, s.time_ms)
        if not verify_signature(v.pubkey, s.signature, digest):
            raise InvalidBlock("bad commit signature", code=ErrorCode.BLOCK_BAD_COMMIT, validator=bytes(s.validator).hex())
        signed += v.power
    if 3 * signed <= 2 * validators.total_power:
        raise InvalidBlock(
            f"commit carries {signed} of {validators.total_power} power, not more than 2/3",
            code=ErrorCode.BLOCK_BAD_COMMIT,
        )
    return signed


@dataclass(frozen=True, slots=True)
class Block:
    """A header and the body its roots commit to."""

    header: Header
    txs: tuple[bytes, ...] = ()
    proofs: tuple[bytes, ...] = ()
    evidence: tuple[bytes, ...] = ()
    last_commit: Commit | None = None
    _raw: bytes = field(default=b"", compare=False, repr=False)

    def encode(self) -> bytes:
        if self._raw:
            return self._raw
        return encode(
            [
                BLOCK_VERSION,
                self.header.encode_value(),
                list(self.txs),
                list(self.proofs),
                list(self.evidence),
                self.last_commit.encode_value() if self.last_commit else None,
            ]
        )

    @property
    def hash(self) -> Hash32:
        return self.header.hash()

    @classmethod
    def decode(cls, data: bytes, *, max_size: int = MAX_BLOCK_BYTES_HARD) -> Block:
        i = expect_versioned(decode(data, max_size=max_size), "block", BLOCK_VERSION, 6)

        def blobs(v: Any, what: str) -> tuple[bytes, ...]:
            return tuple(expect_bytes(x, what) for x in expect_array(v, what))

        return cls(
            header=Header.decode_value(i[1]),
            txs=blobs(i[2], "block.txs"),
            proofs=blobs(i[3], "block.proofs"),
            evidence=blobs(i[4], "block.evidence"),
            last_commit=None if i[5] is None else Commit.decode_value(i[5]),
            _raw=bytes(data),
        )


def last_commit_hash(commit: Commit | None) -> Hash32:
    return commit.hash() if commit is not None else ZERO_HASH


def beacon_next(prev_beacon: bytes, reveal: bytes) -> Hash32:
    """``beacon_h = H(b"cairn/beacon/v1", beacon_{h-1} ‖ reveal_h)`` (ARCHITECTURE §5)."""
    return Hash32(H(b"cairn/beacon/v1", bytes(prev_beacon) + bytes(reveal)))


def sorted_sigs(sigs: Sequence[CommitSig]) -> tuple[CommitSig, ...]:
    return tuple(sorted(sigs, key=lambda s: bytes(s.validator)))
