"""The static deploy rules: what contract code may be, and the gas its compile costs.

What this module decides
------------------------
Before a ``deploy`` compiles anything, :func:`scan` walks the module's sections and every
function body's operators (a decoder of exactly the features the engine enables: MVP,
sign extension, saturating float-to-int, bulk memory, reference types, multi-value) and
returns a :class:`CodeShape`, or raises :class:`~chain.vm.engine.ModuleError` with a stable
reason.  :func:`compile_gas` turns the shape into the gas the deploy pays for compiling.
Both are pure integer functions of the code bytes: every validator reaches the same verdict
and the same gas, whether or not it has the module in a compile cache.

Why: wasmtime's compiler (Cranelift, with fuel metering) is superlinear in the shape of a
function, not in its bytes.  A 48 KiB function of 16 000 nested ``loop``s compiled for ~6 s
while its deploy paid ~10 M gas (~0.17 s at the transfer path's ~60 gas/µs); 1 000 locals
live across 5 600 loops, 8 s; 32-value block parameters through 1 300 loops, 1 s for 4 KiB
and more than 10 GB of memory for 16 KiB.

The rules (the walk stops at the first one broken; tables and segments are checked after it)
-------------------------------------------------------------------------------------------
==============================  ==================================================================
reason                          rule
==============================  ==================================================================
``malformed_wasm``              the bytes decode as a module of the enabled features (anything
                                else, e.g. a SIMD operator, is malformed here; wasmtime's own
                                validation runs later and may still refuse it)
``too_many_locals``             at most ``VmConfig.max_function_locals`` (1 024) locals declared in
                                one function, ``max_total_locals`` (65 536) in all
``nesting_too_deep``            ``block``/``loop``/``if`` nest at most ``VmConfig.max_control_depth``
                                (1 024) deep in one function (a C ``switch`` of n cases nests ~n
                                blocks; clang's 256-case switch nests 259)
``multi_value_block``           a block type is ``[] -> []`` or ``[] -> [t]``: no block parameters
                                and at most one result (what compilers emit; block parameters
                                through loops were the memory bomb above)
``too_many_tables``             at most one table (the store limiter allows one per call)
``table_over_cap``              a table's initial size is at most ``VmConfig.max_table_elements``
                                (65 536), which instantiation enforces: a larger one could be
                                deployed but never called
``segment_offset_not_constant`` an active data or element segment's offset is an ``i32.const``
                                (or extended-const ``i32.add``/``sub``/``mul`` of them)
``data_segment_out_of_bounds``  ``offset + length ≤ initial memory bytes`` for every active data
                                segment (instantiation would trap on every call)
``elem_segment_out_of_bounds``  ``offset + count ≤ initial table size`` for every active element
                                segment
==============================  ==================================================================

The compile gas
---------------
``compile_gas = ceil(work_ns × ChainParams.compile_gas_per_ms / 10⁶)`` where ``work_ns`` is
:meth:`CompileModel.work`, an upper bound of the compile time in nanoseconds::

    work_ns = module_ns + escape_ns × escaping
            + Σ over functions f [ function_ns + operator_ns × ops_f + local_ns × locals_f
                                   + point_ns × points_f + point_square_ns × points_f²
                                   + operator_square_tenths_ns × ops_f² / 10
                                   + live_ns × live_f + nested_ns × nested_f ]

(integer arithmetic, the ``/ 10`` rounding down).  Per function, from one walk of its body:

* ``ops_f``: operators; ``locals_f``: parameters + declared locals;
* ``points_f``, the weighted *control points*, where Cranelift makes basic blocks: ``loop``
  ``LOOP_POINTS`` (3) and ``if`` ``IF_POINTS`` (2), each plus its result count; ``else`` 1
  plus the ``if``'s result count; ``br``, ``br_if``, ``unreachable``, ``call``,
  ``memory.grow``/``fill``/``copy``/``init`` 1 (a branch to a label weighs 1 + the label's
  arity, ``return`` 1 + the function's results);
  ``br_table`` 1 + (Σ over its targets of 1 + arity) // ``BR_TABLE_TARGETS`` (8);
  ``call_indirect``, ``table.get``/``set``/``grow``/``fill``/``copy``/``init``
  ``POINT_HEAVY`` (3); a ``block`` its result count;
* ``live_f`` = Σ over points of weight × (operand stack height there + locals still to be
  mentioned, or mentioned inside the enclosing outermost loop): the values Cranelift must
  carry across the point;
* ``nested_f`` = Σ over points of weight × control depth there;

and ``escaping`` = Σ over functions callable from outside wasm (exported, in an element
segment, or named by ``ref.func``) of ``ESCAPE_UNITS`` (8) + params + results.  The gas is
charged on every deploy that passes the rules above, before wasmtime validates or compiles
the code, cached or not; a deploy whose gas limit cannot pay it ends ``out_of_gas`` without
compiling.

Measurements behind the constants
---------------------------------
Compile seconds of ``bench/hostile_wasm.py``'s families, sized to 4, 16 and 48 KiB, on the
2-core AMD EPYC VM (wasmtime 50.0.1; the larger of wall and CPU time, one or two runs).
Each :class:`CompileModel` coefficient is set so the modelled work is at least the measured
time for every family (worst modelled / measured ≈ 1.0: f64 chains, ~7 µs per operator;
functions in a table, ~130 µs each; 1 000 locals across 5 600 loops, 8.4 s; 7 000 loops
with ``br_if`` in one function, 5.8 s), and ``compile_gas_per_ms`` = 132 000 prices that
work at twice the transfer path's ~66 gas/µs.  Honest code pays more than its time (clang's
21 KiB interpreter/SHA-256/matrix module: ~11 M gas for ~17 ms, modelled ~5× over; the
sample contracts ~1.2–1.4 M gas), which keeps the margin for shapes not yet measured.
``python -m bench compile`` re-measures the families, each at the largest size the chain
accepts, and prints the worst compile seconds per gas against the transfer path's seconds
per gas of the same run: 7.7 ns/gas (3 872 exported functions) against 16.9 ns/gas, ratio
0.46, on 2026-12-03 (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.vm.engine import WASM_PAGE, ModuleError, VmConfig

# --- value types and section ids ------------------------------------------------------------

_VALTYPES = frozenset((0x7F, 0x7E, 0x7D, 0x7C, 0x70, 0x6F))
"""i32, i64, f32, f64, funcref, externref: the value types of the enabled features."""
_REFTYPES = frozenset((0x70, 0x6F))
_HEADER = b"\x00asm\x01\x00\x00\x00"

# --- the operator table -------------------------------------------------------------------------
#
# Every one-byte opcode the engine's features allow maps to (immediate kind, pops, pushes).
# Stack effects of calls, blocks and branches depend on types and are handled apart.

_IMM_NONE, _IMM_BLOCK, _IMM_IDX, _IMM_BR, _IMM_BR_TABLE, _IMM_CALL, _IMM_CALL_INDIRECT = range(7)
_IMM_SELECT_T, _IMM_MEMARG, _IMM_MEMIDX, _IMM_I32, _IMM_I64, _IMM_F32, _IMM_F64 = range(7, 14)
_IMM_REF_NULL, _IMM_LOCAL, _IMM_PREFIX_FC, _IMM_END, _IMM_ELSE, _IMM_STOP, _IMM_RETURN = range(14, 21)

_OPS: dict[int, tuple[int, int, int]] = {
    0x00: (_IMM_STOP, 0, 0),  # unreachable
    0x01: (_IMM_NONE, 0, 0),  # nop
    0x02: (_IMM_BLOCK, 0, 0),  # block
    0x03: (_IMM_BLOCK, 0, 0),  # loop
    0x04: (_IMM_BLOCK, 1, 0),  # if (pops the condition)
    0x05: (_IMM_ELSE, 0, 0),
    0x0B: (_IMM_END, 0, 0),
    0x0C: (_IMM_BR, 0, 0),  # br
    0x0D: (_IMM_BR, 1, 0),  # br_if
    0x0E: (_IMM_BR_TABLE, 1, 0),
    0x0F: (_IMM_RETURN, 0, 0),
    0x10: (_IMM_CALL, 0, 0),
    0x11: (_IMM_CALL_INDIRECT, 1, 0),
    0x1A: (_IMM_NONE, 1, 0),  # drop
    0x1B: (_IMM_NONE, 3, 1),  # select
    0x1C: (_IMM_SELECT_T, 3, 1),
    0x20: (_IMM_LOCAL, 0, 1),  # local.get
    0x21: (_IMM_LOCAL, 1, 0),  # local.set
    0x22: (_IMM_LOCAL, 1, 1),  # local.tee
    0x23: (_IMM_IDX, 0, 1),  # global.get
    0x24: (_IMM_IDX, 1, 0),  # global.set
    0x25: (_IMM_IDX, 1, 1),  # table.get
    0x26: (_IMM_IDX, 2, 0),  # table.set
    0x3F: (_IMM_MEMIDX, 0, 1),  # memory.size
    0x40: (_IMM_MEMIDX, 1, 1),  # memory.grow
    0x41: (_IMM_I32, 0, 1),
    0x42: (_IMM_I64, 0, 1),
    0x43: (_IMM_F32, 0, 1),
    0x44: (_IMM_F64, 0, 1),
    0xD0: (_IMM_REF_NULL, 0, 1),
    0xD1: (_IMM_NONE, 1, 1),  # ref.is_null
    0xD2: (_IMM_IDX, 0, 1),  # ref.func
    0xFC: (_IMM_PREFIX_FC, 0, 0),
}
for _op in range(0x28, 0x36):  # loads
    _OPS[_op] = (_IMM_MEMARG, 1, 1)
for _op in range(0x36, 0x3F):  # stores
    _OPS[_op] = (_IMM_MEMARG, 2, 0)
_UNARY = [0x45, 0x50, 0x67, 0x68, 0x69, 0x79, 0x7A, 0x7B, *range(0x8B, 0x92), *range(0x99, 0xA0),
          *range(0xA7, 0xC5)]
"""eqz, clz/ctz/popcnt, float unary, conversions, reinterpretations, sign extensions."""
for _op in range(0x45, 0xC5):
    _OPS[_op] = (_IMM_NONE, 1 if _op in _UNARY else 2, 1)

_FC: dict[int, tuple[int, int, int]] = {
    **{sub: (0, 1, 1) for sub in range(8)},  # saturating float-to-int
    8: (2, 3, 0),  # memory.init data mem
    9: (1, 0, 0),  # data.drop
    10: (2, 3, 0),  # memory.copy mem mem
    11: (1, 3, 0),  # memory.fill mem
    12: (2, 3, 0),  # table.init elem table
    13: (1, 0, 0),  # elem.drop
    14: (2, 3, 0),  # table.copy table table
    15: (1, 2, 1),  # table.grow
    16: (1, 0, 1),  # table.size
    17: (1, 3, 0),  # table.fill
}
"""``0xFC`` sub-opcode → (u32 immediates, pops, pushes)."""

# --- control points ----------------------------------------------------------------------------

BR_TABLE_TARGETS = 8
"""A ``br_table`` is one control point plus one per this many targets (each weighed 1 + its
label's arity): a jump table is cheap to compile, one edge per distinct target."""
LOOP_POINTS = 3
"""Weight of a ``loop`` (a loop header is a fuel check, an out-of-gas path and a join of every
value the loop changes)."""
IF_POINTS = 2
"""Weight of an ``if`` (a branch, two arms and a join)."""
POINT_HEAVY = 3
"""Weight of an operator that compiles to several basic blocks and a libcall
(``call_indirect``, ``table.get``/``set``/``grow``/``fill``/``copy``/``init``)."""
_HEAVY_FC = frozenset((12, 14, 15, 17))


def _malformed(what: str) -> ModuleError:
    return ModuleError("malformed_wasm", what)


def _u32(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if result > 0xFFFFFFFF:
                raise _malformed("u32 out of range")
            return result, pos
        shift += 7
        if shift >= 35:
            raise _malformed("LEB128 too long")


def _sleb(data: bytes, pos: int, bits: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if b & 0x40:
                result -= 1 << shift
            if not -(1 << (bits - 1)) <= result < (1 << (bits - 1)):
                raise _malformed("signed LEB128 out of range")
            return result, pos
        if shift >= bits + 7:
            raise _malformed("LEB128 too long")


def _name(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _u32(data, pos)
    if pos + n > len(data):
        raise _malformed("truncated name")
    return data[pos:pos + n], pos + n


def _limits(data: bytes, pos: int) -> tuple[int, int]:
    """``(minimum, next position)`` of a table or memory type's limits (flags 0 or 1)."""
    flags = data[pos]
    if flags not in (0, 1):
        raise _malformed(f"unsupported limits flags 0x{flags:02x}")
    minimum, pos = _u32(data, pos + 1)
    if flags == 1:
        _, pos = _u32(data, pos)
    return minimum, pos


@dataclass(frozen=True, slots=True)
class FunctionShape:
    """What the compile-cost rule reads from one function body (see the module docstring)."""

    operators: int
    """Operators in the body, its final ``end`` included."""
    locals: int
    """Parameters plus declared locals."""
    points: int
    """Weighted control points."""
    live: int
    """Σ over control points of weight × the values live across it (operand stack height +
    locals mentioned later, or in an enclosing loop)."""
    nested: int
    """Σ over control points of weight × the control depth there."""
    max_depth: int
    """Deepest ``block``/``loop``/``if`` nesting."""
    max_stack: int
    """Highest operand stack."""


ESCAPE_UNITS = 8
"""An escaping function's entry trampoline weighs as much as this many parameters."""


@dataclass(frozen=True, slots=True)
class CodeShape:
    """What the deploy rules read from a module (see :func:`scan`)."""

    functions: tuple[FunctionShape, ...]
    """The defined functions, in order."""
    escaping: int
    """Σ over defined functions callable from outside wasm (exported, in a table segment, or
    named by ``ref.func``) of ``ESCAPE_UNITS + params + results``."""
    imports: int
    declared_locals: int
    """Declared locals over all functions (parameters not counted; the ``max_total_locals`` cap)."""


@dataclass(frozen=True, slots=True)
class CompileModel:
    """The work model: nanoseconds of wasmtime compile work per unit of a module's shape.

    Each coefficient is the upper envelope of the hostile families of ``bench/hostile_wasm.py``
    that isolate it (module docstring, *Measurements*); the defaults describe wasmtime 50
    (Cranelift, fuel on) on the 2-core reference VM.  A new wasmtime build must be measured
    again with ``python -m bench compile``.
    """

    module_ns: int = 4_000_000
    """Per module (a tiny module takes ~3 ms: wasmtime's fixed cost)."""
    function_ns: int = 50_000
    """Per defined function (an empty one takes ~40 µs)."""
    escape_ns: int = 11_000
    """Per unit of :attr:`CodeShape.escaping` (a trampoline per exported or table function)."""
    operator_ns: int = 7_000
    """Per operator (dependent arithmetic chains reach ~7 µs per operator)."""
    local_ns: int = 200
    """Per parameter or declared local."""
    point_ns: int = 10_000
    """Per weighted control point."""
    point_square_ns: int = 8
    """Per (points of one function)²: Cranelift is quadratic in the blocks of one function."""
    operator_square_tenths_ns: int = 1
    """Tenths of a nanosecond per (operators of one function)²."""
    live_ns: int = 200
    """Per unit of :attr:`FunctionShape.live`: a value live across a point is a block
    parameter or a spill there."""
    nested_ns: int = 80
    """Per unit of :attr:`FunctionShape.nested`."""

    def function_work(self, f: FunctionShape) -> int:
        """Nanoseconds of compile work one function may take."""
        return (self.function_ns + self.operator_ns * f.operators + self.local_ns * f.locals
                + self.point_ns * f.points + self.point_square_ns * f.points * f.points
                + self.operator_square_tenths_ns * f.operators * f.operators // 10
                + self.live_ns * f.live + self.nested_ns * f.nested)

    def work(self, shape: CodeShape) -> int:
        """Nanoseconds of compile work the module may take: the formula of the module docstring."""
        return (self.module_ns + self.escape_ns * shape.escaping
                + sum(self.function_work(f) for f in shape.functions))


DEFAULT_MODEL = CompileModel()


def compile_gas(shape: CodeShape, gas_per_ms: int, model: CompileModel = DEFAULT_MODEL) -> int:
    """``ceil(work_ns × gas_per_ms / 10⁶)``: the gas a deploy pays for compiling its code."""
    return -(-model.work(shape) * gas_per_ms // 1_000_000)


@dataclass(slots=True)
class _Module:
    """Module-level facts gathered while walking the sections."""

    types: list[tuple[int, int]]
    func_types: list[int]
    import_types: list[int] | None = None
    imported_funcs: int = 0
    imports: int = 0
    tables: list[int] | None = None
    memory_pages: int | None = None
    escaping: set[int] | None = None


def _const_expr(data: bytes, pos: int, esc: set[int]) -> tuple[int | None, int]:
    """Evaluate a constant expression; ``(i32 value or None, next position)``.

    The value is known when the expression is made of ``i32.const`` and the extended-const
    ``i32.add``/``i32.sub``/``i32.mul`` only (wrapping at 2³²); anything else reads as
    ``None``.  ``ref.func`` marks its function as escaping.
    """
    stack: list[int] = []
    known = True
    while True:
        op = data[pos]
        pos += 1
        if op == 0x0B:
            value = stack[-1] & 0xFFFFFFFF if known and len(stack) == 1 else None
            return value, pos
        if op == 0x41:
            v, pos = _sleb(data, pos, 32)
            stack.append(v)
        elif op in (0x6A, 0x6B, 0x6C) and known and len(stack) >= 2:
            b, a = stack.pop(), stack.pop()
            stack.append(a + b if op == 0x6A else a - b if op == 0x6B else a * b)
        elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):
            known = False
        elif op == 0x42:
            _, pos = _sleb(data, pos, 64)
            known = False
        elif op == 0x43:
            pos += 4
            known = False
        elif op == 0x44:
            pos += 8
            known = False
        elif op == 0x23:
            _, pos = _u32(data, pos)
            known = False
        elif op == 0xD0:
            pos += 1
            known = False
        elif op == 0xD2:
            f, pos = _u32(data, pos)
            esc.add(f)
            known = False
        else:
            raise _malformed(f"unsupported operator 0x{op:02x} in a constant expression")


def scan(code: bytes, cfg: VmConfig | None = None) -> CodeShape:
    """The :class:`CodeShape` of ``code`` under the rules of the module docstring.

    Raises :class:`ModuleError` on the first rule broken.  Work is linear in the code's
    size (each count it reads is bounded by the bytes that follow), and no list is sized
    by a count before the count is checked.
    """
    cfg = cfg or VmConfig()
    try:
        return _scan(bytes(code), cfg)
    except IndexError:
        raise _malformed("truncated module") from None


def _scan(data: bytes, cfg: VmConfig) -> CodeShape:
    if data[:8] != _HEADER:
        raise _malformed("not a wasm module (bad magic or version)")
    m = _Module(types=[], func_types=[], import_types=[], tables=[], escaping=set())
    assert m.tables is not None and m.escaping is not None
    functions: list[FunctionShape] = []
    declared_total = 0
    data_segments: list[tuple[int | None, int]] = []
    elem_segments: list[tuple[int, int | None, int]] = []
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, pos = _u32(data, pos + 1)
        end = pos + size
        if end > len(data):
            raise _malformed("section runs past the end")
        q = pos
        if sid == 0:  # custom
            q = end
        elif sid == 1:
            q = _type_section(data, q, m)
        elif sid == 2:
            q = _import_section(data, q, m)
        elif sid == 3:
            n, q = _u32(data, q)
            for _ in range(n):
                t, q = _u32(data, q)
                if t >= len(m.types):
                    raise _malformed("function type index")
                m.func_types.append(t)
        elif sid == 4:
            n, q = _u32(data, q)
            for _ in range(n):
                if data[q] not in _REFTYPES:
                    raise _malformed("unsupported table type")
                minimum, q = _limits(data, q + 1)
                m.tables.append(minimum)
        elif sid == 5:
            n, q = _u32(data, q)
            for _ in range(n):
                pages, q = _limits(data, q)
                if m.memory_pages is None:
                    m.memory_pages = pages
        elif sid == 6:
            n, q = _u32(data, q)
            for _ in range(n):
                if data[q] not in _VALTYPES or data[q + 1] not in (0, 1):
                    raise _malformed("global type")
                _, q = _const_expr(data, q + 2, m.escaping)
        elif sid == 7:
            n, q = _u32(data, q)
            for _ in range(n):
                _, q = _name(data, q)
                kind = data[q]
                index, q = _u32(data, q + 1)
                if kind == 0:
                    m.escaping.add(index)
        elif sid == 8:
            _, q = _u32(data, q)
        elif sid == 9:
            q = _element_section(data, q, m, elem_segments)
        elif sid == 10:
            q, declared_total = _code_section(data, q, end, m, cfg, functions)
        elif sid == 11:
            n, q = _u32(data, q)
            for _ in range(n):
                flags, q = _u32(data, q)
                if flags == 1:
                    length, q = _u32(data, q)
                    q += length
                    continue
                if flags == 2:
                    _, q = _u32(data, q)
                elif flags != 0:
                    raise _malformed("data segment flags")
                offset, q = _const_expr(data, q, m.escaping)
                length, q = _u32(data, q)
                q += length
                data_segments.append((offset, length))
        elif sid == 12:
            _, q = _u32(data, q)
        else:
            raise _malformed(f"unsupported section {sid}")
        if q != end:
            raise _malformed(f"section {sid} size mismatch")
        pos = end
    if len(m.func_types) != len(functions):
        raise _malformed("function and code section counts differ")
    _check_tables(m, cfg, elem_segments)
    _check_data(m, data_segments)
    n_funcs = m.imported_funcs + len(m.func_types)
    all_types = m.func_types  # defined functions; imported ones are not compiled
    escaping = 0
    for f in sorted(m.escaping):
        if f >= n_funcs:
            raise _malformed("function index")
        if f >= m.imported_funcs:
            p, r = m.types[all_types[f - m.imported_funcs]]
            escaping += ESCAPE_UNITS + p + r
    return CodeShape(tuple(functions), escaping, m.imports, declared_total)


def _type_section(data: bytes, q: int, m: _Module) -> int:
    n, q = _u32(data, q)
    for _ in range(n):
        if data[q] != 0x60:
            raise _malformed(f"unsupported type form 0x{data[q]:02x}")
        counts = []
        q += 1
        for _ in range(2):
            k, q = _u32(data, q)
            for _ in range(k):
                if data[q] not in _VALTYPES:
                    raise _malformed("value type")
                q += 1
            counts.append(k)
        m.types.append((counts[0], counts[1]))
    return q


def _import_section(data: bytes, q: int, m: _Module) -> int:
    assert m.tables is not None
    n, q = _u32(data, q)
    for _ in range(n):
        _, q = _name(data, q)
        _, q = _name(data, q)
        kind = data[q]
        q += 1
        m.imports += 1
        if kind == 0:
            t, q = _u32(data, q)
            if t >= len(m.types):
                raise _malformed("import type index")
            assert m.import_types is not None
            m.import_types.append(t)
            m.imported_funcs += 1
        elif kind == 1:
            if data[q] not in _REFTYPES:
                raise _malformed("unsupported table type")
            minimum, q = _limits(data, q + 1)
            m.tables.append(minimum)
        elif kind == 2:
            pages, q = _limits(data, q)
            if m.memory_pages is None:
                m.memory_pages = pages
        elif kind == 3:
            if data[q] not in _VALTYPES or data[q + 1] not in (0, 1):
                raise _malformed("global type")
            q += 2
        else:
            raise _malformed(f"unsupported import kind {kind}")
    return q


def _element_section(data: bytes, q: int, m: _Module, out: list[tuple[int, int | None, int]]) -> int:
    assert m.escaping is not None
    n, q = _u32(data, q)
    for _ in range(n):
        flags, q = _u32(data, q)
        if flags > 7:
            raise _malformed("element segment flags")
        active = not flags & 1
        table = 0
        offset: int | None = None
        if flags & 2 and active:
            table, q = _u32(data, q)
        if active:
            offset, q = _const_expr(data, q, m.escaping)
        if flags & 3:  # an element kind (0x00) or a reference type
            q += 1
        count, q = _u32(data, q)
        for _ in range(count):
            if flags & 4:
                _, q = _const_expr(data, q, m.escaping)
            else:
                f, q = _u32(data, q)
                m.escaping.add(f)
        if active:
            out.append((table, offset, count))
    return q


def _check_tables(m: _Module, cfg: VmConfig, segments: list[tuple[int, int | None, int]]) -> None:
    assert m.tables is not None
    if len(m.tables) > 1:
        raise ModuleError("too_many_tables", f"{len(m.tables)} > 1")
    for minimum in m.tables:
        if minimum > cfg.max_table_elements:
            raise ModuleError("table_over_cap", f"{minimum} > {cfg.max_table_elements}")
    for table, offset, count in segments:
        if table >= len(m.tables):
            raise _malformed("element segment table index")
        if offset is None:
            raise ModuleError("segment_offset_not_constant", "element segment")
        if offset + count > m.tables[table]:
            raise ModuleError("elem_segment_out_of_bounds", f"{offset} + {count} > {m.tables[table]}")


def _check_data(m: _Module, segments: list[tuple[int | None, int]]) -> None:
    size = (m.memory_pages or 0) * WASM_PAGE
    for offset, length in segments:
        if m.memory_pages is None:
            raise _malformed("data segment without a memory")
        if offset is None:
            raise ModuleError("segment_offset_not_constant", "data segment")
        if offset + length > size:
            raise ModuleError("data_segment_out_of_bounds", f"{offset} + {length} > {size}")


def _code_section(data: bytes, q: int, end: int, m: _Module, cfg: VmConfig,
                  out: list[FunctionShape]) -> tuple[int, int]:
    n, q = _u32(data, q)
    if n != len(m.func_types):
        raise _malformed("function and code section counts differ")
    assert m.import_types is not None
    sigs = [m.types[t] for t in m.func_types]
    func_sigs = [m.types[t] for t in m.import_types] + sigs
    total = 0
    for i in range(n):
        size, q = _u32(data, q)
        body_end = q + size
        if body_end > end:
            raise _malformed("function body runs past its section")
        shape, declared = _function(data, q, body_end, m, sigs[i], cfg, func_sigs)
        total += declared
        if total > cfg.max_total_locals:
            raise ModuleError("too_many_locals", f"more than {cfg.max_total_locals} in all")
        out.append(shape)
        q = body_end
    return q, total


def _function(data: bytes, pos: int, end: int, m: _Module, sig: tuple[int, int], cfg: VmConfig,
              func_sigs: list[tuple[int, int]]) -> tuple[FunctionShape, int]:
    """Walk one body: its :class:`FunctionShape` and the number of locals it declares."""
    groups, pos = _u32(data, pos)
    declared = 0
    for _ in range(groups):
        k, pos = _u32(data, pos)
        declared += k
        if declared > cfg.max_function_locals:
            raise ModuleError("too_many_locals", f"more than {cfg.max_function_locals} in one function")
        if data[pos] not in _VALTYPES:
            raise _malformed("local type")
        pos += 1
    n_locals = sig[0] + declared
    last = [0] * n_locals
    """Per local: the weighted control points before its last mention (loops extended)."""
    in_loop: set[int] = set()
    types = m.types
    n_types = len(types)
    n_funcs = len(func_sigs)
    ops_table = _OPS
    max_depth_cap = cfg.max_control_depth
    # frames: [opcode, base height, params, results, branch arity]
    frames: list[list[int]] = [[0, 0, 0, sig[1], sig[1]]]
    loops = 0
    height = 0
    points = live = nested = ops = max_depth = max_stack = 0
    while pos < end:
        op = data[pos]
        pos += 1
        ops += 1
        entry = ops_table.get(op)
        if entry is None:
            raise _malformed(f"unsupported operator 0x{op:02x}")
        imm, pops, pushes = entry
        weight = 0
        if imm == _IMM_NONE:
            pass
        elif imm == _IMM_LOCAL:
            x, pos = _u32(data, pos)
            if x >= n_locals:
                raise _malformed("local index")
            last[x] = points
            if loops:
                in_loop.add(x)
        elif imm == _IMM_MEMARG:
            align, pos = _u32(data, pos)
            if align & 0x40:
                _, pos = _u32(data, pos)
            _, pos = _u32(data, pos)
        elif imm == _IMM_I32:
            _, pos = _sleb(data, pos, 32)
        elif imm == _IMM_IDX:
            _, pos = _u32(data, pos)
            if op == 0x25 or op == 0x26:
                weight = POINT_HEAVY
        elif imm == _IMM_CALL:
            f, pos = _u32(data, pos)
            if f >= n_funcs:
                raise _malformed("function index")
            pops, pushes = func_sigs[f]
            weight = 1
        elif imm == _IMM_BR:
            x, pos = _u32(data, pos)
            if x >= len(frames):
                raise _malformed("branch depth")
            weight = 1 + frames[-1 - x][4]
        elif imm == _IMM_BLOCK:
            b = data[pos]
            if b == 0x40:
                p = r = 0
                pos += 1
            elif b in _VALTYPES:
                p, r = 0, 1
                pos += 1
            else:
                t, pos = _sleb(data, pos, 33)
                if not 0 <= t < n_types:
                    raise _malformed("block type")
                p, r = types[t]
                if p or r > 1:
                    raise ModuleError("multi_value_block", f"a block of type {p} -> {r}")
            height -= pops
            if height < frames[-1][1]:
                height = frames[-1][1]
            weight = r if op == 0x02 else (LOOP_POINTS if op == 0x03 else IF_POINTS) + r
            if weight:
                points += weight
                live += weight * height
                nested += weight * (len(frames) - 1)
            frames.append([op, max(height - p, frames[-1][1]), p, r, p if op == 0x03 else r])
            if op == 0x03:
                loops += 1
            if len(frames) - 1 > max_depth:
                max_depth = len(frames) - 1
                if max_depth > max_depth_cap:
                    raise ModuleError("nesting_too_deep", f"more than {max_depth_cap} in one function")
            continue
        elif imm == _IMM_END:
            frame = frames.pop()
            height = frame[1] + frame[3]
            if frame[0] == 0x03:
                loops -= 1
                if not loops:
                    for x in in_loop:
                        last[x] = points
                    in_loop.clear()
            if not frames:
                break
            continue
        elif imm == _IMM_ELSE:
            frame = frames[-1]
            if frame[0] != 0x04:
                raise _malformed("else without if")
            weight = 1 + frame[2] + frame[3]
            points += weight
            live += weight * frame[1]
            nested += weight * (len(frames) - 1)
            height = frame[1] + frame[2]
            continue
        elif imm == _IMM_BR_TABLE:
            n, pos = _u32(data, pos)
            for _ in range(n + 1):
                x, pos = _u32(data, pos)
                if x >= len(frames):
                    raise _malformed("branch depth")
                weight += 1 + frames[-1 - x][4]
            weight = 1 + weight // BR_TABLE_TARGETS
        elif imm == _IMM_STOP:
            weight = 1
        elif imm == _IMM_RETURN:
            weight = 1 + sig[1]
        elif imm == _IMM_CALL_INDIRECT:
            t, pos = _u32(data, pos)
            _, pos = _u32(data, pos)
            if t >= n_types:
                raise _malformed("type index")
            p, r = types[t]
            pops, pushes = 1 + p, r
            weight = POINT_HEAVY
        elif imm == _IMM_I64:
            _, pos = _sleb(data, pos, 64)
        elif imm == _IMM_F32:
            pos += 4
        elif imm == _IMM_F64:
            pos += 8
        elif imm == _IMM_MEMIDX:
            _, pos = _u32(data, pos)
            if op == 0x40:
                weight = 1
        elif imm == _IMM_SELECT_T:
            k, pos = _u32(data, pos)
            pos += k
        elif imm == _IMM_REF_NULL:
            if data[pos] not in _REFTYPES:
                raise _malformed("unsupported operator: ref.null of a typed reference")
            pos += 1
        else:  # _IMM_PREFIX_FC
            sub, pos = _u32(data, pos)
            fc = _FC.get(sub)
            if fc is None:
                raise _malformed(f"unsupported operator 0xfc {sub}")
            nimm, pops, pushes = fc
            for _ in range(nimm):
                _, pos = _u32(data, pos)
            if sub in _HEAVY_FC:
                weight = POINT_HEAVY
            elif sub in (8, 10, 11):
                weight = 1
        # the common tail: pops, the point, pushes, and what ends reachability
        height -= pops
        base = frames[-1][1]
        if height < base:
            height = base
        if weight:
            points += weight
            live += weight * height
            nested += weight * (len(frames) - 1)
        if imm in (_IMM_BR, _IMM_BR_TABLE, _IMM_STOP, _IMM_RETURN) and not (imm == _IMM_BR and op == 0x0D):
            height = base
            continue
        height += pushes
        if height > max_stack:
            max_stack = height
    if frames or pos != end:
        raise _malformed("function body does not end where its size says")
    live += sum(last)
    return FunctionShape(ops, n_locals, points, live, nested, max_depth, max_stack), declared
