"""Stabilizer tableau: its exact support equals the statevector's for random Clifford circuits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.provider.quantum import probabilities
from proofs.quantum.qasm import Circuit, Gate, parse_qasm
from proofs.quantum.stabilizer import AffineSupport, clifford_support
from proofs.quantum.traps import generate_trap

HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
ONE_QUBIT = ["h", "s", "sdg", "x", "y", "z", "id"]
TWO_QUBIT = ["cx", "cz", "swap"]


@st.composite
def clifford_circuits(draw: st.DrawFn, max_qubits: int = 6, max_gates: int = 40) -> Circuit:
    n = draw(st.integers(1, max_qubits))
    gates = []
    for _ in range(draw(st.integers(0, max_gates))):
        if n >= 2 and draw(st.booleans()):
            a, b = draw(st.permutations(range(n)))[:2]
            gates.append(Gate(draw(st.sampled_from(TWO_QUBIT)), (a, b)))
        else:
            gates.append(Gate(draw(st.sampled_from(ONE_QUBIT)), (draw(st.integers(0, n - 1)),)))
    return Circuit(n_qubits=n, n_clbits=0, gates=tuple(gates))


def assert_matches_statevector(circuit: Circuit) -> AffineSupport:
    support = clifford_support(circuit)
    probs = probabilities(circuit)
    numeric = {int(i) for i in np.nonzero(probs > 1e-9)[0]}
    exact = set(support.points())
    assert exact == numeric
    assert len(exact) == support.size == 2**support.dim
    assert all(support.contains(x) == (x in exact) for x in range(2**circuit.n_qubits))
    # Uniform: every support point has probability exactly 2^-k (to float precision).
    assert np.allclose(probs[sorted(exact)], 1.0 / support.size, atol=1e-9)
    return support


@given(clifford_circuits())
def test_tableau_support_equals_statevector(circuit: Circuit) -> None:
    assert_matches_statevector(circuit)


@given(clifford_circuits(max_qubits=3, max_gates=80))
def test_tableau_deep_small_circuits(circuit: Circuit) -> None:
    assert_matches_statevector(circuit)


def test_known_states() -> None:
    zero = clifford_support(parse_qasm(HEAD + "qreg q[3];"))
    assert zero.dim == 0 and list(zero.points()) == [0]
    bell = clifford_support(parse_qasm(HEAD + "qreg q[2];\nh q[0]; cx q[0], q[1];"))
    assert bell.dim == 1 and sorted(bell.points()) == [0, 3]
    assert bell.constraints == ((0b11, 0),)
    # Odd-parity Bell state: x then the same; parity bit flips.
    odd = clifford_support(parse_qasm(HEAD + "qreg q[2];\nh q[0]; cx q[0], q[1]; x q[1];"))
    assert odd.constraints == ((0b11, 1),) and sorted(odd.points()) == [1, 2]
    # Y and S-dagger signs: h; sdg; h on |0> is uniform; h; s; s; h is |1>.
    assert clifford_support(parse_qasm(HEAD + "qreg q[1];\nh q[0]; s q[0]; s q[0]; h q[0];")).constraints == (
        (1, 1),
    )
    assert clifford_support(parse_qasm(HEAD + "qreg q[1];\ny q[0];")).constraints == ((1, 1),)


def test_canonical_constraints() -> None:
    """Two circuits preparing the same state have identical (RREF) constraints."""
    a = clifford_support(parse_qasm(HEAD + "qreg q[3];\nh q[0]; cx q[0], q[1]; cx q[1], q[2];"))
    b = clifford_support(parse_qasm(HEAD + "qreg q[3];\nh q[2]; cx q[2], q[0]; cx q[0], q[1];"))
    assert a == b and a.dim == 1


def test_rejects_non_clifford() -> None:
    with pytest.raises(ValueError):
        clifford_support(parse_qasm(HEAD + "qreg q[1];\nt q[0];"))


@given(
    st.binary(min_size=32, max_size=32),
    st.integers(1, 8),
    st.integers(1, 3),
    st.integers(0, 4),
)
def test_trap_support_dimension_is_hidden_dim(beacon: bytes, n: int, layers: int, k_max: int) -> None:
    """Traps are uniform on exactly 2^k points, and the statevector agrees."""
    k_max = min(k_max, n // 2)
    trap = generate_trap(beacon, b"\x07" * 32, 3, n, layers, k_max)
    support = assert_matches_statevector(trap.circuit)
    assert support.dim == trap.hidden_dim <= k_max
    assert {g.name for g in trap.circuit.gates} <= {"h", "s", "sdg", "x", "y", "z", "cx", "cz"}
