"""Weighted round-robin proposer selection: determinism, proportionality, spacing."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.block import Validator, ValidatorSet
from chain.consensus.proposer import ProposerSchedule, proposer_for, select
from chain.keys import PrivateKey

KEYS = [PrivateKey.derive(f"cairn-test/proposer/{i}") for i in range(8)]


def valset(powers: list[int]) -> ValidatorSet:
    return ValidatorSet.of(Validator(k.address, k.public_key, p) for k, p in zip(KEYS, powers, strict=False))


def sequence(vs: ValidatorSet, steps: int) -> list[int]:
    """The index chosen by each of the first ``steps`` selection steps from all-zero priorities."""
    prio = ProposerSchedule.initial(vs).priorities
    out = []
    for _ in range(steps):
        i, prio = select(vs, prio)
        out.append(i)
    return out


def test_equal_power_is_plain_round_robin_in_address_order() -> None:
    vs = valset([5, 5, 5, 5])
    assert sequence(vs, 8) == [0, 1, 2, 3, 0, 1, 2, 3]
    sched = ProposerSchedule.initial(vs)
    assert [sched.proposer(r).address for r in range(4)] == [v.address for v in vs.validators]


def test_worked_example() -> None:
    """Powers 3, 2, 1 (in address order): the documented rule by hand."""
    vs = valset([3, 2, 1])
    powers = [v.power for v in vs.validators]
    assert sorted(powers) == [1, 2, 3]
    # With priorities p and total 6: add powers, take the max (lowest index on ties), subtract 6.
    prio = [0, 0, 0]
    expected = []
    for _ in range(6):
        prio = [p + w for p, w in zip(prio, powers, strict=True)]
        j = max(range(3), key=lambda i: (prio[i], -i))
        prio[j] -= 6
        expected.append(j)
    assert sequence(vs, 6) == expected
    assert Counter(expected) == {i: powers[i] for i in range(3)}


def test_ties_go_to_the_lowest_address() -> None:
    vs = valset([3, 3, 3])
    assert sequence(vs, 1) == [0]
    assert select(vs, (7, 7, 7))[0] == 0
    assert select(vs, (6, 8, 8))[0] == 1
    assert select(vs, (6, 7, 8))[0] == 2


@given(st.lists(st.integers(1, 50), min_size=1, max_size=8), st.integers(1, 3))
def test_each_window_of_total_power_steps_selects_each_exactly_power_times(
    powers: list[int], windows: int
) -> None:
    vs = valset(powers)
    total = vs.total_power
    seq = sequence(vs, total * windows)
    for w in range(windows):
        counts = Counter(seq[w * total : (w + 1) * total])
        assert all(counts[i] == v.power for i, v in enumerate(vs.validators))
    assert ProposerSchedule.initial(vs).advance(total).priorities == (0,) * len(powers)


@given(st.lists(st.integers(1, 1000), min_size=1, max_size=8), st.integers(0, 300))
def test_priorities_sum_to_zero_and_stay_bounded(powers: list[int], steps: int) -> None:
    vs = valset(powers)
    total = vs.total_power
    prio = ProposerSchedule.initial(vs).priorities
    for _ in range(steps):
        _, prio = select(vs, prio)
        assert sum(prio) == 0
        assert all(-total < p < (len(powers) - 1) * total or len(powers) == 1 for p in prio)


@given(st.lists(st.integers(1, 20), min_size=2, max_size=8), st.integers(1, 400), st.integers(0, 400))
def test_frequency_tracks_power_in_any_window(powers: list[int], length: int, start: int) -> None:
    """Over any window the count of each validator is within one selection per validator of its share."""
    vs = valset(powers)
    total = vs.total_power
    seq = sequence(vs, start + length)[start:]
    counts = Counter(seq)
    for i, v in enumerate(vs.validators):
        assert abs(counts[i] * total - length * v.power) <= len(powers) * total


def test_frequency_is_proportional_over_a_long_window() -> None:
    vs = valset([1, 2, 3, 4, 10, 20])
    total = vs.total_power
    counts = Counter(sequence(vs, total * 50))
    assert {i: counts[i] for i in range(6)} == {i: 50 * v.power for i, v in enumerate(vs.validators)}


@given(st.lists(st.integers(1, 30), min_size=2, max_size=8))
def test_choices_are_spread_out_not_bunched(powers: list[int]) -> None:
    """A validator with power w of T waits at most about 2T/w steps between turns."""
    vs = valset(powers)
    total = vs.total_power
    seq = sequence(vs, 2 * total)
    for i, v in enumerate(vs.validators):
        turns = [k for k, x in enumerate(seq) if x == i]
        gaps = [b - a for a, b in zip(turns, turns[1:], strict=False)]
        assert max(gaps) * v.power <= 2 * total


def test_half_the_power_proposes_half_the_time_in_every_short_window() -> None:
    vs = valset([2, 1, 1])
    heavy = next(i for i, v in enumerate(vs.validators) if v.power == 2)
    seq = sequence(vs, 40)
    assert all(seq[k : k + 4].count(heavy) == 2 for k in range(37))


def test_deterministic_and_pure() -> None:
    vs = valset([3, 1, 4, 1, 5])
    a = [proposer_for(vs, h, r).address for h in range(12) for r in range(3)]
    b = [proposer_for(valset([3, 1, 4, 1, 5]), h, r).address for h in range(12) for r in range(3)]
    assert a == b


def test_next_round_is_next_height() -> None:
    vs = valset([7, 3, 2, 9])
    for h in range(10):
        for r in range(4):
            assert proposer_for(vs, h, r + 1) == proposer_for(vs, h + 1, r)


def test_schedule_advance_matches_stepping() -> None:
    vs = valset([4, 4, 1, 6])
    s = ProposerSchedule.initial(vs)
    for _ in range(9):
        s = s.next_height()
    assert s == ProposerSchedule.at(vs, 9) == ProposerSchedule.initial(vs).advance(9)


def test_schedule_refuses_nonsense() -> None:
    vs = valset([1, 1])
    with pytest.raises(ValueError):
        ProposerSchedule(vs, (0,))
    with pytest.raises(ValueError):
        ProposerSchedule(ValidatorSet(()), ())
    with pytest.raises(ValueError):
        ProposerSchedule.initial(vs).proposer(-1)
    with pytest.raises(ValueError):
        ProposerSchedule.initial(vs).advance(-1)
