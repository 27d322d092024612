"""Health scores, the circuit breaker and eligibility (``aicf/health.py``).

Scores are worked out by hand from the docstring's formulas with the genesis weights
4000 / 3000 / 2000 / 1000 and references 1000 Mbps, 100 ms; the breaker's limits are
85 °C, 100 ms and 25 errors.  On the chain, a tripped provider's heartbeat leaves a job
queued and a healthy one lets the matcher assign it in that very block.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from aicf.health import eligible, health, tripped
from aicf.params import HealthParams
from aicf.records import Telemetry
from tests.aicf.helpers import HEALTHY, JobsChain, aicf_events, make_record, provider_key

PARAMS = HealthParams()


@pytest.mark.parametrize(("telemetry", "history", "score"), [
    # bandwidth 500/1000 -> 5000; latency 25 ms -> 10000 x 75 // 100 = 7500; compute 9000; a new
    # provider's reputation (0 + 1) x 10000 // 2 = 5000:
    # (4000 x 5000 + 3000 x 7500 + 2000 x 9000 + 1000 x 5000) // 10000 = 65,500,000 // 10000 = 6550
    (Telemetry(500, 25, 9_000, 40, 0), (0, 0, 0), 6_550),
    # bandwidth 2000 is capped at 10000; latency 150 ms past the reference scores 0; compute 12000
    # is capped at 10000; reputation (3 + 1) x 10000 // (3 + 1 + 0 + 2) = 6666:
    # (40,000,000 + 0 + 20,000,000 + 6,666,000) // 10000 = 6666
    (Telemetry(2_000, 150, 12_000, 40, 0), (3, 1, 0), 6_666),
    # no bandwidth or compute, latency at the 100 ms limit (scores 0), two missed leases:
    # reputation 1 x 10000 // 4 = 2500 -> 1000 x 2500 // 10000 = 250
    (Telemetry(0, 100, 0, 40, 0), (0, 0, 2), 250),
    # the same with 0 ms latency: + 3000 x 10000 // 10000 = 3250
    (Telemetry(0, 0, 0, 40, 0), (0, 0, 2), 3_250),
    # the devnet heartbeat of these tests: 10000, latency 10 ms -> 9000, 9000, 5000 -> 9000
    (HEALTHY, (0, 0, 0), 9_000),
    # everything perfect, 98 jobs done and none failed: reputation 99 x 10000 // 100 = 9900
    # -> (40,000,000 + 30,000,000 + 20,000,000 + 9,900,000) // 10000 = 9990
    (Telemetry(1_000, 0, 10_000, 40, 0), (98, 0, 0), 9_990),
])
def test_health_known_values(telemetry: Telemetry, history: tuple[int, int, int], score: int) -> None:
    completed, failed, missed = history
    record = make_record(1, telemetry=telemetry, completed=completed, failed=failed, missed=missed)
    assert health(record, PARAMS) == score


@pytest.mark.parametrize(("telemetry", "trips"), [
    (replace(HEALTHY, temperature_c=85), False),
    (replace(HEALTHY, temperature_c=86), True),
    (replace(HEALTHY, latency_ms=100), False),
    (replace(HEALTHY, latency_ms=101), True),
    (replace(HEALTHY, errors=25), False),
    (replace(HEALTHY, errors=26), True),
])
def test_breaker_limits_are_inclusive(telemetry: Telemetry, trips: bool) -> None:
    assert tripped(make_record(1, telemetry=telemetry), PARAMS) is trips


def test_eligibility_conditions() -> None:
    base = make_record(1)  # heartbeat at 1, lease deadline 100, 0 of 10 leases
    assert eligible(base, 50, PARAMS)
    assert not eligible(replace(base, status="unbonding"), 50, PARAMS)
    assert not eligible(replace(base, jailed_until=51), 50, PARAMS)
    assert not eligible(replace(base, jailed_until=40), 50, PARAMS)  # run out, but not unjailed yet
    assert not eligible(replace(base, heartbeat_height=0), 50, PARAMS)
    assert not eligible(replace(base, lease_deadline=49), 50, PARAMS)
    # A lease granted at the end of block 50 must outlive it: deadline 50 is too late.
    assert not eligible(replace(base, lease_deadline=50), 50, PARAMS)
    assert eligible(replace(base, lease_deadline=51), 50, PARAMS)
    assert not eligible(make_record(1, leases=10, max_leases=10), 50, PARAMS)
    assert eligible(make_record(1, leases=9, max_leases=10), 50, PARAMS)
    assert not eligible(make_record(1, telemetry=replace(HEALTHY, errors=30)), 50, PARAMS)


@pytest.mark.parametrize("bad", [
    replace(HEALTHY, temperature_c=90),
    replace(HEALTHY, latency_ms=150),
    replace(HEALTHY, errors=30),
], ids=["temperature", "latency", "errors"])
def test_a_tripped_provider_gets_no_lease_until_a_healthy_heartbeat(bad: Telemetry) -> None:
    c = JobsChain()
    assert c.register(0).ok
    assert all(r.ok for r in c.heartbeat(0, telemetry=bad))
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    assert c.job(task).status == "queued"
    out = c.block()
    assert aicf_events(out, "job_assigned") == []
    assert c.job(task).status == "queued"

    out = c.block(c.heartbeat_tx(0))
    assert aicf_events(out, "job_assigned") == [{"task_id": bytes(task), "provider": bytes(provider_key(0).address)}]
    job = c.job(task)
    assert job.status == "leased" and [le.provider for le in job.leases] == [provider_key(0).address]
    assert c.record(0).leases == (task,)


def test_on_chain_health_of_a_heartbeating_provider() -> None:
    c = JobsChain()
    c.providers(0)
    assert health(c.record(0), c.params.health) == 9_000
