"""Each rule of Algorithm 1 (Buchman–Kwon–Milosevic 2018) as ``step`` implements it.

Four validators of power 1 unless said otherwise, so a quorum is 3 and "some
honest power" is 2.  With equal powers the proposer of round ``r`` at height 1 is
``K[r % 4]`` (address order).  The node under test is ``K[3]`` unless said
otherwise, so it does not propose in rounds 0–2.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from chain.block import PRECOMMIT, PREVOTE, Commit, Validator, ValidatorSet, sorted_sigs, verify_commit
from chain.consensus import (
    NIL,
    Action,
    Admission,
    BlockValidity,
    CommitBlock,
    CommitReceived,
    Config,
    Event,
    Evidence,
    NewHeight,
    ProposalReceived,
    ProposalValue,
    ProposerSchedule,
    Rejected,
    RequestProposalValue,
    Resume,
    RoundState,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    Step,
    TimeoutFired,
    Timeouts,
    ValidateBlock,
    VoteReceived,
    screen_proposal,
    sign_proposal,
    sign_vote,
    step,
)
from chain.consensus.state_machine import MAX_PROPOSAL_ROUNDS_AHEAD, MAX_ROUNDS_AHEAD
from chain.hashing import H
from chain.keys import PrivateKey
from chain.types import Address, Hash32

CHAIN = "cairn-test"
_keys = [PrivateKey.derive(f"cairn-test/consensus/{i}") for i in range(4)]
K = sorted(_keys, key=lambda k: bytes(k.address))
VS = ValidatorSet.of(Validator(k.address, k.public_key, 1) for k in K)
SCHEDULE = ProposerSchedule.initial(VS)
TIMEOUTS = Timeouts()
A, B = b"block A", b"block B"


def hash_of(block: bytes) -> Hash32:
    return Hash32(H(b"cairn-test/block", block))


HA, HB = hash_of(A), hash_of(B)


def new(me: int | None = 3, schedule: ProposerSchedule = SCHEDULE) -> tuple[RoundState, list[Action]]:
    config = Config(CHAIN, K[me].address if me is not None else None, TIMEOUTS)
    return step(RoundState.initial(config), NewHeight(1, schedule))


def feed(state: RoundState, *events: Event) -> tuple[RoundState, list[Action]]:
    out: list[Action] = []
    for e in events:
        state, acts = step(state, e)
        out.extend(acts)
    return state, out


def prevote(i: int, r: int, h: bytes, height: int = 1) -> VoteReceived:
    return VoteReceived(sign_vote(K[i], CHAIN, PREVOTE, height, r, h, 1000 + i))


def precommit(i: int, r: int, h: bytes, height: int = 1) -> VoteReceived:
    return VoteReceived(sign_vote(K[i], CHAIN, PRECOMMIT, height, r, h, 1000 + i))


def author(signer: int, block: bytes, pol: int) -> Address:
    """Who built ``block``: its signer for a fresh proposal; for a re-proposal, K0 (these
    tests' blocks are opaque, so the author is whatever the test says)."""
    return K[signer].address if pol == -1 else K[0].address


def proposal(r: int, block: bytes, pol: int = -1, signer: int | None = None) -> ProposalReceived:
    i = r % 4 if signer is None else signer
    return ProposalReceived(sign_proposal(K[i], CHAIN, 1, r, hash_of(block), pol), block, author(i, block, pol))


def valid(block: bytes, ok: bool = True) -> BlockValidity:
    return BlockValidity(1, hash_of(block), ok)


def votes(actions: list[Action]) -> list[SignVote]:
    return [a for a in actions if isinstance(a, SignVote)]


def timeouts(actions: list[Action]) -> list[ScheduleTimeout]:
    return [a for a in actions if isinstance(a, ScheduleTimeout)]


def to_next_round(s: RoundState, r: int) -> RoundState:
    """Precommits for nil from three others, then timeoutPrecommit: the way to round r + 1."""
    s, acts = feed(s, *(precommit(i, r, NIL) for i in (0, 1, 2) if i != 3))
    s, acts = feed(s, TimeoutFired(1, r, Step.PRECOMMIT))
    assert s.round == r + 1 and s.step == Step.PROPOSE
    return s


def locked_on_a_in_round_0() -> RoundState:
    s, _ = new()
    s, acts = feed(s, proposal(0, A), valid(A), prevote(0, 0, HA), prevote(1, 0, HA), prevote(2, 0, HA))
    assert votes(acts) == [SignVote(PREVOTE, 1, 0, HA), SignVote(PRECOMMIT, 1, 0, HA)]
    assert (s.locked_value, s.locked_round) == (HA, 0)
    return s


# --- StartRound and proposing (L11–21) ------------------------------------------------


def test_new_height_starts_round_zero_with_a_propose_timeout() -> None:
    s, acts = new()
    assert (s.height, s.round, s.step) == (1, 0, Step.PROPOSE)
    assert acts == [ScheduleTimeout(1, 0, Step.PROPOSE, 3000)]
    assert s.locked_round == s.valid_round == -1 and s.locked_value is s.valid_value is None


def test_proposer_asks_for_a_value_proposes_it_and_prevotes_it_when_it_comes_back() -> None:
    s, acts = new(me=0)
    assert acts == [RequestProposalValue(1, 0), ScheduleTimeout(1, 0, Step.PROPOSE, 3000)]
    s, acts = feed(s, ProposalValue(1, 0, HA, A))
    assert acts == [SignProposal(1, 0, HA, -1, A)]  # no ValidateBlock: the driver built it
    s, again = feed(s, ProposalValue(1, 0, HB, B))
    assert again == []  # one proposal per round
    s, acts = feed(s, proposal(0, A))
    assert acts == [SignVote(PREVOTE, 1, 0, HA)]


def test_a_follower_does_not_propose() -> None:
    s, acts = new(me=None)
    assert acts == [ScheduleTimeout(1, 0, Step.PROPOSE, 3000)]
    s, acts = feed(s, proposal(0, A), valid(A))
    assert votes(acts) == [] and s.step == Step.PREVOTE


# --- prevoting (L22–33, L57–60) -------------------------------------------------------


def test_prevote_a_valid_fresh_proposal_once_its_verdict_arrives() -> None:
    s, _ = new()
    s, acts = feed(s, proposal(0, A))
    assert acts == [ValidateBlock(1, HA, A)]
    assert s.step == Step.PROPOSE  # valid(v) not known yet
    s, acts = feed(s, valid(A))
    assert acts == [SignVote(PREVOTE, 1, 0, HA)]
    assert s.step == Step.PREVOTE


def test_prevote_nil_for_an_invalid_proposal() -> None:
    s, _ = new()
    s, acts = feed(s, proposal(0, A), valid(A, False))
    assert votes(acts) == [SignVote(PREVOTE, 1, 0, NIL)]


def test_timeout_propose_prevotes_nil_and_stale_timeouts_do_nothing() -> None:
    s, _ = new()
    for stale in (
        TimeoutFired(1, 1, Step.PROPOSE),
        TimeoutFired(2, 0, Step.PROPOSE),
        TimeoutFired(1, 0, Step.PREVOTE),
    ):
        assert feed(s, stale) == (s, [])
    s, acts = feed(s, TimeoutFired(1, 0, Step.PROPOSE))
    assert acts == [SignVote(PREVOTE, 1, 0, NIL)] and s.step == Step.PREVOTE
    assert feed(s, TimeoutFired(1, 0, Step.PROPOSE)) == (s, [])


def test_prevote_nil_when_locked_on_a_different_value() -> None:
    s = to_next_round(locked_on_a_in_round_0(), 0)
    s, acts = feed(s, proposal(1, B), valid(B))
    assert votes(acts) == [SignVote(PREVOTE, 1, 1, NIL)]


def test_prevote_the_locked_value_when_it_is_proposed_again() -> None:
    s = to_next_round(locked_on_a_in_round_0(), 0)
    s, acts = feed(s, proposal(1, A))
    assert votes(acts) == [SignVote(PREVOTE, 1, 1, HA)]


def test_unlock_for_a_reproposal_whose_polka_is_newer_than_the_lock() -> None:
    """L28–30: locked on A in round 0; B had a quorum of prevotes in round 1; B re-proposed in round 2."""
    s = locked_on_a_in_round_0()
    s = to_next_round(s, 0)
    s, acts = feed(
        s, TimeoutFired(1, 1, Step.PROPOSE), prevote(0, 1, HB), prevote(1, 1, HB), prevote(2, 1, HB)
    )
    assert votes(acts) == [SignVote(PREVOTE, 1, 1, NIL)]  # no proposal B in round 1: no relock
    assert (s.locked_value, s.locked_round) == (HA, 0)
    s, _ = feed(s, TimeoutFired(1, 1, Step.PREVOTE))
    s = to_next_round(s, 1)
    s, acts = feed(s, proposal(2, B, pol=1), valid(B))
    assert votes(acts) == [SignVote(PREVOTE, 1, 2, HB)]


def test_keep_the_lock_against_a_reproposal_with_an_older_polka() -> None:
    """L29 false: locked on A in round 1; B re-proposed with a polka from round 0 < lockedRound."""
    s, _ = new()
    s, _ = feed(s, TimeoutFired(1, 0, Step.PROPOSE), prevote(0, 0, HB), prevote(1, 0, HB), prevote(2, 0, HB))
    s, _ = feed(s, TimeoutFired(1, 0, Step.PREVOTE))
    s = to_next_round(s, 0)
    s, acts = feed(s, proposal(1, A), valid(A), prevote(0, 1, HA), prevote(1, 1, HA), prevote(2, 1, HA))
    assert (s.locked_value, s.locked_round) == (HA, 1)
    s = to_next_round(s, 1)
    s, acts = feed(s, proposal(2, B, pol=0), valid(B))
    assert votes(acts) == [SignVote(PREVOTE, 1, 2, NIL)]


def test_a_reproposal_waits_for_its_polka() -> None:
    s = to_next_round(locked_on_a_in_round_0(), 0)
    s = to_next_round(s, 1)
    s, acts = feed(s, proposal(2, B, pol=1), valid(B))
    assert votes(acts) == [] and s.step == Step.PROPOSE  # no quorum of round-1 prevotes for B yet
    s, acts = feed(s, prevote(0, 1, HB), prevote(1, 1, HB), prevote(2, 1, HB))
    assert votes(acts) == [SignVote(PREVOTE, 1, 2, HB)]


# --- locking, valid value, precommitting (L34–48) ---------------------------------------


def test_lock_and_precommit_on_a_quorum_of_prevotes() -> None:
    s, _ = new()
    s, acts = feed(s, proposal(0, A), valid(A), prevote(0, 0, HA), prevote(1, 0, HA))
    assert votes(acts) == [SignVote(PREVOTE, 1, 0, HA)] and s.locked_round == -1
    s, acts = feed(s, prevote(2, 0, HA))
    assert votes(acts) == [SignVote(PRECOMMIT, 1, 0, HA)]
    assert (s.locked_value, s.locked_round, s.valid_value, s.valid_round) == (HA, 0, HA, 0)
    assert s.step == Step.PRECOMMIT


def test_lock_even_after_prevoting_nil() -> None:
    s, _ = new()
    s, _ = feed(s, TimeoutFired(1, 0, Step.PROPOSE))
    s, acts = feed(s, proposal(0, A), valid(A), prevote(0, 0, HA), prevote(1, 0, HA), prevote(2, 0, HA))
    assert votes(acts) == [SignVote(PRECOMMIT, 1, 0, HA)] and s.locked_value == HA


def test_relock_on_a_newer_polka() -> None:
    s = to_next_round(locked_on_a_in_round_0(), 0)
    s, acts = feed(s, proposal(1, B), valid(B), prevote(0, 1, HB), prevote(1, 1, HB), prevote(2, 1, HB))
    assert votes(acts) == [SignVote(PREVOTE, 1, 1, NIL), SignVote(PRECOMMIT, 1, 1, HB)]
    assert (s.locked_value, s.locked_round, s.valid_value, s.valid_round) == (HB, 1, HB, 1)


def test_valid_value_without_a_lock_once_past_prevote() -> None:
    """L36 in step precommit: only validValue/validRound change."""
    s, _ = new()
    s, _ = feed(s, TimeoutFired(1, 0, Step.PROPOSE), proposal(0, A), valid(A))
    s, acts = feed(s, prevote(0, 0, HA), prevote(1, 0, HA), prevote(3, 0, NIL))
    assert timeouts(acts) == [ScheduleTimeout(1, 0, Step.PREVOTE, 1000)]
    s, acts = feed(s, TimeoutFired(1, 0, Step.PREVOTE))
    assert votes(acts) == [SignVote(PRECOMMIT, 1, 0, NIL)]
    s, acts = feed(s, prevote(2, 0, HA))
    assert votes(acts) == []
    assert (s.locked_value, s.locked_round, s.valid_value, s.valid_round) == (None, -1, HA, 0)


def test_proposer_reproposes_its_valid_value() -> None:
    """L15–16: the round-1 proposer (K[1]) locked on A in round 0 proposes A with validRound 0."""
    s, _ = new(me=1)
    s, acts = feed(s, proposal(0, A), valid(A), prevote(0, 0, HA), prevote(2, 0, HA), prevote(3, 0, HA))
    assert votes(acts)[-1] == SignVote(PRECOMMIT, 1, 0, HA)
    s, acts = feed(
        s,
        precommit(0, 0, NIL),
        precommit(2, 0, NIL),
        precommit(3, 0, NIL),
        TimeoutFired(1, 0, Step.PRECOMMIT),
    )
    assert [a for a in acts if isinstance(a, (SignProposal, RequestProposalValue))] == [
        SignProposal(1, 1, HA, 0, A)
    ]


def test_precommit_nil_on_a_quorum_of_nil_prevotes() -> None:
    s, _ = new()
    s, acts = feed(s, prevote(0, 0, NIL), prevote(1, 0, NIL), prevote(2, 0, NIL))
    assert votes(acts) == []  # still in propose: L44 needs step prevote
    s, acts = feed(s, TimeoutFired(1, 0, Step.PROPOSE))
    assert votes(acts) == [SignVote(PREVOTE, 1, 0, NIL), SignVote(PRECOMMIT, 1, 0, NIL)]


def test_prevote_timeout_on_a_mixed_quorum_once() -> None:
    s, _ = new()
    s, _ = feed(s, TimeoutFired(1, 0, Step.PROPOSE))
    s, acts = feed(s, prevote(0, 0, HA), prevote(1, 0, NIL), prevote(2, 0, HB), prevote(3, 0, NIL))
    assert timeouts(acts) == [ScheduleTimeout(1, 0, Step.PREVOTE, 1000)]
    s, acts = feed(s, TimeoutFired(1, 0, Step.PREVOTE))
    assert votes(acts) == [SignVote(PRECOMMIT, 1, 0, NIL)]


def test_precommit_timeout_on_a_mixed_quorum_then_next_round() -> None:
    s, _ = new()
    s, acts = feed(s, precommit(0, 0, HA), precommit(1, 0, NIL))
    assert timeouts(acts) == []
    s, acts = feed(s, precommit(2, 0, NIL), precommit(3, 0, HB))
    assert timeouts(acts) == [ScheduleTimeout(1, 0, Step.PRECOMMIT, 1000)]  # L47 in any step, once
    s, acts = feed(s, TimeoutFired(1, 0, Step.PRECOMMIT))
    assert (s.round, s.step) == (1, Step.PROPOSE)
    assert acts == [ScheduleTimeout(1, 1, Step.PROPOSE, 3500)]


def test_timeouts_grow_with_the_round() -> None:
    t = Timeouts(
        propose_ms=100,
        propose_delta_ms=10,
        prevote_ms=50,
        prevote_delta_ms=5,
        precommit_ms=60,
        precommit_delta_ms=6,
    )
    assert [t.for_step(Step.PROPOSE, r) for r in range(3)] == [100, 110, 120]
    assert t.for_step(Step.PREVOTE, 4) == 70 and t.for_step(Step.PRECOMMIT, 10) == 120
    s, _ = new()
    for r in range(3):
        s = to_next_round(s, r)
    assert timeouts(feed(s, TimeoutFired(1, 3, Step.PROPOSE))[1]) == []
    s, acts = feed(s, precommit(0, 3, NIL), precommit(1, 3, NIL), precommit(2, 3, NIL))
    assert timeouts(acts) == [ScheduleTimeout(1, 3, Step.PRECOMMIT, 1000 + 3 * 500)]


# --- deciding (L49–54) ----------------------------------------------------------------


def test_commit_on_a_quorum_of_precommits() -> None:
    s = locked_on_a_in_round_0()
    s, acts = feed(s, precommit(0, 0, HA), precommit(1, 0, HA))
    assert not any(isinstance(a, CommitBlock) for a in acts)
    s, acts = feed(s, precommit(2, 0, HA))
    [c] = [a for a in acts if isinstance(a, CommitBlock)]
    assert (c.height, c.round, c.block_hash, c.block) == (1, 0, HA, A)
    assert verify_commit(c.commit, chain_id=CHAIN, validators=VS, height=1, block_hash=HA) == 3
    assert s.step == Step.COMMIT and s.decision == c.commit
    assert feed(s, precommit(3, 0, HA)) == (s, [])  # decided: the height is over


def test_commit_waits_for_validity() -> None:
    s, _ = new()
    s, acts = feed(s, precommit(0, 0, HA), precommit(1, 0, HA), precommit(2, 0, HA), proposal(0, A))
    assert not any(isinstance(a, CommitBlock) for a in acts)
    s2, acts = feed(s, valid(A, False))
    assert s2.step != Step.COMMIT
    s, acts = feed(s, valid(A))
    assert [a.block_hash for a in acts if isinstance(a, CommitBlock)] == [HA]


def test_commit_in_a_later_round() -> None:
    """L49 for any round r: the node moved on to round 2, then the round-0 precommits arrive."""
    s, _ = new()
    s, _ = feed(s, proposal(0, A), valid(A))
    s = to_next_round(s, 0)
    s = to_next_round(s, 1)
    assert s.round == 2
    s, acts = feed(s, precommit(0, 0, HA), precommit(1, 0, HA), precommit(2, 0, HA))
    [c] = [a for a in acts if isinstance(a, CommitBlock)]
    assert c.commit.round == 0 and c.block_hash == HA
    verify_commit(c.commit, chain_id=CHAIN, validators=VS, height=1, block_hash=HA)


def test_a_commit_from_outside_decides_after_validity() -> None:
    sigs = sorted_sigs([sign_vote(K[i], CHAIN, PRECOMMIT, 1, 5, HB, 77).commit_sig() for i in (0, 1, 3)])
    commit = Commit(1, 5, HB, sigs)
    s, _ = new()
    s, acts = feed(s, CommitReceived(commit, B))
    assert acts == [ValidateBlock(1, HB, B)]
    s, acts = feed(s, valid(B))
    assert acts == [CommitBlock(1, 5, HB, B, commit)]
    s2, _ = new()
    short = Commit(1, 5, HB, sigs[:2])
    assert feed(s2, CommitReceived(short, B))[1] == [Rejected("bad-commit", None)]


# --- skipping ahead (L55–56) ----------------------------------------------------------


def test_skip_to_a_round_with_messages_from_more_than_a_third() -> None:
    s, _ = new()
    s, acts = feed(s, prevote(0, 5, NIL))
    assert s.round == 0 and acts == []  # 1 of 4
    s, acts = feed(s, precommit(1, 5, HA))
    assert (s.round, s.step) == (5, Step.PROPOSE)
    assert timeouts(acts) == [ScheduleTimeout(1, 5, Step.PROPOSE, 3000 + 5 * 500)]


def test_a_proposal_counts_towards_skipping() -> None:
    s, _ = new()
    s, acts = feed(s, proposal(1, A), prevote(2, 1, HA))
    assert s.round == 1


def test_a_proposal_beyond_the_round_window_is_ignored_until_its_round() -> None:
    """A proposal carries a block: one more than MAX_PROPOSAL_ROUNDS_AHEAD early is not kept (the
    state object is returned unchanged, so a driver stores nothing), and the same proposal is kept
    once its round is near."""
    s, _ = new()
    early = proposal(MAX_PROPOSAL_ROUNDS_AHEAD + 1, A)
    assert screen_proposal(s, early.proposal, early.author) == (Admission.IGNORE, "other-height-or-round")
    after, acts = step(s, early)
    assert after is s and acts == []
    s, _ = feed(s, TimeoutFired(1, 0, Step.PROPOSE), *(prevote(i, 0, NIL) for i in range(4)),
                *(precommit(i, 0, NIL) for i in range(4)), TimeoutFired(1, 0, Step.PRECOMMIT))
    assert s.round == 1
    assert screen_proposal(s, early.proposal, early.author) == (Admission.KEEP, "")
    s, acts = feed(s, early)
    assert s.proposals_in(early.proposal.round) == (early.proposal,)


def test_a_fresh_proposal_must_carry_its_signers_block_but_a_re_proposal_need_not() -> None:
    """L19 proposes a block the proposer built; L16 re-proposes validValue, which an earlier round's
    proposer built.  Refusing the second as "not the signer's block" banned honest proposers."""
    s, _ = new()
    fresh_of_another = ProposalReceived(proposal(0, A).proposal, A, K[3].address)
    after, acts = step(s, fresh_of_another)
    assert after is s and acts == [Rejected("fresh-proposal-of-another-block", K[0].address)]
    s, _ = feed(s, proposal(0, A), valid(A), *(prevote(i, 0, HA) for i in range(4)))  # a polka for A ...
    assert (s.valid_value, s.valid_round) == (HA, 0)
    s, _ = feed(s, *(precommit(i, 0, NIL) for i in range(3)), precommit(3, 0, HA),  # ... but no commit
                TimeoutFired(1, 0, Step.PRECOMMIT))
    assert s.round == 1
    reproposal = ProposalReceived(sign_proposal(K[1], CHAIN, 1, 1, HA, 0), A, K[0].address)
    assert screen_proposal(s, reproposal.proposal, reproposal.author) == (Admission.KEEP, "")
    s, acts = feed(s, reproposal)
    assert s.proposals_in(1) == (reproposal.proposal,)


def test_exactly_one_third_does_not_skip() -> None:
    powers = {bytes(k.address): p for k, p in zip(_keys, (1, 1, 1, 3), strict=True)}
    vs = ValidatorSet.of(Validator(k.address, k.public_key, powers[bytes(k.address)]) for k in K)
    small = [i for i in range(4) if vs.get(K[i].address).power == 1]  # type: ignore[union-attr]
    me = next(i for i in range(4) if i not in small[:2])
    s, _ = new(me=me, schedule=ProposerSchedule.initial(vs))
    s, _ = feed(s, prevote(small[0], 2, NIL), prevote(small[1], 2, NIL))
    assert s.round == 0  # 2 of 6 is not more than 1/3
    s, _ = feed(s, precommit(next(i for i in range(4) if i not in (small[0], small[1], me)), 2, NIL))
    assert s.round == 2


def test_messages_too_far_ahead_are_ignored() -> None:
    s, _ = new()
    far = MAX_ROUNDS_AHEAD + 1
    assert feed(s, prevote(0, far, NIL), prevote(1, far, NIL)) == (s, [])


# --- checking messages, evidence --------------------------------------------------------


def test_double_sign_yields_evidence_once_and_both_votes_count() -> None:
    s, _ = new()
    s, acts = feed(s, prevote(0, 0, HA))
    s, acts = feed(s, prevote(0, 0, HB))
    [ev] = [a for a in acts if isinstance(a, Evidence)]
    assert ev.evidence.verify(CHAIN, VS).address == K[0].address
    vs = s.vote_set(0, PREVOTE)
    assert (vs.power, vs.power_for(HA), vs.power_for(HB)) == (1, 1, 1)
    s, acts = feed(s, prevote(0, 0, NIL))
    assert acts == [] and s.vote_set(0, PREVOTE).power_for(NIL) == 0  # a third value is dropped
    s, acts = feed(s, precommit(0, 0, HA), precommit(0, 0, NIL))
    assert len([a for a in acts if isinstance(a, Evidence)]) == 1  # another type: another offence


def test_duplicates_change_nothing() -> None:
    s, _ = new()
    s, _ = feed(s, proposal(0, A), prevote(1, 0, HA))
    assert feed(s, proposal(0, A), prevote(1, 0, HA)) == (s, [])
    resigned = VoteReceived(sign_vote(K[1], CHAIN, PREVOTE, 1, 0, HA, 999_999))  # another time, same vote
    assert feed(s, resigned) == (s, [])


def test_bad_messages_are_rejected_with_a_reason() -> None:
    s, _ = new()
    forged = replace(prevote(0, 0, HA).vote, time_ms=1)
    outsider = PrivateKey.derive("cairn-test/outsider")
    stranger = VoteReceived(sign_vote(outsider, CHAIN, PREVOTE, 1, 0, HA, 1))
    wrong = proposal(0, A, signer=1)
    bad_pol = ProposalReceived(replace(proposal(1, A).proposal, pol_round=1), A, K[1].address)
    s2, acts = feed(s, VoteReceived(forged), stranger, wrong, bad_pol)
    assert [a.reason for a in acts if isinstance(a, Rejected)] == [
        "bad-signature",
        "not-a-validator",
        "wrong-proposer",
        "bad-pol-round",
    ]
    assert s2.votes == () and s2.proposals == ()


def test_other_heights_are_ignored() -> None:
    s, _ = new()
    assert feed(s, prevote(0, 0, HA, height=2), precommit(1, 0, HA, height=0)) == (s, [])
    assert feed(s, BlockValidity(2, HA, True), TimeoutFired(2, 0, Step.PROPOSE)) == (s, [])


def test_new_height_resets_the_height() -> None:
    s = locked_on_a_in_round_0()
    s, acts = feed(s, NewHeight(2, SCHEDULE.next_height()))
    assert (s.height, s.round, s.step, s.locked_round, s.votes, s.proposals) == (
        2,
        0,
        Step.PROPOSE,
        -1,
        (),
        (),
    )
    assert feed(s, NewHeight(2, SCHEDULE.next_height())) == (s, [])  # replayed


# --- restarts ------------------------------------------------------------------------


def test_resume_reissues_what_a_crash_may_have_lost() -> None:
    s, _ = new()
    s, _ = feed(s, proposal(0, A))
    assert feed(s, Resume())[1] == [ValidateBlock(1, HA, A), ScheduleTimeout(1, 0, Step.PROPOSE, 3000)]
    s, acts = feed(s, valid(A))
    intent = SignVote(PREVOTE, 1, 0, HA)
    assert acts == [intent]
    assert feed(s, Resume())[1] == [intent]  # not signed-and-back yet
    s, _ = feed(s, VoteReceived(sign_vote(K[3], CHAIN, PREVOTE, 1, 0, HA, 5)))
    assert feed(s, Resume())[1] == []
    s, _ = feed(s, prevote(0, 0, NIL), prevote(1, 0, NIL))
    assert feed(s, Resume())[1] == [ScheduleTimeout(1, 0, Step.PREVOTE, 1000)]


def test_resume_after_deciding_reissues_the_commit() -> None:
    s = locked_on_a_in_round_0()
    s, acts = feed(s, precommit(0, 0, HA), precommit(1, 0, HA), precommit(2, 0, HA))
    [c] = [a for a in acts if isinstance(a, CommitBlock)]
    assert feed(s, Resume())[1] == [c]


def test_resume_asks_again_for_a_lost_proposal_value() -> None:
    s, _ = new(me=0)
    assert feed(s, Resume())[1] == [RequestProposalValue(1, 0), ScheduleTimeout(1, 0, Step.PROPOSE, 3000)]


# --- properties over random schedules -----------------------------------------------------


def _event_pool() -> list[Event]:
    pool: list[Event] = []
    for r in range(3):
        for i in range(4):
            for h in (HA, HB, NIL):
                pool.append(prevote(i, r, h))
                pool.append(precommit(i, r, h))
        for block in (A, B):
            for pol in range(-1, r):
                pool.append(proposal(r, block, pol))
        for st_ in (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT):
            pool.append(TimeoutFired(1, r, st_))
    pool += [valid(A), valid(B), valid(B, False), Resume()]
    return pool


POOL = _event_pool()


@given(st.lists(st.integers(0, len(POOL) - 1), max_size=60), st.sampled_from([0, 1, 3, None]))
def test_invariants_over_random_event_orders(picks: list[int], me: int | None) -> None:
    """One vote intent per (round, type), one proposal per round; rounds only grow; valid ≥ locked; deterministic."""
    s, acts = new(me=me)
    s_again, _ = new(me=me)
    seen_votes: dict[tuple[int, int], bytes] = {}
    seen_props: set[int] = set()
    last_round, decided = 0, 0
    for k in picks:
        before = s
        s, acts = step(s, POOL[k])
        assert step(before, POOL[k]) == (s, acts)
        resumed = isinstance(POOL[k], Resume)
        for a in acts:
            if isinstance(a, SignVote):
                key = (a.round, a.type)
                assert seen_votes.get(key, a.block_hash) == a.block_hash
                assert resumed or key not in seen_votes, "a second intent for one (round, type)"
                seen_votes[key] = a.block_hash
            if isinstance(a, SignProposal):
                assert resumed or a.round not in seen_props
                seen_props.add(a.round)
            if isinstance(a, CommitBlock):
                decided += 0 if resumed else 1
                verify_commit(a.commit, chain_id=CHAIN, validators=VS, height=1, block_hash=a.block_hash)
        assert s.round >= last_round
        last_round = s.round
        assert s.valid_round >= s.locked_round
        assert s.locked_round <= s.round
        if me is None:
            assert not any(isinstance(a, (SignVote, SignProposal)) for a in acts)
    assert decided <= 1


# --- four machines: the fork that locking prevents -------------------------------------------


def _sign_all(i: int, acts: list[Action]) -> list[Event]:
    """What validator ``i``'s driver broadcasts for the intents in ``acts``."""
    out: list[Event] = []
    for a in acts:
        if isinstance(a, SignVote):
            out.append(VoteReceived(sign_vote(K[i], CHAIN, a.type, a.height, a.round, a.block_hash, 1)))
        elif isinstance(a, SignProposal):
            out.append(
                ProposalReceived(
                    sign_proposal(K[i], CHAIN, a.height, a.round, a.block_hash, a.pol_round), a.block,
                    author(i, a.block, a.pol_round),
                )
            )
    return out


def test_locks_prevent_the_classic_fork() -> None:
    """K0 commits A in round 0 while K2 and K3, locked on A, miss the precommits and move to round 1.

    K1, the round-1 proposer, never saw the polka for A, so it proposes a fresh B.  Were K2 and K3 to
    prevote B (no locks), B would gather K1+K2+K3 — a quorum — and a fork would follow.  Locked, they
    prevote nil; a commit for A from K0 then finalizes A everywhere.
    """
    nodes = {i: new(me=i)[0] for i in range(4)}

    def deliver(i: int, *events: Event) -> list[Action]:
        nodes[i], acts = feed(nodes[i], *events)
        return acts

    # round 0: K0 proposes A; everyone prevotes it
    nodes[0], acts = feed(nodes[0], ProposalValue(1, 0, HA, A))
    [prop] = _sign_all(0, acts)
    prevotes: dict[int, list[Event]] = {}
    for i in range(4):
        prevotes[i] = _sign_all(i, deliver(i, prop, valid(A)) if i else deliver(i, prop))
    # K0, K2, K3 see all prevotes and lock; K1 sees only its own and K0's, and times out to precommit nil
    precommits: dict[int, list[Event]] = {}
    for i in (0, 2, 3):
        precommits[i] = _sign_all(i, deliver(i, *(e for j in range(4) for e in prevotes[j])))
        assert nodes[i].locked_value == HA
    deliver(1, *prevotes[1], *prevotes[0])
    precommits[1] = _sign_all(1, deliver(1, TimeoutFired(1, 0, Step.PREVOTE)))
    assert nodes[1].locked_value is None and nodes[1].valid_value is None
    # K0 gets the three precommits for A and commits; K2, K3 get only their own and K1's nil
    [decision] = [
        a for a in deliver(0, *precommits[0], *precommits[2], *precommits[3]) if isinstance(a, CommitBlock)
    ]
    for i in (1, 2, 3):  # K1, K2, K3 see a quorum of precommits (nil, A, A) but not K0's A
        deliver(i, *(e for j in (1, 2, 3) for e in precommits[j]), TimeoutFired(1, 0, Step.PRECOMMIT))
        assert nodes[i].round == 1
    # round 1: K1 proposes a fresh B; K2 and K3 stay with their lock
    [fresh] = _sign_all(1, deliver(1, ProposalValue(1, 1, HB, B)))
    assert isinstance(fresh, ProposalReceived) and fresh.proposal.pol_round == -1
    for i in (2, 3):
        assert votes(deliver(i, fresh, valid(B))) == [SignVote(PREVOTE, 1, 1, NIL)]
    # the commit reaches them: A is final everywhere
    for i in (1, 2, 3):
        acts = deliver(i, CommitReceived(decision.commit, A))
        if nodes[i].step != Step.COMMIT:
            acts += deliver(i, valid(A))
        assert [a.block_hash for a in acts if isinstance(a, CommitBlock)] == [HA]
