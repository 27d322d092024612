"""Votes, proposals and evidence: wire bytes, signatures, and assembly into a Commit."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.block import (
    PRECOMMIT,
    PREVOTE,
    Commit,
    Validator,
    ValidatorSet,
    sorted_sigs,
    verify_commit,
    vote_digest,
)
from chain.codec import encode
from chain.consensus.types import (
    NIL,
    DuplicateVote,
    Proposal,
    Vote,
    proposal_digest,
    sign_proposal,
    sign_vote,
)
from chain.errors import DecodeError, ErrorCode, InvalidBlock
from chain.hashing import H
from chain.keys import PrivateKey
from chain.types import Hash32

CHAIN = "cairn-test"
KEYS = [PrivateKey.derive(f"cairn-test/consensus-types/{i}") for i in range(4)]
VALIDATORS = ValidatorSet.of(Validator(k.address, k.public_key, 10 + i) for i, k in enumerate(KEYS))
BLOCK = Hash32(H(b"test", b"block"))
OTHER = Hash32(H(b"test", b"other"))


def test_vote_signs_the_commit_digest_of_chain_block() -> None:
    v = sign_vote(KEYS[0], CHAIN, PRECOMMIT, 7, 2, BLOCK, 1234)
    assert v.digest(CHAIN) == vote_digest(CHAIN, PRECOMMIT, 7, 2, BLOCK, 1234)
    assert v.verify(CHAIN, VALIDATORS.get(KEYS[0].address))  # type: ignore[arg-type]
    assert not v.verify("other-chain", VALIDATORS.get(KEYS[0].address))  # type: ignore[arg-type]
    assert not v.verify(CHAIN, VALIDATORS.get(KEYS[1].address))  # type: ignore[arg-type]


def test_prevote_signature_is_not_a_precommit_signature() -> None:
    v = sign_vote(KEYS[0], CHAIN, PREVOTE, 7, 2, BLOCK, 1234)
    as_precommit = replace(v, type=PRECOMMIT)
    assert not as_precommit.verify(CHAIN, VALIDATORS.get(KEYS[0].address))  # type: ignore[arg-type]


def test_precommits_assemble_into_a_commit_that_verifies() -> None:
    votes = [sign_vote(k, CHAIN, PRECOMMIT, 5, 1, BLOCK, 1000 + i) for i, k in enumerate(KEYS[:3])]
    commit = Commit(5, 1, BLOCK, sorted_sigs([v.commit_sig() for v in votes]))
    signed = verify_commit(commit, chain_id=CHAIN, validators=VALIDATORS, height=5, block_hash=BLOCK)
    assert signed == 10 + 11 + 12
    with pytest.raises(ValueError):
        sign_vote(KEYS[0], CHAIN, PREVOTE, 5, 1, BLOCK, 1).commit_sig()


def test_nil_vote_uses_the_zero_hash() -> None:
    v = sign_vote(KEYS[0], CHAIN, PREVOTE, 1, 0, NIL, 0)
    assert v.is_nil and bytes(v.block_hash) == bytes(32)


@given(
    vote_type=st.sampled_from([PREVOTE, PRECOMMIT]),
    height=st.integers(0, 2**64 - 1),
    round_=st.integers(0, 2**32 - 1),
    time_ms=st.integers(0, 2**64 - 1),
    nil=st.booleans(),
)
def test_vote_round_trips(vote_type: int, height: int, round_: int, time_ms: int, nil: bool) -> None:
    v = Vote(
        vote_type,
        height,
        round_,
        NIL if nil else BLOCK,
        time_ms,
        KEYS[1].address,
        KEYS[1].sign_digest(b"x" * 32),
    )
    assert Vote.decode(v.encode()) == v


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda i: [2, *i[1:]], ErrorCode.DECODE_VERSION),
        (lambda i: i[:-1], ErrorCode.DECODE_SHAPE),
        (lambda i: [*i[:1], 3, *i[2:]], ErrorCode.DECODE_SHAPE),
        (lambda i: [*i[:1], 0, *i[2:]], ErrorCode.DECODE_SHAPE),
        (lambda i: [*i[:4], b"\x00" * 31, *i[5:]], ErrorCode.BAD_LENGTH),
        (lambda i: [*i[:6], b"\x00" * 21, *i[7:]], ErrorCode.BAD_LENGTH),
        (lambda i: [*i[:7], b"\x00" * 63], ErrorCode.BAD_LENGTH),
        (lambda i: [*i[:3], -1, *i[4:]], ErrorCode.DECODE_SHAPE),
        (lambda i: [*i[:3], 2**32, *i[4:]], ErrorCode.DECODE_SHAPE),
        (lambda i: [*i[:2], True, *i[3:]], ErrorCode.DECODE_SHAPE),
    ],
)
def test_vote_decode_is_strict(mutate: object, code: ErrorCode) -> None:
    v = sign_vote(KEYS[0], CHAIN, PREVOTE, 3, 1, BLOCK, 99)
    bad = encode(mutate(v.encode_value()))  # type: ignore[operator]
    with pytest.raises(DecodeError) as exc:
        Vote.decode(bad)
    assert exc.value.code == code


def test_vote_decode_refuses_trailing_and_non_canonical_bytes() -> None:
    raw = sign_vote(KEYS[0], CHAIN, PREVOTE, 3, 1, BLOCK, 99).encode()
    with pytest.raises(DecodeError) as exc:
        Vote.decode(raw + b"\x00")
    assert exc.value.code == ErrorCode.DECODE_TRAILING
    # the height (3) written with a one-byte argument instead of inline
    non_canonical = raw.replace(b"\x01\x03\x01", b"\x01\x18\x03\x01", 1)
    assert non_canonical != raw
    with pytest.raises(DecodeError) as exc:
        Vote.decode(non_canonical)
    assert exc.value.code == ErrorCode.DECODE_NON_CANONICAL


def test_vote_wire_format_is_pinned() -> None:
    """A golden vector: changing the vote's bytes or digest is a consensus change."""
    v = sign_vote(
        PrivateKey.derive("cairn-test/golden-vote"),
        "cairn-golden",
        PRECOMMIT,
        42,
        3,
        BLOCK,
        1_700_000_000_000,
    )
    assert v.encode().hex() == (
        "880102182a035820421099d1f2bcf10bf1a18e643be3131e879dd53d02c99c87d3f2ac2145207dc01b0000018bcfe568"
        "005485e586f298cdc887c4d23a67bc6805bb4424cfa758404215ee1b9b87a7ed5668b06e21f46222ad9c42c6ed10f173"
        "2fb394bdfefaa0bf2cff86290afa86366a850a37afed23a315a6a5058a7a508600845d84a37e7e0a"
    )
    assert (
        v.digest("cairn-golden").hex() == "473415eeb75aa05f2bcac0c0ce85a2eebd75a7fa8b27c44da7a507a9f1235ef0"
    )
    assert v.digest("cairn-golden") == H(
        b"cairn/vote/v1",
        encode(["cairn-golden", encode([PRECOMMIT, 42, 3, bytes(BLOCK), 1_700_000_000_000])]),
    )


