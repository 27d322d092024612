"""Provider health, reputation and the circuit breaker (``docs/ECONOMICS.md``, ARCHITECTURE §8).

Scores are integers in ``[0, 10000]`` bp, from the last heartbeat's telemetry and the
provider's on-chain history::

    bandwidth  = min(10000, bandwidth_mbps × 10000 // bandwidth_ref_mbps)
    latency    = 10000 × (max_latency_ms − min(latency_ms, max_latency_ms)) // max_latency_ms
    compute    = min(10000, compute_bp)
    reputation = (completed + 1) × 10000 // (completed + failed + missed + 2)
    health     = (w_bw × bandwidth + w_lat × latency + w_cpu × compute + w_rep × reputation) // 10000

with the genesis weights 4000 / 3000 / 2000 / 1000 (0.4, 0.3, 0.2, 0.1).  Reputation is
Laplace-smoothed: a new provider scores 5000, every completed job raises it and every
failed proof or missed lease lowers it.

Circuit breaker: a provider whose last heartbeat reported ``temperature_c > 85``,
``latency_ms > 100`` or ``errors > 25`` (errors since its previous heartbeat) is tripped
and gets no new lease until a heartbeat within all three limits.

Eligibility for a new lease at height ``h`` (:func:`eligible`): status active, not jailed
(``jailed_until == 0``: a jail ends only with a ``provider_unjail`` once it has run out, as a
validator's does), at least one heartbeat, leases alive after this block
(``lease_deadline > h``: the matcher runs at the end of block ``h``, after the lease deadlines
due at ``h``, so a lease it grants must outlive the block), breaker not tripped, and fewer open
leases than its ``max_leases``.
"""

from __future__ import annotations

from aicf.params import BPS, HealthParams
from aicf.records import ACTIVE, ProviderRecord


def bandwidth_score(mbps: int, params: HealthParams) -> int:
    return min(BPS, mbps * BPS // max(params.bandwidth_ref_mbps, 1))


def latency_score(latency_ms: int, params: HealthParams) -> int:
    cap = max(params.max_latency_ms, 1)
    return BPS * (cap - min(latency_ms, cap)) // cap


def reputation_score(record: ProviderRecord) -> int:
    bad = record.failed + record.missed
    return (record.completed + 1) * BPS // (record.completed + bad + 2)


def health(record: ProviderRecord, params: HealthParams) -> int:
    """The provider's health in bp (module docstring)."""
    t = record.telemetry
    return (
        params.bandwidth_weight_bp * bandwidth_score(t.bandwidth_mbps, params)
        + params.latency_weight_bp * latency_score(t.latency_ms, params)
        + params.compute_weight_bp * min(BPS, t.compute_bp)
        + params.reputation_weight_bp * reputation_score(record)
    ) // BPS


def tripped(record: ProviderRecord, params: HealthParams) -> bool:
    """The circuit breaker (module docstring)."""
    t = record.telemetry
    return (
        t.temperature_c > params.max_temperature_c
        or t.latency_ms > params.max_latency_ms
        or t.errors > params.max_errors_per_window
    )


def eligible(record: ProviderRecord, height: int, params: HealthParams) -> bool:
    """Whether the provider may take a new lease at ``height`` (module docstring)."""
    return (
        record.status == ACTIVE
        and record.jailed_until == 0
        and record.heartbeat_height > 0
        and record.lease_deadline > height
        and not tripped(record, params)
        and len(record.leases) < record.max_leases
    )
