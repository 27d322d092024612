"""OpenQASM 2.0, the subset a QUANTUM_V1 job may use, parsed into a :class:`Circuit`.

A contract submits its circuit as OpenQASM 2.0 text; validators parse it to price the job
(its depth), to size the trap circuits and to know which outcomes are possible.  Parsing is
consensus-relevant, so it is strict, bounded, and every failure is an
``InvalidProof("qasm_...")`` — never another exception type.

Accepted language
-----------------
* ``OPENQASM 2.0;`` as the first statement; ``include "qelib1.inc";`` at most once (no
  other file).  Without the include only the built-in gates ``U`` and ``CX`` exist, as in
  the OpenQASM 2.0 specification.
* ``qreg name[size];`` and ``creg name[size];`` — any number of registers (at most
  ``MAX_REGISTERS``), sizes ``>= 1``; register names are unique and not keywords.
* Gates (``name(params) args;``): ``U CX`` and, with the include, ``id h x y z s sdg t tdg
  sx rx ry rz u1 u2 u3 u cx cz swap ccx`` with their qelib1 parameter and qubit counts.
  ``U`` and ``u`` mean ``u3`` and ``CX`` means ``cx`` (same matrices up to a global phase).
* ``measure a -> b;`` and ``barrier args;`` (a barrier's arguments are checked, then ignored).
* Parameter expressions: integer and real literals, ``pi``, binary ``+ - * /``, unary
  ``-``/``+`` and parentheses, evaluated in IEEE-754 double precision; every intermediate
  value must be finite and no divisor zero (``qasm_bad_expression``; so are ``^`` and the
  functions ``sin cos tan exp ln sqrt``, which this subset leaves out).  Parameter values
  only feed the simulator.  The one validity decision they take part in — finiteness — is
  the same on every machine, because IEEE-754 ``+ - * /`` and decimal-to-double conversion
  are correctly rounded.
* ``//`` line comments.
* Broadcasting as in OpenQASM 2.0: a whole-register argument applies the statement to each
  index; all whole-register arguments of one statement have the same size.  The qubits of
  one gate application are distinct.

Rejected (``qasm_unsupported_statement``): ``gate``/``opaque`` definitions, ``if``,
``reset``.  A gate on a qubit after it was measured is rejected
(``qasm_gate_after_measure``): the simulator returns the exact distribution of terminal
measurements only.

Caps: ``MAX_QASM_BYTES`` of UTF-8 text, ``MAX_QUBITS`` qubits and ``MAX_CLBITS`` classical
bits over all registers, ``MAX_GATES`` gate applications after broadcasting,
``MAX_EXPR_DEPTH`` nested sub-expressions, ``MAX_NUMBER_CHARS`` characters in a literal.

Numbering and outcomes
----------------------
Registers are laid out in declaration order: the ``i``-th qubit of the second ``qreg`` has
the global index ``size(first) + i``; likewise for classical bits.  A measured outcome is
the integer ``sum(bit_c << c)`` over global classical bits ``c``; a bit is the value of the
qubit last measured into it, and 0 if nothing was.  A program with no ``measure`` at all is
read as measuring every qubit ``i`` into bit ``i``.

Depth (used for pricing): every gate application occupies its qubits for one layer;
``depth`` is the number of layers, i.e. the longest chain of gates in which each shares a
qubit with the previous one.  ``measure`` and ``barrier`` add no layer (and a barrier does
not synchronize layers).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Final, NoReturn

from chain.errors import InvalidProof

MAX_QASM_BYTES: Final[int] = 256 * 1024
MAX_QUBITS: Final[int] = 20
MAX_CLBITS: Final[int] = 64
MAX_GATES: Final[int] = 20_000
MAX_REGISTERS: Final[int] = 32
MAX_EXPR_DEPTH: Final[int] = 32
MAX_NUMBER_CHARS: Final[int] = 40

GATE_ARITY: Final[dict[str, tuple[int, int]]] = {
    "id": (0, 1),
    "h": (0, 1),
    "x": (0, 1),
    "y": (0, 1),
    "z": (0, 1),
    "s": (0, 1),
    "sdg": (0, 1),
    "t": (0, 1),
    "tdg": (0, 1),
    "sx": (0, 1),
    "rx": (1, 1),
    "ry": (1, 1),
    "rz": (1, 1),
    "u1": (1, 1),
    "u2": (2, 1),
    "u3": (3, 1),
    "cx": (0, 2),
    "cz": (0, 2),
    "swap": (0, 2),
    "ccx": (0, 3),
}
"""Canonical gate names of a :class:`Circuit`: ``(number of parameters, number of qubits)``."""

_ALIASES: Final[dict[str, str]] = {"U": "u3", "u": "u3", "CX": "cx"}
_BUILTIN: Final[frozenset[str]] = frozenset({"U", "CX"})
_KEYWORDS: Final[frozenset[str]] = frozenset(
    {
        "OPENQASM",
        "include",
        "qreg",
        "creg",
        "gate",
        "opaque",
        "measure",
        "barrier",
        "reset",
        "if",
        "pi",
        "U",
        "CX",
    }
)
_UNSUPPORTED: Final[frozenset[str]] = frozenset({"gate", "opaque", "if", "reset"})


# --- the circuit value ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gate:
    """One gate application."""

    name: str
    """A key of ``GATE_ARITY``."""
    qubits: tuple[int, ...]
    """Global qubit indices, distinct, in the gate's argument order (control first)."""
    params: tuple[float, ...] = ()
    """Angles in radians, finite."""


