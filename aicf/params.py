"""AICF parameters (ARCHITECTURE §8), the ``aicf`` section of genesis.

Every number is an integer: ratios and multipliers in basis points (10000 = 1.0),
amounts in micro-units, latency in milliseconds, availability in basis points.
The defaults are the seed document's.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TreasurySource:
    """Per block, the fund receives these shares of issuance and of fees."""

    block_mint_bps: int = 150
    fee_share_bps: int = 200


@dataclass(frozen=True, slots=True)
class TreasurySplit:
    """How an epoch's settled payouts are split; sums to 10000."""

    provider_bps: int = 8000
    miner_bps: int = 1500
    fund_bps: int = 500


@dataclass(frozen=True, slots=True)
class EpochParams:
    """The per-epoch payout cap Γ in units.

    There is one epoch length, the chain's ``epoch_length`` (genesis ``params``): validator
    sets change and the fund settles at the same boundaries.
    """

    gamma_cap: int = 1_000_000


def _default_model_weights() -> dict[str, int]:
    return {"llama3-8b": 10_000, "llama3-70b": 65_000, "clip-vit-b": 3_000}


@dataclass(frozen=True, slots=True)
class AiPricing:
    """``units = seconds × model_weight × qos_multiplier`` (weights in bp)."""

    model_weights_bp: dict[str, int] = field(default_factory=_default_model_weights)
    base_rate_per_unit: int = 15_000
    latency_p95_tiers: tuple[tuple[int, int], ...] = ((300, 11_500), (800, 10_000))
    """``(max_p95_ms, multiplier_bp)``: the first tier whose bound holds applies."""
    latency_p95_default_bp: int = 8_000
    availability_tiers: tuple[tuple[int, int], ...] = ((9_990, 11_000), (9_900, 10_000))
    """``(min_availability_bp, multiplier_bp)``: the first tier whose bound holds applies."""
    availability_default_bp: int = 9_000


@dataclass(frozen=True, slots=True)
class QuantumPricing:
    """``units = shots × depth_weight × quality_weight`` (weights in bp)."""

    depth_tiers: tuple[tuple[int, int], ...] = ((16, 10_000), (32, 15_000))
    depth_default_bp: int = 20_000
    base_rate_per_unit: int = 50_000


@dataclass(frozen=True, slots=True)
class MatcherParams:
    """Assignment: strategy and the per-provider concurrency cap."""

    strategy: str = "weighted_health"
    max_concurrent_tasks_per_provider: int = 50


@dataclass(frozen=True, slots=True)
class HealthParams:
    """Health weights (bp, sum 10000) and the circuit breaker's limits."""

    bandwidth_weight_bp: int = 4_000
    latency_weight_bp: int = 3_000
    compute_weight_bp: int = 2_000
    reputation_weight_bp: int = 1_000
    max_temperature_c: int = 85
    max_latency_ms: int = 100
    max_errors_per_window: int = 25


@dataclass(frozen=True, slots=True)
class SlashingParams:
    """Penalties in bp of stake, and jail length in blocks."""

    missed_lease_bps: int = 100
    bad_proof_bps: int = 1_000
    qos_failure_bps: int = 50
    quorum_dissent_bps: int = 500
    jail_blocks: int = 1_000


@dataclass(frozen=True, slots=True)
class AicfParams:
    """The whole ``aicf`` genesis section."""

    treasury: TreasurySource = field(default_factory=TreasurySource)
    split: TreasurySplit = field(default_factory=TreasurySplit)
    epoch: EpochParams = field(default_factory=EpochParams)
    ai_pricing: AiPricing = field(default_factory=AiPricing)
    quantum_pricing: QuantumPricing = field(default_factory=QuantumPricing)
    matcher: MatcherParams = field(default_factory=MatcherParams)
    health: HealthParams = field(default_factory=HealthParams)
    slashing: SlashingParams = field(default_factory=SlashingParams)
