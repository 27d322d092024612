"""A small ``.wast`` script runner over :class:`chain.vm.Engine`'s deterministic store.

Supports ``module`` (text, ``binary``, ``quote``; named), ``register``, ``invoke`` /
``get`` actions, ``assert_return`` (with ``nan:canonical`` / ``nan:arithmetic``),
``assert_trap``, ``assert_exhaustion``, and ``assert_invalid`` / ``assert_malformed``
(checked: the module must be refused by ``wat2wasm`` or the engine; the message is not
compared).  Anything else is counted in ``unsupported``, never silently skipped.

Floats cross the Python boundary only as bit patterns: every export is called through a
generated wrapper module that takes and returns ``i32``/``i64`` and reinterprets them as
``f32``/``f64`` (reinterpretation is a bit copy and is not NaN-canonicalized), so NaN
payloads survive exactly.

Chain differences (ARCHITECTURE §6, tests/vectors/README.md) are counted, not hidden:

* ``memory_cap``: a ``memory.grow`` the spec expects to succeed returns -1 because the
  run's memory cap is smaller than the spec's 4 GiB, or a module's initial memory is over
  the cap.
* ``recursion_limit``: a call the spec expects to return ends in ``stack_overflow`` or
  runs out of fuel.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import wasmtime

from chain.vm import Engine, ModuleError, Status, classify_trap

SExpr = Any  # str atom | Str | list, with spans on lists


@dataclass
class Str:
    """A string literal (raw bytes after unescaping)."""

    data: bytes


@dataclass
class Node:
    items: list[Any]
    start: int
    end: int


_ESC = {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "'": b"'", "\\": b"\\"}


def parse(src: str) -> list[Node]:
    """Top-level s-expressions of a script, keeping each list's source span."""
    pos, n = 0, len(src)
    stack: list[Node] = [Node([], 0, n)]
    while pos < n:
        c = src[pos]
        if c.isspace():
            pos += 1
        elif src.startswith(";;", pos):
            nl = src.find("\n", pos)
            pos = n if nl < 0 else nl + 1
        elif src.startswith("(;", pos):
            depth, pos = 1, pos + 2
            while depth:
                if src.startswith("(;", pos):
                    depth, pos = depth + 1, pos + 2
                elif src.startswith(";)", pos):
                    depth, pos = depth - 1, pos + 2
                else:
                    pos += 1
        elif c == "(":
            stack.append(Node([], pos, -1))
            pos += 1
        elif c == ")":
            node = stack.pop()
            node.end = pos + 1
            stack[-1].items.append(node)
            pos += 1
        elif c == '"':
            pos += 1
            out = bytearray()
            while src[pos] != '"':
                if src[pos] == "\\":
                    e = src[pos + 1]
                    if e in _ESC:
                        out += _ESC[e]
                        pos += 2
                    elif e == "u":
                        close = src.index("}", pos)
                        out += chr(int(src[pos + 3 : close], 16)).encode()
                        pos = close + 1
                    else:
                        out.append(int(src[pos + 1 : pos + 3], 16))
                        pos += 3
                else:
                    out += src[pos].encode()
                    pos += 1
            pos += 1
            stack[-1].items.append(Str(bytes(out)))
        else:
            m = re.compile(r"[^\s()\";]+").match(src, pos)
            assert m, src[pos : pos + 20]
            stack[-1].items.append(m.group())
            pos = m.end()
    assert len(stack) == 1
    return [x for x in stack[0].items if isinstance(x, Node)]


# -- literals ----------------------------------------------------------------------


def _int(tok: str, bits: int) -> int:
    t = tok.replace("_", "")
    neg = t.startswith("-")
    t = t.lstrip("+-")
    v = int(t, 16) if t.startswith(("0x", "0X")) else int(t)
    return (-v if neg else v) & ((1 << bits) - 1)