@dataclass(frozen=True, slots=True)
class Register:
    """A declared register: ``name[size]`` starting at global index ``offset``."""

    name: str
    size: int
    offset: int


@dataclass(frozen=True, slots=True)
class Circuit:
    """A parsed circuit: gates in program order followed by terminal measurements.

    Equality compares the meaning (sizes, gates, measurements), not the register names.
    """

    n_qubits: int
    n_clbits: int
    gates: tuple[Gate, ...]
    measurements: tuple[tuple[int, int], ...] = ()
    """``(qubit, clbit)`` pairs in program order."""
    qregs: tuple[Register, ...] = field(default=(), compare=False)
    cregs: tuple[Register, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.n_qubits <= MAX_QUBITS:
            raise ValueError(f"n_qubits {self.n_qubits} outside [1, {MAX_QUBITS}]")
        if not 0 <= self.n_clbits <= MAX_CLBITS:
            raise ValueError(f"n_clbits {self.n_clbits} outside [0, {MAX_CLBITS}]")
        if len(self.gates) > MAX_GATES:
            raise ValueError(f"{len(self.gates)} gates exceed {MAX_GATES}")
        measured: set[int] = set()
        for q, c in self.measurements:
            if not (0 <= q < self.n_qubits and 0 <= c < self.n_clbits):
                raise ValueError(f"measurement ({q}, {c}) out of range")
            measured.add(q)
        for gate in self.gates:
            arity = GATE_ARITY.get(gate.name)
            if arity is None:
                raise ValueError(f"unknown gate {gate.name!r}")
            if (len(gate.params), len(gate.qubits)) != arity:
                raise ValueError(f"gate {gate.name} has the wrong arity")
            if len(set(gate.qubits)) != len(gate.qubits):
                raise ValueError(f"gate {gate.name} repeats a qubit")
            if any(not 0 <= q < self.n_qubits for q in gate.qubits):
                raise ValueError(f"gate {gate.name} on a qubit out of range")
            if any(not math.isfinite(p) for p in gate.params):
                raise ValueError(f"gate {gate.name} has a non-finite parameter")

    @property
    def depth(self) -> int:
        """Number of gate layers (see the module docstring); 0 for a circuit with no gates."""
        level = [0] * self.n_qubits
        for gate in self.gates:
            d = max(level[q] for q in gate.qubits) + 1
            for q in gate.qubits:
                level[q] = d
        return max(level)

    @property
    def outcome_bits(self) -> tuple[int | None, ...]:
        """For each outcome bit (low bit first), the qubit it reads, or ``None`` (always 0)."""
        if not self.measurements:
            return tuple(range(self.n_qubits))
        bits: list[int | None] = [None] * self.n_clbits
        for q, c in self.measurements:
            bits[c] = q
        return tuple(bits)

    @property
    def outcome_width(self) -> int:
        """Number of bits in an outcome: ``n_clbits``, or ``n_qubits`` without measurements."""
        return len(self.outcome_bits)

    @property
    def outcome_mask(self) -> int:
        """The outcome bits that can be 1: every outcome ``o`` satisfies ``o & ~mask == 0``."""
        return sum(1 << c for c, q in enumerate(self.outcome_bits) if q is not None)


# --- tokens --------------------------------------------------------------------------


_TOKEN_RE: Final[re.Pattern[str]] = re.compile(
    r"""
      (?P<ws>[ \t\r\n]+)
    | (?P<comment>//[^\n]*)
    | (?P<real>(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)
    | (?P<int>[0-9]+)
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<str>"[^"\n]*")
    | (?P<sym>->|[;,()\[\]{}+\-*/^]|==)
    """,
    re.VERBOSE | re.ASCII,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "real", "int", "id", "str", "sym", "eof"
    text: str
    line: int
    col: int


def _fail(reason: str, message: str, tok: _Token | None = None) -> NoReturn:
    if tok is None:
        raise InvalidProof(reason, message)
    raise InvalidProof(
        reason, f"{message} (line {tok.line}, column {tok.col})", line=tok.line, column=tok.col
    )


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, line, line_start = 0, 1, 0
    end = len(text)
    while pos < end:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            bad = _Token("bad", text[pos], line, pos - line_start + 1)
            _fail("qasm_bad_token", f"unexpected character {text[pos]!r}", bad)
        kind = m.lastgroup
        assert kind is not None
        chunk = m.group()
        if kind not in ("ws", "comment"):
            if kind in ("real", "int") and len(chunk) > MAX_NUMBER_CHARS:
                _fail(
                    "qasm_bad_token",
                    "numeric literal too long",
                    _Token(kind, chunk, line, pos - line_start + 1),
                )
            tokens.append(_Token(kind, chunk, line, pos - line_start + 1))
        newlines = chunk.count("\n")
        if newlines:
            line += newlines
            line_start = pos + chunk.rindex("\n") + 1
        pos = m.end()
    tokens.append(_Token("eof", "", line, pos - line_start + 1))
    return tokens


# --- the parser ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Arg:
    register: Register
    index: int | None  # None: the whole register
    tok: _Token


class _Parser:
    """Recursive descent over the token list; builds the circuit as it goes."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.included = False
        self.qregs: dict[str, Register] = {}
        self.cregs: dict[str, Register] = {}
        self.n_qubits = 0
        self.n_clbits = 0
        self.gates: list[Gate] = []
        self.measurements: list[tuple[int, int]] = []
        self.measured: set[int] = set()

    # token helpers

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def next(self) -> _Token:
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def expect_sym(self, sym: str) -> _Token:
        tok = self.next()
        if tok.kind != "sym" or tok.text != sym:
            _fail("qasm_syntax", f"expected {sym!r}, found {tok.text or 'end of input'!r}", tok)
        return tok

    def expect_id(self, what: str) -> _Token:
        tok = self.next()
        if tok.kind != "id":
            _fail("qasm_syntax", f"expected {what}, found {tok.text or 'end of input'!r}", tok)
        return tok

    def expect_int(self, what: str) -> int:
        tok = self.next()
        if tok.kind != "int":
            _fail("qasm_syntax", f"expected {what} (an integer), found {tok.text or 'end of input'!r}", tok)
        return int(tok.text)

    def at_sym(self, sym: str) -> bool:
        tok = self.peek()
        return tok.kind == "sym" and tok.text == sym

    # program

    def parse(self) -> Circuit:
        self.header()
        while self.peek().kind != "eof":
            self.statement()
        if self.n_qubits == 0:
            _fail("qasm_no_qubits", "the program declares no qubits")
        return Circuit(
            n_qubits=self.n_qubits,
            n_clbits=self.n_clbits,
            gates=tuple(self.gates),
            measurements=tuple(self.measurements),
            qregs=tuple(self.qregs.values()),
            cregs=tuple(self.cregs.values()),
        )

    def header(self) -> None:
        tok = self.next()
        if tok.kind != "id" or tok.text != "OPENQASM":
            _fail("qasm_missing_header", "the program must start with 'OPENQASM 2.0;'", tok)
        version = self.next()
        if version.kind not in ("real", "int") or version.text != "2.0":
            _fail("qasm_bad_version", f"unsupported OpenQASM version {version.text!r}", version)
        self.expect_sym(";")

    def statement(self) -> None:
        tok = self.next()
        if tok.kind != "id":
            _fail("qasm_syntax", f"expected a statement, found {tok.text!r}", tok)
        word = tok.text
        if word == "include":
            self.include(tok)
        elif word in ("qreg", "creg"):
            self.register(word == "qreg")
        elif word == "measure":
            self.measure()
        elif word == "barrier":
            self.arglist(quantum=True)  # validated, then ignored: a barrier adds nothing
            self.expect_sym(";")
        elif word in _UNSUPPORTED:
            _fail("qasm_unsupported_statement", f"'{word}' is not supported", tok)
        elif word == "OPENQASM":
            _fail("qasm_syntax", "'OPENQASM' may appear only once, first", tok)
        else:
            self.gate(tok)

    def include(self, tok: _Token) -> None:
        name = self.next()
        if name.kind != "str":
            _fail("qasm_syntax", "expected a file name in double quotes", name)
        if name.text != '"qelib1.inc"':
            _fail("qasm_unsupported_include", f'only "qelib1.inc" may be included, not {name.text}', name)
        if self.included:
            _fail("qasm_syntax", "qelib1.inc is included twice", tok)
        self.included = True
        self.expect_sym(";")

    def register(self, quantum: bool) -> None:
        name_tok = self.expect_id("a register name")
        name = name_tok.text
        if name in _KEYWORDS:
            _fail("qasm_syntax", f"{name!r} is a keyword", name_tok)
        if name in self.qregs or name in self.cregs:
            _fail("qasm_duplicate_register", f"register {name!r} is declared twice", name_tok)
        if len(self.qregs) + len(self.cregs) >= MAX_REGISTERS:
            _fail("qasm_too_many_registers", f"more than {MAX_REGISTERS} registers", name_tok)
        self.expect_sym("[")
        size_tok = self.peek()
        size = self.expect_int("a register size")
        self.expect_sym("]")
        self.expect_sym(";")
        if size < 1:
            _fail("qasm_bad_register_size", f"register {name!r} has size 0", size_tok)
        if quantum:
            if self.n_qubits + size > MAX_QUBITS:
                _fail("qasm_too_many_qubits", f"more than {MAX_QUBITS} qubits", size_tok)
            self.qregs[name] = Register(name, size, self.n_qubits)
            self.n_qubits += size
        else:
            if self.n_clbits + size > MAX_CLBITS:
                _fail("qasm_too_many_clbits", f"more than {MAX_CLBITS} classical bits", size_tok)
            self.cregs[name] = Register(name, size, self.n_clbits)
            self.n_clbits += size

    def argument(self, quantum: bool) -> _Arg:
        tok = self.expect_id("a register")
        regs, other = (self.qregs, self.cregs) if quantum else (self.cregs, self.qregs)
        reg = regs.get(tok.text)
        if reg is None:
            if tok.text in other:
                kind = "quantum" if quantum else "classical"
                _fail("qasm_wrong_register_kind", f"{tok.text!r} is not a {kind} register", tok)
            _fail("qasm_unknown_register", f"register {tok.text!r} is not declared", tok)
        index: int | None = None
        if self.at_sym("["):
            self.next()
            index_tok = self.peek()
            index = self.expect_int("an index")
            self.expect_sym("]")
            if index >= reg.size:
                _fail(
                    "qasm_index_out_of_range",
                    f"{reg.name}[{index}] is out of range (size {reg.size})",
                    index_tok,
                )
        return _Arg(reg, index, tok)

    def arglist(self, quantum: bool) -> list[_Arg]:
        args = [self.argument(quantum)]
        while self.at_sym(","):
            self.next()
            args.append(self.argument(quantum))
        return args

    def broadcast(self, args: list[_Arg], tok: _Token) -> list[tuple[int, ...]]:
        """The global indices of each application of a statement over ``args``."""
        sizes = {a.register.size for a in args if a.index is None}
        if len(sizes) > 1:
            _fail("qasm_register_size_mismatch", "whole-register arguments of different sizes", tok)
        count = sizes.pop() if sizes else 1
        return [
            tuple(a.register.offset + (i if a.index is None else a.index) for a in args) for i in range(count)
        ]

    def gate(self, tok: _Token) -> None:
        word = tok.text
        name = _ALIASES.get(word, word)
        if name not in GATE_ARITY:
            _fail("qasm_unknown_gate", f"unknown gate {word!r}", tok)
        if word not in _BUILTIN and not self.included:
            _fail("qasm_unknown_gate", f"gate {word!r} needs 'include \"qelib1.inc\";'", tok)
        n_params, n_qubits = GATE_ARITY[name]
        params: list[float] = []
        if self.at_sym("("):
            self.next()
            if not self.at_sym(")"):
                params.append(self.expression(0))
                while self.at_sym(","):
                    self.next()
                    params.append(self.expression(0))
            self.expect_sym(")")
        args = self.arglist(quantum=True)
        self.expect_sym(";")
        if len(params) != n_params or len(args) != n_qubits:
            _fail(
                "qasm_bad_arity",
                f"gate {word!r} takes {n_params} parameters and {n_qubits} qubits, "
                f"got {len(params)} and {len(args)}",
                tok,
            )
        applications = self.broadcast(args, tok)
        if len(self.gates) + len(applications) > MAX_GATES:
            _fail("qasm_too_many_gates", f"more than {MAX_GATES} gate applications", tok)
        for qubits in applications:
            if len(set(qubits)) != len(qubits):
                _fail("qasm_duplicate_qubit", f"gate {word!r} uses one qubit twice", tok)
            if self.measured.intersection(qubits):
                _fail("qasm_gate_after_measure", f"gate {word!r} acts on a measured qubit", tok)
            self.gates.append(Gate(name, qubits, tuple(params)))

    def measure(self) -> None:
        tok = self.peek()
        src = self.argument(quantum=True)
        self.expect_sym("->")
        dst = self.argument(quantum=False)
        self.expect_sym(";")
        if (src.index is None) != (dst.index is None):
            _fail("qasm_register_size_mismatch", "measure maps a register to a single bit", tok)
        for q, c in self.broadcast([src, dst], tok):
            self.measurements.append((q, c))
            self.measured.add(q)

    # expressions: expr := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)*
    #              unary := ('-'|'+') unary | primary ; primary := number | pi | '(' expr ')'

    def expression(self, depth: int) -> float:
        value = self.term(depth)
        while self.peek().kind == "sym" and self.peek().text in ("+", "-"):
            op = self.next()
            rhs = self.term(depth)
            value = _checked(value + rhs if op.text == "+" else value - rhs, op)
        return value

    def term(self, depth: int) -> float:
        value = self.unary(depth)
        while self.peek().kind == "sym" and self.peek().text in ("*", "/"):
            op = self.next()
            rhs = self.unary(depth)
            if op.text == "*":
                value = _checked(value * rhs, op)
            else:
                if rhs == 0.0:
                    _fail("qasm_bad_expression", "division by zero", op)
                value = _checked(value / rhs, op)
        return value

    def unary(self, depth: int) -> float:
        if depth > MAX_EXPR_DEPTH:
            _fail("qasm_bad_expression", f"expression nested deeper than {MAX_EXPR_DEPTH}", self.peek())
        tok = self.peek()
        if tok.kind == "sym" and tok.text in ("-", "+"):
            self.next()
            value = self.unary(depth + 1)
            return -value if tok.text == "-" else value
        value = self.primary(depth)
        if self.at_sym("^"):
            _fail("qasm_bad_expression", "'^' is not supported", self.peek())
        return value

    def primary(self, depth: int) -> float:
        tok = self.next()
        if tok.kind in ("real", "int"):
            return _checked(float(tok.text), tok)
        if tok.kind == "id" and tok.text == "pi":
            return math.pi
        if tok.kind == "sym" and tok.text == "(":
            value = self.expression(depth + 1)
            self.expect_sym(")")
            return value
        if tok.kind == "id":
            _fail("qasm_bad_expression", f"unsupported name {tok.text!r} in an expression", tok)
        _fail("qasm_bad_expression", f"expected a number, found {tok.text or 'end of input'!r}", tok)


def _checked(value: float, tok: _Token) -> float:
    if not math.isfinite(value):
        _fail("qasm_bad_expression", "expression value is not finite", tok)
    return value


# --- entry points --------------------------------------------------------------------


def parse_qasm(source: bytes | str) -> Circuit:
    """Parse OpenQASM 2.0 text (bytes are UTF-8) into a :class:`Circuit`.

    Raises ``InvalidProof`` with a ``qasm_*`` reason on any malformed or unsupported input.
    """
    if isinstance(source, str):
        if len(source) > MAX_QASM_BYTES:
            raise InvalidProof("qasm_too_large", f"program longer than {MAX_QASM_BYTES} bytes")
        try:
            raw = source.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates
            raise InvalidProof("qasm_not_utf8", "program text is not valid Unicode") from exc
    elif isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    else:
        raise InvalidProof("qasm_not_text", f"expected bytes or str, got {type(source).__name__}")
    if len(raw) > MAX_QASM_BYTES:
        raise InvalidProof("qasm_too_large", f"program of {len(raw)} bytes exceeds {MAX_QASM_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidProof("qasm_not_utf8", f"program is not UTF-8: {exc.reason}") from exc
    return _Parser(_tokenize(text)).parse()


def circuit_to_qasm(circuit: Circuit) -> str:
    """Canonical OpenQASM 2.0 text for ``circuit``: registers ``q`` and ``c``, gates in order,
    then the measurements; parameters as Python's shortest round-tripping ``repr``.

    ``parse_qasm(circuit_to_qasm(c)) == c`` for every valid circuit.
    """
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{circuit.n_qubits}];"]
    if circuit.n_clbits:
        lines.append(f"creg c[{circuit.n_clbits}];")
    for gate in circuit.gates:
        params = "(" + ",".join(repr(float(p)) for p in gate.params) + ")" if gate.params else ""
        qubits = ",".join(f"q[{q}]" for q in gate.qubits)
        lines.append(f"{gate.name}{params} {qubits};")
    for q, c in circuit.measurements:
        lines.append(f"measure q[{q}] -> c[{c}];")
    return "\n".join(lines) + "\n"
