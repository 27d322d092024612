"""BFT consensus (ARCHITECTURE §5): Tendermint rounds as a pure state machine.

* ``chain.consensus.types`` — votes, proposals and double-sign evidence: their
  wire bytes and what each signs.
* ``chain.consensus.proposer`` — who proposes at ``(height, round)``: weighted
  round-robin by voting power.
* ``chain.consensus.state_machine`` — ``step(state, event) -> (state, actions)``,
  Algorithm 1 of Buchman, Kwon and Milosevic (2018), with no I/O; ``node/`` drives it.
"""

from chain.consensus.proposer import ProposerSchedule, proposer_for
from chain.consensus.state_machine import (
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
    VoteSet,
    screen_proposal,
    screen_vote,
    step,
)
from chain.consensus.types import NIL, DuplicateVote, Proposal, Vote, sign_proposal, sign_vote

__all__ = [
    "NIL",
    "Action",
    "Admission",
    "BlockValidity",
    "CommitBlock",
    "CommitReceived",
    "Config",
    "DuplicateVote",
    "Event",
    "Evidence",
    "NewHeight",
    "Proposal",
    "ProposalReceived",
    "ProposalValue",
    "ProposerSchedule",
    "Rejected",
    "RequestProposalValue",
    "Resume",
    "RoundState",
    "ScheduleTimeout",
    "SignProposal",
    "SignVote",
    "Step",
    "TimeoutFired",
    "Timeouts",
    "ValidateBlock",
    "Vote",
    "VoteReceived",
    "VoteSet",
    "proposer_for",
    "screen_proposal",
    "screen_vote",
    "sign_proposal",
    "sign_vote",
    "step",
]