def _float_bits(tok: str, bits: int) -> int:
    """Exact IEEE-754 bits of a wasm float literal (round to nearest, ties to even)."""
    mant, expb = (23, 8) if bits == 32 else (52, 11)
    t = tok.replace("_", "")
    sign = 1 if t.startswith("-") else 0
    t = t.lstrip("+-")
    top = sign << (bits - 1)
    inf = ((1 << expb) - 1) << mant
    if t == "inf":
        return top | inf
    if t.startswith("nan"):
        payload = int(t[6:], 16) if t.startswith("nan:0x") else 1 << (mant - 1)
        return top | inf | payload
    if t.lower().startswith("0x"):
        body = t[2:]
        m = re.fullmatch(r"([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?", body)
        assert m, tok
        ip, fp, ep = m.group(1) or "", m.group(2) or "", m.group(3) or "0"
        value = Fraction(int(ip + fp or "0", 16), 16 ** len(fp)) * Fraction(2) ** int(ep)
    else:
        value = Fraction(t)
    if value == 0:
        return top
    bias = (1 << (expb - 1)) - 1
    e = value.numerator.bit_length() - value.denominator.bit_length()
    if Fraction(2) ** e > value:
        e -= 1
    e = max(e, 1 - bias)
    m_int = round(value / Fraction(2) ** (e - mant))
    if m_int == 1 << (mant + 1):
        m_int >>= 1
        e += 1
    if e > bias:
        return top | inf
    if m_int < 1 << mant:
        return top | m_int
    return top | ((e + bias) << mant) | (m_int - (1 << mant))


@dataclass(frozen=True)
class Expected:
    type: str
    bits: int | None = None
    nan: str | None = None  # "canonical" | "arithmetic"


def _const(node: Node) -> tuple[str, int]:
    op, tok = node.items[0], node.items[1]
    ty = op.split(".")[0]
    if ty in ("i32", "i64"):
        return ty, _int(tok, 32 if ty == "i32" else 64)
    return ty, _float_bits(tok, 32 if ty == "f32" else 64)


def _expected(node: Node) -> Expected:
    op, tok = node.items[0], node.items[1]
    ty = op.split(".")[0]
    if ty in ("f32", "f64") and tok in ("nan:canonical", "nan:arithmetic"):
        return Expected(ty, nan=tok[4:])
    return Expected(ty, _const(node)[1])


def _matches(exp: Expected, bits: int) -> bool:
    if exp.nan is None:
        return exp.bits == bits
    mant = 23 if exp.type == "f32" else 52
    width = 32 if exp.type == "f32" else 64
    expo = (bits >> mant) & ((1 << (width - 1 - mant)) - 1)
    payload = bits & ((1 << mant) - 1)
    if expo != (1 << (width - 1 - mant)) - 1 or payload == 0:
        return False
    quiet = 1 << (mant - 1)
    return payload == quiet if exp.nan == "canonical" else bool(payload & quiet)


# -- running -----------------------------------------------------------------------

_BITS_TYPE = {"i32": "i32", "i64": "i64", "f32": "i32", "f64": "i64"}


def _wrapper_wat(ftype: wasmtime.FuncType) -> str:
    params = [str(t) for t in ftype.params]
    results = [str(t) for t in ftype.results]
    body = []
    for i, t in enumerate(params):
        body.append(f"local.get {i}")
        if t in ("f32", "f64"):
            body.append(f"{t}.reinterpret_{_BITS_TYPE[t]}")
    body.append("call $f")
    nparams = len(params)
    for i in reversed(range(len(results))):
        body.append(f"local.set {nparams + i}")
    for i, t in enumerate(results):
        body.append(f"local.get {nparams + i}")
        if t in ("f32", "f64"):
            body.append(f"{_BITS_TYPE[t]}.reinterpret_{t}")
    sig = f"(param {' '.join(params)}) (result {' '.join(results)})"
    wparams = " ".join(_BITS_TYPE[t] for t in params)
    wresults = " ".join(_BITS_TYPE[t] for t in results)
    locals_ = f"(local {' '.join(results)})" if results else ""
    return (
        f'(module (import "t" "f" (func $f {sig}))'
        f' (func (export "w") (param {wparams}) (result {wresults}) {locals_} {" ".join(body)}))'
    )


