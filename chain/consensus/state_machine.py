"""Tendermint consensus for one validator as a pure step function (ARCHITECTURE §5).

``step(state, event) -> (state, actions)`` runs Algorithm 1 of Buchman, Kwon and
Milosevic, "The latest gossip on BFT consensus" (2018; "the paper" below, lines
cited as ``L22`` etc.).  It does no I/O, reads no clock and draws no randomness:
the same states and events always give the same results, so a driver can log
every event to a write-ahead log, replay it after a crash, and the network
simulator in the tests can run many validators from one seed.

Terms.  With ``total`` the voting power of the height's validator set, a
*quorum* (the paper's ``2f + 1``) is more than 2/3 of it (``3 × power > 2 ×
total``) and *some honest power* (the paper's ``f + 1``) is more than 1/3
(``3 × power > total``); integers only.  Power is counted once per distinct
validator.  ``v`` is a block (opaque bytes here) and ``id(v)`` its hash;
a nil vote names ``NIL``.  ``valid(v)`` is the driver's verdict (see below).

The rules, in the order ``step`` tries them after every event (each "upon" below
fires at most as the paper allows; ``step`` repeats until none fires):

* StartRound(r) (L11–21): ``round ← r``, ``step ← propose``.  The proposer of
  ``(height, r)`` (``ProposerSchedule.proposer``) re-proposes ``validValue`` with
  ``validRound`` as ``pol_round`` if it has one (L15–16), else asks the driver for
  a new block (``RequestProposalValue``, L18).  Everyone schedules
  ``timeoutPropose(r)`` (L21; the proposer too, as CometBFT does, so a proposer
  whose block never arrives still moves on).
* Decide (L49–54): a proposal's block ``v`` in any round ``r`` with a quorum of
  precommits for ``id(v)`` in ``r`` and ``valid(v)``: emit ``CommitBlock`` with the
  ``chain.block.Commit`` made of those precommits, ``step ← commit``.  Deviation
  (safe): the block's bytes may come from the proposal of any round of this
  height, not only round ``r``'s — the precommits are the certificate, the
  proposal only supplies the bytes.  A ``CommitReceived`` event (a commit that
  ``chain.block.verify_commit`` accepts, e.g. from block sync or a peer that has
  moved on) decides the same way.
* Skip ahead (L55–56): messages of any kind (proposal, prevotes, precommits) of
  one round ``r > round`` whose distinct senders hold some honest power:
  StartRound(r), for the highest such ``r``.
* Prevote (L22–27): the proposal of this round with ``pol_round = -1``: prevote
  ``id(v)`` if ``valid(v)`` and (``lockedRound = -1`` or ``lockedValue = v``), else
  nil; ``step ← prevote``.
* Prevote a re-proposal (L28–33): the proposal of this round with
  ``0 ≤ pol_round = vr < round`` and a quorum of prevotes for ``id(v)`` in ``vr``:
  prevote ``id(v)`` if ``valid(v)`` and (``lockedRound ≤ vr`` or ``lockedValue =
  v``), else nil; ``step ← prevote``.
* Lock (L36–43), once per round: the proposal ``v`` of this round, a quorum of
  prevotes for ``id(v)`` in this round and ``valid(v)``, while ``step ≥ prevote``:
  if ``step = prevote``, ``lockedValue ← v``, ``lockedRound ← round``, precommit
  ``id(v)``, ``step ← precommit``; in either step ``validValue ← v``,
  ``validRound ← round``.
* Precommit nil (L44–46): a quorum of nil prevotes in this round while
  ``step = prevote``: precommit nil, ``step ← precommit``.
* ``timeoutPrevote`` (L34–35), once per round: a quorum of prevotes for anything
  in this round while ``step = prevote``.
* ``timeoutPrecommit`` (L47–48), once per round: a quorum of precommits for
  anything in this round, in any step.
* On timeouts (L57–67): ``timeoutPropose(h, r)`` in step propose of ``(h, r)``:
  prevote nil; ``timeoutPrevote(h, r)`` in step prevote: precommit nil;
  ``timeoutPrecommit(h, r)`` in round ``r``: StartRound(r + 1).
* Unlocking is implicit, as in the paper: a validator locked on ``v`` in round
  ``lr`` prevotes for a different value only for a re-proposal whose prevote
  quorum is from a round ``vr ≥ lr`` (L29), and relocks when it sees a quorum of
  prevotes for a value in a later round (L36–41).

Timeouts grow linearly with the round: ``timeout(step, r) = base(step) +
r × delta(step)`` integer milliseconds (``Timeouts``), so after the network
heals some round is long enough for every honest validator to hear every other.

The contract with the driver (``node/`` or the simulator):

* **Blocks are opaque.**  A proposal carries ``block_hash``; its bytes travel in
  the same ``ProposalReceived`` event.  The driver checks that the bytes hash to
  ``block_hash`` before stepping (a mismatch is a malformed message that never
  reaches ``step``), so a verdict is a property of the hash.
* **Validity is asked for.**  The first time a block is seen the machine emits
  ``ValidateBlock``; the driver answers with ``BlockValidity`` (for Cairn:
  ``apply_block`` on top of the parent succeeds).  Until the verdict arrives no
  rule that needs ``valid(v)`` fires for ``v`` — exactly as if the block had
  arrived later — so a slow execution can only cost a round, never safety.
  The block the driver itself built (``ProposalValue``) counts as valid.
* **Signing is the driver's.**  The machine emits *intents*, ``SignProposal`` and
  ``SignVote``, and never holds a key.  For each, the driver signs (adding the
  vote's ``time_ms`` from its clock), persists the last signed
  ``(height, round, step)`` and the signature *before* releasing it, broadcasts
  it, and delivers it back to this machine as ``ProposalReceived`` /
  ``VoteReceived`` (a validator's own messages count only when they come back).
  The machine emits at most one vote intent per ``(height, round, type)`` and one
  proposal intent per ``(height, round)``, so a signer that refuses to sign a
  second, different message for an ``(height, round, step)`` it already signed
  never refuses an honest request; asked again for the same one (after a
  restart) it re-releases the stored signature.
* **Heights are the driver's.**  After ``CommitBlock`` the driver stores and
  applies the block and then sends ``NewHeight`` with the next height's
  ``ProposerSchedule``.  Messages for other heights are ignored; the driver's
  gossip re-sends what a peer lacks (and a ``Commit`` to a peer that is behind).
* **Restarts.**  After replaying its WAL the driver sends ``Resume``: the machine
  re-emits what may have been lost with the process — the pending timeouts of
  the current round, unanswered validity and value requests, this round's sign
  intents whose messages have not come back, and the ``CommitBlock`` of a
  decided height.

* **Kept or not is visible.**  A vote or proposal that ``step`` does not keep
  (``screen_vote`` / ``screen_proposal`` say why: ``IGNORE`` for what an honest peer
  can send — another height, a copy — and ``REJECT``, with a ``Rejected`` action, for
  a fault no honest validator commits) leaves the state object *unchanged* (the same
  object is returned).  A driver therefore writes an input to its WAL only when the
  returned state is a new object: nothing unverified or ignored is ever stored.  The
  screens are pure, so the driver also runs them before it queues a message.

Bounds, against a faulty validator filling memory: votes more than
``MAX_ROUNDS_AHEAD`` rounds (proposals, which carry blocks, more than
``MAX_PROPOSAL_ROUNDS_AHEAD``) above the current round are ignored; per validator,
round and type at most ``MAX_VOTES_PER_SIGNER`` votes (the first and one
conflicting one, which together are the evidence) are kept, and per round at
most ``MAX_PROPOSALS_PER_ROUND`` proposals.  A validator's vote for each value it
signed counts for that value (a double signer can add to two quorums; with less
than 1/3 of the power faulty that cannot make two quorums for different values
in one round).  Two conflicting votes from one validator produce one ``Evidence``
action per ``(validator, round, type)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from chain.block import PRECOMMIT, PREVOTE, Commit, Validator, ValidatorSet, sorted_sigs, verify_commit
from chain.consensus.proposer import ProposerSchedule, select
from chain.consensus.types import NIL, DuplicateVote, Proposal, Vote
from chain.errors import InvalidBlock
from chain.types import Address, Hash32

MAX_ROUNDS_AHEAD = 100
"""Messages for a round more than this above the current one are ignored."""
MAX_VOTES_PER_SIGNER = 2
"""Votes kept per validator, round and type: the first and one conflicting."""
MAX_PROPOSALS_PER_ROUND = 2
"""Proposals kept per round: the proposer's first and one conflicting."""
MAX_PROPOSAL_ROUNDS_AHEAD = 1
"""Proposals for a round more than this above the current one are ignored.  A proposal
carries a whole block, so this bounds what a proposer can make a validator hold (and its
driver write ahead) per height to two blocks per round it has reached; a proposal ignored
for being early arrives again by gossip once the round is reached."""


