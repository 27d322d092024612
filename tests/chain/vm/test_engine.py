"""The deterministic VM core: gas, limits, host calls, module refusal, the module cache."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
import wasmtime

from chain.params import ChainParams
from chain.vm import (
    Engine,
    HostContext,
    HostFunction,
    HostTrap,
    ModuleError,
    Status,
    VmConfig,
    code_hash,
)

MiB = 1024 * 1024


def wat(src: str) -> bytes:
    return bytes(wasmtime.wat2wasm(src))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(VmConfig(max_memory_bytes=ChainParams().max_memory_bytes))


LOOP = wat('(module (func (export "run") (loop (br 0))))')
BOMB = wat(
    """(module (memory 1)
      (func (export "run") (result i32)
        (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        (memory.size)))"""
)
BIG_GROW = wat('(module (memory 1) (func (export "run") (result i32) (memory.grow (i32.const 0xffff))))')
RECURSE = wat(
    '(module (func $f (export "run") (param i32) (result i32) (i32.add (call $f (local.get 0)) (i32.const 1))))'
)
COUNT = wat(
    """(module (func (export "run") (param $n i32) (result i32) (local $i i32)
      (block (loop
        (br_if 1 (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br 0)))
      (local.get $i)))"""
)
FLOATS = wat(
    """(module
      (func (export "nan32") (result i32) (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))
      (func (export "nan32_payload") (result i32)
        (i32.reinterpret_f32 (f32.add (f32.reinterpret_i32 (i32.const 0xffa00001)) (f32.const 1))))
      (func (export "nan64") (result i64)
        (i64.reinterpret_f64 (f64.sqrt (f64.const -1))))
      (func (export "mix") (param $n i32) (result i64) (local $x f64)
        (local.set $x (f64.const 0.1))
        (block (loop
          (br_if 1 (i32.eqz (local.get $n)))
          (local.set $x (f64.add (f64.mul (local.get $x) (f64.const 1.0000001))
                                 (f64.div (f64.const 1) (f64.add (local.get $x) (f64.const 3.3)))))
          (local.set $x (f64.sqrt (f64.mul (local.get $x) (local.get $x))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br 0)))
        (i64.reinterpret_f64 (local.get $x))))"""
)
HOSTED = wat(
    """(module
      (import "env" "echo" (func $echo (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "hello")
      (func (export "run") (param $ptr i32) (param $len i32) (result i32)
        (call $echo (local.get $ptr) (local.get $len))))"""
)


def echo_host(calls: list[bytes]) -> dict[str, HostFunction]:
    def echo(ctx: HostContext, ptr: int, length: int) -> int:
        data = ctx.read(ptr, length)
        ctx.charge(3 * len(data))
        calls.append(data)
        ctx.write(ptr + length, data)
        return len(data)

    return {"echo": HostFunction(("i32", "i32"), ("i32",), echo)}


# -- determinism of the four hostile contracts of issue 4 ------------------------------


def test_infinite_loop_runs_out_of_gas_identically(engine: Engine) -> None:
    results = [engine.execute(LOOP, "run", gas_limit=200_000) for _ in range(3)]
    assert {r.status for r in results} == {Status.OUT_OF_GAS}
    assert {r.gas_used for r in results} == {200_000}
    assert len(set(results)) == 1


def test_memory_bomb_stops_at_the_cap(engine: Engine) -> None:
    # memory.grow returns -1 at the cap (spec behaviour); the contract sees it and stops.
    r = engine.execute(BOMB, "run", gas_limit=10_000_000, memory_limit=4 * MiB)
    assert r.status is Status.OK
    assert r.values == (64,)  # 4 MiB / 64 KiB pages
    again = engine.execute(BOMB, "run", gas_limit=10_000_000, memory_limit=4 * MiB)
    assert again == r


def test_one_huge_grow_fails_without_allocating(engine: Engine) -> None:
    r = engine.execute(BIG_GROW, "run", gas_limit=1_000)
    assert (r.status, r.values) == (Status.OK, (-1,))


def test_memory_cap_cannot_exceed_genesis() -> None:
    small = Engine(VmConfig(max_memory_bytes=2 * MiB))
    r = small.execute(BOMB, "run", gas_limit=10_000_000, memory_limit=64 * MiB)
    assert r.values == (32,)


def test_memory_bomb_that_runs_out_of_gas(engine: Engine) -> None:
    r = engine.execute(BOMB, "run", gas_limit=50, memory_limit=4 * MiB)
    assert (r.status, r.gas_used) == (Status.OUT_OF_GAS, 50)


def test_initial_memory_over_the_cap_is_refused(engine: Engine) -> None:
    code = wat('(module (memory 100) (func (export "run")))')
    r = engine.execute(code, "run", gas_limit=1_000, memory_limit=1 * MiB)
    assert (r.status, r.reason, r.gas_used) == (Status.MEMORY_LIMIT, "initial_memory_over_cap", 0)
    assert engine.execute(code, "run", gas_limit=1_000).ok


def test_deep_recursion_traps_and_charges_everything(engine: Engine) -> None:
    results = [engine.execute(RECURSE, "run", [0], gas_limit=10**9) for _ in range(3)]
    assert {(r.status, r.reason, r.gas_used) for r in results} == {(Status.TRAP, "stack_overflow", 10**9)}


def test_recursion_out_of_gas_before_the_stack(engine: Engine) -> None:
    r = engine.execute(RECURSE, "run", [0], gas_limit=1_000)
    assert (r.status, r.gas_used) == (Status.OUT_OF_GAS, 1_000)


def test_floats_are_deterministic_and_nans_canonical(engine: Engine) -> None:
    assert engine.execute(FLOATS, "nan32", gas_limit=100).values == (0x7FC00000,)
    # an arithmetic NaN with a payload and the sign bit comes out canonical
    assert engine.execute(FLOATS, "nan32_payload", gas_limit=100).values == (0x7FC00000,)
    assert engine.execute(FLOATS, "nan64", gas_limit=100).values == (0x7FF8000000000000,)
    runs = [engine.execute(FLOATS, "mix", [5_000], gas_limit=10**7) for _ in range(3)]
    assert len(set(runs)) == 1
    # golden values: a change here is a consensus change (new wasmtime, new fuel costs)
    assert (runs[0].values, runs[0].gas_used) == ((4636512023451530517,), 115008)
    (bits,) = runs[0].values
    assert math.isfinite(struct.unpack("<d", struct.pack("<q", int(bits)))[0])


def test_float_arguments_and_results(engine: Engine) -> None:
    code = wat(
        '(module (func (export "half") (param f64) (result f64) (f64.mul (local.get 0) (f64.const 0.5))))'
    )
    assert engine.execute(code, "half", [3.0], gas_limit=100).values == (1.5,)


# -- gas accounting -----------------------------------------------------------------


def test_gas_is_monotone_in_work(engine: Engine) -> None:
    used = [engine.execute(COUNT, "run", [n], gas_limit=10**7).gas_used for n in (0, 1, 10, 100, 1000)]
    assert used == [6, 15, 96, 906, 9006]  # golden: fuel costs are consensus
    # the loop body costs the same every iteration
    per_iter = (used[4] - used[3]) // 900
    assert used[4] - used[3] == 900 * per_iter
    assert used[3] - used[2] == 90 * per_iter


def test_gas_limit_is_exact(engine: Engine) -> None:
    # A call must end with gas to spare: wasmtime checks fuel only at sync points, so
    # ending at exactly zero cannot be told apart from overshooting (engine docstring).
    need = engine.execute(COUNT, "run", [100], gas_limit=10**7).gas_used
    enough = engine.execute(COUNT, "run", [100], gas_limit=need + 1)
    assert (enough.status, enough.gas_used) == (Status.OK, need)
    for limit in (need, need - 1, need // 2):
        short = engine.execute(COUNT, "run", [100], gas_limit=limit)
        assert (short.status, short.gas_used) == (Status.OUT_OF_GAS, limit)


def test_wasm_trap_charges_the_whole_limit(engine: Engine) -> None:
    code = wat(
        '(module (func (export "run") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0))))'
    )
    r = engine.execute(code, "run", [0], gas_limit=1_000)
    assert (r.status, r.reason, r.gas_used) == (Status.TRAP, "integer_divide_by_zero", 1_000)
    assert engine.execute(code, "run", [1], gas_limit=1_000).values == (1,)
    unreachable = engine.execute(wat('(module (func (export "run") unreachable))'), "run", gas_limit=10)
    assert (unreachable.status, unreachable.reason) == (Status.TRAP, "unreachable")


def test_out_of_bounds_store_traps(engine: Engine) -> None:
    code = wat('(module (memory 1) (func (export "run") (i32.store (i32.const 65535) (i32.const 1))))')
    r = engine.execute(code, "run", gas_limit=100)
    assert (r.status, r.reason) == (Status.TRAP, "memory_out_of_bounds")


# -- host functions -----------------------------------------------------------------


def test_host_call_is_charged(engine: Engine) -> None:
    calls: list[bytes] = []
    host = echo_host(calls)
    r = engine.execute(HOSTED, "run", [16, 5], gas_limit=10_000, host=host, host_gas={"echo": 500})
    assert (r.status, r.values) == (Status.OK, (5,))
    assert calls == [b"hello"]
    free = engine.execute(HOSTED, "run", [16, 5], gas_limit=10_000, host=host, host_gas={"echo": 0})
    assert r.gas_used - free.gas_used == 500
    longer = engine.execute(HOSTED, "run", [16, 6], gas_limit=10_000, host=host, host_gas={"echo": 0})
    assert longer.gas_used - free.gas_used == 3  # the per-byte charge of ctx.charge


def test_host_charge_past_the_limit_is_out_of_gas(engine: Engine) -> None:
    host = echo_host([])
    r = engine.execute(HOSTED, "run", [16, 5], gas_limit=400, host=host, host_gas={"echo": 500})
    assert (r.status, r.gas_used) == (Status.OUT_OF_GAS, 400)


def test_host_out_of_bounds_pointer(engine: Engine) -> None:
    calls: list[bytes] = []
    host = echo_host(calls)
    for ptr, length in ((65534, 5), (-1, 1), (16, -1)):
        r = engine.execute(HOSTED, "run", [ptr, length], gas_limit=10_000, host=host)
        assert (r.status, r.reason) == (Status.TRAP, "memory_out_of_bounds")
    assert calls == []


def test_host_trap_aborts_with_its_reason(engine: Engine) -> None:
    def abort(ctx: HostContext, ptr: int, length: int) -> int:
        raise HostTrap("abort:" + ctx.read(ptr, length).decode())

    host = {"echo": HostFunction(("i32", "i32"), ("i32",), abort)}
    r = engine.execute(HOSTED, "run", [16, 5], gas_limit=10_000, host=host)
    assert (r.status, r.reason) == (Status.TRAP, "abort:hello")
    # a host trap is at a metering sync point: charged exactly, host gas included
    ok = engine.execute(HOSTED, "run", [16, 5], gas_limit=10_000, host=echo_host([]), host_gas={"echo": 0})
    assert r.gas_used == ok.gas_used - 3 * 5
    charged = engine.execute(HOSTED, "run", [16, 5], gas_limit=10_000, host=host, host_gas={"echo": 70})
    assert charged.gas_used == r.gas_used + 70


def test_host_bug_propagates(engine: Engine) -> None:
    def buggy(ctx: HostContext, ptr: int, length: int) -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        engine.execute(
            HOSTED,
            "run",
            [16, 5],
            gas_limit=10_000,
            host={"echo": HostFunction(("i32", "i32"), ("i32",), buggy)},
        )


# -- refused modules and calls ----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "host", "reason"),
    [
        (b"not wasm", {}, "malformed_wasm"),
        (b"\0asm\1\0\0\0\1", {}, "malformed_wasm"),
        (wat('(module (func (export "run") (result i32) (i64.const 0)))')[:20], {}, "malformed_wasm"),
        (HOSTED, {}, "unknown_import:env.echo"),
        (
            wat(
                '(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))'
            ),
            {},
            "unknown_import:wasi_snapshot_preview1.fd_write",
        ),
        (wat('(module (import "env" "mem" (memory 1)))'), {}, "unsupported_import:env.mem"),
        (
            HOSTED,
            {"echo": HostFunction(("i32",), ("i32",), lambda ctx, a: a)},
            "import_type_mismatch:env.echo",
        ),
    ],
)
def test_bad_modules_are_refused(engine: Engine, code: bytes, host: Any, reason: str) -> None:
    r = engine.execute(code, "run", [16, 5], gas_limit=1_000, host=host)
    assert (r.status, r.reason, r.gas_used) == (Status.INVALID_MODULE, reason, 0)


@pytest.mark.parametrize(
    "src",
    [
        '(module (func (export "run") (result v128) (v128.const i64x2 0 0)))',  # SIMD
        '(module (memory 1 1 shared) (func (export "run")))',  # threads
        '(module (memory 1) (memory 1) (func (export "run")))',  # multi-memory
        '(module (memory i64 1) (func (export "run")))',  # memory64
    ],
)
def test_disabled_features_are_refused(engine: Engine, src: str) -> None:
    r = engine.execute(wat(src), "run", gas_limit=1_000)
    assert (r.status, r.reason) == (Status.INVALID_MODULE, "malformed_wasm")


def test_bad_calls(engine: Engine) -> None:
    assert engine.execute(COUNT, "nope", [1], gas_limit=100).reason == "no_such_export"
    for args in ([], [1, 2], [1.5], [2**32], [True]):
        r = engine.execute(COUNT, "run", args, gas_limit=100)
        assert (r.status, r.reason) == (Status.INVALID_CALL, "bad_arguments")


# -- the module cache ---------------------------------------------------------------------


def test_module_cache_hit_by_hash() -> None:
    eng = Engine(VmConfig(module_cache_size=2))
    a = eng.compile(COUNT)
    assert (eng.cache_hits, eng.cache_misses) == (0, 1)
    assert eng.compile(bytes(COUNT)) is a
    assert (eng.cache_hits, eng.cache_misses) == (1, 1)
    assert a.code_hash == code_hash(COUNT)
    eng.compile(LOOP)
    eng.compile(BOMB)  # evicts COUNT (least recently used)
    assert eng.cached(code_hash(COUNT)) is None
    assert eng.cached(code_hash(LOOP)) is not None


def test_execute_accepts_a_compiled_module(engine: Engine) -> None:
    compiled = engine.compile(COUNT)
    assert engine.execute(compiled, "run", [7], gas_limit=10_000) == engine.execute(
        COUNT, "run", [7], gas_limit=10_000
    )


def test_serialize_round_trip() -> None:
    first = Engine()
    blob = first.serialize(first.compile(BOMB))
    second = Engine()
    loaded = second.deserialize(blob)
    assert loaded.code_hash == code_hash(BOMB)
    assert loaded.min_memory_bytes == 65536
    assert second.cached(code_hash(BOMB)) is loaded
    r = second.execute(loaded, "run", gas_limit=10_000_000, memory_limit=1 * MiB)
    assert r == first.execute(BOMB, "run", gas_limit=10_000_000, memory_limit=1 * MiB)


def test_deserialize_refuses_foreign_bytes() -> None:
    with pytest.raises(ModuleError) as e:
        Engine().deserialize(bytes(40) + b"garbage")
    assert e.value.reason == "stale_compiled_module"
