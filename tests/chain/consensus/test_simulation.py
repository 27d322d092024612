"""Randomized networks of 4–7 validators running the consensus state machine (see ``simulator.py``).

CI runs ``DEFAULT_SEEDS`` seeds.  ``CAIRN_SIM_SEEDS=N`` runs seeds ``0 … N−1``;
``CAIRN_SIM_SEED=S`` runs only seed ``S`` and prints its trace, to replay a failure.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest

from tests.chain.consensus.simulator import Crash, Partition, Scenario, Simulation, describe, run_seed

DEFAULT_SEEDS = 200


def _seeds() -> list[int]:
    one = os.environ.get("CAIRN_SIM_SEED")
    if one is not None:
        return [int(one)]
    return list(range(int(os.environ.get("CAIRN_SIM_SEEDS", DEFAULT_SEEDS))))


@pytest.mark.parametrize("seed", _seeds())
def test_random_network(seed: int) -> None:
    trace = print if os.environ.get("CAIRN_SIM_SEED") is not None else None
    result = run_seed(seed, trace=trace)
    assert not result.failures, (
        f"{describe(result)}\n  "
        + "\n  ".join(result.failures[:10])
        + f"\nreplay: CAIRN_SIM_SEED={seed} pytest {__file__} -s"
    )


def test_a_seed_replays_exactly() -> None:
    a, b = run_seed(7), run_seed(7)
    assert (a.heights, a.events, a.end_ms, a.evidence, a.equivocations) == (
        b.heights,
        b.events,
        b.end_ms,
        b.evidence,
        b.equivocations,
    )


def _scenario(**changes: Any) -> Scenario:
    base = Scenario(
        seed=1,
        powers=(1, 1, 1, 1),
        byzantine=frozenset(),
        heal_ms=1000,
        partitions=(),
        crashes=(),
        loss_chaos=0.0,
        loss_after=0.0,
        duplicate=0.0,
        delay_ms=(1, 20),
        spike=0.0,
        equivocate=0.0,
        poison=0.0,
    )
    return replace(base, **changes)


def test_equivocation_produces_evidence_and_no_fork() -> None:
    """One of four validators double-signs every vote and proposal and proposes poison half the time."""
    sc = _scenario(byzantine=frozenset({2}), equivocate=1.0, poison=0.5, heal_ms=3000)
    result = Simulation(sc).run()
    assert not result.failures, describe(result)
    assert result.equivocations > 0 and result.evidence > 0
    assert min(h for i, h in result.heights.items() if i != 2) >= 4


def test_a_minority_partition_does_not_stop_the_majority_and_catches_up() -> None:
    sc = _scenario(partitions=(Partition(0, 3000, frozenset({0})),), heal_ms=3000)
    lines: list[str] = []
    result = Simulation(sc, trace=lines.append).run()
    assert not result.failures, describe(result)
    majority_by_heal = [
        ln for ln in lines if " commits " in ln and int(ln.split()[0]) < 3000 and "node 0 " not in ln
    ]
    assert majority_by_heal, "the three connected validators kept committing during the partition"
    assert result.heights[0] >= 2


def test_half_partitioned_network_stalls_then_recovers() -> None:
    sc = _scenario(partitions=(Partition(0, 2500, frozenset({0, 1})),), heal_ms=2500)
    lines: list[str] = []
    result = Simulation(sc, trace=lines.append).run()
    assert not result.failures, describe(result)
    assert not [ln for ln in lines if " commits " in ln and int(ln.split()[0]) < 2500]
    assert min(result.heights.values()) >= 2


def test_crashed_validators_restart_from_their_wal() -> None:
    sc = _scenario(crashes=(Crash(0, 300, 1500), Crash(1, 700, 1800)), heal_ms=2000, loss_chaos=0.1)
    result = Simulation(sc).run()
    assert not result.failures, describe(result)
    assert min(result.heights.values()) >= 2