class Step(enum.IntEnum):
    """Where a validator is within a height."""

    NEW_HEIGHT = 0
    """Before the first ``NewHeight``."""
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3
    COMMIT = 4
    """Decided; waiting for the driver's ``NewHeight``."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """``timeout(step, round) = base + round × delta``, integer milliseconds (L21, L35, L48)."""

    propose_ms: int = 3000
    propose_delta_ms: int = 500
    prevote_ms: int = 1000
    prevote_delta_ms: int = 500
    precommit_ms: int = 1000
    precommit_delta_ms: int = 500

    def for_step(self, step: Step, round_: int) -> int:
        """The timeout for ``step`` in round ``round_``."""
        if step == Step.PROPOSE:
            return self.propose_ms + round_ * self.propose_delta_ms
        if step == Step.PREVOTE:
            return self.prevote_ms + round_ * self.prevote_delta_ms
        if step == Step.PRECOMMIT:
            return self.precommit_ms + round_ * self.precommit_delta_ms
        raise ValueError(f"no timeout for step {step!r}")


@dataclass(frozen=True, slots=True)
class Config:
    """What does not change from height to height."""

    chain_id: str
    address: Address | None
    """This node's validator address; ``None`` for a node that only follows."""
    timeouts: Timeouts = field(default_factory=Timeouts)


