"""QUANTUM_V1 through the envelope registry: the job data the chain supplies, the provider
and task checks, pricing, and an honest and a cheating provider end to end.

The job: an 8-qubit user circuit of depth 10 (``USER_SRC``), 1000 shots, default genesis
parameters (16 trap slots, 8 opened, 5 % noise allowance).  Task id ``H(b"qenv/task", b"")``,
assignment beacon ``H(b"qenv/assign", b"")``, reveal beacon ``H(b"qenv/reveal", b"")``,
provider shot seed ``H(b"qenv/shots", b"")``, provider key from ``H(b"qenv/provider", b"")``.
The uniform cheater answers every trap slot with 1000 samples uniform over the 2^8 outcomes
(seed ``b"qenv/uniform"`` + slot); a trap's support has at most 2^4 of them.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.errors import InvalidProof
from chain.hashing import H
from chain.types import Address, Hash32
from node.provider.quantum import commit, open_result, simulate_plan
from proofs.envelope import ProofType, address_of, seal_envelope
from proofs.policy import PolicyParams, QuantumPricing, meter_quantum
from proofs.quantum.commitment import Histogram, output_digest
from proofs.quantum.qasm import parse_qasm
from proofs.quantum.stream import BeaconStream
from proofs.quantum.traps import JobPlan
from proofs.quantum.verify import QuantumParams, QuantumResultBody, make_plan
from proofs.quantum_body import QuantumJob, QuantumVerifyConfig, quantum_context, verify_quantum_body
from proofs.registry import VerifiedProof, VerifyContext, default_registry, verify_envelope

CHAIN = "cairn-test"
KEY = Ed25519PrivateKey.from_private_bytes(H(b"qenv/provider", b""))
PUB = KEY.public_key().public_bytes_raw()
PROVIDER = address_of(PUB)
TASK = Hash32(H(b"qenv/task", b""))
ASSIGN = H(b"qenv/assign", b"")
REVEAL = H(b"qenv/reveal", b"")
SHOTS = 1000
N_QUBITS = 8


def user_qasm(n: int = N_QUBITS, layers: int = 5) -> bytes:
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];", f"creg c[{n}];"]
    for layer in range(layers):
        lines += [f"ry({0.2 * (q + 1) + 0.3 * layer}) q[{q}];" for q in range(n)]
        lines += [f"cx q[{q}], q[{q + 1}];" for q in range(layer % 2, n - 1, 2)]
    lines.append("measure q -> c;")
    return "\n".join(lines).encode()


USER_SRC = user_qasm()


@cache
def honest() -> tuple[JobPlan, tuple[Histogram, ...]]:
    plan = make_plan(TASK, ASSIGN, parse_qasm(USER_SRC), SHOTS, QuantumParams())
    return plan, simulate_plan(plan, H(b"qenv/shots", b""))


def uniform(slot: int) -> Histogram:
    words = np.frombuffer(BeaconStream(b"qenv/uniform", bytes([slot])).read(8 * SHOTS), dtype=">u8")
    outcomes, counts = np.unique(words & np.uint64((1 << N_QUBITS) - 1), return_counts=True)
    return Histogram(tuple((int(o), int(c)) for o, c in zip(outcomes, counts, strict=True)))


def job(root: bytes, **changes: Any) -> QuantumJob:
    record = QuantumJob(
        task_id=TASK,
        provider=PROVIDER,
        circuit=USER_SRC,
        shots=SHOTS,
        assign_beacon=ASSIGN,
        reveal_beacon=REVEAL,
        committed_root=root,
    )
    return dataclasses.replace(record, **changes)


def context(*jobs: QuantumJob, **changes: Any) -> VerifyContext:
    ctx = VerifyContext(
        chain_id=CHAIN,
        provider_pubkey=lambda address: PUB if address == PROVIDER else None,
        type_config={ProofType.QUANTUM_V1: QuantumVerifyConfig.for_jobs(*jobs)},
    )
    return dataclasses.replace(ctx, **changes)


def provider_run(histograms: tuple[Histogram, ...]) -> tuple[QuantumResultBody, bytes]:
    """(signed body, envelope bytes) of a provider that commits to and opens ``histograms``."""
    plan, _ = honest()
    body = open_result(plan, histograms, REVEAL, chain_id=CHAIN, key=KEY)
    envelope = seal_envelope(ProofType.QUANTUM_V1, TASK, body.encode(), chain_id=CHAIN, provider_key=KEY)
    return body, envelope.encode()


def reason(envelope: bytes, ctx: VerifyContext) -> str:
    with pytest.raises(InvalidProof) as info:
        verify_envelope(envelope, ctx)
    return info.value.reason


def test_honest_provider_accepted_through_verify_envelope() -> None:
    """Depth 10 ≤ 16 weighs 1.0, every trap is fully in support (quality 10000 bp), so
    units = 1000 shots × 10000 × 10000 × 1000 // 10^8 = 1_000_000 milli-units."""
    plan, hists = honest()
    assert plan.user_circuit.depth == 10
    assert ProofType.QUANTUM_V1 in default_registry().type_ids
    body, envelope = provider_run(hists)
    assert body.root == commit(hists)
    result = verify_envelope(envelope, context(job(commit(hists))))
    assert result == VerifiedProof(
        task_id=TASK,
        provider=PROVIDER,
        output_digest=Hash32(output_digest(hists[plan.user_slot])),
        units=1_000_000,
        qos_bp=10_000,
    )
    expected = meter_quantum(SHOTS, 10, 10_000, QuantumPricing())
    assert (result.units, result.qos_bp) == (expected.units, expected.qos_bp)