def _signed(bits: int, width: int) -> int:
    return bits - (1 << width) if bits >> (width - 1) else bits


class _ActionTrap(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Report:
    """Assertion counts of one script."""

    executed: int = 0
    passed: int = 0
    failures: list[str] = field(default_factory=list)
    differences: Counter[str] = field(default_factory=Counter)
    """Chain differences (``memory_cap``, ``recursion_limit``): executed, not passed."""
    refused_checked: int = 0
    """``assert_invalid`` / ``assert_malformed`` checked (included in executed/passed)."""
    unsupported: Counter[str] = field(default_factory=Counter)


FUEL = 10**12


class WastRunner:
    """Runs one script in one store."""

    def __init__(self, engine: Engine, *, memory_limit: int | None = None) -> None:
        self.engine = engine
        self.memory_cap = engine.memory_cap(memory_limit)
        self.store = engine.new_store(gas_limit=FUEL, memory_limit=memory_limit, instances=100_000)
        self.linker = wasmtime.Linker(engine.wasm_engine)
        self.linker.allow_shadowing = True
        self.current: wasmtime.Instance | None = None
        self.named: dict[str, wasmtime.Instance] = {}
        # Keyed by id(instance): the value keeps the instance alive, so its id cannot be
        # reused by a later instance while the cached wrapper still points at the old one.
        self.wrappers: dict[tuple[int, str], tuple[Any, wasmtime.Func]] = {}
        self.report = Report()
        self.last: wasmtime.Instance | None = None
        self.diverged: set[int] = set()
        """Instances whose memory growth the chain cap refused: their state now differs
        from the spec's, so later mismatches on them are ``memory_cap`` differences."""

    # modules

    def _module_bytes(self, src: str, node: Node) -> bytes:
        items = node.items
        rest = (
            items[2:]
            if len(items) > 1 and isinstance(items[1], str) and items[1].startswith("$")
            else items[1:]
        )
        if rest and rest[0] == "binary":
            return b"".join(s.data for s in rest[1:])
        if rest and rest[0] == "quote":
            text = b" ".join(s.data for s in rest[1:]).decode()
            return bytes(wasmtime.wat2wasm(f"(module {text})"))
        return bytes(wasmtime.wat2wasm(src[node.start : node.end]))

    def _instantiate(self, src: str, node: Node) -> None:
        code = self._module_bytes(src, node)
        compiled = self.engine.compile(code)
        if compiled.min_memory_bytes > self.memory_cap:
            self.report.differences["memory_cap"] += 1
            self.current = None
            return
        self.store.set_fuel(FUEL)
        inst = self.linker.instantiate(self.store, compiled.module)
        self.current = inst
        if len(node.items) > 1 and isinstance(node.items[1], str) and node.items[1].startswith("$"):
            self.named[node.items[1]] = inst

    # actions

    def _action(self, node: Node) -> list[int]:
        kind = node.items[0]
        rest = node.items[1:]
        inst = self.current
        if rest and isinstance(rest[0], str) and rest[0].startswith("$"):
            inst = self.named[rest[0]]
            rest = rest[1:]
        assert inst is not None, "no module instantiated"
        self.last = inst
        name = rest[0].data.decode()
        export = inst.exports(self.store)[name]
        if kind == "get":
            assert isinstance(export, wasmtime.Global)
            ty = str(export.type(self.store).content)
            value = export.value(self.store)
            if ty == "f32":
                return [struct.unpack("<I", struct.pack("<f", value))[0]]
            if ty == "f64":
                return [struct.unpack("<Q", struct.pack("<d", value))[0]]
            return [value & ((1 << (32 if ty == "i32" else 64)) - 1)]
        assert kind == "invoke", kind
        assert isinstance(export, wasmtime.Func)
        ftype = export.type(self.store)
        key = (id(inst), name)
        cached = self.wrappers.get(key)
        wrapper = cached[1] if cached is not None else None
        if wrapper is None:
            wmod = wasmtime.Module(self.engine.wasm_engine, bytes(wasmtime.wat2wasm(_wrapper_wat(ftype))))
            winst = wasmtime.Instance(self.store, wmod, [export])
            w = winst.exports(self.store)["w"]
            assert isinstance(w, wasmtime.Func)
            self.wrappers[key] = (inst, w)
            wrapper = w
        args = []
        for arg in rest[1:]:
            ty, bits = _const(arg)
            args.append(_signed(bits, 32 if _BITS_TYPE[ty] == "i32" else 64))
        self.store.set_fuel(FUEL)
        try:
            out = wrapper(self.store, *args)
        except wasmtime.Trap as e:
            raise _ActionTrap(*classify_trap(e)) from None
        if out is None:
            return []
        values = list(out) if isinstance(out, list | tuple) else [out]
        widths = [32 if str(t) in ("i32", "f32") else 64 for t in ftype.results]
        return [v & ((1 << w) - 1) for v, w in zip(values, widths, strict=True)]

    def _memory_cap_difference(self, expected: list[Expected], got: list[int]) -> bool:
        if self.memory_cap >= 1 << 32 or self.last is None:
            return False
        if id(self.last) in self.diverged:
            return True
        if len(got) == 1 and expected[0].type == "i32" and got[0] == 0xFFFFFFFF:
            # memory.grow refused at the chain cap (it returns -1; nothing is allocated).
            self.diverged.add(id(self.last))
            return True
        return False

    # commands

    def run(self, src: str) -> Report:
        """Run every command of ``src``; returns the counts."""
        r = self.report
        for node in parse(src):
            head = node.items[0]
            line = src.count("\n", 0, node.start) + 1
            if head == "module":
                self._instantiate(src, node)
            elif head == "register":
                name = node.items[1].data.decode()
                inst = self.named[node.items[2]] if len(node.items) > 2 else self.current
                assert inst is not None
                self.linker.define_instance(self.store, name, inst)
            elif head in ("invoke", "get"):
                self._action(node)
            elif head == "assert_return":
                r.executed += 1
                expected = [_expected(x) for x in node.items[2:]]
                try:
                    got = self._action(node.items[1])
                except _ActionTrap as e:
                    if e.reason in ("stack_overflow", "out_of_gas"):
                        r.differences["recursion_limit"] += 1
                    else:
                        r.failures.append(f"line {line}: trapped {e.reason}")
                    continue
                if len(got) == len(expected) and all(
                    _matches(x, g) for x, g in zip(expected, got, strict=True)
                ):
                    r.passed += 1
                elif self._memory_cap_difference(expected, got):
                    r.differences["memory_cap"] += 1
                else:
                    r.failures.append(f"line {line}: got {got} expected {expected}")
            elif head in ("assert_trap", "assert_exhaustion"):
                r.executed += 1
                target = node.items[1]
                try:
                    if target.items[0] == "module":
                        self._instantiate(src, target)
                    else:
                        self._action(target)
                except _ActionTrap as e:
                    if head == "assert_trap" or e.reason in ("stack_overflow", "out_of_gas"):
                        r.passed += 1
                    else:
                        r.failures.append(f"line {line}: wrong exhaustion {e.reason}")
                except wasmtime.Trap:
                    r.passed += 1
                else:
                    if self.last is not None and id(self.last) in self.diverged:
                        r.differences["memory_cap"] += 1
                    else:
                        r.failures.append(f"line {line}: expected a trap")
            elif head in ("assert_invalid", "assert_malformed"):
                r.executed += 1
                r.refused_checked += 1
                try:
                    self.engine.compile(self._module_bytes(src, node.items[1]))
                except (ModuleError, wasmtime.WasmtimeError):
                    r.passed += 1
                else:
                    r.failures.append(f"line {line}: {head} module was accepted")
            else:
                r.unsupported[head] += 1
        return r