def test_proposal_signs_its_own_tag_and_round_trips() -> None:
    p = sign_proposal(KEYS[2], CHAIN, 9, 4, BLOCK, 2)
    assert p.digest(CHAIN) == proposal_digest(CHAIN, 9, 4, BLOCK, 2)
    assert p.digest(CHAIN) == H(b"cairn/proposal/v1", encode([CHAIN, encode([9, 4, bytes(BLOCK), 2])]))
    proposer = VALIDATORS.get(KEYS[2].address)
    assert proposer is not None and p.verify(CHAIN, proposer)
    assert not replace(p, pol_round=1).verify(CHAIN, proposer)
    assert not replace(p, block_hash=OTHER).verify(CHAIN, proposer)
    assert Proposal.decode(p.encode()) == p
    fresh = sign_proposal(KEYS[2], CHAIN, 9, 0, BLOCK, -1)
    assert Proposal.decode(fresh.encode()) == fresh


def test_proposal_pol_round_must_be_below_its_round() -> None:
    with pytest.raises(ValueError):
        sign_proposal(KEYS[0], CHAIN, 1, 2, BLOCK, 2)
    with pytest.raises(ValueError):
        sign_proposal(KEYS[0], CHAIN, 1, 0, BLOCK, -2)
    p = sign_proposal(KEYS[0], CHAIN, 1, 2, BLOCK, 1)
    for pol in (2, -2):
        with pytest.raises(DecodeError) as exc:
            Proposal.decode(encode([*p.encode_value()[:4], pol, *p.encode_value()[5:]]))
        assert exc.value.code == ErrorCode.DECODE_SHAPE