def test_pricing_follows_the_context_policy() -> None:
    _, hists = honest()
    _, envelope = provider_run(hists)
    deep = PolicyParams(quantum=QuantumPricing(depth_tiers=((8, 10_000),), depth_else_bp=30_000))
    assert verify_envelope(envelope, context(job(commit(hists)), policy=deep)).units == 3_000_000


def test_uniform_provider_rejected() -> None:
    """Every trap slot faked with a uniform histogram: the first opened trap fails."""
    plan, hists = honest()
    cheat = tuple(uniform(s) if s in plan.trap_slots else h for s, h in enumerate(hists))
    _, envelope = provider_run(cheat)
    assert reason(envelope, context(job(commit(cheat)))) == "quantum_trap_support"


def test_job_must_be_known_and_match_the_envelope() -> None:
    _, hists = honest()
    body, envelope = provider_run(hists)
    root = commit(hists)
    # no QUANTUM_V1 configuration at all, or no job for this task
    assert reason(envelope, context(type_config={})) == "quantum_job_unknown"
    assert reason(envelope, context()) == "quantum_job_unknown"
    assert (
        reason(envelope, context(job(root, task_id=Hash32(H(b"qenv/task", b"2"))))) == "quantum_job_unknown"
    )
    # the job is assigned to another provider
    other = Address(bytes(20))
    assert reason(envelope, context(job(root, provider=other))) == "quantum_provider_mismatch"
    # a lookup that answers with another task's record
    stray = job(root, task_id=Hash32(H(b"qenv/task", b"2")))
    config = QuantumVerifyConfig(job=lambda _: stray)
    assert reason(envelope, context(type_config={ProofType.QUANTUM_V1: config})) == "quantum_task_mismatch"
    # the body's own task id must be the envelope's (the body is for TASK, the envelope for TASK2)
    task2 = Hash32(H(b"qenv/task", b"2"))
    moved = seal_envelope(ProofType.QUANTUM_V1, task2, body.encode(), chain_id=CHAIN, provider_key=KEY)
    assert reason(moved.encode(), context(job(root, task_id=task2))) == "quantum_task_mismatch"
    # the on-chain commitment differs from the body's root
    assert reason(envelope, context(job(bytes(32)))) == "quantum_commitment_mismatch"
    # another reveal beacon opens other slots
    assert reason(envelope, context(job(root, reveal_beacon=H(b"qenv/x", b"")))) == "quantum_reveal_mismatch"


def test_certificate_signed_by_another_key_rejected() -> None:
    """The envelope is signed by the registered key; a body certificate by another key fails."""
    plan, hists = honest()
    other = Ed25519PrivateKey.from_private_bytes(H(b"qenv/other", b""))
    body = open_result(plan, hists, REVEAL, chain_id=CHAIN, key=other)
    envelope = seal_envelope(ProofType.QUANTUM_V1, TASK, body.encode(), chain_id=CHAIN, provider_key=KEY)
    assert reason(envelope.encode(), context(job(commit(hists)))) == "quantum_bad_signature"


def test_garbage_bodies_are_invalid_proofs() -> None:
    _, hists = honest()
    ctx = context(job(commit(hists)))
    for raw in (b"", b"\x80", b"\x00" * 40, bytes([0x88, 2]) + bytes(7)):
        envelope = seal_envelope(ProofType.QUANTUM_V1, TASK, raw, chain_id=CHAIN, provider_key=KEY)
        assert reason(envelope.encode(), ctx).startswith("quantum_body_")


def test_adapter_builds_the_quantum_context() -> None:
    record = job(bytes(range(32)))
    qctx = quantum_context(
        record, chain_id=CHAIN, provider_pubkey=PUB, params=QuantumParams(num_traps=4, num_revealed=2)
    )
    assert (qctx.chain_id, qctx.task_id, qctx.circuit, qctx.shots) == (CHAIN, bytes(TASK), USER_SRC, SHOTS)
    assert (qctx.assign_beacon, qctx.reveal_beacon, qctx.committed_root) == (ASSIGN, REVEAL, bytes(range(32)))
    assert qctx.provider_pubkey == PUB and qctx.params.num_traps == 4


def test_bad_job_records_and_config_are_bugs() -> None:
    for changes in ({"assign_beacon": bytes(31)}, {"shots": 0}, {"task_id": bytes(32)}, {"circuit": "x"}):
        with pytest.raises(ValueError):
            job(bytes(32), **changes)
    with pytest.raises(ValueError):
        QuantumVerifyConfig.for_jobs(job(bytes(32)), job(bytes([1]) * 32))
    env = seal_envelope(ProofType.QUANTUM_V1, TASK, b"", chain_id=CHAIN, provider_key=KEY)
    with pytest.raises(TypeError):
        verify_quantum_body(env, context(type_config={ProofType.QUANTUM_V1: {"jobs": ()}}))