# --- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewHeight:
    """Start ``height`` (the driver has applied the previous block)."""

    height: int
    schedule: ProposerSchedule
    """The validator set of ``height`` and its proposer priorities."""

    @property
    def validators(self) -> ValidatorSet:
        return self.schedule.validators


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A signed proposal and the block it names; ``block`` must hash to ``proposal.block_hash``."""

    proposal: Proposal
    block: bytes
    author: Address
    """Who the block says built it (Cairn: its header's ``proposer``), read by the driver from
    the bytes: a fresh proposal must carry a block its signer built (``screen_proposal``)."""


@dataclass(frozen=True, slots=True)
class VoteReceived:
    """A signed prevote or precommit (a peer's, or this node's own coming back)."""

    vote: Vote


@dataclass(frozen=True, slots=True)
class CommitReceived:
    """A commit for this height and the block it commits (``block`` hashes to ``commit.block_hash``)."""

    commit: Commit
    block: bytes


@dataclass(frozen=True, slots=True)
class TimeoutFired:
    """A timeout scheduled by ``ScheduleTimeout`` expired."""

    height: int
    round: int
    step: Step


@dataclass(frozen=True, slots=True)
class BlockValidity:
    """The driver's answer to ``ValidateBlock``."""

    height: int
    block_hash: Hash32
    valid: bool


@dataclass(frozen=True, slots=True)
class ProposalValue:
    """The driver's answer to ``RequestProposalValue``: a block it built (and vouches for)."""

    height: int
    round: int
    block_hash: Hash32
    block: bytes


@dataclass(frozen=True, slots=True)
class Resume:
    """The driver restarted from this state; re-emit what may have been lost."""


Event = (
    NewHeight
    | ProposalReceived
    | VoteReceived
    | CommitReceived
    | TimeoutFired
    | BlockValidity
    | ProposalValue
    | Resume
)


# --- actions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignProposal:
    """Intent: sign, persist, broadcast and loop back this proposal, with ``block`` beside it."""

    height: int
    round: int
    block_hash: Hash32
    pol_round: int
    block: bytes


@dataclass(frozen=True, slots=True)
class SignVote:
    """Intent: sign (adding ``time_ms``), persist, broadcast and loop back this vote."""

    type: int
    height: int
    round: int
    block_hash: Hash32


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Deliver ``TimeoutFired(height, round, step)`` after ``ms`` milliseconds."""

    height: int
    round: int
    step: Step
    ms: int


@dataclass(frozen=True, slots=True)
class RequestProposalValue:
    """Build a block for ``height`` and answer with ``ProposalValue``."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class ValidateBlock:
    """Check ``block`` for ``height`` and answer with ``BlockValidity``."""

    height: int
    block_hash: Hash32
    block: bytes


@dataclass(frozen=True, slots=True)
class CommitBlock:
    """``block`` is final at ``height``; ``commit`` (which ``verify_commit`` accepts) proves it."""

    height: int
    round: int
    block_hash: Hash32
    block: bytes
    commit: Commit


@dataclass(frozen=True, slots=True)
class Evidence:
    """A validator signed two conflicting votes; gossip it and include it in a block."""

    evidence: DuplicateVote


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message failed a check (``reason``); the driver may score the peer that sent it."""

    reason: str
    sender: Address | None


Action = (
    SignProposal
    | SignVote
    | ScheduleTimeout
    | RequestProposalValue
    | ValidateBlock
    | CommitBlock
    | Evidence
    | Rejected
)


# --- state --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoteSet:
    """The votes of one type in one round, with their tallies."""

    round: int
    type: int
    votes: tuple[Vote, ...] = ()
    """In arrival order; at most ``MAX_VOTES_PER_SIGNER`` per validator."""
    power: int = 0
    """The power of the distinct validators that voted (for anything)."""
    tallies: tuple[tuple[Hash32, int], ...] = ()
    """``(block_hash, power)`` for every value voted for, in first-seen order."""

    def power_for(self, block_hash: bytes) -> int:
        for h, p in self.tallies:
            if h == block_hash:
                return p
        return 0

    def by(self, validator: bytes) -> tuple[Vote, ...]:
        return tuple(v for v in self.votes if v.validator == validator)

    def added(self, vote: Vote, power: int, *, new_signer: bool) -> VoteSet:
        tallies = list(self.tallies)
        for i, (h, p) in enumerate(tallies):
            if h == vote.block_hash:
                tallies[i] = (h, p + power)
                break
        else:
            tallies.append((vote.block_hash, power))
        return replace(
            self,
            votes=self.votes + (vote,),
            power=self.power + (power if new_signer else 0),
            tallies=tuple(tallies),
        )


Intent = SignProposal | SignVote

_L34, _L36, _L47 = 34, 36, 47  # "for the first time" rules, remembered per round


@dataclass(frozen=True, slots=True)
class RoundState:
    """Everything one validator knows about the current height: a value, changed only by ``step``."""

    config: Config
    height: int = 0
    round: int = 0
    step: Step = Step.NEW_HEIGHT
    schedule: ProposerSchedule | None = None
    locked_value: Hash32 | None = None
    locked_round: int = -1
    valid_value: Hash32 | None = None
    valid_round: int = -1
    proposals: tuple[Proposal, ...] = ()
    """Verified proposals from each round's proposer, in arrival order."""
    blocks: tuple[tuple[Hash32, bytes], ...] = ()
    """The bytes of every block named by a kept proposal, a commit or our own value."""
    verdicts: tuple[tuple[Hash32, bool], ...] = ()
    """``valid(v)`` for the blocks the driver has judged."""
    votes: tuple[VoteSet, ...] = ()
    fired: frozenset[tuple[int, int]] = frozenset()
    """``(round, rule)`` for the once-per-round rules L34, L36 and L47."""
    intents: tuple[Intent, ...] = ()
    """What this node asked its driver to sign at this height."""
    evidenced: frozenset[tuple[Address, int, int]] = frozenset()
    """``(validator, round, type)`` already reported as double signs."""
    certificate: Commit | None = None
    """A verified commit for this height received from outside (``CommitReceived``)."""
    decision: Commit | None = None
    proposer_order: tuple[int, ...] = ()
    """Cache: the proposer's index for rounds ``0 … len − 1`` of this height."""
    proposer_cursor: tuple[int, ...] = ()
    """Cache: the priorities after the last step in ``proposer_order``."""

    @classmethod
    def initial(cls, config: Config) -> RoundState:
        """The state before the first ``NewHeight``."""
        return cls(config)

    @property
    def validators(self) -> ValidatorSet:
        if self.schedule is None:
            raise ValueError("no height started yet")
        return self.schedule.validators

    def vote_set(self, round_: int, vote_type: int) -> VoteSet:
        """The votes of ``vote_type`` in ``round_`` (empty if none)."""
        for vs in self.votes:
            if vs.round == round_ and vs.type == vote_type:
                return vs
        return VoteSet(round_, vote_type)

    def block(self, block_hash: bytes) -> bytes | None:
        for h, b in self.blocks:
            if h == block_hash:
                return b
        return None

    def verdict(self, block_hash: bytes) -> bool | None:
        for h, ok in self.verdicts:
            if h == block_hash:
                return ok
        return None

    def proposals_in(self, round_: int) -> tuple[Proposal, ...]:
        return tuple(p for p in self.proposals if p.round == round_)


# --- the step function --------------------------------------------------------------


def step(state: RoundState, event: Event) -> tuple[RoundState, list[Action]]:
    """Apply one event; return the new state and what the driver must do, in order."""
    actions: list[Action] = []
    if isinstance(event, NewHeight):
        state = _on_new_height(state, event, actions)
    elif isinstance(event, Resume):
        state = _on_resume(state, actions)
        return state, actions
    elif state.step in (Step.NEW_HEIGHT, Step.COMMIT):
        return state, actions
    elif isinstance(event, VoteReceived):
        state = _on_vote(state, event.vote, actions)
    elif isinstance(event, ProposalReceived):
        state = _on_proposal(state, event, actions)
    elif isinstance(event, TimeoutFired):
        state = _on_timeout(state, event, actions)
    elif isinstance(event, BlockValidity):
        state = _on_validity(state, event)
    elif isinstance(event, ProposalValue):
        state = _on_proposal_value(state, event, actions)
    elif isinstance(event, CommitReceived):
        state = _on_commit_received(state, event, actions)
    else:  # pragma: no cover - the Event union is closed
        raise TypeError(f"unknown event {event!r}")
    return _run_rules(state, actions), actions


def _quorum(power: int, total: int) -> bool:
    """More than 2/3 of the voting power (the paper's 2f + 1)."""
    return 3 * power > 2 * total


def _some_honest(power: int, total: int) -> bool:
    """More than 1/3 of the voting power (the paper's f + 1)."""
    return 3 * power > total


def _me(s: RoundState) -> Validator | None:
    """This node's entry in the current validator set, if it is a validator."""
    a = s.config.address
    return None if a is None else s.validators.get(a)


def _proposer(s: RoundState, round_: int) -> tuple[RoundState, Validator]:
    """``proposer(height, round_)``, extending the per-height cache as needed."""
    vs = s.validators
    if round_ < len(s.proposer_order):
        return s, vs.validators[s.proposer_order[round_]]
    order = list(s.proposer_order)
    prio = s.proposer_cursor
    while len(order) <= round_:
        index, prio = select(vs, prio)
        order.append(index)
    s = replace(s, proposer_order=tuple(order), proposer_cursor=prio)
    return s, vs.validators[order[round_]]


def _intend(s: RoundState, intent: Intent, acts: list[Action]) -> RoundState:
    acts.append(intent)
    return replace(s, intents=s.intents + (intent,))


def _schedule(s: RoundState, step_: Step, acts: list[Action]) -> None:
    acts.append(ScheduleTimeout(s.height, s.round, step_, s.config.timeouts.for_step(step_, s.round)))


def _store_block(s: RoundState, block_hash: Hash32, block: bytes, acts: list[Action]) -> RoundState:
    """Keep a block's bytes and ask for its verdict the first time it is seen."""
    if s.block(block_hash) is not None:
        return s
    s = replace(s, blocks=s.blocks + ((block_hash, block),))
    if s.verdict(block_hash) is None:
        acts.append(ValidateBlock(s.height, block_hash, block))
    return s


def _put_vote_set(s: RoundState, vs: VoteSet) -> RoundState:
    sets = list(s.votes)
    for i, old in enumerate(sets):
        if old.round == vs.round and old.type == vs.type:
            sets[i] = vs
            break
    else:
        sets.append(vs)
    return replace(s, votes=tuple(sets))


def _start_round(s: RoundState, round_: int, acts: list[Action]) -> RoundState:
    """StartRound (L11–21)."""
    s = replace(s, round=round_, step=Step.PROPOSE)
    me = _me(s)
    if me is not None:
        s, proposer = _proposer(s, round_)
        if proposer.address == me.address:
            s = _propose(s, acts)
    _schedule(s, Step.PROPOSE, acts)
    return s


def _propose(s: RoundState, acts: list[Action]) -> RoundState:
    """L15–19: re-propose ``validValue`` or ask the driver for a new block."""
    if s.valid_value is not None:
        block = s.block(s.valid_value)
        assert block is not None, "validValue is always a kept block"
        return _intend(s, SignProposal(s.height, s.round, s.valid_value, s.valid_round, block), acts)
    acts.append(RequestProposalValue(s.height, s.round))
    return s


def _prevote(s: RoundState, block_hash: Hash32, acts: list[Action]) -> RoundState:
    if _me(s) is not None:
        s = _intend(s, SignVote(PREVOTE, s.height, s.round, block_hash), acts)
    return replace(s, step=Step.PREVOTE)


def _precommit(s: RoundState, block_hash: Hash32, acts: list[Action]) -> RoundState:
    if _me(s) is not None:
        s = _intend(s, SignVote(PRECOMMIT, s.height, s.round, block_hash), acts)
    return replace(s, step=Step.PRECOMMIT)


# --- event handlers -----------------------------------------------------------------


def _on_new_height(s: RoundState, ev: NewHeight, acts: list[Action]) -> RoundState:
    """Reset everything of the old height (L52–53) and StartRound(0) (L54)."""
    if s.step != Step.NEW_HEIGHT and ev.height <= s.height:
        return s  # a replayed or stale NewHeight
    s = RoundState(
        config=s.config,
        height=ev.height,
        schedule=ev.schedule,
        step=Step.PROPOSE,
        proposer_cursor=ev.schedule.priorities,
    )
    return _start_round(s, 0, acts)


class Admission(enum.Enum):
    """What ``step`` does with a vote or proposal (``screen_vote`` / ``screen_proposal``)."""

    KEEP = "keep"
    """It is counted (a vote) or kept with its block (a proposal)."""
    IGNORE = "ignore"
    """Not for this height, outside the round window, a copy of one kept, or over a bound:
    nothing the sender did wrong (an honest peer can send it), and nothing is kept."""
    REJECT = "reject"
    """A fault no honest validator commits (a bad signature, a non-validator, the wrong
    proposer, a fresh proposal of someone else's block); ``step`` emits ``Rejected``."""


def screen_vote(s: RoundState, vote: Vote) -> tuple[Admission, str]:
    """Whether ``step`` would count ``vote`` in state ``s``, and if not, why.

    Pure and side-effect free, so a driver can call it before it spends anything on a
    message (a WAL record, a queue slot, a relay); ``step`` calls it too, so the rule
    has one home.  Checks, cheapest first: the height, the round window
    (``MAX_ROUNDS_AHEAD``), a copy of a vote already counted (same signer, round, type and
    block: ignored before any signature is checked), the signer in this height's set, the
    signature.
    """
    if vote.height != s.height or vote.round > s.round + MAX_ROUNDS_AHEAD:
        return Admission.IGNORE, "other-height-or-round"
    if vote.type not in (PREVOTE, PRECOMMIT):
        return Admission.REJECT, "bad-vote-type"
    earlier = s.vote_set(vote.round, vote.type).by(vote.validator)
    if any(e.block_hash == vote.block_hash for e in earlier):
        return Admission.IGNORE, "copy"  # a copy (or a re-signing at another time) of a vote counted
    validator = s.validators.get(vote.validator)
    if validator is None:
        return Admission.REJECT, "not-a-validator"
    if not vote.verify(s.config.chain_id, validator):
        return Admission.REJECT, "bad-signature"
    return Admission.KEEP, ""


def screen_proposal(s: RoundState, p: Proposal, author: Address) -> tuple[Admission, str]:
    """Whether ``step`` would keep proposal ``p`` (whose block names ``author``), and if not, why.

    Pure, like ``screen_vote``.  Kept: a proposal for this height, for a round at most
    ``MAX_PROPOSAL_ROUNDS_AHEAD`` above the current one, not a copy of one kept, signed by
    the proposer of its round (``ProposerSchedule``) with ``-1 ≤ pol_round < round``, and —
    for a fresh proposal (``pol_round = -1``, L19) — of a block its signer built
    (``author`` is the signer).  A re-proposal (``pol_round ≥ 0``, L16) carries
    ``validValue``, a block some earlier round's proposer built, so its author may be
    anyone.  At most ``MAX_PROPOSALS_PER_ROUND`` are kept per round (the proposer's first
    and one conflicting one).
    """
    if p.height != s.height or p.round > s.round + MAX_PROPOSAL_ROUNDS_AHEAD:
        return Admission.IGNORE, "other-height-or-round"
    kept = s.proposals_in(p.round)
    if any(k.block_hash == p.block_hash for k in kept):
        return Admission.IGNORE, "copy"
    _, proposer = _proposer(s, p.round)
    if p.proposer != proposer.address:
        return Admission.REJECT, "wrong-proposer"
    if not -1 <= p.pol_round < p.round:
        return Admission.REJECT, "bad-pol-round"
    if p.pol_round == -1 and author != p.proposer:
        return Admission.REJECT, "fresh-proposal-of-another-block"
    if not p.verify(s.config.chain_id, proposer):
        return Admission.REJECT, "bad-signature"
    if len(kept) >= MAX_PROPOSALS_PER_ROUND:
        return Admission.IGNORE, "round-full"
    return Admission.KEEP, ""


def _on_vote(s: RoundState, vote: Vote, acts: list[Action]) -> RoundState:
    """Count a vote that ``screen_vote`` keeps; report a double sign."""
    verdict, reason = screen_vote(s, vote)
    if verdict is not Admission.KEEP:
        if verdict is Admission.REJECT:
            acts.append(Rejected(reason, vote.validator))
        return s
    validator = s.validators.get(vote.validator)
    assert validator is not None  # screened
    vs = s.vote_set(vote.round, vote.type)
    earlier = vs.by(vote.validator)
    if earlier:
        key = (vote.validator, vote.round, vote.type)
        if key not in s.evidenced:
            acts.append(Evidence(DuplicateVote.of(earlier[0], vote)))
            s = replace(s, evidenced=s.evidenced | {key})
        if len(earlier) >= MAX_VOTES_PER_SIGNER:
            return s
    return _put_vote_set(s, vs.added(vote, validator.power, new_signer=not earlier))


def _on_proposal(s: RoundState, ev: ProposalReceived, acts: list[Action]) -> RoundState:
    """Keep a proposal that ``screen_proposal`` keeps, with its block."""
    p = ev.proposal
    verdict, reason = screen_proposal(s, p, ev.author)
    if verdict is not Admission.KEEP:
        if verdict is Admission.REJECT:
            acts.append(Rejected(reason, p.proposer))
        return s
    s, _ = _proposer(s, p.round)  # keep the extended proposer cache
    s = replace(s, proposals=s.proposals + (p,))
    return _store_block(s, p.block_hash, ev.block, acts)


def _on_timeout(s: RoundState, ev: TimeoutFired, acts: list[Action]) -> RoundState:
    """OnTimeoutPropose (L57–60), OnTimeoutPrevote (L61–64), OnTimeoutPrecommit (L65–67)."""
    if ev.height != s.height or ev.round != s.round:
        return s
    if ev.step == Step.PROPOSE and s.step == Step.PROPOSE:
        return _prevote(s, NIL, acts)
    if ev.step == Step.PREVOTE and s.step == Step.PREVOTE:
        return _precommit(s, NIL, acts)
    if ev.step == Step.PRECOMMIT:
        return _start_round(s, s.round + 1, acts)
    return s


def _on_validity(s: RoundState, ev: BlockValidity) -> RoundState:
    if ev.height != s.height or s.block(ev.block_hash) is None or s.verdict(ev.block_hash) is not None:
        return s
    return replace(s, verdicts=s.verdicts + ((Hash32(ev.block_hash), ev.valid),))


def _on_proposal_value(s: RoundState, ev: ProposalValue, acts: list[Action]) -> RoundState:
    """The block asked for at L18: propose it with ``validRound = -1`` (L19)."""
    if ev.height != s.height or ev.round != s.round or _me(s) is None:
        return s
    s, proposer = _proposer(s, s.round)
    if proposer.address != s.config.address:
        return s
    if any(isinstance(i, SignProposal) and i.round == s.round for i in s.intents):
        return s  # already proposed in this round
    block_hash = Hash32(ev.block_hash)
    if s.verdict(block_hash) is None:
        s = replace(s, verdicts=s.verdicts + ((block_hash, True),))
    s = _store_block(s, block_hash, ev.block, acts)
    return _intend(s, SignProposal(s.height, s.round, block_hash, -1, ev.block), acts)


def _on_commit_received(s: RoundState, ev: CommitReceived, acts: list[Action]) -> RoundState:
    """A commit for this height proves a decision (L49 with the precommits bundled)."""
    c = ev.commit
    if c.height != s.height or s.certificate is not None:
        return s
    try:
        verify_commit(
            c, chain_id=s.config.chain_id, validators=s.validators, height=s.height, block_hash=c.block_hash
        )
    except InvalidBlock:
        acts.append(Rejected("bad-commit", None))
        return s
    s = replace(s, certificate=c)
    return _store_block(s, c.block_hash, ev.block, acts)


def _on_resume(s: RoundState, acts: list[Action]) -> RoundState:
    """Re-emit what a crash may have lost (see the module docstring)."""
    if s.step == Step.NEW_HEIGHT:
        return s
    if s.step == Step.COMMIT:
        assert s.decision is not None
        block = s.block(s.decision.block_hash)
        assert block is not None
        acts.append(CommitBlock(s.height, s.decision.round, s.decision.block_hash, block, s.decision))
        return s
    for h, b in s.blocks:
        if s.verdict(h) is None:
            acts.append(ValidateBlock(s.height, h, b))
    me = _me(s)
    if me is not None:
        for intent in s.intents:
            if intent.round != s.round:
                continue  # a stale round: a monotonic signer would refuse it anyway
            if isinstance(intent, SignVote):
                back = any(
                    v.block_hash == intent.block_hash for v in s.vote_set(s.round, intent.type).by(me.address)
                )
            else:
                back = any(
                    p.proposer == me.address and p.block_hash == intent.block_hash
                    for p in s.proposals_in(s.round)
                )
            if not back:
                acts.append(intent)
        s, proposer = _proposer(s, s.round)
        proposed = any(isinstance(i, SignProposal) and i.round == s.round for i in s.intents)
        if proposer.address == me.address and s.step == Step.PROPOSE and not proposed:
            s = _propose(s, acts)
    if s.step == Step.PROPOSE:
        _schedule(s, Step.PROPOSE, acts)
    if s.step == Step.PREVOTE and (s.round, _L34) in s.fired:
        _schedule(s, Step.PREVOTE, acts)
    if (s.round, _L47) in s.fired:
        _schedule(s, Step.PRECOMMIT, acts)
    return s


# --- the rules ----------------------------------------------------------------------


def _run_rules(s: RoundState, acts: list[Action]) -> RoundState:
    """Fire the "upon" rules until none applies (each firing changes the state so it cannot repeat)."""
    while s.step in (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT):
        for rule in _RULES:
            after = rule(s, acts)
            if after is not s:
                s = after
                break
        else:
            break
    return s


def _rule_decide(s: RoundState, acts: list[Action]) -> RoundState:
    """L49–54: a quorum of precommits for a valid block we hold, in any round."""
    total = s.validators.total_power
    for vs in s.votes:
        if vs.type != PRECOMMIT or not _quorum(vs.power, total):
            continue
        for block_hash, power in vs.tallies:
            if block_hash != NIL and _quorum(power, total) and s.verdict(block_hash) is True:
                sigs = sorted_sigs([v.commit_sig() for v in vs.votes if v.block_hash == block_hash])
                return _decide(s, Commit(s.height, vs.round, block_hash, sigs), acts)
    c = s.certificate
    if c is not None and s.verdict(c.block_hash) is True:
        return _decide(s, c, acts)
    return s


def _decide(s: RoundState, commit: Commit, acts: list[Action]) -> RoundState:
    block = s.block(commit.block_hash)
    assert block is not None, "a block with a verdict is kept"
    acts.append(CommitBlock(s.height, commit.round, commit.block_hash, block, commit))
    return replace(s, step=Step.COMMIT, decision=commit)


def _rule_skip(s: RoundState, acts: list[Action]) -> RoundState:
    """L55–56: senders with more than 1/3 of the power in one higher round."""
    senders: dict[int, set[bytes]] = {}
    for vs in s.votes:
        if vs.round > s.round:
            senders.setdefault(vs.round, set()).update(bytes(v.validator) for v in vs.votes)
    for p in s.proposals:
        if p.round > s.round:
            senders.setdefault(p.round, set()).add(bytes(p.proposer))
    best = -1
    total = s.validators.total_power
    for r, addrs in senders.items():
        power = 0
        for a in addrs:
            v = s.validators.get(a)
            power += v.power if v is not None else 0
        if r > best and _some_honest(power, total):
            best = r
    return _start_round(s, best, acts) if best >= 0 else s


def _rule_prevote(s: RoundState, acts: list[Action]) -> RoundState:
    """L22–27 (fresh proposal) and L28–33 (re-proposal with ``pol_round``), in step propose."""
    if s.step != Step.PROPOSE:
        return s
    total = s.validators.total_power
    for p in s.proposals_in(s.round):
        ok = s.verdict(p.block_hash)
        if ok is None:
            continue  # valid(v) not known yet
        if p.pol_round == -1:
            yes = ok and (s.locked_round == -1 or s.locked_value == p.block_hash)
        else:
            if not _quorum(s.vote_set(p.pol_round, PREVOTE).power_for(p.block_hash), total):
                continue
            yes = ok and (s.locked_round <= p.pol_round or s.locked_value == p.block_hash)
        return _prevote(s, p.block_hash if yes else NIL, acts)
    return s


def _rule_lock(s: RoundState, acts: list[Action]) -> RoundState:
    """L36–43: a quorum of prevotes for this round's valid proposal: lock and precommit, or update validValue."""
    if s.step not in (Step.PREVOTE, Step.PRECOMMIT) or (s.round, _L36) in s.fired:
        return s
    prevotes = s.vote_set(s.round, PREVOTE)
    total = s.validators.total_power
    for p in s.proposals_in(s.round):
        if s.verdict(p.block_hash) is True and _quorum(prevotes.power_for(p.block_hash), total):
            s = replace(s, fired=s.fired | {(s.round, _L36)})
            if s.step == Step.PREVOTE:
                s = replace(s, locked_value=p.block_hash, locked_round=s.round)
                s = _precommit(s, p.block_hash, acts)
            return replace(s, valid_value=p.block_hash, valid_round=s.round)
    return s


def _rule_precommit_nil(s: RoundState, acts: list[Action]) -> RoundState:
    """L44–46: a quorum of nil prevotes in this round."""
    if s.step == Step.PREVOTE and _quorum(
        s.vote_set(s.round, PREVOTE).power_for(NIL), s.validators.total_power
    ):
        return _precommit(s, NIL, acts)
    return s


def _rule_prevote_timeout(s: RoundState, acts: list[Action]) -> RoundState:
    """L34–35: a quorum of prevotes for anything in this round, in step prevote, once."""
    if (
        s.step == Step.PREVOTE
        and (s.round, _L34) not in s.fired
        and _quorum(s.vote_set(s.round, PREVOTE).power, s.validators.total_power)
    ):
        _schedule(s, Step.PREVOTE, acts)
        return replace(s, fired=s.fired | {(s.round, _L34)})
    return s


def _rule_precommit_timeout(s: RoundState, acts: list[Action]) -> RoundState:
    """L47–48: a quorum of precommits for anything in this round, once."""
    if (s.round, _L47) not in s.fired and _quorum(
        s.vote_set(s.round, PRECOMMIT).power, s.validators.total_power
    ):
        _schedule(s, Step.PRECOMMIT, acts)
        return replace(s, fired=s.fired | {(s.round, _L47)})
    return s


_RULES = (
    _rule_decide,
    _rule_skip,
    _rule_prevote,
    _rule_lock,
    _rule_precommit_nil,
    _rule_prevote_timeout,
    _rule_precommit_timeout,
)
