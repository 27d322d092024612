"""Choosing providers (``aicf/matcher.py``) and the job filters the matcher applies (``aicf/jobs.py``).

The four strategies run on hand-built provider records; the filters run both on records
(``aicf.jobs._passes``) and on a chain, with jobs enqueued by the SCRIPT contract, the only
requester here that can pass ``opts``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from aicf.jobs import _passes
from aicf.matcher import select
from aicf.params import STRATEGIES, HealthParams
from aicf.records import AicfJob, ProviderRecord, Telemetry
from chain.hashing import H
from chain.types import Address, Hash32
from tests.aicf.helpers import MODEL, JobsChain, fast_genesis, make_record, provider_key

PARAMS = HealthParams()
BEACON = H(b"test/beacon", b"")
TASK = Hash32(H(b"test/task", b""))


def by_address(records: list[ProviderRecord]) -> list[ProviderRecord]:
    """Candidates as the matcher hands them over: sorted by address."""
    return sorted(records, key=lambda r: bytes(r.address))


def pick(strategy: str, need: int, candidates: list[ProviderRecord], *, cursor: bytes = b"",
         beacon: bytes = BEACON, task: bytes = TASK) -> tuple[tuple[Address, ...], bytes]:
    return select(strategy, need, candidates, beacon=beacon, task_id=task, cursor=cursor, health_params=PARAMS)


def test_round_robin_rotates_with_the_cursor() -> None:
    cands = by_address([make_record(i) for i in range(3)])
    a, b, c = (r.address for r in cands)
    chosen, cursor = pick("round_robin", 1, cands)
    assert (chosen, cursor) == ((a,), bytes(a))
    chosen, cursor = pick("round_robin", 1, cands, cursor=cursor)
    assert (chosen, cursor) == ((b,), bytes(b))
    chosen, cursor = pick("round_robin", 1, cands, cursor=cursor)
    assert (chosen, cursor) == ((c,), bytes(c))
    chosen, cursor = pick("round_robin", 1, cands, cursor=cursor)  # wraps around
    assert (chosen, cursor) == ((a,), bytes(a))
    # Two at a time from after b: c, then a; the cursor is the last one chosen.
    assert pick("round_robin", 2, cands, cursor=bytes(b)) == ((c, a), bytes(a))
    # A cursor naming a provider that is gone (anything between a and b) continues after its place.
    assert pick("round_robin", 1, cands, cursor=bytes(a) + b"\x00")[0] == (b,)


def test_least_loaded_picks_the_smallest_share_of_max_leases() -> None:
    busy = make_record(0, leases=3, max_leases=10)      # 3000 bp
    light = make_record(1, leases=1, max_leases=10)     # 1000 bp
    small = make_record(2, leases=2, max_leases=4)      # 5000 bp
    cands = by_address([busy, light, small])
    assert pick("least_loaded", 1, cands)[0] == (light.address,)
    assert pick("least_loaded", 2, cands)[0] == (light.address, busy.address)
    assert pick("least_loaded", 3, cands)[0] == (light.address, busy.address, small.address)


def test_latency_aware_picks_the_lowest_reported_latency() -> None:
    slow, fast, mid = make_record(0, latency_ms=50), make_record(1, latency_ms=5), make_record(2, latency_ms=20)
    cands = by_address([slow, fast, mid])
    assert pick("latency_aware", 1, cands)[0] == (fast.address,)
    assert pick("latency_aware", 2, cands)[0] == (fast.address, mid.address)


@pytest.mark.parametrize("strategy", ["least_loaded", "latency_aware"])
def test_ties_are_not_won_by_the_address(strategy: str) -> None:
    """Equal candidates: the winner follows the beacon, so over many beacons each one wins."""
    cands = by_address([make_record(i) for i in range(2)])
    winners = Counter(pick(strategy, 1, cands, beacon=H(b"tie", bytes([i])))[0] for i in range(64))
    assert set(winners) == {(cands[0].address,), (cands[1].address,)}
    assert pick(strategy, 1, cands) == pick(strategy, 1, cands)  # and the same beacon, the same winner


def test_weighted_health_is_deterministic_for_a_beacon() -> None:
    cands = by_address([make_record(i) for i in range(5)])
    first = pick("weighted_health", 2, cands)
    assert all(pick("weighted_health", 2, cands) == first for _ in range(3))
    # Another beacon or task id draws again: over a few of them the choice changes.
    others = {pick("weighted_health", 1, cands, beacon=H(b"b", bytes([i])))[0] for i in range(16)}
    assert len(others) > 1


def test_weighted_health_spreads_in_proportion_to_health() -> None:
    # Health 9500 (bandwidth, latency, compute all 10000, reputation 5000) against 500
    # (nothing but the new provider's reputation): weights 9501 : 501, so the weak one should
    # win about 5.0 % of 2000 draws, 100 +- 10 (one standard deviation).
    strong = make_record(0, telemetry=Telemetry(1_000, 0, 10_000, 40, 0))
    weak = make_record(1, telemetry=Telemetry(0, 100, 0, 40, 0))
    cands = by_address([strong, weak])
    wins = Counter(pick("weighted_health", 1, cands, task=H(b"task", i.to_bytes(4, "big")))[0][0]
                   for i in range(2_000))
    assert 60 <= wins[weak.address] <= 140
    assert wins[strong.address] == 2_000 - wins[weak.address]
    # Three equal providers share evenly: about 667 each.
    even = by_address([make_record(i) for i in range(2, 5)])
    shares = Counter(pick("weighted_health", 1, even, task=H(b"task", i.to_bytes(4, "big")))[0][0]
                     for i in range(2_000))
    assert all(560 <= n <= 770 for n in shares.values()) and len(shares) == 3


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_replicas_take_distinct_providers(strategy: str) -> None:
    cands = by_address([make_record(i, latency_ms=10 + i) for i in range(5)])
    for i in range(20):
        chosen, _ = pick(strategy, 3, cands, task=H(b"t", bytes([i])), cursor=bytes(cands[i % 5].address))
        assert len(chosen) == 3 and len(set(chosen)) == 3
        assert set(chosen) <= {r.address for r in cands}
    assert len(set(pick(strategy, 5, cands)[0])) == 5


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fewer_candidates_than_needed_choose_nobody(strategy: str) -> None:
    cands = by_address([make_record(i) for i in range(2)])
    assert pick(strategy, 3, cands, cursor=b"\x42") == ((), b"\x42")
    assert pick(strategy, 1, [], cursor=b"") == ((), b"")


def test_an_unknown_strategy_is_an_error() -> None:
    with pytest.raises(ValueError):
        pick("fastest_first", 1, [make_record(0)])


# --- the job's filters -------------------------------------------------------------------


def _job(**changes: object) -> AicfJob:
    job = AicfJob(task_id=TASK, kind="ai", lane=f"ai/{MODEL}", status="queued", requester=Address(b"\x01" * 20),
                  origin=Address(b"\x02" * 20), replicas=1, ceiling=1_000, deadline=100, enqueue_height=1,
                  priority=0)
    return replace(job, **changes)  # type: ignore[arg-type]


def test_filters_region_allow_attestation_exclusion_and_collateral() -> None:
    eu = make_record(0, region="eu")
    us = make_record(1, region="us")
    assert _passes(_job(), eu, 1_000) and _passes(_job(), us, 1_000)
    assert _passes(_job(region="eu"), eu, 0) and not _passes(_job(region="eu"), us, 0)
    assert _passes(_job(allow=(us.address,)), us, 0) and not _passes(_job(allow=(us.address,)), eu, 0)
    assert _passes(_job(attestation="devnet"), eu, 0)
    assert not _passes(_job(attestation="sev-snp"), eu, 0)
    assert not _passes(_job(excluded=(eu.address,)), eu, 0)
    # Collateral: free stake (stake - locked) must cover it.
    assert _passes(_job(), replace(eu, locked=eu.stake - 1_000), 1_000)
    assert not _passes(_job(), replace(eu, locked=eu.stake - 999), 1_000)


def _two_providers(c: JobsChain) -> tuple[Address, Address]:
    assert all(r.ok for r in c.run(c.register_tx(0, region="us"), c.register_tx(1, region="eu")))
    assert all(r.ok for r in c.heartbeat(0, 1))
    return provider_key(0).address, provider_key(1).address


def _holders(c: JobsChain, tasks: list[Hash32]) -> set[Address]:
    return {le.provider for t in tasks for le in c.job(t).leases}


def test_opts_region_and_allow_restrict_the_providers_on_chain() -> None:
    c = JobsChain()
    us, eu = _two_providers(c)
    contract = c.deploy_script()
    # Eight jobs each: by chance alone every one would go to the same provider once in 128.
    regional = c.enqueued(*(c.script_ai_tx(contract, prompt=f"r{i}", opts={"region": "eu"}) for i in range(8)))
    allowed = c.enqueued(*(c.script_ai_tx(contract, prompt=f"a{i}", opts={"allow": bytes(us)}) for i in range(8)))
    assert all(c.job(t).status == "leased" for t in regional + allowed)
    assert c.job(regional[0]).region == "eu" and c.job(allowed[0]).allow == (us,)
    assert _holders(c, regional) == {eu}
    assert _holders(c, allowed) == {us}


def test_opts_attestation_class_must_match() -> None:
    c = JobsChain()
    _two_providers(c)
    contract = c.deploy_script()
    sgx, devnet = c.enqueued(c.script_ai_tx(contract, prompt="x", opts={"attestation": "sgx"}),
                             c.script_ai_tx(contract, prompt="y", opts={"attestation": "devnet"}))
    assert c.job(sgx).status == "queued" and c.job(sgx).attestation == "sgx"
    assert c.job(devnet).status == "leased"


def test_collateral_and_max_leases_bound_concurrent_leases() -> None:
    """Provider 0 declares max_leases 1; provider 1 bonds enough stake for one job's collateral
    (the per-replica ceiling, 98,670 for these jobs); a third job waits for a free slot."""
    c = JobsChain(fast_genesis(providers={"min_stake": 100_000}))
    assert all(r.ok for r in c.run(c.register_tx(0, stake=10**9, max_leases=1), c.register_tx(1, stake=150_000)))
    assert all(r.ok for r in c.heartbeat(0, 1))
    contract = c.deploy_script()
    tasks = c.enqueued(*(c.script_ai_tx(contract, prompt=f"p{i}") for i in range(3)))
    states = Counter(c.job(t).status for t in tasks)
    assert states == {"leased": 2, "queued": 1}
    assert c.record(1).locked == 98_670 and len(c.record(0).leases) == 1
    assert _holders(c, tasks) == {provider_key(0).address, provider_key(1).address}


def test_higher_priority_is_assigned_first() -> None:
    """One provider with one slot; two jobs enqueued in the same block.  The second escrows a
    larger ceiling (512 tokens: 2,000 + 512 x 50 = 27,600 ms -> 34,914 milli-units -> 523,710),
    so its priority, 523 fee points against 98, puts it first."""
    c = JobsChain()
    assert c.register(0, max_leases=1).ok
    assert all(r.ok for r in c.heartbeat(0))
    contract = c.deploy_script()
    small, large = c.enqueued(c.script_ai_tx(contract, max_tokens=64), c.script_ai_tx(contract, max_tokens=512))
    h = c.height
    assert c.job(small).ceiling == 98_670 and c.job(large).ceiling == 523_710
    # priority = fee points - size points - enqueue height x 10 (requests are far below 1 KiB)
    assert c.job(small).priority == 98 - 10 * h
    assert c.job(large).priority == 523 - 10 * h
    assert c.job(large).status == "leased" and c.job(small).status == "queued"
