"""The policy adapter: a verified proof's metrics → ``units`` and ``qos`` (ARCHITECTURE §8).

Everything is an integer.  Fixed-point conventions:

* weights and multipliers in **basis points** (``BP = 10_000`` is ×1.0);
* availability in **parts per million** (``PPM = 1_000_000`` is 100 %), so 0.999 is
  ``999_000`` and 0.99 is ``990_000``;
* runtimes and latencies in **milliseconds**;
* ``units`` in **milli-units** (``MILLI = 1_000`` milli-units is one unit);
* prices in micro-units of the native token, as ``base_rate_per_unit`` is.

Formulas (``//`` is floor division; every result is rounded **down, once**, at the end, so a
provider is never paid for a fraction it did not earn and every node gets the same integer):

AI (``units = seconds × model_weight × qos_multiplier``)::

    latency_bp      = first tier with p95_latency_ms <= threshold, else latency_else_bp
                      (defaults: <=300 → 11500, <=800 → 10000, else 8000)
    availability_bp = first tier with availability_ppm >= threshold, else availability_else_bp
                      (defaults: >=999000 → 11000, >=990000 → 10000, else 9000)
    qos_bp          = latency_bp × availability_bp // BP
    units           = runtime_ms × model_weight_bp × qos_bp // BP²
                      (= seconds × weight × qos in milli-units: runtime_ms / 1000 s × 1000)

Quantum (``units = shots × depth_weight × quality_weight``)::

    depth_weight_bp = first tier with depth <= threshold, else depth_else_bp
                      (defaults: <=16 → 10000, <=32 → 15000, else 20000)
    qos_bp          = quality_bp           (given by the quantum verifier, 0..BP)
    units           = shots × depth_weight_bp × quality_bp × MILLI // BP²

ZK (ARCHITECTURE is silent; our choice): a verified Groth16 proof is worth
``units_per_proof`` milli-units (default 1000, one unit) at qos ``BP``.

Price of a job: ``price = units × base_rate_per_unit // MILLI`` (micro-units).

The most a job can cost (the ceiling an enqueue escrows, ``docs/ECONOMICS.md``) is its price
at the bounds the job itself allows and the highest multipliers of the schedule::

    AI:       runtime_cap_ms = runtime_base_ms + max_tokens × runtime_ms_per_token × weight_bp // BP
              ceiling        = price(runtime_cap_ms × weight_bp × max_qos_bp // BP², base_rate)
              max_qos_bp     = max(latency multipliers) × max(availability multipliers) // BP
    quantum:  ceiling        = price(shots × max(depth weights) × BP × MILLI // BP², base_rate)

A provider's claimed ``runtime_ms`` is signed by the provider, not attested, so settlement
meters ``min(runtime_ms, runtime_cap_ms)``: no verified job can cost more than its ceiling.
The runtime allowance scales with the model weight because a heavier model is slower per
token (defaults: 2 s of start-up plus 50 ms per token at weight 1.0).

Defaults are the seed's (llama3-8b 1.0, llama3-70b 6.5, clip-vit-b 0.3; AI base rate
15000, quantum 50000); genesis supplies the real values through :class:`PolicyParams`,
whose constructor rejects inconsistent tables with ``InvalidGenesis``.  A metric out of its
range, or a model not in the table, is ``InvalidProof`` (the proof claims something the
chain cannot price).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chain.errors import InvalidGenesis, InvalidProof

BP: Final[int] = 10_000
"""Basis points in 1.0."""
PPM: Final[int] = 1_000_000
"""Parts per million in 1.0."""
MILLI: Final[int] = 1_000
"""Milli-units in one unit."""

MAX_RUNTIME_MS: Final[int] = 1 << 40
MAX_LATENCY_MS: Final[int] = 1 << 32
MAX_SHOTS: Final[int] = 1 << 32
MAX_DEPTH: Final[int] = 1 << 32
MAX_MULTIPLIER_BP: Final[int] = 100 * BP
"""Largest weight or multiplier a genesis may set (×100)."""

Tiers = tuple[tuple[int, int], ...]
"""``((threshold, multiplier_bp), ...)``: the first tier whose threshold the metric meets."""


def _check_tiers(tiers: Sequence[tuple[int, int]], field: str, *, ascending: bool) -> None:
    previous: int | None = None
    for entry in tiers:
        if (
            not isinstance(entry, tuple)
            or len(entry) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in entry)
        ):
            raise InvalidGenesis(f"{field}: tiers are (threshold, multiplier_bp) integer pairs", field=field)
        threshold, multiplier = entry
        _check_multiplier(multiplier, field)
        if threshold < 0:
            raise InvalidGenesis(f"{field}: negative threshold", field=field)
        if previous is not None and (threshold <= previous if ascending else threshold >= previous):
            order = "increasing" if ascending else "decreasing"
            raise InvalidGenesis(f"{field}: thresholds must be strictly {order}", field=field)
        previous = threshold


def _check_multiplier(value: object, field: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_MULTIPLIER_BP:
        raise InvalidGenesis(
            f"{field}: multiplier must be an integer in [0, {MAX_MULTIPLIER_BP}] bp", field=field
        )


def _check_rate(value: object, field: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidGenesis(f"{field}: must be a non-negative integer", field=field)


def _metric(value: object, name: str, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= hi:
        raise InvalidProof(
            "policy_input_out_of_range", f"{name} {value!r} is not an integer in [0, {hi}]", metric=name
        )
    return value


def tier_at_most(value: int, tiers: Tiers, otherwise: int) -> int:
    """The multiplier of the first tier with ``value <= threshold`` (thresholds ascending)."""
    for threshold, multiplier in tiers:
        if value <= threshold:
            return multiplier
    return otherwise


def tier_at_least(value: int, tiers: Tiers, otherwise: int) -> int:
    """The multiplier of the first tier with ``value >= threshold`` (thresholds descending)."""
    for threshold, multiplier in tiers:
        if value >= threshold:
            return multiplier
    return otherwise


# --- parameters --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AiPricing:
    """``pricing.ai`` in genesis."""

    model_weights_bp: tuple[tuple[str, int], ...] = (
        ("clip-vit-b", 3_000),
        ("llama3-70b", 65_000),
        ("llama3-8b", 10_000),
    )
    """``(model, weight_bp)`` sorted by model name, names unique."""
    base_rate_per_unit: int = 15_000
    """Micro-units per unit."""
    latency_tiers_ms: Tiers = ((300, 11_500), (800, 10_000))
    """p95 latency ``<= threshold`` ms → multiplier (thresholds ascending)."""
    latency_else_bp: int = 8_000
    """Multiplier when the p95 latency exceeds every tier."""
    availability_tiers_ppm: Tiers = ((999_000, 11_000), (990_000, 10_000))
    """Availability ``>= threshold`` ppm → multiplier (thresholds descending)."""
    availability_else_bp: int = 9_000
    """Multiplier when availability is below every tier."""
    runtime_base_ms: int = 2_000
    """Runtime a job may bill before its first token (the ceiling's allowance)."""
    runtime_ms_per_token: int = 50
    """Runtime a job may bill per requested token at model weight 1.0."""

    def __post_init__(self) -> None:
        field = "pricing.ai.model_weights"
        weights = self.model_weights_bp
        if not isinstance(weights, tuple) or not all(
            isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str) and e[0] for e in weights
        ):
            raise InvalidGenesis(f"{field}: expected (name, weight_bp) pairs", field=field)
        names = [name for name, _ in weights]
        if names != sorted(set(names)):
            raise InvalidGenesis(f"{field}: names must be unique and sorted", field=field)
        for _, weight in weights:
            _check_multiplier(weight, field)
        _check_rate(self.base_rate_per_unit, "pricing.ai.base_rate_per_unit")
        _check_rate(self.runtime_base_ms, "pricing.ai.runtime_base_ms")
        _check_rate(self.runtime_ms_per_token, "pricing.ai.runtime_ms_per_token")
        _check_tiers(self.latency_tiers_ms, "pricing.ai.p95_latency_ms", ascending=True)
        _check_multiplier(self.latency_else_bp, "pricing.ai.p95_latency_ms")
        _check_tiers(self.availability_tiers_ppm, "pricing.ai.availability", ascending=False)
        _check_multiplier(self.availability_else_bp, "pricing.ai.availability")
        for threshold, _ in self.availability_tiers_ppm:
            if threshold > PPM:
                raise InvalidGenesis(
                    "pricing.ai.availability: threshold above 100%", field="pricing.ai.availability"
                )

    def model_weight_bp(self, model: str) -> int:
        """The weight of ``model``; ``InvalidProof("unknown_model")`` when it has none."""
        for name, weight in self.model_weights_bp:
            if name == model:
                return weight
        raise InvalidProof("unknown_model", f"model {model!r} has no weight in genesis", model=model)


