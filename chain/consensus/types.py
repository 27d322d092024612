"""Consensus messages: votes, proposals and double-sign evidence (ARCHITECTURE §5).

Wire forms (canonical CBOR arrays, version first; decoded strictly by
``chain.codec.decode``, so the bytes of a message are unique)::

    Vote         = [1, type, height, round, block_hash, time_ms, validator, signature]
    Proposal     = [1, height, round, block_hash, pol_round, proposer, signature]
    DuplicateVote = [1, Vote, Vote]

Signing rules:

* A vote signs ``chain.block.vote_digest(chain_id, type, height, round, block_hash,
  time_ms)``, that is ``signing_digest(b"cairn/vote/v1", chain_id,
  encode([type, height, round, block_hash, time_ms]))``.  ``type`` is
  ``chain.block.PREVOTE`` (1) or ``chain.block.PRECOMMIT`` (2), so a prevote can never
  be replayed as a precommit.  Because a precommit signs exactly what a
  ``chain.block.CommitSig`` carries, the precommits for one block in one round
  assemble directly into a ``chain.block.Commit`` that ``verify_commit`` accepts
  (``Vote.commit_sig``).
* A *nil* vote (the paper's ``nil``) names ``NIL`` (32 zero bytes) as its block hash.
  No block can hash to it in practice, and ``verify_commit`` never counts it.
* A proposal signs ``signing_digest(b"cairn/proposal/v1", chain_id,
  encode([height, round, block_hash, pol_round]))``.  ``pol_round`` is the
  paper's ``validRound``: ``-1`` for a fresh value, else the earlier round
  (``0 ≤ pol_round < round``) in which the proposer saw more than 2/3 prevotes for
  it.  The block's bytes travel next to the proposal, unsigned: the signature
  covers the hash and the receiver checks the bytes hash to it.
* ``time_ms`` in a vote is the signer's clock when it signed (milliseconds since
  the Unix epoch); it is signed so the commit can carry it, and it plays no part
  in deciding whether two votes conflict.

Evidence rule: two votes *conflict* when one validator signed both for the same
``(height, round, type)`` with different block hashes (nil counts as a hash).
A valid pair is ``DuplicateVote`` evidence; it is stored with the smaller block
hash first so the same offence always has the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.block import PRECOMMIT, PREVOTE, CommitSig, Validator, ValidatorSet, vote_digest
from chain.codec import decode, encode, expect_bytes, expect_int, expect_versioned
from chain.errors import DecodeError, ErrorCode, InvalidBlock
from chain.keys import PrivateKey, signing_digest, verify_signature
from chain.types import ZERO_HASH, Address, Hash32, Signature64

MESSAGE_VERSION = 1
PROPOSAL_TAG = b"cairn/proposal/v1"
NIL: Hash32 = ZERO_HASH
"""The block hash of a nil vote."""

MAX_ROUND = 2**32
"""Rounds are below this (the same bound ``Commit.decode`` uses)."""

MAX_VOTE_BYTES = 256
MAX_PROPOSAL_BYTES = 256
MAX_EVIDENCE_BYTES = 2 * MAX_VOTE_BYTES
VOTE_TYPES = (PREVOTE, PRECOMMIT)


@dataclass(frozen=True, slots=True)
class Vote:
    """A signed prevote or precommit (Algorithm 1's ``⟨PREVOTE, h, r, id(v)⟩`` and ``⟨PRECOMMIT, …⟩``)."""

    type: int
    """``PREVOTE`` or ``PRECOMMIT``."""
    height: int
    round: int
    block_hash: Hash32
    """The hash of the block voted for, or ``NIL``."""
    time_ms: int
    """The signer's clock when it signed; carried into a commit's ``CommitSig``."""
    validator: Address
    signature: Signature64

    @property
    def is_nil(self) -> bool:
        return self.block_hash == NIL

    def digest(self, chain_id: str) -> bytes:
        """The 32 bytes the validator signed (``chain.block.vote_digest``)."""
        return vote_digest(chain_id, self.type, self.height, self.round, self.block_hash, self.time_ms)

    def verify(self, chain_id: str, validator: Validator) -> bool:
        """True when ``validator`` is the signer and the signature is valid."""
        return validator.address == self.validator and verify_signature(
            validator.pubkey, self.signature, self.digest(chain_id)
        )

    def conflicts_with(self, other: Vote) -> bool:
        """Same signer, height, round and type, different block hash: a double sign."""
        return (
            self.validator == other.validator
            and self.height == other.height
            and self.round == other.round
            and self.type == other.type
            and self.block_hash != other.block_hash
        )

    def commit_sig(self) -> CommitSig:
        """This precommit as it appears in a ``chain.block.Commit``."""
        if self.type != PRECOMMIT:
            raise ValueError("only a precommit belongs in a commit")
        return CommitSig(self.validator, self.time_ms, self.signature)

    def encode_value(self) -> list[Any]:
        return [
            MESSAGE_VERSION,
            self.type,
            self.height,
            self.round,
            bytes(self.block_hash),
            self.time_ms,
            bytes(self.validator),
            bytes(self.signature),
        ]

    def encode(self) -> bytes:
        return encode(self.encode_value())

    @classmethod
    def decode_value(cls, value: Any) -> Vote:
        i = expect_versioned(value, "vote", MESSAGE_VERSION, 8)
        vote_type = expect_int(i[1], "vote.type", lo=PREVOTE, hi=PRECOMMIT)
        return cls(
            type=vote_type,
            height=expect_int(i[2], "vote.height"),
            round=expect_int(i[3], "vote.round", hi=MAX_ROUND - 1),
            block_hash=Hash32(expect_bytes(i[4], "vote.block_hash", length=32)),
            time_ms=expect_int(i[5], "vote.time_ms"),
            validator=Address(expect_bytes(i[6], "vote.validator", length=20)),
            signature=Signature64(expect_bytes(i[7], "vote.signature", length=64)),
        )

    @classmethod
    def decode(cls, data: bytes) -> Vote:
        return cls.decode_value(decode(data, max_size=MAX_VOTE_BYTES))


def sign_vote(
    key: PrivateKey, chain_id: str, vote_type: int, height: int, round_: int, block_hash: bytes, time_ms: int
) -> Vote:
    """``key``'s vote of ``vote_type`` for ``block_hash`` (``NIL`` for nil) at ``height``/``round_``."""
    if vote_type not in VOTE_TYPES:
        raise ValueError(f"unknown vote type {vote_type}")
    block_hash = Hash32(block_hash)
    digest = vote_digest(chain_id, vote_type, height, round_, block_hash, time_ms)
    return Vote(vote_type, height, round_, block_hash, time_ms, key.address, key.sign_digest(digest))


@dataclass(frozen=True, slots=True)
class Proposal:
    """A signed ``⟨PROPOSAL, h, r, id(v), validRound⟩``; the block ``v`` travels beside it."""

    height: int
    round: int
    block_hash: Hash32
    pol_round: int
    """``-1`` for a fresh value, else the round ``< round`` whose prevotes justify re-proposing it."""
    proposer: Address
    signature: Signature64

    def digest(self, chain_id: str) -> bytes:
        """The 32 bytes the proposer signed."""
        return proposal_digest(chain_id, self.height, self.round, self.block_hash, self.pol_round)

    def verify(self, chain_id: str, validator: Validator) -> bool:
        """True when ``validator`` is the proposer named and the signature is valid."""
        return validator.address == self.proposer and verify_signature(
            validator.pubkey, self.signature, self.digest(chain_id)
        )

    def encode_value(self) -> list[Any]:
        return [
            MESSAGE_VERSION,
            self.height,
            self.round,
            bytes(self.block_hash),
            self.pol_round,
            bytes(self.proposer),
            bytes(self.signature),
        ]

    def encode(self) -> bytes:
        return encode(self.encode_value())

    @classmethod
    def decode_value(cls, value: Any) -> Proposal:
        i = expect_versioned(value, "proposal", MESSAGE_VERSION, 7)
        round_ = expect_int(i[2], "proposal.round", hi=MAX_ROUND - 1)
        return cls(
            height=expect_int(i[1], "proposal.height"),
            round=round_,
            block_hash=Hash32(expect_bytes(i[3], "proposal.block_hash", length=32)),
            pol_round=expect_int(i[4], "proposal.pol_round", lo=-1, hi=round_ - 1),
            proposer=Address(expect_bytes(i[5], "proposal.proposer", length=20)),
            signature=Signature64(expect_bytes(i[6], "proposal.signature", length=64)),
        )

    @classmethod
    def decode(cls, data: bytes) -> Proposal:
        return cls.decode_value(decode(data, max_size=MAX_PROPOSAL_BYTES))


def proposal_digest(chain_id: str, height: int, round_: int, block_hash: bytes, pol_round: int) -> bytes:
    """``signing_digest(b"cairn/proposal/v1", chain_id, encode([height, round, block_hash, pol_round]))``."""
    return signing_digest(PROPOSAL_TAG, chain_id, encode([height, round_, bytes(block_hash), pol_round]))


def sign_proposal(
    key: PrivateKey, chain_id: str, height: int, round_: int, block_hash: bytes, pol_round: int
) -> Proposal:
    """``key``'s proposal of ``block_hash`` at ``height``/``round_`` with ``pol_round`` (``-1``: fresh)."""
    if not -1 <= pol_round < round_:
        raise ValueError(f"pol_round {pol_round} must be -1 or below the round {round_}")
    block_hash = Hash32(block_hash)
    digest = proposal_digest(chain_id, height, round_, block_hash, pol_round)
    return Proposal(height, round_, block_hash, pol_round, key.address, key.sign_digest(digest))


@dataclass(frozen=True, slots=True)
class DuplicateVote:
    """Evidence that ``first.validator`` signed two conflicting votes.

    Canonical form: ``first.block_hash < second.block_hash`` (``DuplicateVote.of``
    orders them), so one offence has one encoding.
    """

    first: Vote
    second: Vote

    @classmethod
    def of(cls, a: Vote, b: Vote) -> DuplicateVote:
        """The evidence for two conflicting votes, in canonical order."""
        if not a.conflicts_with(b):
            raise ValueError("votes do not conflict")
        return cls(a, b) if bytes(a.block_hash) < bytes(b.block_hash) else cls(b, a)

    @property
    def validator(self) -> Address:
        return self.first.validator

    @property
    def height(self) -> int:
        return self.first.height

    def verify(self, chain_id: str, validators: ValidatorSet) -> Validator:
        """Check the evidence against the validator set of its height; return the offender.

        Raises ``InvalidBlock`` (``BLOCK_INVALID``, with ``reason``) when the votes do
        not conflict, are out of canonical order, the signer is not in
        ``validators``, or either signature is invalid.
        """
        if not self.first.conflicts_with(self.second):
            raise InvalidBlock(
                "evidence votes do not conflict", code=ErrorCode.BLOCK_INVALID, reason="no-conflict"
            )
        if bytes(self.first.block_hash) >= bytes(self.second.block_hash):
            raise InvalidBlock("evidence votes out of order", code=ErrorCode.BLOCK_INVALID, reason="order")
        validator = validators.get(self.first.validator)
        if validator is None:
            raise InvalidBlock(
                "evidence names a non-validator", code=ErrorCode.BLOCK_INVALID, reason="not-validator"
            )
        for vote in (self.first, self.second):
            if not vote.verify(chain_id, validator):
                raise InvalidBlock(
                    "evidence vote signature invalid", code=ErrorCode.BLOCK_INVALID, reason="signature"
                )
        return validator

    def encode_value(self) -> list[Any]:
        return [MESSAGE_VERSION, self.first.encode_value(), self.second.encode_value()]

    def encode(self) -> bytes:
        return encode(self.encode_value())

    @classmethod
    def decode_value(cls, value: Any) -> DuplicateVote:
        i = expect_versioned(value, "duplicate vote", MESSAGE_VERSION, 3)
        first, second = Vote.decode_value(i[1]), Vote.decode_value(i[2])
        if not first.conflicts_with(second) or bytes(first.block_hash) >= bytes(second.block_hash):
            raise DecodeError(
                "duplicate vote: votes do not conflict in canonical order", code=ErrorCode.DECODE_SHAPE
            )
        return cls(first, second)

    @classmethod
    def decode(cls, data: bytes) -> DuplicateVote:
        return cls.decode_value(decode(data, max_size=MAX_EVIDENCE_BYTES))


__all__ = [
    "MAX_ROUND",
    "MESSAGE_VERSION",
    "NIL",
    "PROPOSAL_TAG",
    "DuplicateVote",
    "Proposal",
    "Vote",
    "proposal_digest",
    "sign_proposal",
    "sign_vote",
]
