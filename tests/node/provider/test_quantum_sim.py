"""The provider's statevector simulator (node.provider.quantum): known states, an independent
Kronecker-product reference, sampling."""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.provider.quantum import (
    gate_matrix,
    outcome_distribution,
    probabilities,
    sample_histogram,
    simulate_histogram,
    statevector,
)
from proofs.quantum.qasm import GATE_ARITY, Circuit, Gate, parse_qasm

HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'


def dist(src: str) -> dict[int, float]:
    return {o: p for o, p in outcome_distribution(parse_qasm(HEAD + src)).as_dict().items()}


def test_bell() -> None:
    d = dist("qreg q[2]; creg c[2];\nh q[0]; cx q[0], q[1];\nmeasure q -> c;")
    assert d.keys() == {0b00, 0b11}
    assert d[0] == pytest.approx(0.5) and d[3] == pytest.approx(0.5)


@pytest.mark.parametrize("n", [3, 5, 8])
def test_ghz(n: int) -> None:
    src = f"qreg q[{n}];\nh q[0];\n" + "".join(f"cx q[{i}], q[{i + 1}];\n" for i in range(n - 1))
    d = dist(src)
    assert d.keys() == {0, (1 << n) - 1}
    assert d[0] == pytest.approx(0.5)


@pytest.mark.parametrize("theta", [0.0, 0.3, math.pi / 3, math.pi / 2, 2.0, math.pi])
def test_rotations(theta: float) -> None:
    expected_one = math.sin(theta / 2) ** 2
    for gate in (f"rx({theta!r})", f"ry({theta!r})", f"u3({theta!r}, 0.7, -1.1)"):
        p = probabilities(parse_qasm(HEAD + f"qreg q[1];\n{gate} q[0];"))
        assert p[1] == pytest.approx(expected_one, abs=1e-12)
    # rz only changes the phase: visible between two Hadamards as sin^2(theta/2).
    p = probabilities(parse_qasm(HEAD + f"qreg q[1];\nh q[0]; rz({theta!r}) q[0]; h q[0];"))
    assert p[1] == pytest.approx(expected_one, abs=1e-12)
    p = probabilities(parse_qasm(HEAD + f"qreg q[1];\nh q[0]; u1({theta!r}) q[0]; h q[0];"))
    assert p[1] == pytest.approx(expected_one, abs=1e-12)


def test_phase_gates_and_sx() -> None:
    assert probabilities(parse_qasm(HEAD + "qreg q[1];\nh q[0]; t q[0]; t q[0]; h q[0];"))[
        1
    ] == pytest.approx(0.5)
    assert probabilities(parse_qasm(HEAD + "qreg q[1];\nh q[0]; s q[0]; s q[0]; h q[0];"))[
        1
    ] == pytest.approx(1.0)
    assert probabilities(parse_qasm(HEAD + "qreg q[1];\nh q[0]; s q[0]; sdg q[0]; h q[0];"))[
        0
    ] == pytest.approx(1.0)
    assert probabilities(parse_qasm(HEAD + "qreg q[1];\nsx q[0];"))[1] == pytest.approx(0.5)
    assert probabilities(parse_qasm(HEAD + "qreg q[1];\nsx q[0]; sx q[0];"))[1] == pytest.approx(1.0)
    assert probabilities(parse_qasm(HEAD + "qreg q[1];\nu2(0, pi) q[0];"))[1] == pytest.approx(0.5)


def test_qubit_order_swap_and_toffoli() -> None:
    # x on qubit 0 sets bit 0 of the basis index; swap moves it to bit 2.
    assert dist("qreg q[3];\nx q[0];") == {1: pytest.approx(1.0)}
    assert dist("qreg q[3];\nx q[0]; swap q[0], q[2];") == {4: pytest.approx(1.0)}
    for a in (0, 1):
        for b in (0, 1):
            prep = ("x q[0];" if a else "") + ("x q[1];" if b else "")
            out = (a) | (b << 1) | ((a & b) << 2)
            assert dist(f"qreg q[3];\n{prep} ccx q[0], q[1], q[2];") == {out: pytest.approx(1.0)}
    # cx with control on the higher qubit.
    assert dist("qreg q[2];\nx q[1]; cx q[1], q[0];") == {3: pytest.approx(1.0)}


