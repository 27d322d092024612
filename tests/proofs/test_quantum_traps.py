"""Beacon-derived randomness, trap generation, slot layout and reveal, and the trap test.

Seeds are stated where randomness is used; every stream is ``BeaconStream(tag, ...)`` or
``chain.hashing.H`` of a stated string, so each test is reproducible bit for bit.
"""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.codec import encode
from chain.errors import InvalidProof
from chain.hashing import H
from proofs.quantum.commitment import Histogram
from proofs.quantum.qasm import circuit_to_qasm, parse_qasm
from proofs.quantum.stabilizer import AffineSupport, clifford_support
from proofs.quantum.stats import CONFIDENCE_NATS, check_trap, trap_statistics, uniformity_bound_holds
from proofs.quantum.stream import BeaconStream
from proofs.quantum.traps import (
    generate_trap,
    max_support_dim,
    plan_job,
    revealed_slots,
    trap_layers,
)

HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
BEACON = bytes(range(32))
TASK = b"\x11" * 32
USER5 = parse_qasm(HEAD + "qreg q[5];\nh q;\n")


# --- the stream ---------------------------------------------------------------------


def test_stream_rule() -> None:
    """block_j = SHA3-256(len(tag) ‖ tag ‖ encode(items) ‖ j as 8 bytes big-endian)."""
    tag = b"test/stream"
    seed = encode([b"x"])
    expected = b"".join(
        hashlib.sha3_256(bytes([len(tag)]) + tag + seed + j.to_bytes(8, "big")).digest() for j in range(2)
    )
    assert BeaconStream(tag, b"x").read(64) == expected
    s = BeaconStream(tag, b"x")
    assert s.read(40) + s.read(24) == expected
    assert BeaconStream(tag, b"x").read(40).hex().startswith("e50187c88a551636")


def test_randbelow_uniform_and_shuffle() -> None:
    """Stream b"test/uniform": 60000 draws of randbelow(6) pass a chi-square at p ~ 1e-6."""
    s = BeaconStream(b"test/uniform")
    counts = [0] * 6
    for _ in range(60_000):
        counts[s.randbelow(6)] += 1
    chi2 = sum((c - 10_000) ** 2 / 10_000 for c in counts)
    assert chi2 < 35.9  # chi-square, 5 dof, upper 1e-6 quantile ~ 35.9
    assert BeaconStream(b"t").randbelow(1) == 0
    perm = BeaconStream(b"t").shuffled(range(50))
    assert sorted(perm) == list(range(50)) and perm != list(range(50))
    assert BeaconStream(b"t").subset(10, 0) == ()
    with pytest.raises(ValueError):
        BeaconStream(b"t").randbelow(0)


# --- traps, layout and reveal -------------------------------------------------------


def test_trap_golden_vector() -> None:
    """Consensus pin: changing the derivation changes this digest (beacon 00..1f, task 11*32)."""
    trap = generate_trap(BEACON, TASK, 0, 5, 2, 2)
    text = circuit_to_qasm(trap.circuit)
    assert hashlib.sha3_256(text.encode()).hexdigest() == (
        "b5862672488f095c8e31478e0c8e780b1fff76953a55b451b6e1d95d7af79bd5"
    )
    assert trap.hidden_dim == 0
    plan = plan_job(TASK, BEACON, USER5, 1000, num_traps=16, num_revealed=8, max_trap_layers=32)
    assert (plan.user_slot, plan.layers, plan.k_max) == (7, 1, 2)
    assert revealed_slots(plan, bytes(32)) == (2, 3, 4, 5, 8, 11, 13, 15)


