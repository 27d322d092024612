"""Generated hostile contract modules: the shapes that make wasmtime's compiler slow.

Each family is a function ``n -> WAT text`` whose module grows with ``n``;
:func:`fit` picks the largest ``n`` whose binary fits a byte budget, so every family can be
sized to ``ChainParams.max_code_bytes`` (and to fractions of it, to see how compile time
scales).  The families are the measurements behind :mod:`chain.vm.deploy_rules`: deep
nesting (of loops, ifs and blocks, up to ``VmConfig.max_control_depth``), many control
points in one function, locals and operand-stack values live across many loops and ifs,
``br_table`` (wide, deep, many, multi-value), ``call_indirect`` and table operators, many
functions (plain, exported, with many parameters, in a table), long arithmetic chains, big
stacks, globals, data and element segments.  Every module exports its memory, as a
contract must; none imports anything.
"""

from __future__ import annotations

from collections.abc import Callable

import wasmtime

Family = Callable[[int], str]

MEM = '(memory (export "memory") 1)'
DEPTH = 1024
"""Nesting used by the deep families: ``VmConfig.max_control_depth``."""


def wasm(wat: str) -> bytes:
    return bytes(wasmtime.wat2wasm(wat))


def _module(*parts: str) -> str:
    return "(module " + MEM + " " + " ".join(parts) + ")"


def _locals(n: int, ty: str = "i64") -> str:
    return " ".join([f"(local {ty})"] * n)


def _set_locals(n: int, first: int = 1) -> str:
    return " ".join(f"i64.const {i + 1} local.set {i + first}" for i in range(n))


def _sum_locals(n: int, first: int = 1) -> str:
    return "i64.const 0 " + " ".join(f"local.get {i + first} i64.add" for i in range(n))


MV = 32
"""Arity of the multi-value families' block type."""
_MV_TYPE = f"(type $mv (func (param {'i32 ' * MV}) (result {'i32 ' * MV})))"


def _nest(open_: str, close: str, depth: int) -> str:
    return open_ * depth + close * depth