def test_outcomes_follow_classical_bits() -> None:
    # q0 -> c1, q1 never measured, c0 never written: outcome = q0 << 1.
    d = dist("qreg q[2]; creg c[2];\nx q[0]; h q[1];\nmeasure q[0] -> c[1];")
    assert d == {2: pytest.approx(1.0)}
    d = dist(
        "qreg a[1]; qreg b[1]; creg x[1]; creg y[1];\nx b[0];\nmeasure a[0] -> y[0]; measure b[0] -> x[0];"
    )
    assert d == {1: pytest.approx(1.0)}


def test_all_matrices_unitary() -> None:
    for name, (n_params, n_qubits) in GATE_ARITY.items():
        m = gate_matrix(Gate(name, tuple(range(n_qubits)), tuple(0.37 * (i + 1) for i in range(n_params))))
        assert m.shape == (2**n_qubits, 2**n_qubits)
        assert np.allclose(m @ m.conj().T, np.eye(2**n_qubits))


def _reference(circuit: Circuit) -> npt.NDArray[np.complex128]:
    """Independent reference: build each gate as a full 2^n x 2^n operator by permuting
    basis indices, with no tensordot/moveaxis."""
    n = circuit.n_qubits
    psi = np.zeros(2**n, dtype=np.complex128)
    psi[0] = 1
    for gate in circuit.gates:
        m = gate_matrix(gate)
        k = len(gate.qubits)
        full = np.zeros((2**n, 2**n), dtype=np.complex128)
        for col in range(2**n):
            sub_in = reduce(lambda acc, q: (acc << 1) | ((col >> q) & 1), gate.qubits, 0)
            for sub_out in range(2**k):
                row = col
                for j, q in enumerate(gate.qubits):
                    bit = (sub_out >> (k - 1 - j)) & 1
                    row = (row & ~(1 << q)) | (bit << q)
                full[row, col] += m[sub_out, sub_in]
        psi = full @ psi
    return psi


@st.composite
def random_circuits(draw: st.DrawFn) -> Circuit:
    n = draw(st.integers(1, 4))
    names = [name for name, (_, nq) in GATE_ARITY.items() if nq <= n]
    gates = []
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from(names))
        n_params, n_qubits = GATE_ARITY[name]
        qubits = tuple(draw(st.permutations(range(n)))[:n_qubits])
        params = tuple(draw(st.floats(-7, 7, allow_nan=False)) for _ in range(n_params))
        gates.append(Gate(name, qubits, params))
    return Circuit(n_qubits=n, n_clbits=0, gates=tuple(gates))


@given(random_circuits())
def test_statevector_matches_reference(circuit: Circuit) -> None:
    assert np.allclose(statevector(circuit), _reference(circuit), atol=1e-10)


def test_sampler_is_deterministic_and_unbiased() -> None:
    """Seeds b"seed-a"/b"seed-b": 20000 shots of a Bell pair are split within 5 sigma."""
    bell = parse_qasm(HEAD + "qreg q[2];\nh q[0]; cx q[0], q[1];")
    a1 = simulate_histogram(bell, 20_000, b"seed-a")
    a2 = simulate_histogram(bell, 20_000, b"seed-a")
    b = simulate_histogram(bell, 20_000, b"seed-b")
    assert a1 == a2 and a1 != b
    counts = a1.as_dict()
    assert counts.keys() == {0, 3} and a1.shots == 20_000
    assert abs(counts[0] - 10_000) < 5 * math.sqrt(20_000 * 0.25)


def test_sampler_matches_distribution() -> None:
    """Seed b"ry": 50000 shots of ry(1.0) per qubit on 3 qubits match the exact
    distribution within 5 sigma per outcome."""
    c = parse_qasm(HEAD + "qreg q[3];\nry(1.0) q[0]; ry(2.0) q[1]; ry(0.5) q[2];")
    d = outcome_distribution(c)
    h = sample_histogram(d, 50_000, b"ry").as_dict()
    for outcome, p in d.as_dict().items():
        sigma = math.sqrt(50_000 * p * (1 - p))
        assert abs(h.get(outcome, 0) - 50_000 * p) < 5 * sigma + 1


def test_twenty_qubits_fit() -> None:
    c = parse_qasm(HEAD + "qreg q[20];\nh q[0];\n" + "".join(f"cx q[0], q[{i}];\n" for i in range(1, 20)))
    d = outcome_distribution(c).as_dict()
    assert d.keys() == {0, 2**20 - 1}
