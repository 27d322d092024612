"""The policy adapter: integer units and QoS per ARCHITECTURE §8, at every threshold boundary."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.errors import InvalidGenesis, InvalidProof
from proofs.policy import (
    BP,
    MILLI,
    PPM,
    AiPricing,
    Metering,
    PolicyParams,
    QuantumPricing,
    ZkPricing,
    ai_qos_bp,
    meter_ai,
    meter_quantum,
    meter_zk,
    price,
)

AI = AiPricing()
QUANTUM = QuantumPricing()


def test_defaults_are_design_section_8() -> None:
    params = PolicyParams()
    assert dict(params.ai.model_weights_bp) == {
        "llama3-8b": 10_000,
        "llama3-70b": 65_000,
        "clip-vit-b": 3_000,
    }
    assert params.ai.base_rate_per_unit == 15_000
    assert params.quantum.base_rate_per_unit == 50_000
    assert params.ai.latency_tiers_ms == ((300, 11_500), (800, 10_000)) and params.ai.latency_else_bp == 8_000
    assert params.ai.availability_tiers_ppm == ((999_000, 11_000), (990_000, 10_000))
    assert params.ai.availability_else_bp == 9_000
    assert (
        params.quantum.depth_tiers == ((16, 10_000), (32, 15_000)) and params.quantum.depth_else_bp == 20_000
    )


@pytest.mark.parametrize(
    ("p95_ms", "latency_bp"),
    [(0, 11_500), (299, 11_500), (300, 11_500), (301, 10_000), (800, 10_000), (801, 8_000), (10**6, 8_000)],
)
def test_latency_tiers(p95_ms: int, latency_bp: int) -> None:
    assert ai_qos_bp(p95_ms, 995_000, AI) == (latency_bp, latency_bp, 10_000)


@pytest.mark.parametrize(
    ("availability_ppm", "availability_bp"),
    [
        (PPM, 11_000),
        (999_001, 11_000),
        (999_000, 11_000),  # exactly 0.999
        (998_999, 10_000),
        (990_000, 10_000),  # exactly 0.990
        (989_999, 9_000),
        (0, 9_000),
    ],
)
def test_availability_tiers(availability_ppm: int, availability_bp: int) -> None:
    assert ai_qos_bp(500, availability_ppm, AI) == (availability_bp, 10_000, availability_bp)


@pytest.mark.parametrize(
    ("p95_ms", "availability_ppm", "qos_bp"),
    [
        (300, 999_000, 12_650),  # 1.15 × 1.10
        (300, 989_999, 10_350),  # 1.15 × 0.90
        (801, 999_000, 8_800),  # 0.80 × 1.10
        (801, 989_999, 7_200),  # 0.80 × 0.90
        (800, 990_000, 10_000),
    ],
)
def test_qos_is_the_product_of_both_multipliers(p95_ms: int, availability_ppm: int, qos_bp: int) -> None:
    assert ai_qos_bp(p95_ms, availability_ppm, AI)[0] == qos_bp


@pytest.mark.parametrize(
    ("model", "runtime_ms", "p95_ms", "availability_ppm", "units", "qos_bp"),
    [
        ("llama3-8b", 1_000, 800, 990_000, 1_000, 10_000),  # 1 s × 1.0 × 1.0 = 1 unit
        ("llama3-8b", 1_000, 300, 999_000, 1_265, 12_650),
        ("llama3-8b", 1_000, 301, 999_000, 1_100, 11_000),
        ("llama3-70b", 2_000, 300, 999_000, 16_445, 12_650),  # 2 × 6.5 × 1.265 = 16.445
        ("llama3-70b", 3_600_000, 801, 0, 16_848_000, 7_200),  # an hour at 0.72
        ("clip-vit-b", 333, 801, 989_999, 71, 7_200),  # 0.333 × 0.3 × 0.72 = 0.0719… → floor 71
        ("clip-vit-b", 1, 800, 990_000, 0, 10_000),  # 0.3 milli-units → floor 0
        ("llama3-8b", 0, 0, PPM, 0, 12_650),
    ],
)
def test_ai_units(
    model: str, runtime_ms: int, p95_ms: int, availability_ppm: int, units: int, qos_bp: int
) -> None:
    metering = meter_ai(model, runtime_ms, p95_ms, availability_ppm, AI)
    assert (metering.units, metering.qos_bp) == (units, qos_bp)
    assert metering.weight_bp == dict(AI.model_weights_bp)[model]
    assert metering.latency_bp * metering.availability_bp // BP == qos_bp


@pytest.mark.parametrize(
    ("depth", "weight_bp"),
    [(0, 10_000), (16, 10_000), (17, 15_000), (32, 15_000), (33, 20_000), (1000, 20_000)],
)
def test_quantum_depth_tiers(depth: int, weight_bp: int) -> None:
    metering = meter_quantum(1_000, depth, BP, QUANTUM)
    assert metering.weight_bp == weight_bp
    assert metering.units == 1_000 * weight_bp * MILLI // BP  # shots × weight, in milli-units
    assert metering.qos_bp == BP


@pytest.mark.parametrize(
    ("shots", "depth", "quality_bp", "units"),
    [
        (1_000, 16, 10_000, 1_000_000),  # 1000 units
        (1_024, 20, 9_500, 1_459_200),  # 1024 × 1.5 × 0.95 = 1459.2
        (3, 33, 3_333, 1_999),  # 3 × 2.0 × 0.3333 = 1.9998 → floor 1999
        (1, 1, 1, 0),
        (0, 40, 10_000, 0),
    ],
)
def test_quantum_units(shots: int, depth: int, quality_bp: int, units: int) -> None:
    metering = meter_quantum(shots, depth, quality_bp, QUANTUM)
    assert (metering.units, metering.qos_bp) == (units, quality_bp)


def test_zk_units() -> None:
    assert meter_zk(ZkPricing()) == Metering(units=MILLI, qos_bp=BP, weight_bp=BP)
    assert meter_zk(ZkPricing(units_per_proof=250)).units == 250


@pytest.mark.parametrize(
    ("units", "rate", "micro"),
    [
        (1_000, 15_000, 15_000),
        (1_265, 15_000, 18_975),
        (1, 15_000, 15),
        (1, 999, 0),
        (16_445, 50_000, 822_250),
    ],
)
def test_price_floors(units: int, rate: int, micro: int) -> None:
    assert price(units, rate) == micro


def test_unknown_model_and_bad_metrics() -> None:
    with pytest.raises(InvalidProof) as info:
        meter_ai("gpt-5", 1_000, 100, PPM, AI)
    assert info.value.reason == "unknown_model"
    bad_calls = [
        lambda: meter_ai("llama3-8b", -1, 100, PPM, AI),
        lambda: meter_ai("llama3-8b", 1_000, -1, PPM, AI),
        lambda: meter_ai("llama3-8b", 1_000, 100, PPM + 1, AI),
        lambda: meter_ai("llama3-8b", True, 100, PPM, AI),
        lambda: meter_ai("llama3-8b", 1.5, 100, PPM, AI),  # type: ignore[arg-type]
        lambda: meter_ai("llama3-8b", 2**41, 100, PPM, AI),
        lambda: meter_quantum(-1, 1, BP, QUANTUM),
        lambda: meter_quantum(1, 1, BP + 1, QUANTUM),
        lambda: meter_quantum(1, "3", BP, QUANTUM),  # type: ignore[arg-type]
    ]
    for call in bad_calls:
        with pytest.raises(InvalidProof) as info:
            call()
        assert info.value.reason == "policy_input_out_of_range"
    with pytest.raises(ValueError):
        price(-1, 15_000)


@pytest.mark.parametrize(
    "make",
    [
        lambda: AiPricing(model_weights_bp=(("llama3-8b", 10_000), ("clip-vit-b", 3_000))),  # not sorted
        lambda: AiPricing(model_weights_bp=(("a", 1), ("a", 2))),  # duplicate
        lambda: AiPricing(model_weights_bp=(("a", -1),)),
        lambda: AiPricing(model_weights_bp=(("", 1),)),
        lambda: AiPricing(latency_tiers_ms=((800, 10_000), (300, 11_500))),  # not ascending
        lambda: AiPricing(availability_tiers_ppm=((990_000, 10_000), (999_000, 11_000))),  # not descending
        lambda: AiPricing(availability_tiers_ppm=((PPM + 1, 11_000),)),
        lambda: AiPricing(latency_else_bp=-1),
        lambda: AiPricing(base_rate_per_unit=-5),
        lambda: QuantumPricing(depth_tiers=((16, 10_000), (16, 15_000))),
        lambda: QuantumPricing(depth_tiers=((16, 1.5),)),  # type: ignore[arg-type]
        lambda: ZkPricing(units_per_proof=-1),
    ],
)
def test_inconsistent_genesis_tables_are_refused(make: object) -> None:
    with pytest.raises(InvalidGenesis):
        make()  # type: ignore[operator]


def test_genesis_can_supply_other_tables() -> None:
    params = AiPricing(
        model_weights_bp=(("tiny", 500),),
        latency_tiers_ms=((100, 20_000),),
        latency_else_bp=5_000,
        availability_tiers_ppm=(),
        availability_else_bp=BP,
    )
    assert meter_ai("tiny", 10_000, 100, 0, params).units == 10_000 * 500 * 20_000 // BP**2
    assert meter_ai("tiny", 10_000, 101, 0, params).qos_bp == 5_000


@given(
    model=st.sampled_from(["llama3-8b", "llama3-70b", "clip-vit-b"]),
    runtime=st.integers(0, 10**9),
    extra=st.integers(0, 10**6),
    p95=st.integers(0, 2_000),
    availability=st.integers(0, PPM),
)
def test_ai_units_are_integers_and_monotone(
    model: str, runtime: int, extra: int, p95: int, availability: int
) -> None:
    base = meter_ai(model, runtime, p95, availability, AI)
    assert type(base.units) is int and type(base.qos_bp) is int
    # more work, a faster p95 or a better availability never earns fewer units
    assert meter_ai(model, runtime + extra, p95, availability, AI).units >= base.units
    assert meter_ai(model, runtime, max(0, p95 - 301), availability, AI).units >= base.units
    assert meter_ai(model, runtime, p95, min(PPM, availability + 9_001), AI).units >= base.units
    # one floor, at the end: never more than the exact rational value, and less by under one milli-unit
    exact_numerator = runtime * base.weight_bp * base.latency_bp * base.availability_bp
    assert base.units * BP**3 <= exact_numerator < (base.units + 1) * BP**3


@given(shots=st.integers(0, 10**6), depth=st.integers(0, 100), quality=st.integers(0, BP))
def test_quantum_units_are_integers_and_floor_once(shots: int, depth: int, quality: int) -> None:
    metering = meter_quantum(shots, depth, quality, QUANTUM)
    assert type(metering.units) is int
    numerator = shots * metering.weight_bp * quality * MILLI
    assert metering.units * BP**2 <= numerator < (metering.units + 1) * BP**2
