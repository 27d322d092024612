"""QUANTUM_V1 end to end: honest providers pass; cheaters, tampering and bad bytes fail with
the exact reason.

The job: a 12-qubit user circuit of depth 20 (``USER_SRC``), 1000 shots, default genesis
parameters (16 trap slots, 8 opened, 5% noise allowance).  Job ``i`` uses task id
``H(b"test/task", i)``, assignment beacon ``H(b"test/assign", i)``, reveal beacon
``H(b"test/reveal", i)`` and provider shot seed ``H(b"test/shots", i)``; the provider key is
derived from ``H(b"test/provider-key", b"")``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection
from functools import cache

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from chain.codec import decode, encode
from chain.errors import InvalidProof
from chain.hashing import H
from node.provider.quantum import commit, open_result, sign_body, simulate_plan
from proofs.quantum.commitment import Histogram, output_digest
from proofs.quantum.qasm import Circuit, parse_qasm
from proofs.quantum.stream import BeaconStream
from proofs.quantum.traps import JobPlan, revealed_slots
from proofs.quantum.verify import (
    MAX_BODY_BYTES,
    QuantumContext,
    QuantumParams,
    QuantumResultBody,
    RevealedTrap,
    VerifiedQuantumResult,
    make_plan,
    plan_for,
    verify_quantum_result,
)

CHAIN = "cairn-test"
KEY = Ed25519PrivateKey.from_private_bytes(H(b"test/provider-key", b""))
PUB = KEY.public_key().public_bytes_raw()
SHOTS = 1000
PARAMS = QuantumParams()


def user_qasm(n: int = 12, layers: int = 10) -> bytes:
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];", f"creg c[{n}];"]
    for layer in range(layers):
        lines += [f"ry({0.1 * (q + 1) + 0.3 * layer}) q[{q}];" for q in range(n)]
        lines += [f"cx q[{q}], q[{q + 1}];" for q in range(layer % 2, n - 1, 2)]
    lines.append("measure q -> c;")
    return "\n".join(lines).encode()


USER_SRC = user_qasm()


def ids(i: int) -> tuple[bytes, bytes, bytes, bytes]:
    b = i.to_bytes(4, "big")
    return H(b"test/task", b), H(b"test/assign", b), H(b"test/reveal", b), H(b"test/shots", b)


def context(plan: JobPlan, reveal: bytes, root: bytes, **changes: object) -> QuantumContext:
    ctx = QuantumContext(
        chain_id=CHAIN,
        task_id=plan.task_id,
        circuit=USER_SRC,
        shots=SHOTS,
        assign_beacon=plan.assign_beacon,
        reveal_beacon=reveal,
        committed_root=root,
        provider_pubkey=PUB,
        params=PARAMS,
    )
    return dataclasses.replace(ctx, **changes)  # type: ignore[arg-type]


@cache
def user_circuit() -> Circuit:
    return parse_qasm(USER_SRC)


@cache
def honest_job(i: int = 0) -> tuple[JobPlan, tuple[Histogram, ...], bytes]:
    """Job ``i`` run by an honest noiseless provider: (plan, all slot histograms, reveal beacon)."""
    task, assign, reveal, shots_seed = ids(i)
    plan = make_plan(task, assign, user_circuit(), SHOTS, PARAMS)
    return plan, simulate_plan(plan, shots_seed), reveal


def submit(
    plan: JobPlan, hists: tuple[Histogram, ...], reveal: bytes, **kwargs: object
) -> tuple[QuantumResultBody, QuantumContext]:
    body = open_result(plan, hists, reveal, chain_id=CHAIN, key=KEY, **kwargs)  # type: ignore[arg-type]
    return body, context(plan, reveal, body.root)


def reason_of(body: bytes | QuantumResultBody, ctx: QuantumContext) -> str:
    with pytest.raises(InvalidProof) as info:
        verify_quantum_result(body, ctx)
    return info.value.reason


def uniform_hist(n: int, seed: bytes) -> Histogram:
    words = np.frombuffer(BeaconStream(b"test/uniform-sample", seed).read(8 * SHOTS), dtype=">u8")
    outcomes, counts = np.unique(words & np.uint64((1 << n) - 1), return_counts=True)
    return Histogram(tuple((int(o), int(c)) for o, c in zip(outcomes, counts, strict=True)))


def random_hist(n: int, seed: bytes) -> Histogram:
    """A few random outcomes with random counts summing to SHOTS."""
    rng = BeaconStream(b"test/random-hist", seed)
    counts: dict[int, int] = {}
    left = SHOTS
    while left:
        c = min(left, 1 + rng.randbelow(200))
        o = rng.randbelow(1 << n)
        counts[o] = counts.get(o, 0) + c
        left -= c
    return Histogram.from_counts(counts)


def with_traps(
    plan: JobPlan,
    hists: tuple[Histogram, ...],
    fake: Callable[[int], Histogram],
    slots: Collection[int] | None = None,
) -> tuple[Histogram, ...]:
    """``hists`` with the given trap slots (default: all) replaced by ``fake(slot)``."""
    chosen = plan.trap_slots if slots is None else slots
    return tuple(fake(s) if s in chosen else h for s, h in enumerate(hists))


# --- honest providers ---------------------------------------------------------------


def test_honest_providers_accepted_over_20_seeds() -> None:
    """Jobs i = 0..19 (module docstring seeds): an honest simulated provider is accepted
    every time (stated false-reject bound per job: 8 · e^-18 ≈ 1.2e-7); one verification of
    a 12-qubit job with 8 opened traps takes well under a second."""
    worst = 0.0
    for i in range(20):
        plan, hists, reveal = honest_job(i)
        body, ctx = submit(plan, hists, reveal)
        assert plan_for(ctx) == plan
        start = time.perf_counter()
        result = verify_quantum_result(body.encode(), ctx)
        worst = max(worst, time.perf_counter() - start)
        assert result == VerifiedQuantumResult(
            task_id=plan.task_id,
            output_digest=output_digest(hists[plan.user_slot]),
            shots=SHOTS,
            depth=20,
            n_qubits=12,
            traps_checked=8,
            quality_bp=10_000,
            root=commit(hists),
        )
    assert worst < 1.0


def test_noisy_honest_provider_accepted() -> None:
    """Job 0 with 2% of every slot's shots replaced by uniform noise (seed b"noise"):
    accepted, and the quality figure drops below 10000 bp."""
    plan, hists, reveal = honest_job()
    noisy = []
    for s, h in enumerate(hists):
        counts = h.as_dict()
        junk = uniform_hist(12, b"noise" + bytes([s])).counts
        removed = 0
        for o, _ in junk[:20]:
            top = max(counts, key=lambda k: counts[k])
            counts[top] -= 1
            counts[o] = counts.get(o, 0) + 1
            removed += 1
        noisy.append(Histogram.from_counts(counts))
    body, ctx = submit(plan, tuple(noisy), reveal)
    result = verify_quantum_result(body, ctx)
    assert 9_700 <= result.quality_bp < 10_000


# --- cheating providers -------------------------------------------------------------


def test_uniform_histograms_rejected() -> None:
    """Every trap slot answered uniformly over 2^12 outcomes (seed b"u" + slot)."""
    plan, hists, reveal = honest_job()
    cheat = with_traps(plan, hists, lambda s: uniform_hist(12, b"u" + bytes([s])))
    assert reason_of(*submit(plan, cheat, reveal)) == "quantum_trap_support"
    # ...also when the user slot is faked the same way.
    all_uniform = tuple(uniform_hist(12, b"v" + bytes([s])) for s in range(plan.num_slots))
    assert reason_of(*submit(plan, all_uniform, reveal)) == "quantum_trap_support"


def test_random_histograms_rejected() -> None:
    """Trap slots answered with random outcomes and counts (seed b"r" + slot), for 5 reveal
    beacons H(b"test/reveal-r", j)."""
    plan, hists, _ = honest_job()
    cheat = with_traps(plan, hists, lambda s: random_hist(12, b"r" + bytes([s])))
    for j in range(5):
        reveal = H(b"test/reveal-r", bytes([j]))
        assert reason_of(*submit(plan, cheat, reveal)) == "quantum_trap_support"


def test_wrong_guess_of_trap_positions_rejected() -> None:
    """The provider answers the user circuit honestly, guesses the opened slots from a
    beacon it made up (H(b"test/guess")), answers those honestly and fakes the rest
    uniformly.  The real reveal beacon opens other slots: rejected.  Had the guess been
    right it would have passed — probability 1/C(16, 8) = 1/12870 per job."""
    plan, hists, reveal = honest_job()
    guess_beacon = H(b"test/guess", b"")
    guess = set(revealed_slots(plan, guess_beacon))
    assert guess != set(revealed_slots(plan, reveal))
    cheat = with_traps(
        plan, hists, lambda s: uniform_hist(12, b"g" + bytes([s])), set(plan.trap_slots) - guess
    )
    assert reason_of(*submit(plan, cheat, reveal)) == "quantum_trap_support"
    body, ctx = submit(plan, cheat, guess_beacon)
    verify_quantum_result(body, ctx)  # the lucky 1-in-12870 case


def test_histogram_changed_after_commit_fails_merkle() -> None:
    """Commit to honest histograms, then open changed ones (re-signed): the proof fails."""
    plan, hists, reveal = honest_job()
    opened = revealed_slots(plan, reveal)
    changed = list(hists)
    counts = changed[opened[0]].as_dict()
    first = min(counts)
    counts[first] -= 1
    counts[first ^ (1 << 11)] = counts.get(first ^ (1 << 11), 0) + 1
    changed[opened[0]] = Histogram.from_counts(counts)
    body, ctx = submit(plan, tuple(changed), reveal, committed=hists)
    assert reason_of(body, ctx) == "quantum_merkle_proof"
    # Changing the user histogram after committing fails the same way.
    changed = list(hists)
    changed[plan.user_slot] = uniform_hist(12, b"user")
    body, ctx = submit(plan, tuple(changed), reveal, committed=hists)
    assert reason_of(body, ctx) == "quantum_merkle_proof"


def test_bad_certificate_signature_rejected() -> None:
    plan, hists, reveal = honest_job()
    body, ctx = submit(plan, hists, reveal)
    flipped = dataclasses.replace(body, signature=bytes([body.signature[0] ^ 1]) + body.signature[1:])
    assert reason_of(flipped, ctx) == "quantum_bad_signature"
    other = Ed25519PrivateKey.from_private_bytes(H(b"test/other-key", b""))
    assert reason_of(sign_body(body, CHAIN, other), ctx) == "quantum_bad_signature"
    assert reason_of(sign_body(body, "other-chain", KEY), ctx) == "quantum_bad_signature"
    assert reason_of(body, dataclasses.replace(ctx, chain_id="other-chain")) == "quantum_bad_signature"
    other_pub = other.public_key().public_bytes_raw()
    assert reason_of(body, dataclasses.replace(ctx, provider_pubkey=other_pub)) == "quantum_bad_signature"


def test_mismatches_with_the_job() -> None:
    plan, hists, reveal = honest_job()
    body, ctx = submit(plan, hists, reveal)
    assert reason_of(body, dataclasses.replace(ctx, task_id=H(b"test/task", b"x"))) == "quantum_task_mismatch"
    assert reason_of(body, dataclasses.replace(ctx, shots=SHOTS + 1)) == "quantum_shots_mismatch"
    assert (
        reason_of(body, dataclasses.replace(ctx, committed_root=bytes(32))) == "quantum_commitment_mismatch"
    )
    # Opening the slots of another beacon, or one slot too few/many, or out of order.
    assert (
        reason_of(body, dataclasses.replace(ctx, reveal_beacon=H(b"test/reveal", b"x")))
        == "quantum_reveal_mismatch"
    )
    for revealed in (body.revealed[:-1], body.revealed + body.revealed[:1], body.revealed[::-1]):
        assert reason_of(dataclasses.replace(body, revealed=revealed), ctx) == "quantum_reveal_mismatch"
    # The job's circuit is garbage, or asks for too few shots.
    assert reason_of(body, dataclasses.replace(ctx, circuit=b"OPENQASM 3;")).startswith("qasm_")
    low = dataclasses.replace(ctx, params=QuantumParams(min_shots=2000, max_shots=5000))
    assert reason_of(body, low) == "quantum_shots_out_of_range"


def test_impossible_or_short_histograms_rejected() -> None:
    plan, hists, reveal = honest_job()
    body, ctx = submit(plan, hists, reveal)
    big = Histogram((*body.user_histogram.counts[:-1], (1 << 12, body.user_histogram.counts[-1][1])))
    assert reason_of(sign_body(dataclasses.replace(body, user_histogram=big), CHAIN, KEY), ctx) == (
        "quantum_bad_histogram"
    )
    short = Histogram(body.user_histogram.counts[1:])
    assert reason_of(dataclasses.replace(body, user_histogram=short), ctx) == "quantum_bad_histogram"
    r0 = body.revealed[0]
    bad_trap = RevealedTrap(r0.slot, Histogram(r0.histogram.counts[1:]), r0.proof)
    assert reason_of(dataclasses.replace(body, revealed=(bad_trap, *body.revealed[1:])), ctx) == (
        "quantum_bad_histogram"
    )


def test_wrong_proof_lengths_rejected() -> None:
    plan, hists, reveal = honest_job()
    body, ctx = submit(plan, hists, reveal)
    short = sign_body(dataclasses.replace(body, user_proof=body.user_proof[:-1]), CHAIN, KEY)
    assert reason_of(short, ctx) == "quantum_merkle_proof"
    r0 = body.revealed[0]
    swapped = RevealedTrap(r0.slot, r0.histogram, body.revealed[1].proof)
    assert reason_of(
        sign_body(dataclasses.replace(body, revealed=(swapped, *body.revealed[1:])), CHAIN, KEY), ctx
    ) == ("quantum_merkle_proof")


# --- the body codec -----------------------------------------------------------------


def test_body_round_trip_and_strictness() -> None:
    plan, hists, reveal = honest_job()
    body, ctx = submit(plan, hists, reveal)
    data = body.encode()
    assert QuantumResultBody.decode(data) == body
    assert len(data) < MAX_BODY_BYTES
    value = decode(data)
    assert value[0] == 1 and len(value) == 8

    def reason(raw: bytes) -> str:
        with pytest.raises(InvalidProof) as info:
            QuantumResultBody.decode(raw)
        return info.value.reason

    assert reason(encode([2, *value[1:]])) == "quantum_body_version"
    assert reason(data + b"\x00") == "quantum_body_malformed"
    assert reason(b"\x00" * (MAX_BODY_BYTES + 1)) == "quantum_body_oversize"
    assert reason(encode(value[:-1])) == "quantum_body_malformed"
    assert reason(encode([*value[:3], -1, *value[4:]])) == "quantum_body_malformed"
    assert reason(encode([*value[:7], b"\x00" * 63])) == "quantum_body_malformed"
    assert reason(encode([*value[:5], [b"\x00" * 32] * 9, *value[6:]])) == "quantum_body_malformed"
    assert reason(encode([*value[:6], [[0, [[0, 1]]]], value[7]])) == "quantum_body_malformed"
    assert reason(encode([*value[:4], [[1, 1], [0, 1]], *value[5:]])) == "quantum_bad_histogram"
    assert reason(data[:-1]) == "quantum_body_malformed"


@given(st.binary(max_size=300))
def test_fuzz_random_bytes_only_invalid_proof(data: bytes) -> None:
    plan, hists, reveal = honest_job()
    with pytest.raises(InvalidProof):
        verify_quantum_result(data, context(plan, reveal, commit(hists)))


@given(st.data())
def test_fuzz_bit_flips_always_rejected(data: st.DataObject) -> None:
    """Any single bit flip of a valid body is rejected, always as InvalidProof."""
    plan, hists, reveal = honest_job()
    body, ctx = submit(plan, hists, reveal)
    raw = bytearray(body.encode())
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidProof):
        verify_quantum_result(bytes(raw), ctx)
