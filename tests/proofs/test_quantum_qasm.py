"""OpenQASM 2.0 parser: valid programs, each rejection reason, caps, and fuzzing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.errors import InvalidProof
from proofs.quantum.qasm import (
    MAX_GATES,
    MAX_QASM_BYTES,
    Circuit,
    Gate,
    circuit_to_qasm,
    parse_qasm,
)

HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'


def test_bell_program() -> None:
    c = parse_qasm(HEAD + "qreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n")
    assert c.n_qubits == 2 and c.n_clbits == 2
    assert c.gates == (Gate("h", (0,)), Gate("cx", (0, 1)))
    assert c.measurements == ((0, 0), (1, 1))
    assert c.depth == 2
    assert c.outcome_width == 2 and c.outcome_mask == 0b11


def test_every_supported_gate() -> None:
    src = HEAD + (
        "qreg q[3]; creg c[3];\n"
        "id q[0]; h q[0]; x q[1]; y q[2]; z q[0]; s q[1]; sdg q[2]; t q[0]; tdg q[1]; sx q[2];\n"
        "rx(pi/2) q[0]; ry(-pi/4) q[1]; rz(0.25) q[2]; u1(1e-3) q[0]; u2(0, pi) q[1];\n"
        "u3(1, 2, 3) q[2]; u(0.1, 0.2, 0.3) q[0]; U(pi, 0, pi) q[1]; CX q[0], q[1];\n"
        "cx q[1], q[2]; cz q[0], q[2]; swap q[0], q[1]; ccx q[0], q[1], q[2];\n"
        "barrier q; barrier q[0], q[2];\n"
        "measure q[0] -> c[2]; measure q[2] -> c[0];\n"
    )
    c = parse_qasm(src)
    names = [g.name for g in c.gates]
    assert names == [
        "id", "h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "u1", "u2",
        "u3", "u3", "u3", "cx", "cx", "cz", "swap", "ccx",
    ]  # fmt: skip
    assert c.gates[10].params == (math.pi / 2,)
    assert c.gates[11].params == (-math.pi / 4,)
    assert c.gates[14].params == (0.0, math.pi)
    assert c.gates[-1].qubits == (0, 1, 2)
    # c[1] is never written: the outcome bit 1 is always 0.
    assert c.outcome_bits == (2, None, 0)
    assert c.outcome_mask == 0b101


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("pi", math.pi),
        ("-pi", -math.pi),
        ("pi/2", math.pi / 2),
        ("2*pi/3", 2 * math.pi / 3),
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("-(1 - 4)", 3.0),
        ("--1", 1.0),
        ("+2", 2.0),
        ("1.5e2", 150.0),
        (".5", 0.5),
        ("3.", 3.0),
        ("10 / 4 - 1", 1.5),
        ("8 / 2 / 2", 2.0),
        ("2 - 3 - 4", -5.0),
    ],
)
def test_expressions(expr: str, value: float) -> None:
    c = parse_qasm(HEAD + f"qreg q[1];\nrz({expr}) q[0];\n")
    assert c.gates[0].params == (value,)


def test_multiple_registers_and_broadcast() -> None:
    src = HEAD + (
        "qreg a[2]; qreg b[2]; creg x[2]; creg y[3];\n"
        "h a;\n"  # h a[0]; h a[1]
        "cx a, b;\n"  # cx a[0],b[0]; cx a[1],b[1]
        "cx a[0], b;\n"  # cx a[0],b[0]; cx a[0],b[1]
        "measure a -> x;\n"
        "measure b[1] -> y[2];\n"
    )
    c = parse_qasm(src)
    assert c.n_qubits == 4 and c.n_clbits == 5
    assert c.gates == (
        Gate("h", (0,)),
        Gate("h", (1,)),
        Gate("cx", (0, 2)),
        Gate("cx", (1, 3)),
        Gate("cx", (0, 2)),
        Gate("cx", (0, 3)),
    )
    assert c.measurements == ((0, 0), (1, 1), (3, 4))
    assert c.outcome_bits == (0, 1, None, None, 3)
    assert [r.offset for r in c.qregs] == [0, 2] and [r.offset for r in c.cregs] == [0, 2]


def test_no_measurement_means_measure_all() -> None:
    c = parse_qasm(HEAD + "qreg q[3];\nh q[1];\n")
    assert c.outcome_bits == (0, 1, 2) and c.outcome_width == 3


def test_builtins_without_include() -> None:
    c = parse_qasm("OPENQASM 2.0;\nqreg q[2];\nU(pi/2, 0, pi) q[0];\nCX q[0], q[1];\n")
    assert [g.name for g in c.gates] == ["u3", "cx"]


def test_comments_whitespace_and_crlf() -> None:
    src = (
        '// leading comment\r\nOPENQASM 2.0; // header\r\ninclude "qelib1.inc";\r\n\tqreg q[1];//x\r\nh q[0];'
    )
    assert parse_qasm(src).gates == (Gate("h", (0,)),)


def test_depth() -> None:
    c = parse_qasm(
        HEAD + "qreg q[3];\nh q[0]; h q[1]; cx q[0],q[1]; h q[2]; barrier q; x q[2]; cx q[1],q[2];\n"
    )
    # layers: {h0,h1,h2} {cx01, x2} {cx12}
    assert c.depth == 3
    assert parse_qasm(HEAD + "qreg q[2];\n").depth == 0


def test_barrier_takes_any_registers() -> None:
    c = parse_qasm(HEAD + "qreg a[2]; qreg b[3];\nh a[0];\nbarrier a, b;\nbarrier b[1], a;\nh a[0];\n")
    assert c.gates == (Gate("h", (0,)), Gate("h", (0,)))


def test_measure_then_measure_again_is_fine() -> None:
    c = parse_qasm(HEAD + "qreg q[1]; creg c[2];\nx q[0];\nmeasure q[0] -> c[0];\nmeasure q[0] -> c[1];\n")
    assert c.outcome_bits == (0, 0)


BAD_PROGRAMS = [
    ("", "qasm_missing_header"),
    ("qreg q[1];", "qasm_missing_header"),
    ("OPENQASM 3.0;\nqreg q[1];", "qasm_bad_version"),
    ("OPENQASM 2.0\nqreg q[1];", "qasm_syntax"),
    ('OPENQASM 2.0;\ninclude "stdgates.inc";', "qasm_unsupported_include"),
    (HEAD + 'include "qelib1.inc";\nqreg q[1];', "qasm_syntax"),
    ("OPENQASM 2.0;\nqreg q[1];\nh q[0];", "qasm_unknown_gate"),
    (HEAD + "qreg q[1];\nfoo q[0];", "qasm_unknown_gate"),
    (HEAD + "qreg q[1];\nh q[1];", "qasm_index_out_of_range"),
    (HEAD + "qreg q[1];\nh r[0];", "qasm_unknown_register"),
    (HEAD + "qreg q[1]; creg c[1];\nh c[0];", "qasm_wrong_register_kind"),
    (HEAD + "qreg q[1]; creg c[1];\nmeasure c[0] -> q[0];", "qasm_wrong_register_kind"),
    (HEAD + "qreg q[1]; qreg q[2];", "qasm_duplicate_register"),
    (HEAD + "qreg q[1]; creg q[2];", "qasm_duplicate_register"),
    (HEAD + "qreg q[0];", "qasm_bad_register_size"),
    (HEAD + "qreg q[21];", "qasm_too_many_qubits"),
    (HEAD + "qreg a[10]; qreg b[11];", "qasm_too_many_qubits"),
    (HEAD + "qreg q[1]; creg c[65];", "qasm_too_many_clbits"),
    (HEAD + "creg c[1];", "qasm_no_qubits"),
    (HEAD + "qreg q[2];\ncx q[0], q[0];", "qasm_duplicate_qubit"),
    (HEAD + "qreg q[2];\ncx q, q[0];", "qasm_duplicate_qubit"),
    (HEAD + "qreg q[2]; qreg r[3];\ncx q, r;", "qasm_register_size_mismatch"),
    (HEAD + "qreg q[2]; creg c[3];\nmeasure q -> c;", "qasm_register_size_mismatch"),
    (HEAD + "qreg q[2]; creg c[2];\nmeasure q -> c[0];", "qasm_register_size_mismatch"),
    (HEAD + "qreg q[1];\nrx q[0];", "qasm_bad_arity"),
    (HEAD + "qreg q[1];\nh(0.1) q[0];", "qasm_bad_arity"),
    (HEAD + "qreg q[2];\nh q[0], q[1];", "qasm_bad_arity"),
    (HEAD + "qreg q[1];\nu3(1,2) q[0];", "qasm_bad_arity"),
    (HEAD + "qreg q[1];\nrx(1/0) q[0];", "qasm_bad_expression"),
    (HEAD + "qreg q[1];\nrx(1e308*10) q[0];", "qasm_bad_expression"),
    (HEAD + "qreg q[1];\nrx(1e999) q[0];", "qasm_bad_expression"),
    (HEAD + "qreg q[1];\nrx(sin(1)) q[0];", "qasm_bad_expression"),
    (HEAD + "qreg q[1];\nrx(2^2) q[0];", "qasm_bad_expression"),
    (HEAD + "qreg q[1];\nrx(theta) q[0];", "qasm_bad_expression"),
    (HEAD + "qreg q[1];\nrx() q[0];", "qasm_bad_arity"),
    (HEAD + "qreg q[1];\nrx(" + "(" * 40 + "1" + ")" * 40 + ") q[0];", "qasm_bad_expression"),
    (HEAD + "qreg q[1];\nrx(" + "-" * 40 + "1) q[0];", "qasm_bad_expression"),
    (HEAD + "qreg q[1];\nrx(" + "1" * 41 + ") q[0];", "qasm_bad_token"),
    (HEAD + "qreg q[" + "9" * 5000 + "];", "qasm_bad_token"),
    (HEAD + "qreg q[1];\nh q[0]", "qasm_syntax"),
    (HEAD + "qreg q[1];\nh q[0];;", "qasm_syntax"),
    (HEAD + "qreg q[1]\nh q[0];", "qasm_syntax"),
    (HEAD + "qreg pi[1];", "qasm_syntax"),
    (HEAD + "qreg q[1];\n@", "qasm_bad_token"),
    (HEAD + "qreg q[1];\nh q[0]; /* block */", "qasm_syntax"),
    (HEAD + "qreg q[1];\ngate g a { h a; }", "qasm_unsupported_statement"),
    (HEAD + "qreg q[1];\nopaque g a;", "qasm_unsupported_statement"),
    (HEAD + "qreg q[1]; creg c[1];\nif (c==1) x q[0];", "qasm_unsupported_statement"),
    (HEAD + "qreg q[1];\nreset q[0];", "qasm_unsupported_statement"),
    (HEAD + "qreg q[1]; creg c[1];\nmeasure q[0] -> c[0];\nh q[0];", "qasm_gate_after_measure"),
    (HEAD + "OPENQASM 2.0;", "qasm_syntax"),
    (HEAD + "qreg q[1];\nh q[0x1];", "qasm_syntax"),
]


@pytest.mark.parametrize(("src", "reason"), BAD_PROGRAMS)
def test_rejects_malformed(src: str, reason: str) -> None:
    with pytest.raises(InvalidProof) as info:
        parse_qasm(src)
    assert info.value.reason == reason


def test_rejects_non_utf8_and_non_text() -> None:
    with pytest.raises(InvalidProof) as info:
        parse_qasm(b"OPENQASM 2.0;\n// \xff\xfe\n")
    assert info.value.reason == "qasm_not_utf8"
    with pytest.raises(InvalidProof) as info:
        parse_qasm("OPENQASM 2.0; // \ud800")
    assert info.value.reason == "qasm_not_utf8"
    with pytest.raises(InvalidProof) as info:
        parse_qasm(12345)  # type: ignore[arg-type]
    assert info.value.reason == "qasm_not_text"


def test_size_and_gate_caps() -> None:
    with pytest.raises(InvalidProof) as info:
        parse_qasm(HEAD + "//" + "x" * MAX_QASM_BYTES)
    assert info.value.reason == "qasm_too_large"
    with pytest.raises(InvalidProof) as info:
        parse_qasm((HEAD + "//" + "x" * MAX_QASM_BYTES).encode())
    assert info.value.reason == "qasm_too_large"
    # Broadcasting counts: 20 qubits x 1001 statements > MAX_GATES.
    src = HEAD + "qreg q[20];\n" + "h q;\n" * (MAX_GATES // 20 + 1)
    with pytest.raises(InvalidProof) as info:
        parse_qasm(src)
    assert info.value.reason == "qasm_too_many_gates"
    ok = HEAD + "qreg q[20];\n" + "h q;\n" * (MAX_GATES // 20)
    assert len(parse_qasm(ok).gates) == MAX_GATES


def test_error_carries_position() -> None:
    with pytest.raises(InvalidProof) as info:
        parse_qasm(HEAD + "qreg q[1];\n  h r[0];\n")
    assert info.value.details["line"] == 4 and info.value.details["column"] == 5


def test_round_trip_to_qasm() -> None:
    c = Circuit(
        n_qubits=3,
        n_clbits=2,
        gates=(
            Gate("rx", (0,), (0.1,)),
            Gate("u3", (2,), (-1e-05, 1.5e20, math.pi)),
            Gate("ccx", (2, 0, 1)),
            Gate("u2", (1,), (-0.0, 2.5)),
        ),
        measurements=((2, 0), (0, 1)),
    )
    assert parse_qasm(circuit_to_qasm(c)) == c


@given(st.binary(max_size=400))
def test_fuzz_bytes_only_invalid_proof(data: bytes) -> None:
    try:
        parse_qasm(data)
    except InvalidProof:
        pass


@given(st.text(max_size=300))
def test_fuzz_text_only_invalid_proof(text: str) -> None:
    try:
        parse_qasm(text)
    except InvalidProof:
        pass


_VALID = HEAD + "qreg q[3]; creg c[3];\nh q[0];\ncx q[0], q[1];\nrz(-pi/4 + 0.5*2) q[2];\nmeasure q -> c;\n"
_ALPHABET = st.sampled_from(list('qc[]();,->+-*/^ 0123456789.eE\n"pihxzcsmeasurebarrierOPENQASM'))


@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID)), st.integers(0, 3), st.text(alphabet=_ALPHABET, max_size=6)),
        max_size=4,
    )
)
def test_fuzz_mutated_program_only_invalid_proof(edits: list[tuple[int, int, str]]) -> None:
    """Splice random token-ish text into a valid program: parse or InvalidProof, nothing else."""
    src = _VALID
    for pos, cut, insert in edits:
        pos = min(pos, len(src))
        src = src[:pos] + insert + src[pos + cut :]
    try:
        c = parse_qasm(src)
    except InvalidProof:
        return
    assert parse_qasm(circuit_to_qasm(c)) == c