@dataclass(frozen=True, slots=True)
class QuantumPricing:
    """``pricing.quantum`` in genesis."""

    depth_tiers: Tiers = ((16, 10_000), (32, 15_000))
    """Circuit depth ``<= threshold`` → weight (thresholds ascending)."""
    depth_else_bp: int = 20_000
    """Weight of circuits deeper than every tier."""
    base_rate_per_unit: int = 50_000
    """Micro-units per unit."""

    def __post_init__(self) -> None:
        _check_tiers(self.depth_tiers, "pricing.quantum.depth_weight", ascending=True)
        _check_multiplier(self.depth_else_bp, "pricing.quantum.depth_weight")
        _check_rate(self.base_rate_per_unit, "pricing.quantum.base_rate_per_unit")


@dataclass(frozen=True, slots=True)
class ZkPricing:
    """``pricing.zk`` in genesis (not in the seed; our defaults)."""

    units_per_proof: int = MILLI
    """Milli-units credited for one verified proof."""
    base_rate_per_unit: int = 15_000
    """Micro-units per unit."""

    def __post_init__(self) -> None:
        _check_rate(self.units_per_proof, "pricing.zk.units_per_proof")
        _check_rate(self.base_rate_per_unit, "pricing.zk.base_rate_per_unit")


@dataclass(frozen=True, slots=True)
class PolicyParams:
    """All pricing parameters; the defaults are those of ARCHITECTURE §8."""

    ai: AiPricing = AiPricing()
    """AI pricing."""
    quantum: QuantumPricing = QuantumPricing()
    """Quantum pricing."""
    zk: ZkPricing = ZkPricing()
    """ZK pricing."""