def test_proposal_signature_does_not_verify_as_a_vote() -> None:
    p = sign_proposal(KEYS[0], CHAIN, 1, 0, BLOCK, -1)
    as_vote = Vote(PREVOTE, 1, 0, BLOCK, 0, KEYS[0].address, p.signature)
    assert not as_vote.verify(CHAIN, VALIDATORS.get(KEYS[0].address))  # type: ignore[arg-type]


def test_duplicate_vote_evidence_is_canonical_and_verifies() -> None:
    a = sign_vote(KEYS[3], CHAIN, PREVOTE, 4, 0, BLOCK, 1)
    b = sign_vote(KEYS[3], CHAIN, PREVOTE, 4, 0, NIL, 2)
    ev1, ev2 = DuplicateVote.of(a, b), DuplicateVote.of(b, a)
    assert ev1 == ev2 and ev1.first.block_hash == NIL
    assert ev1.verify(CHAIN, VALIDATORS).address == KEYS[3].address
    assert ev1.validator == KEYS[3].address and ev1.height == 4
    assert DuplicateVote.decode(ev1.encode()) == ev1


def test_duplicate_vote_refuses_what_is_not_a_double_sign() -> None:
    a = sign_vote(KEYS[3], CHAIN, PREVOTE, 4, 0, BLOCK, 1)
    for b in (
        sign_vote(KEYS[3], CHAIN, PREVOTE, 4, 0, BLOCK, 2),  # same block: not a conflict
        sign_vote(KEYS[3], CHAIN, PREVOTE, 4, 1, NIL, 2),  # another round
        sign_vote(KEYS[3], CHAIN, PRECOMMIT, 4, 0, NIL, 2),  # another type
        sign_vote(KEYS[2], CHAIN, PREVOTE, 4, 0, NIL, 2),  # another validator
    ):
        with pytest.raises(ValueError):
            DuplicateVote.of(a, b)
        with pytest.raises(DecodeError):
            DuplicateVote.decode(encode([1, a.encode_value(), b.encode_value()]))


def test_duplicate_vote_verify_names_the_broken_rule() -> None:
    a = sign_vote(KEYS[3], CHAIN, PREVOTE, 4, 0, BLOCK, 1)
    b = sign_vote(KEYS[3], CHAIN, PREVOTE, 4, 0, NIL, 2)
    ev = DuplicateVote.of(a, b)
    forged = DuplicateVote(ev.first, replace(ev.second, time_ms=3))
    with pytest.raises(InvalidBlock) as exc:
        forged.verify(CHAIN, VALIDATORS)
    assert exc.value.details["reason"] == "signature"
    outsider = PrivateKey.derive("cairn-test/outsider")
    ev_out = DuplicateVote.of(
        sign_vote(outsider, CHAIN, PREVOTE, 4, 0, BLOCK, 1), sign_vote(outsider, CHAIN, PREVOTE, 4, 0, NIL, 1)
    )
    with pytest.raises(InvalidBlock) as exc:
        ev_out.verify(CHAIN, VALIDATORS)
    assert exc.value.details["reason"] == "not-validator"
    with pytest.raises(InvalidBlock) as exc:
        DuplicateVote(ev.second, ev.first).verify(CHAIN, VALIDATORS)
    assert exc.value.details["reason"] == "order"
