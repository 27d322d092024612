"""Who proposes at ``(height, round)``: weighted round-robin by voting power (ARCHITECTURE §5).

Rule (priority accumulation, integers only).  Each validator ``i`` of a set with
total power ``T`` holds an integer priority ``p_i``.  One *selection step* is::

    for every i:  p_i ← p_i + power_i
    j ← the i with the largest p_i (ties: the lowest address, i.e. the lowest index,
        since a ValidatorSet is sorted by address)
    p_j ← p_j − T
    return validator j

A ``ProposerSchedule`` is the priorities at the start of one height.  The proposer
of round ``r`` at that height is the validator returned by the ``(r + 1)``-th step
from those priorities; the schedule of the next height is the priorities after
one step.  So with ``k = height − epoch_start``, ``proposer(height, round)`` is the
validator chosen by step number ``k + round + 1`` counted from the epoch's start.
Priorities start at zero for every validator at the first height of an epoch
(the only heights at which the set can change), so the schedule of a height is a
pure function of ``(validators, height − epoch_start)``.

Properties (tested):

* the priorities always sum to zero (a step adds ``T`` and takes ``T`` away) and
  each stays above ``−T``: the chosen priority was the largest of values summing
  to ``T > 0``, so it was positive before ``T`` was taken from it, and the others
  only grew.  Hence each also stays below ``(n − 1) × T``;
* starting from all zeros, every window of ``T`` consecutive steps selects
  validator ``i`` exactly ``power_i`` times and brings the priorities back to
  zero.  Proof: after ``T`` steps ``p_i = T × (power_i − chosen_i)`` is a multiple
  of ``T`` greater than ``−T``, so it is ``≥ 0``, and they sum to zero, so all are
  zero.  Each validator therefore proposes in proportion to its power, and the
  choices are spread through the window (a validator with power ``w`` waits at
  most about ``2 × T / w`` steps between turns) rather than bunched;
* nothing but the validator set and the step count goes in: every node computes
  the same proposer, and no proposer can influence who comes next.

A round that fails moves on to the next validator in the same sequence, so
``proposer(h, r + 1) = proposer(h + 1, r)``: a validator that misses its turn is
tried again only after the others have had theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.block import Validator, ValidatorSet


def select(validators: ValidatorSet, priorities: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """One selection step: the index chosen and the priorities after it."""
    total = validators.total_power
    raised = [p + v.power for p, v in zip(priorities, validators.validators, strict=True)]
    best = 0
    for i in range(1, len(raised)):
        if raised[i] > raised[best]:
            best = i
    raised[best] -= total
    return best, tuple(raised)


@dataclass(frozen=True, slots=True)
class ProposerSchedule:
    """The proposer priorities of ``validators`` at the start of one height."""

    validators: ValidatorSet
    priorities: tuple[int, ...]
    """One integer per validator, in the set's (address) order."""

    def __post_init__(self) -> None:
        if not self.validators.validators:
            raise ValueError("a proposer schedule needs at least one validator")
        if len(self.priorities) != len(self.validators.validators):
            raise ValueError("one priority per validator")

    @classmethod
    def initial(cls, validators: ValidatorSet) -> ProposerSchedule:
        """The schedule at the first height of an epoch: every priority zero."""
        return cls(validators, (0,) * len(validators.validators))

    @classmethod
    def at(cls, validators: ValidatorSet, heights_since_epoch_start: int) -> ProposerSchedule:
        """The schedule ``heights_since_epoch_start`` heights into an epoch (``O(k × n)``)."""
        return cls.initial(validators).advance(heights_since_epoch_start)

    def advance(self, heights: int) -> ProposerSchedule:
        """The schedule ``heights`` heights later (one selection step per height)."""
        if heights < 0:
            raise ValueError("cannot go back in heights")
        priorities = self.priorities
        for _ in range(heights):
            _, priorities = select(self.validators, priorities)
        return ProposerSchedule(self.validators, priorities)

    def next_height(self) -> ProposerSchedule:
        """The schedule of the following height (same validator set)."""
        return self.advance(1)

    def proposer(self, round_: int) -> Validator:
        """The proposer of round ``round_`` at this height: the ``(round_ + 1)``-th step's choice."""
        if round_ < 0:
            raise ValueError("rounds start at 0")
        priorities = self.priorities
        index = 0
        for _ in range(round_ + 1):
            index, priorities = select(self.validators, priorities)
        return self.validators.validators[index]


def proposer_for(validators: ValidatorSet, heights_since_epoch_start: int, round_: int) -> Validator:
    """``proposer(height, round)`` straight from the rule; for tests and one-off checks."""
    return ProposerSchedule.at(validators, heights_since_epoch_start).proposer(round_)