FAMILIES: dict[str, Family] = {
    # -- nesting, up to the depth cap, one function per nest
    "nested loops": lambda n: _module(f"(func {_nest('loop ', 'end ', DEPTH)})" * n),
    "nested loops, br_if each": lambda n: _module(
        f"(func (param i32) {''.join(f'loop local.get 0 br_if {i // 2} ' for i in range(DEPTH))}{'end ' * DEPTH})"
        * n),
    "nested ifs": lambda n: _module(f"(func (param i32) {_nest('local.get 0 if ', 'end ', DEPTH)})" * n),
    "nested if/else": lambda n: _module(f"(func (param i32) {_nest('local.get 0 if ', 'else end ', DEPTH)})" * n),
    "nested blocks, br_if each": lambda n: _module(
        f"(func (param i32) {'block ' * DEPTH}"
        f"{''.join(f'local.get 0 br_if {DEPTH - 1 - i} end ' for i in range(DEPTH))})" * n),
    "nested loops, 1000 locals set inside": lambda n: _module(
        f"(func {_locals(1000)} {'loop ' * DEPTH} {_set_locals(1000, 0)} {'end ' * DEPTH})" * n),
    "nested loops with br_if, 1000 locals live across": lambda n: _module(
        f"(func (param i32) (result i64) {_locals(1000)} {_set_locals(1000)} "
        f"{''.join(f'loop local.get 0 br_if {i} ' for i in range(DEPTH))}{'end ' * DEPTH}"
        f"{_sum_locals(1000)})" * n),
    # -- many control points in one function
    "sequential loops with br_if": lambda n: _module(f"(func (param i32) {'loop local.get 0 br_if 0 end ' * n})"),
    "sequential ifs": lambda n: _module(f"(func (param i32) {'local.get 0 if end ' * n})"),
    "sequential if/else setting a local": lambda n: _module(
        f"(func (param i32) (local i32) {'local.get 0 if i32.const 1 local.set 1 else i32.const 2 local.set 1 end ' * n})"),
    "sequential returns": lambda n: _module(f"(func (param i32) {'local.get 0 if return end ' * n})"),
    "sequential unreachables": lambda n: _module(f"(func (param i32) {'local.get 0 if unreachable end ' * n})"),
    # -- values live across control points
    "1000 locals live across n loops": lambda n: _module(
        f"(func (param i32) (result i64) {_locals(1000)} {_set_locals(1000)} "
        f"{'loop local.get 0 br_if 0 end ' * n} {_sum_locals(1000)})"),
    "1000 locals live across n plain loops": lambda n: _module(
        f"(func (param i32) (result i64) {_locals(1000)} {_set_locals(1000)} {'loop end ' * n} {_sum_locals(1000)})"),
    "100 locals live across n loops": lambda n: _module(
        f"(func (param i32) (result i64) {_locals(100)} {_set_locals(100)} "
        f"{'loop local.get 0 br_if 0 end ' * n} {_sum_locals(100)})"),
    "1000 locals live across n ifs": lambda n: _module(
        f"(func (param i32) (result i64) {_locals(1000)} {_set_locals(1000)} "
        f"{'local.get 0 if end ' * n} {_sum_locals(1000)})"),
    "1000 locals live across n calls": lambda n: _module(
        f"(func $g) (func (param i32) (result i64) {_locals(1000)} {_set_locals(1000)} "
        f"{'call $g ' * n} {_sum_locals(1000)})"),
    "4000 stack values live across n loops": lambda n: _module(
        f"(func (param i32) (result i32) {'local.get 0 ' * 4000}{'loop local.get 0 br_if 0 end ' * n}"
        f"{'i32.add ' * 3999})"),
    "n stack values live across 2000 loops": lambda n: _module(
        f"(func (param i32) (result i32) {'local.get 0 ' * n}{'loop local.get 0 br_if 0 end ' * 2000}"
        f"{'i32.add ' * (n - 1)})"),
    "stack of n values": lambda n: _module(f"(func (result i32) {'i32.const 1 ' * n}{'i32.add ' * (n - 1)})"),
    # -- br_table
    "br_table, n targets": lambda n: _module(f"(func (param i32) block local.get 0 br_table {'0 ' * n}0 end)"),
    "br_table over 1024 nested blocks, n times": lambda n: _module(
        f"(func (param i32) {'block ' * DEPTH}"
        + f"local.get 0 br_table {' '.join(str(i) for i in range(DEPTH))} 0 " * n + "end " * DEPTH + ")"),
    "n br_tables of 64 targets": lambda n: _module(
        f"(func (param i32) {'block ' * 64}"
        + f"local.get 0 br_table {' '.join(str(i) for i in range(64))} 0 " * n + "end " * 64 + ")"),
    f"multi-value ({MV} in, {MV} out) nested blocks": lambda n: _module(
        _MV_TYPE, f"(func (param i32) {'local.get 0 ' * MV}{_nest('block (type $mv) ', 'end ', DEPTH)}"
                  f"{'drop ' * MV})" * n),
    f"multi-value ({MV}) br_table, n targets": lambda n: _module(
        _MV_TYPE, f"(func (param i32) {'local.get 0 ' * MV}block (type $mv) local.get 0 br_table {'0 ' * n}0 end "
                  f"{'drop ' * MV})"),
    f"multi-value ({MV}) loops in sequence": lambda n: _module(
        _MV_TYPE, f"(func (param i32) {'local.get 0 ' * MV}{'loop (type $mv) end ' * n}{'drop ' * MV})"),
    # -- calls and tables
    "call_indirect": lambda n: _module(
        "(type $t (func)) (table 1 funcref) (func $g) (elem (i32.const 0) $g)",
        f"(func {'i32.const 0 call_indirect (type $t) ' * n})"),
    "table.get": lambda n: _module("(table 1 funcref)", f"(func {'i32.const 0 table.get 0 drop ' * n})"),
    "table.grow": lambda n: _module("(table 1 funcref)", f"(func {'ref.null func i32.const 0 table.grow 0 drop ' * n})"),
    "direct calls": lambda n: _module(f"(func $g) (func {'call $g ' * n})"),
    "memory.grow": lambda n: _module(f"(func {'i32.const 0 memory.grow drop ' * n})"),
    "memory.fill": lambda n: _module(f"(func {'i32.const 0 i32.const 0 i32.const 0 memory.fill ' * n})"),
    # -- many functions
    "empty functions": lambda n: _module("(func)" * n),
    "exported functions": lambda n: _module("".join(f'(func (export "f{i}"))' for i in range(n))),
    "exported functions, 30 params": lambda n: _module(
        "".join(f'(func (export "f{i}") (param {"i32 " * 30}) (result i64) i64.const 0)' for i in range(n))),
    "functions in a table": lambda n: _module(
        f"(table {n} funcref)", "(func)" * n, f"(elem (i32.const 0) {' '.join(str(i) for i in range(n))})"),
    "functions of 1000 params": lambda n: _module(
        f"(type $p (func (param {'i32 ' * 1000})))", "(func (type $p))" * n),
    # -- straight-line code
    "i32 multiply chain": lambda n: _module(f"(func (param i32) (result i32) local.get 0 {'i32.const 3 i32.mul ' * n})"),
    "f64 div/sqrt chain": lambda n: _module(
        f"(func (param f64) (result f64) local.get 0 {'local.get 0 f64.div f64.sqrt ' * n})"),
    "loads and stores": lambda n: _module(
        "(func " + " ".join(f"i32.const {8 * (i % 64)} i32.const {8 * (i % 61)} i64.load i64.store" for i in range(n))
        + ")"),
    "global get/set": lambda n: _module(
        "(global $g (mut i32) (i32.const 0))", f"(func {'global.get $g i32.const 1 i32.add global.set $g ' * n})"),
    "many globals": lambda n: _module("(global (mut i32) (i32.const 0))" * n),
    "data segments": lambda n: _module('(data (i32.const 0) "a")' * n),
}
"""Hostile shapes, by name: ``n`` scales the module."""


def fit(family: Family, budget: int) -> tuple[int, bytes] | None:
    """The largest ``n`` (and its module) whose binary is at most ``budget`` bytes."""
    lo, lo_code = 0, b""
    n = 1
    while True:
        code = wasm(family(n))
        if len(code) > budget:
            break
        lo, lo_code = n, code
        n *= 2
        if n > 4 * budget:  # every family adds about a byte or more per step of n
            raise ValueError("a family that does not grow with n")
    hi = n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        code = wasm(family(mid))
        if len(code) <= budget:
            lo, lo_code = mid, code
        else:
            hi = mid
    return (lo, lo_code) if lo else None