# --- results -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metering:
    """Units and QoS of one verified proof, with the multipliers used (for the payout record)."""

    units: int
    """Milli-units."""
    qos_bp: int
    """QoS multiplier in basis points (AI: latency × availability; quantum: quality)."""
    weight_bp: int
    """Model weight (AI), depth weight (quantum) or ``BP`` (ZK)."""
    latency_bp: int = BP
    """AI latency multiplier (``BP`` for other kinds)."""
    availability_bp: int = BP
    """AI availability multiplier (``BP`` for other kinds)."""


def ai_qos_bp(p95_latency_ms: int, availability_ppm: int, params: AiPricing) -> tuple[int, int, int]:
    """``(qos_bp, latency_bp, availability_bp)`` for the reported QoS metrics."""
    latency = _metric(p95_latency_ms, "p95_latency_ms", MAX_LATENCY_MS)
    availability = _metric(availability_ppm, "availability_ppm", PPM)
    latency_bp = tier_at_most(latency, params.latency_tiers_ms, params.latency_else_bp)
    availability_bp = tier_at_least(availability, params.availability_tiers_ppm, params.availability_else_bp)
    return latency_bp * availability_bp // BP, latency_bp, availability_bp


def meter_ai(
    model: str, runtime_ms: int, p95_latency_ms: int, availability_ppm: int, params: AiPricing
) -> Metering:
    """``units = runtime_ms × model_weight_bp × qos_bp // BP²`` milli-units (see the module docstring)."""
    runtime = _metric(runtime_ms, "runtime_ms", MAX_RUNTIME_MS)
    weight = params.model_weight_bp(model)
    qos, latency_bp, availability_bp = ai_qos_bp(p95_latency_ms, availability_ppm, params)
    return Metering(
        units=runtime * weight * qos // (BP * BP),
        qos_bp=qos,
        weight_bp=weight,
        latency_bp=latency_bp,
        availability_bp=availability_bp,
    )


def meter_quantum(shots: int, depth: int, quality_bp: int, params: QuantumPricing) -> Metering:
    """``units = shots × depth_weight_bp × quality_bp × MILLI // BP²`` milli-units."""
    n_shots = _metric(shots, "shots", MAX_SHOTS)
    n_depth = _metric(depth, "depth", MAX_DEPTH)
    quality = _metric(quality_bp, "quality_bp", BP)
    weight = tier_at_most(n_depth, params.depth_tiers, params.depth_else_bp)
    return Metering(units=n_shots * weight * quality * MILLI // (BP * BP), qos_bp=quality, weight_bp=weight)


def meter_zk(params: ZkPricing) -> Metering:
    """A verified Groth16 proof: ``units_per_proof`` milli-units at full QoS."""
    return Metering(units=params.units_per_proof, qos_bp=BP, weight_bp=BP)


def price(units: int, base_rate_per_unit: int) -> int:
    """``units × base_rate_per_unit // MILLI``: micro-units owed for ``units`` milli-units."""
    if units < 0 or base_rate_per_unit < 0:
        raise ValueError("units and rates are non-negative")
    return units * base_rate_per_unit // MILLI


# --- ceilings ----------------------------------------------------------------------


def ai_runtime_cap_ms(model: str, max_tokens: int, params: AiPricing) -> int:
    """``runtime_base_ms + max_tokens × runtime_ms_per_token × weight_bp // BP`` (module docstring)."""
    weight = params.model_weight_bp(model)
    return params.runtime_base_ms + max_tokens * params.runtime_ms_per_token * weight // BP


def ai_max_qos_bp(params: AiPricing) -> int:
    """The highest QoS multiplier the schedule can give: best latency × best availability."""
    latency = max([params.latency_else_bp, *(m for _, m in params.latency_tiers_ms)])
    availability = max([params.availability_else_bp, *(m for _, m in params.availability_tiers_ppm)])
    return latency * availability // BP


def ai_ceiling(model: str, max_tokens: int, params: AiPricing) -> int:
    """The most an AI job may cost (module docstring); ``InvalidProof("unknown_model")`` if unpriced."""
    weight = params.model_weight_bp(model)
    units = ai_runtime_cap_ms(model, max_tokens, params) * weight * ai_max_qos_bp(params) // (BP * BP)
    return price(units, params.base_rate_per_unit)


def quantum_ceiling(shots: int, params: QuantumPricing) -> int:
    """The most a quantum job of ``shots`` shots may cost: the deepest weight at full quality."""
    weight = max([params.depth_else_bp, *(w for _, w in params.depth_tiers)])
    return price(shots * weight * BP * MILLI // (BP * BP), params.base_rate_per_unit)
