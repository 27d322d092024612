"""The reference provider's side of QUANTUM_V1: simulate a job's slots, commit, open, sign.

This is a *prover*, not a verifier: the chain never runs it.  Validity is decided by
``proofs.quantum``, which checks the trap circuits exactly with the stabilizer tableau
(floating-point results may differ in the last bits between machines, so nothing here
decides validity).  This module is what an honest provider runs to produce a result those
checks accept, and what the tests use to play one.  A provider with a real device
substitutes its histograms for :func:`simulate_plan` and keeps the rest.

Every function is pure: no I/O, no clock, no OS randomness.  The only randomness is the
seed bytes the caller passes in, expanded by the SHA3 counter-mode ``BeaconStream``.

Simulator conventions
---------------------
* The state of ``n`` qubits is a complex vector of length ``2**n``; qubit ``q`` is bit ``q``
  of the basis index (qubit 0 is the least significant bit).
* A ``k``-qubit gate applied to qubits ``(a_0, ..., a_{k-1})`` uses the textbook matrix in
  which ``a_0`` is the most significant bit (so ``cx a, b`` flips ``b`` when ``a`` is 1).
* Matrices follow qelib1: ``u3(t, p, l) = [[cos(t/2), -e^{il} sin(t/2)], [e^{ip} sin(t/2),
  e^{i(p+l)} cos(t/2)]]``, ``u2(p, l) = u3(pi/2, p, l)``, ``u1(l) = diag(1, e^{il})``,
  ``rz(l) = diag(e^{-il/2}, e^{il/2})``, ``rx``/``ry`` the usual rotations,
  ``sx = sqrt(x)``.  Global phases do not affect outcome probabilities.
* The outcome distribution maps each basis state to its classical outcome through
  ``Circuit.outcome_bits`` (measurements are terminal).

Sampling
--------
``sample_histogram(dist, shots, seed)`` draws ``shots`` independent outcomes by inverse
transform: uniform ``u_j = floor(w_j / 2**11) / 2**53`` from the 64-bit big-endian words
``w_j`` of ``BeaconStream(b"cairn/quantum/sample/v1", seed)``, each mapped to the first
outcome whose cumulative probability exceeds ``u_j``.  The same seed always gives the same
histogram on the same machine.

Proving
-------
Slot ``i`` of a plan is sampled with seed ``H("cairn/quantum/shot-seed/v1", encode([seed,
i]))`` (:func:`slot_seed`).  The provider posts the Merkle root of ``leaf(i, h_i)`` over every
slot (:func:`commit`) before the reveal beacon; once the beacon is known, :func:`open_result`
opens the user slot and the trap slots it selects, with their inclusion proofs, and signs
the certificate (:func:`sign_body`).
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.hashing import hash_items
from proofs.quantum.commitment import Histogram, leaf_hash, merkle_proof, merkle_root
from proofs.quantum.qasm import Circuit, Gate
from proofs.quantum.stream import BeaconStream
from proofs.quantum.traps import JobPlan, revealed_slots
from proofs.quantum.verify import QuantumResultBody, RevealedTrap

SAMPLE_TAG: Final[bytes] = b"cairn/quantum/sample/v1"
SHOT_SEED_TAG: Final[bytes] = b"cairn/quantum/shot-seed/v1"
MAX_SAMPLE_SHOTS: Final[int] = 10_000_000
PROBABILITY_FLOOR: Final[float] = 1e-12
"""Outcomes below this probability are float residue of exact zeros and are dropped."""

ComplexMatrix = npt.NDArray[np.complex128]

_S2: Final[float] = 1.0 / math.sqrt(2.0)


def _m(rows: list[list[complex]]) -> ComplexMatrix:
    return np.array(rows, dtype=np.complex128)


def _u3(theta: float, phi: float, lam: float) -> ComplexMatrix:
    c, s = math.cos(theta / 2.0), math.sin(theta / 2.0)
    return _m(
        [
            [c, -cmath.exp(1j * lam) * s],
            [cmath.exp(1j * phi) * s, cmath.exp(1j * (phi + lam)) * c],
        ]
    )


_FIXED: Final[dict[str, ComplexMatrix]] = {
    "id": _m([[1, 0], [0, 1]]),
    "h": _m([[_S2, _S2], [_S2, -_S2]]),
    "x": _m([[0, 1], [1, 0]]),
    "y": _m([[0, -1j], [1j, 0]]),
    "z": _m([[1, 0], [0, -1]]),
    "s": _m([[1, 0], [0, 1j]]),
    "sdg": _m([[1, 0], [0, -1j]]),
    "t": _m([[1, 0], [0, cmath.exp(1j * math.pi / 4)]]),
    "tdg": _m([[1, 0], [0, cmath.exp(-1j * math.pi / 4)]]),
    "sx": _m([[(1 + 1j) / 2, (1 - 1j) / 2], [(1 - 1j) / 2, (1 + 1j) / 2]]),
    "cx": _m([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]),
    "cz": _m([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, -1]]),
    "swap": _m([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]),
}
_CCX: Final[ComplexMatrix] = np.eye(8, dtype=np.complex128)[[0, 1, 2, 3, 4, 5, 7, 6]]


def gate_matrix(gate: Gate) -> ComplexMatrix:
    """The unitary of ``gate`` (``2**k x 2**k``, first qubit argument most significant)."""
    name, p = gate.name, gate.params
    if name in _FIXED:
        return _FIXED[name]
    if name == "ccx":
        return _CCX
    if name == "rx":
        c, s = math.cos(p[0] / 2.0), math.sin(p[0] / 2.0)
        return _m([[c, -1j * s], [-1j * s, c]])
    if name == "ry":
        c, s = math.cos(p[0] / 2.0), math.sin(p[0] / 2.0)
        return _m([[c, -s], [s, c]])
    if name == "rz":
        return _m([[cmath.exp(-0.5j * p[0]), 0], [0, cmath.exp(0.5j * p[0])]])
    if name == "u1":
        return _m([[1, 0], [0, cmath.exp(1j * p[0])]])
    if name == "u2":
        return _u3(math.pi / 2.0, p[0], p[1])
    if name == "u3":
        return _u3(p[0], p[1], p[2])
    raise ValueError(f"no matrix for gate {name!r}")


def statevector(circuit: Circuit) -> ComplexMatrix:
    """The final state of ``circuit`` from ``|0...0>`` (measurements not applied)."""
    n = circuit.n_qubits
    psi = np.zeros((2,) * n, dtype=np.complex128)
    psi[(0,) * n] = 1.0
    for gate in circuit.gates:
        k = len(gate.qubits)
        matrix = gate_matrix(gate).reshape((2,) * (2 * k))
        axes = [n - 1 - q for q in gate.qubits]
        out = np.tensordot(matrix, psi, axes=(list(range(k, 2 * k)), axes))
        psi = np.moveaxis(out, list(range(k)), axes)
    return np.ascontiguousarray(psi).reshape(-1)


def probabilities(circuit: Circuit) -> npt.NDArray[np.float64]:
    """``|amplitude|^2`` of every basis state (index bit ``q`` = qubit ``q``)."""
    psi = statevector(circuit)
    return (psi.real**2 + psi.imag**2).astype(np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class OutcomeDistribution:
    """The probability of each possible classical outcome of a circuit."""

    width: int
    """Bits per outcome."""
    outcomes: npt.NDArray[np.uint64]
    """Distinct outcomes, ascending."""
    probs: npt.NDArray[np.float64]
    """Their probabilities (sum 1 up to rounding)."""

    def as_dict(self) -> dict[int, float]:
        """``{outcome: probability}``."""
        return {int(o): float(p) for o, p in zip(self.outcomes, self.probs, strict=True)}


def outcome_distribution(circuit: Circuit) -> OutcomeDistribution:
    """The exact-up-to-rounding distribution of ``circuit``'s measured outcomes.

    Probabilities below ``PROBABILITY_FLOOR`` (rounding residue of exact zeros) are dropped
    and the rest renormalized.
    """
    probs = probabilities(circuit)
    index = np.arange(probs.size, dtype=np.uint64)
    outcome = np.zeros(probs.size, dtype=np.uint64)
    for c, q in enumerate(circuit.outcome_bits):
        if q is not None:
            outcome |= ((index >> np.uint64(q)) & np.uint64(1)) << np.uint64(c)
    keep = probs >= PROBABILITY_FLOOR
    outcomes, inverse = np.unique(outcome[keep], return_inverse=True)
    summed = np.bincount(inverse, weights=probs[keep], minlength=outcomes.size)
    summed = summed / summed.sum()
    return OutcomeDistribution(circuit.outcome_width, outcomes.astype(np.uint64), summed.astype(np.float64))


def sample_histogram(dist: OutcomeDistribution, shots: int, seed: bytes) -> Histogram:
    """``shots`` outcomes drawn from ``dist`` with randomness from ``seed`` (module docstring)."""
    if not 1 <= shots <= MAX_SAMPLE_SHOTS:
        raise ValueError(f"shots must be in [1, {MAX_SAMPLE_SHOTS}]")
    words = np.frombuffer(BeaconStream(SAMPLE_TAG, seed).read(8 * shots), dtype=">u8").astype(np.uint64)
    uniform = (words >> np.uint64(11)).astype(np.float64) * (2.0**-53)
    cdf = np.cumsum(dist.probs)
    cdf = cdf / cdf[-1]
    picks = np.minimum(np.searchsorted(cdf, uniform, side="right"), cdf.size - 1)
    counts = np.bincount(picks, minlength=cdf.size)
    return Histogram(tuple((int(dist.outcomes[i]), int(c)) for i, c in enumerate(counts) if c))


def simulate_histogram(circuit: Circuit, shots: int, seed: bytes) -> Histogram:
    """Run ``circuit`` ``shots`` times on the simulator: an honest noiseless provider."""
    return sample_histogram(outcome_distribution(circuit), shots, seed)


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
