"""A numpy statevector simulator for parsed circuits, and a deterministic shot sampler.

This is the reference an honest provider is measured against in tests and the engine of
the reference provider worker.  It is *not* used to decide validity: the verifier checks
trap circuits exactly with the stabilizer tableau (``stabilizer``), because floating-point
results may differ in the last bits between machines.

Conventions
-----------
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
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from proofs.quantum.commitment import Histogram
from proofs.quantum.qasm import Circuit, Gate
from proofs.quantum.stream import BeaconStream

SAMPLE_TAG: Final[bytes] = b"cairn/quantum/sample/v1"
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
