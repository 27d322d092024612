"""The light client: follow headers by their commits and check state answers against them.

Usable without a node: feed it what ``chain.getCommit``, ``chain.getValidators``
and ``state.getProof`` return.  It holds one trusted header and the validator
set of the block after it (named by that header's ``next_validators_hash``).

Rules (CometBFT's light verification adapted to Cairn's headers):

* **Adjacent** (``new.height == trusted.height + 1``): ``new.prev_hash`` is the
  trusted header's hash; ``validators.hash() == trusted.next_validators_hash ==
  new.validators_hash``; the commit carries more than 2/3 of ``validators``'
  power for ``new``.
* **Skipping** (``new.height > trusted.height + 1``): ``validators.hash() ==
  new.validators_hash``; the commit carries more than 2/3 of ``validators``'
  power; and validators of the trusted next set holding at least 1/3 of *its*
  power signed the commit too (so at least one honest validator the client
  already trusts vouches for the jump, under the < 1/3 faulty assumption).
* **Trusting period**: a trusted header older than ``trusting_period_ms`` at
  ``now_ms`` can no longer vouch for anything; ``now_ms`` is a parameter (no
  clock here).  It must be shorter than the unbonding period.
* **State**: ``verify_account(header, address, value, proof)`` checks a
  ``state.getProof`` answer against a verified header's ``state_root``, for
  presence (``value`` the account bytes) or absence (``value`` is ``None``);
  ``verify_state(header, key, value, proof)`` does the same for any record
  whose key the client computed itself.
* **Attack evidence**: two headers for the same height, each with a commit of more
  than 2/3 of its validator set, are a light-client attack: some validators signed both.
  :func:`conflict_evidence` turns every validator that precommitted both blocks in the
  same round into ``staking.DoubleSign`` evidence, which a full node verifies and a
  block turns into slashing and a tombstone (as CometBFT's ``LightClientAttackEvidence``
  punishes equivocation).  Conflicting commits from different rounds name no
  equivocating vote and give no evidence (``conflict_not_attributable``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.block import PRECOMMIT as _PRECOMMIT
from chain.block import Commit, Header, ValidatorSet, verify_commit, vote_digest
from chain.errors import DecodeError, ErrorCode, InvalidBlock, InvalidProof
from chain.keys import verify_signature
from chain.smt import SmtProof, verify_proof
from chain.staking import DoubleSign, SignedVote
from chain.state import account_key


class LightClientError(InvalidBlock):
    """A header, commit or validator set the light client refuses."""


@dataclass(frozen=True, slots=True)
class LightClient:
    """Immutable: each successful verification returns a new client trusting the new header."""

    chain_id: str
    trusted: Header
    next_validators: ValidatorSet
    trusting_period_ms: int

    @classmethod
    def bootstrap(cls, chain_id: str, header: Header, next_validators: ValidatorSet, *,
                  trusting_period_ms: int) -> LightClient:
        """Start from a header obtained out of band (a checkpoint, the genesis block)."""
        if next_validators.hash() != header.next_validators_hash:
            raise LightClientError("next validators do not match the trusted header", code=ErrorCode.BLOCK_BAD_VALIDATORS)
        return cls(chain_id, header, next_validators, trusting_period_ms)

    def _fresh(self, now_ms: int) -> None:
        if now_ms >= self.trusted.time_ms + self.trusting_period_ms:
            raise LightClientError("the trusted header is outside the trusting period", code=ErrorCode.BLOCK_BAD_TIME,
                                   reason="trusting_period")

    def verify(self, header: Header, commit: Commit, validators: ValidatorSet, next_validators: ValidatorSet, *,
               now_ms: int) -> LightClient:
        """Verify ``header`` (adjacent or skipping); returns the client that trusts it."""
        self._fresh(now_ms)
        t = self.trusted
        if header.chain_id != self.chain_id:
            raise LightClientError("header is for another chain", code=ErrorCode.BLOCK_BAD_CHAIN)
        if header.height <= t.height:
            raise LightClientError("header is not after the trusted one", code=ErrorCode.BLOCK_BAD_HEIGHT)
        if header.time_ms <= t.time_ms or header.time_ms >= now_ms + 60_000:
            raise LightClientError("header time is not after the trusted one or is in the future",
                                   code=ErrorCode.BLOCK_BAD_TIME)
        if validators.hash() != header.validators_hash:
            raise LightClientError("validators do not match the header", code=ErrorCode.BLOCK_BAD_VALIDATORS)
        if next_validators.hash() != header.next_validators_hash:
            raise LightClientError("next validators do not match the header", code=ErrorCode.BLOCK_BAD_VALIDATORS)
        if header.height == t.height + 1:
            if header.prev_hash != t.hash():
                raise LightClientError("header does not link to the trusted one", code=ErrorCode.BLOCK_BAD_PARENT)
            if validators.hash() != t.next_validators_hash:
                raise LightClientError("validator set changed without notice", code=ErrorCode.BLOCK_BAD_VALIDATORS)
        verify_commit(commit, chain_id=self.chain_id, validators=validators, height=header.height,
                      block_hash=header.hash())
        if header.height > t.height + 1:
            self._check_trusted_overlap(commit, header)
        return LightClient(self.chain_id, header, next_validators, self.trusting_period_ms)

    def _check_trusted_overlap(self, commit: Commit, header: Header) -> None:
        trusted = self.next_validators
        signed = 0
        for s in commit.signatures:
            v = trusted.get(s.validator)
            if v is None:
                continue
            digest = vote_digest(self.chain_id, _PRECOMMIT, commit.height, commit.round, header.hash(), s.time_ms)
            if verify_signature(v.pubkey, s.signature, digest):
                signed += v.power
        if 3 * signed < trusted.total_power:
            raise LightClientError(f"only {signed} of {trusted.total_power} trusted power signed the skip",
                                   code=ErrorCode.BLOCK_BAD_COMMIT, reason="insufficient_overlap")


def verify_account(header: Header, address: bytes, value: bytes | None, proof: bytes | SmtProof) -> None:
    """Check a ``state.getProof`` answer against a verified header; ``InvalidProof`` if it does not hold."""
    verify_state(header, account_key(address), value, proof)


def verify_state(header: Header, key: bytes, value: bytes | None, proof: bytes | SmtProof) -> None:
    """``value`` (None: absent) is what the state under ``header.state_root`` holds at ``key``
    (``InvalidProof`` ``state_proof_malformed`` / ``state_proof_mismatch``)."""
    try:
        p = proof if isinstance(proof, SmtProof) else SmtProof.decode(proof)
    except DecodeError as exc:
        raise InvalidProof("state_proof_malformed", f"the proof does not decode: {exc.message}") from None
    if not verify_proof(bytes(header.state_root), key, value, p):
        raise InvalidProof("state_proof_mismatch", "the proof does not match the header's state root")


def conflict_evidence(chain_id: str, a: tuple[Header, Commit], b: tuple[Header, Commit],
                      validators_a: ValidatorSet, validators_b: ValidatorSet) -> list[DoubleSign]:
    """The double-sign evidence in two conflicting signed headers (module docstring).

    Both headers are for ``chain_id`` and the same height, different blocks, each finalized by
    its commit under its validator set (``LightClientError`` otherwise); returns one
    ``DoubleSign`` per validator that precommitted both in the same round, sorted by address.
    """
    (ha, ca), (hb, cb) = a, b
    if ha.chain_id != chain_id or hb.chain_id != chain_id:
        raise LightClientError("a header is for another chain", code=ErrorCode.BLOCK_BAD_CHAIN)
    if ha.height != hb.height:
        raise LightClientError("the headers are for different heights: no conflict", code=ErrorCode.BLOCK_BAD_HEIGHT)
    if ha.hash() == hb.hash():
        raise LightClientError("the headers are the same block: no conflict", code=ErrorCode.BLOCK_INVALID)
    for header, commit, validators in ((ha, ca, validators_a), (hb, cb, validators_b)):
        if validators.hash() != header.validators_hash:
            raise LightClientError("validators do not match a header", code=ErrorCode.BLOCK_BAD_VALIDATORS)
        verify_commit(commit, chain_id=chain_id, validators=validators, height=header.height,
                      block_hash=header.hash())
    if ca.round != cb.round:
        raise LightClientError("the commits are from different rounds: no vote equivocates",
                               code=ErrorCode.BLOCK_BAD_COMMIT, reason="conflict_not_attributable")
    sigs_b = {bytes(s.validator): s for s in cb.signatures}
    out = []
    for sa in ca.signatures:
        sb = sigs_b.get(bytes(sa.validator))
        if sb is None:
            continue
        votes = [SignedVote(_PRECOMMIT, c.height, c.round, bytes(c.block_hash), s.time_ms, s.validator, bytes(s.signature))
                 for c, s in ((ca, sa), (cb, sb))]
        out.append(DoubleSign(votes[0], votes[1]))
    return out
