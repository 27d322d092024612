"""The provider's side of QUANTUM_V1: run a plan, commit, open the revealed slots, sign.

Used by the tests to play an honest provider (on the statevector simulator) and meant for
the reference provider worker, which would substitute real-device histograms for
:func:`simulate_plan`.  Pure: randomness comes from the caller's seed bytes.

Per-slot shot seeds: slot ``i`` is sampled with seed ``H("cairn/quantum/shot-seed/v1",
encode([seed, i]))`` (``statevector.sample_histogram``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.hashing import hash_items
from proofs.quantum.commitment import Histogram, leaf_hash, merkle_proof, merkle_root
from proofs.quantum.statevector import simulate_histogram
from proofs.quantum.traps import JobPlan, revealed_slots
from proofs.quantum.verify import QuantumResultBody, RevealedTrap

SHOT_SEED_TAG: Final[bytes] = b"cairn/quantum/shot-seed/v1"


def slot_seed(seed: bytes, slot: int) -> bytes:
    """The sampling seed of ``slot`` derived from the provider's ``seed``."""
    return hash_items(SHOT_SEED_TAG, seed, slot)


def simulate_plan(plan: JobPlan, seed: bytes) -> tuple[Histogram, ...]:
    """Histograms of every slot from the noiseless simulator: an honest provider."""
    return tuple(
        simulate_histogram(plan.circuit_at(slot), plan.shots, slot_seed(seed, slot))
        for slot in range(plan.num_slots)
    )


def commitment_leaves(histograms: Sequence[Histogram]) -> list[bytes]:
    """``leaf(i, h_i)`` for every slot."""
    return [leaf_hash(i, h) for i, h in enumerate(histograms)]


def commit(histograms: Sequence[Histogram]) -> bytes:
    """The Merkle root the provider posts on chain before the reveal beacon."""
    return merkle_root(commitment_leaves(histograms))


def open_result(
    plan: JobPlan,
    histograms: Sequence[Histogram],
    reveal_beacon: bytes,
    *,
    chain_id: str,
    key: Ed25519PrivateKey,
    committed: Sequence[Histogram] | None = None,
) -> QuantumResultBody:
    """Open the user slot and the slots ``reveal_beacon`` selects, and sign the body.

    ``committed`` (default: ``histograms``) are the histograms the root was built from; a
    test passes different ones to play a provider who changes answers after committing.
    """
    if len(histograms) != plan.num_slots:
        raise ValueError(f"expected {plan.num_slots} histograms, got {len(histograms)}")
    leaves = commitment_leaves(histograms if committed is None else committed)
    root = merkle_root(leaves)
    body = QuantumResultBody(
        task_id=plan.task_id,
        root=root,
        shots=plan.shots,
        user_histogram=histograms[plan.user_slot],
        user_proof=merkle_proof(leaves, plan.user_slot),
        revealed=tuple(
            RevealedTrap(slot, histograms[slot], merkle_proof(leaves, slot))
            for slot in revealed_slots(plan, reveal_beacon)
        ),
    )
    return sign_body(body, chain_id, key)


def sign_body(body: QuantumResultBody, chain_id: str, key: Ed25519PrivateKey) -> QuantumResultBody:
    """``body`` with its certificate signature set."""
    return replace(body, signature=key.sign(body.signing_digest(chain_id)))