def test_same_beacon_same_traps_different_beacon_different() -> None:
    other = H(b"test/beacon", b"other")
    a = plan_job(TASK, BEACON, USER5, 1000, num_traps=16, num_revealed=8, max_trap_layers=32)
    b = plan_job(TASK, BEACON, USER5, 1000, num_traps=16, num_revealed=8, max_trap_layers=32)
    c = plan_job(TASK, other, USER5, 1000, num_traps=16, num_revealed=8, max_trap_layers=32)
    d = plan_job(b"\x12" * 32, BEACON, USER5, 1000, num_traps=16, num_revealed=8, max_trap_layers=32)
    assert a == b
    for slot in a.trap_slots:
        assert a.trap_at(slot) == b.trap_at(slot)
    texts = lambda p: [circuit_to_qasm(p.circuit_at(s)) for s in p.trap_slots]  # noqa: E731
    assert texts(a) == texts(b)
    assert set(texts(a)).isdisjoint(texts(c)) and set(texts(a)).isdisjoint(texts(d))
    assert revealed_slots(a, BEACON) == revealed_slots(b, BEACON)
    assert revealed_slots(a, BEACON) != revealed_slots(a, other)
    # Trap slots, user slot and circuit_at agree.
    assert sorted((*a.trap_slots, a.user_slot)) == list(range(17))
    assert a.circuit_at(a.user_slot) == USER5
    assert [a.trap_index(s) for s in a.trap_slots] == list(range(16))
    with pytest.raises(ValueError):
        a.trap_index(a.user_slot)


def test_trap_shape_parameters() -> None:
    assert [trap_layers(d, 32) for d in (0, 1, 4, 5, 8, 9, 1000)] == [1, 1, 1, 2, 2, 3, 32]
    assert [max_support_dim(12, s) for s in (1, 31, 32, 63, 64, 100, 1000, 10**6)] == [0, 0, 1, 1, 2, 2, 5, 6]
    assert max_support_dim(1, 10**6) == 0 and max_support_dim(20, 10**6) == 10


@given(st.binary(min_size=32, max_size=32), st.integers(1, 12), st.integers(0, 40), st.integers(16, 5000))
def test_trap_shape_properties(beacon: bytes, n: int, depth: int, shots: int) -> None:
    """Trap support is at most half the qubits and at most shots/16 points; the offset of
    the support is randomized by the final x layer."""
    layers, k_max = trap_layers(depth, 32), max_support_dim(n, shots)
    trap = generate_trap(beacon, TASK, 0, n, layers, k_max)
    support = clifford_support(trap.circuit)
    assert support.dim == trap.hidden_dim <= min(n // 2, k_max)
    assert support.size <= max(1, shots // 16)
    assert trap.circuit.measurements == tuple((q, q) for q in range(n))


def test_user_slot_and_reveal_are_uniform() -> None:
    """Beacons H(b"test/layout", i) for i < 3400: the user slot of a 17-slot job and the
    number of times each trap slot is revealed are close to uniform (chi-square, 1e-6)."""
    user_counts = [0] * 17
    revealed_counts = [0] * 17
    trials = 3400
    for i in range(trials):
        beacon = H(b"test/layout", i.to_bytes(4, "big"))
        plan = plan_job(TASK, beacon, USER5, 1000, num_traps=16, num_revealed=8, max_trap_layers=32)
        user_counts[plan.user_slot] += 1
        fixed = plan_job(TASK, BEACON, USER5, 1000, num_traps=16, num_revealed=8, max_trap_layers=32)
        for slot in revealed_slots(fixed, beacon):
            revealed_counts[slot] += 1
    chi2_user = sum((c - trials / 17) ** 2 / (trials / 17) for c in user_counts)
    assert chi2_user < 58.0  # 16 dof, 1e-6 upper quantile ~ 57.1
    assert revealed_counts[7] == 0  # the user slot of the fixed plan is never "revealed"
    per_slot = trials * 8 / 16
    assert all(abs(c - per_slot) < 5 * math.sqrt(per_slot) for i, c in enumerate(revealed_counts) if i != 7)


def test_partial_faker_escape_rate_is_hypergeometric() -> None:
    """A provider faking f of 16 trap slots escapes iff none of the 8 opened slots is faked,
    probability C(16-f, 8)/C(16, 8).  Measured over reveal beacons H(b"test/escape", i),
    i < 4000: within 5 sigma of the formula for f = 1, 2, 4; never for f = 9."""
    plan = plan_job(TASK, BEACON, USER5, 1000, num_traps=16, num_revealed=8, max_trap_layers=32)
    reveals = [set(revealed_slots(plan, H(b"test/escape", i.to_bytes(4, "big")))) for i in range(4000)]
    for f in (1, 2, 4, 9):
        faked = set(plan.trap_slots[:f])
        escapes = sum(1 for r in reveals if not r & faked)
        p = math.comb(16 - f, 8) / math.comb(16, 8)
        assert abs(escapes - 4000 * p) <= 5 * math.sqrt(4000 * p * (1 - p)) + 1
        if f > 8:
            assert escapes == 0


# --- the statistical test -----------------------------------------------------------


def support_of(n: int, k_max: int, seed: bytes) -> AffineSupport:
    """The exact support of trap 0 for beacon ``seed`` (its dimension is drawn in [0, k_max])."""
    return clifford_support(generate_trap(seed, TASK, 0, n, 2, k_max).circuit)


def support_with_dim(n: int, k: int, seed: bytes) -> AffineSupport:
    """The first trap (index 0, 1, ...) for beacon ``seed`` whose support has dimension ``k``."""
    for index in range(1000):
        trap = generate_trap(seed, TASK, index, n, 2, k)
        if trap.hidden_dim == k:
            return clifford_support(trap.circuit)
    raise AssertionError("no trap of that dimension")


def exact_sample(support: AffineSupport, shots: int, seed: bytes) -> Histogram:
    """Exactly uniform sampling on the support: low k bits of SHA3-stream words."""
    points = sorted(support.points())
    words = np.frombuffer(BeaconStream(b"test/exact-sample", seed).read(8 * shots), dtype=">u8")
    idx = (words & np.uint64(support.size - 1)).astype(np.int64)
    counts = np.bincount(idx, minlength=support.size)
    return Histogram.from_counts({points[i]: int(c) for i, c in enumerate(counts)})


def uniform_sample(n: int, shots: int, seed: bytes) -> Histogram:
    words = np.frombuffer(BeaconStream(b"test/uniform-sample", seed).read(8 * shots), dtype=">u8")
    return Histogram.from_counts(
        {
            int(o): int(c)
            for o, c in zip(*np.unique(words & np.uint64((1 << n) - 1), return_counts=True), strict=True)
        }
    )


def test_honest_false_reject_rate_is_zero() -> None:
    """3000 honest noiseless trap histograms (seeds H(b"test/honest", i)), n in 2..16,
    k up to min(n/2, log2(m/16)), m in {100, 400, 1000, 5000}: zero rejections at noise 0 bp
    (the bound says at most e^-18 ≈ 1.5e-8 each), and the largest TV stays well under the
    threshold."""
    rejections = 0
    for i in range(3000):
        seed = H(b"test/honest", i.to_bytes(4, "big"))
        n = 2 + i % 15
        m = (100, 400, 1000, 5000)[i % 4]
        support = support_of(n, max_support_dim(n, m), seed)
        hist = exact_sample(support, m, seed)
        try:
            check_trap(support, hist, 0)
        except InvalidProof:
            rejections += 1
    assert rejections == 0


def test_threshold_margin_for_honest() -> None:
    """Seeds H(b"test/margin", i), i < 200, k = 5, m = 1000: the honest TV never exceeds
    sqrt((N-1)/(4m)) (its mean bound) by more than the McDiarmid slack sqrt(L/2m)."""
    support = support_with_dim(12, 5, b"margin-support")
    assert support.dim == 5
    m = 1000
    bound = math.sqrt(31 / (4 * m)) + math.sqrt(CONFIDENCE_NATS / (2 * m))
    worst = max(
        float(trap_statistics(support, exact_sample(support, m, H(b"test/margin", bytes([i])))).tv)
        for i in range(200)
    )
    assert worst < bound * 0.75


def test_uniform_provider_rejected() -> None:
    """Histograms uniform over all 2^n outcomes (seeds H(b"test/cheat-uniform", i), 300
    trials, n in 2..13, m = 1000) are rejected on support every time."""
    for i in range(300):
        seed = H(b"test/cheat-uniform", i.to_bytes(4, "big"))
        n = 2 + i % 12
        support = support_of(n, max_support_dim(n, 1000), seed)
        with pytest.raises(InvalidProof) as info:
            check_trap(support, uniform_sample(n, 1000, seed), 500)
        assert info.value.reason == "quantum_trap_support"


def test_point_mass_and_half_support_rejected_on_uniformity() -> None:
    """A provider that knows the support but answers from part of it fails test (b)."""
    support = support_with_dim(12, 5, b"margin-support")
    points = sorted(support.points())
    point_mass = Histogram(((points[0], 1000),))
    with pytest.raises(InvalidProof) as info:
        check_trap(support, point_mass, 500)
    assert info.value.reason == "quantum_trap_uniformity"
    half = Histogram.from_counts({p: 1000 // 8 for p in points[:8]})  # 8 of 32 points
    with pytest.raises(InvalidProof) as info:
        check_trap(support, half, 500)
    assert info.value.reason == "quantum_trap_uniformity"


@pytest.mark.parametrize(("noise", "accepted"), [(0.0, True), (0.02, True), (0.3, False)])
def test_noisy_honest_device(noise: float, accepted: bool) -> None:
    """A device that replaces a fraction `noise` of shots with uniformly random outcomes:
    2% passes the 5% allowance, 30% does not (seeds b"noise-*", n = 12, k = 5, m = 1000)."""
    support = support_with_dim(12, 5, b"margin-support")
    m = 1000
    bad = round(noise * m)
    good = exact_sample(support, m - bad, b"noise-good").as_dict()
    junk = uniform_sample(12, bad, b"noise-junk").as_dict() if bad else {}
    hist = Histogram.from_counts({o: good.get(o, 0) + junk.get(o, 0) for o in good.keys() | junk.keys()})
    if accepted:
        stats = check_trap(support, hist, 500)
        assert stats.inside_bp >= 9700
    else:
        with pytest.raises(InvalidProof):
            check_trap(support, hist, 500)


def test_support_allowance_boundary_is_exact() -> None:
    support = support_with_dim(6, 0, b"point")
    assert support.dim == 0
    (inside,) = support.points()
    outside = inside ^ 1
    # 50 of 1000 outside = exactly 500 bp: accepted; 51: rejected.
    check_trap(support, Histogram.from_counts({inside: 950, outside: 50}), 500)
    with pytest.raises(InvalidProof) as info:
        check_trap(support, Histogram.from_counts({inside: 949, outside: 51}), 500)
    assert info.value.reason == "quantum_trap_support"
    with pytest.raises(ValueError):
        check_trap(support, Histogram(((inside, 1),)), 2501)


@given(
    st.integers(0, 10**6),
    st.integers(1, 10**6),
    st.integers(0, 12),
    st.integers(1, 10**5),
    st.integers(0, 2500),
)
def test_exact_bound_agrees_with_real_arithmetic(
    num: int, den: int, k: int, inside: int, noise_bp: int
) -> None:
    """The rational decision equals the real-number inequality wherever floats can tell."""
    tv = Fraction(num, den) % 1
    n_points = 1 << k
    rhs = (
        noise_bp / 10_000
        + math.sqrt((n_points - 1) / (4 * inside))
        + math.sqrt(CONFIDENCE_NATS / (2 * inside))
    )
    if abs(float(tv) - rhs) > 1e-9:
        assert uniformity_bound_holds(tv, n_points, inside, noise_bp) == (float(tv) <= rhs)
