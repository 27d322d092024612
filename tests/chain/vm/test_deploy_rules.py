"""The static deploy rules and the compile gas (chain/vm/deploy_rules.py), mostly through
deploy transactions on an in-memory devnet chain.

Rules under test (the module docstring of ``chain.vm.deploy_rules``): before anything is
compiled, a deploy's code must nest at most ``max_control_depth`` blocks, use MVP block
types, hold at most one table of at most ``max_table_elements`` entries, and keep its active
segments inside the initial memory and table; a deploy that passes pays
``ceil(CompileModel.work × compile_gas_per_ms / 10⁶)`` before it is compiled, cached or
not, and one that cannot pay ends ``out_of_gas`` without compiling.  No test here is timed:
the compile seconds behind the model are measured by ``python -m bench compile``.
"""

from __future__ import annotations

from pathlib import Path

import wasmtime
from hypothesis import given
from hypothesis import strategies as st

from chain.apply import intrinsic_gas
from chain.tx import SignedTx
from chain.vm.deploy_rules import CompileModel, FunctionShape, compile_gas, scan
from chain.vm.engine import Engine, ModuleError, VmConfig
from tests.chain.vm.contracts import SCRIPT, Node, wat
from tests.chain.vm.wast import WastRunner, parse

MEMORY = '(memory (export "memory") 1)'
SPEC = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "wasm"
RULE_REASONS = {"too_many_locals", "nesting_too_deep", "multi_value_block", "too_many_tables", "table_over_cap",
                "segment_offset_not_constant", "data_segment_out_of_bounds", "elem_segment_out_of_bounds"}


def module(*parts: str) -> bytes:
    return wat("(module " + MEMORY + " " + " ".join(parts) + ")")


def nested_loops(depth: int, functions: int = 1) -> bytes:
    return module(f'(func (export "run") {"loop " * depth}{"end " * depth})'
                  + f"(func {'loop ' * depth}{'end ' * depth})" * (functions - 1))


def fixed_gas(node: Node, tx: SignedTx, code: bytes) -> int:
    """What a deploy pays whatever its code does: intrinsic + contract_call_gas + code bytes."""
    p = node.app.params
    return intrinsic_gas(tx, p) + p.contract_call_gas + p.code_byte_gas * len(code)


def refused(code: bytes) -> tuple[str, int, int, bool]:
    """Deploy ``code`` on a fresh chain: (reason, gas used − fixed gas, modules compiled, anything left)."""
    node = Node()
    misses = node.runtime.engine.cache_misses
    tx, addr = node.deploy_tx(code, gas=50_000_000)
    (r,) = node.run(tx)
    left = bool(node.state().get_account(addr).code_hash)
    return r.reason, r.gas_used - fixed_gas(node, tx, code), node.runtime.engine.cache_misses - misses, left


# --- the finding: deep nesting ------------------------------------------------------------------


def test_the_red_teams_nested_loop_module_is_refused_before_compiling() -> None:
    """48 KiB of 16 000 nested loops compiled for ~6 s on a deploy paying only its code bytes."""
    code = nested_loops(16_367)
    assert len(code) <= Node().app.params.max_code_bytes
    assert refused(code) == ("invalid_module: nesting_too_deep", 0, 0, False)


def test_nesting_at_the_cap_deploys_and_pays_for_its_compile() -> None:
    cap = VmConfig().max_control_depth
    assert refused(nested_loops(cap + 1))[0] == "invalid_module: nesting_too_deep"
    node = Node()
    code = nested_loops(cap)
    tx, addr = node.deploy_tx(code, gas=50_000_000)
    (r,) = node.run(tx)
    assert r.ok, r.reason
    compiled = r.gas_used - fixed_gas(node, tx, code)
    assert compiled == compile_gas(scan(code), node.app.params.compile_gas_per_ms)
    # the shape pays for its compile, not for its bytes: far more than code_byte_gas here
    assert compiled > 20 * node.app.params.code_byte_gas * len(code)
    assert node.call(addr, "run").ok


def test_a_deploy_that_cannot_pay_its_compile_gas_is_not_compiled() -> None:
    node = Node()
    code = nested_loops(512)
    probe, _ = node.deploy_tx(code, key=1)  # only for the fixed gas: never sent
    need = fixed_gas(node, probe, code) + compile_gas(scan(code), node.app.params.compile_gas_per_ms)
    misses = node.runtime.engine.cache_misses
    short, addr = node.deploy_tx(code, gas=need - 1)
    assert fixed_gas(node, short, code) == fixed_gas(node, probe, code)
    (r,) = node.run(short)
    assert (r.ok, r.reason, r.gas_used) == (False, "out_of_gas", need - 1)
    assert node.runtime.engine.cache_misses == misses  # never compiled
    assert not node.state().get_account(addr).code_hash
    enough, addr = node.deploy_tx(code, gas=need)
    (r,) = node.run(enough)
    assert (r.ok, r.gas_used) == (True, need)
    assert node.runtime.engine.cache_misses == misses + 1


def test_the_compile_gas_is_the_same_cached_or_not() -> None:
    code = nested_loops(300, functions=3)
    node = Node()
    first, _ = node.deploy_tx(code, gas=50_000_000)
    second, _ = node.deploy_tx(code, gas=50_000_000)
    hits = node.runtime.engine.cache_hits
    r1, r2 = node.run(first, second)
    assert r1.ok and r2.ok
    assert node.runtime.engine.cache_hits >= hits + 1  # the second deploy found the module compiled
    cold = Node()
    tx, _ = cold.deploy_tx(code, gas=50_000_000)
    (r3,) = cold.run(tx)
    paid = {r.gas_used - fixed_gas(n, t, code) for r, n, t in ((r1, node, first), (r2, node, second), (r3, cold, tx))}
    assert paid == {compile_gas(scan(code), node.app.params.compile_gas_per_ms)}


# --- modules that would deploy and then fail every call -----------------------------------------


def test_a_table_over_the_cap_is_refused_at_deploy() -> None:
    cap = VmConfig().max_table_elements
    assert refused(module("(table 1000000 funcref)")) == ("invalid_module: table_over_cap", 0, 0, False)
    assert refused(module(f"(table {cap + 1} funcref)"))[0] == "invalid_module: table_over_cap"
    node = Node()
    addr = node.deploy(module(f'(table {cap} funcref) (func (export "run"))'), gas=50_000_000)
    assert node.call(addr, "run").ok  # at the cap, instantiation succeeds


def test_a_second_table_is_refused_at_deploy() -> None:
    assert refused(module("(table 1 funcref) (table 1 funcref)"))[:2] == ("invalid_module: too_many_tables", 0)


def test_data_outside_the_initial_memory_is_refused_at_deploy() -> None:
    assert refused(module('(data (i32.const 65535) "ab")'))[:2] == ("invalid_module: data_segment_out_of_bounds", 0)
    assert refused(module('(data (i32.const -1) "")'))[0] == "invalid_module: data_segment_out_of_bounds"
    node = Node()
    addr = node.deploy(module('(data (i32.const 65534) "ab") (func (export "run"))'), gas=50_000_000)
    assert node.call(addr, "run").ok


def test_elements_outside_the_initial_table_are_refused_at_deploy() -> None:
    code = module("(table 2 funcref) (func $f) (elem (i32.const 1) $f $f)")
    assert refused(code)[:2] == ("invalid_module: elem_segment_out_of_bounds", 0)
    node = Node()
    addr = node.deploy(module('(table 2 funcref) (func $f) (elem (i32.const 0) $f $f) (func (export "run"))'),
                       gas=50_000_000)
    assert node.call(addr, "run").ok


def test_a_segment_offset_must_be_a_constant() -> None:
    code = wat('(module (import "env" "g" (global i32)) (memory (export "memory") 1) (data (global.get 0) "a"))')
    assert refused(code)[:2] == ("invalid_module: segment_offset_not_constant", 0)


def test_blocks_take_no_parameters_and_give_at_most_one_result() -> None:
    two = module('(type $t (func (result i32 i32))) (func (export "run") (block (type $t) i32.const 1 i32.const 2)'
                 " drop drop)")
    param = module('(type $t (func (param i32))) (func (export "run") i32.const 1 (block (type $t) drop))')
    assert refused(two)[:2] == ("invalid_module: multi_value_block", 0)
    assert refused(param)[:2] == ("invalid_module: multi_value_block", 0)
    node = Node()
    assert node.deploy(module('(func (export "run") (block (result i32) i32.const 1) drop)'), gas=50_000_000)


# --- the shape and the formula, by hand ----------------------------------------------------------

COUNTED = module("""(func (export "run") (param i32) (local i64)
  local.get 0 if i64.const 1 local.set 1 end
  loop local.get 0 br_if 0 end)""")
"""Ten operators; control points: ``if`` 2, ``loop`` 3, ``br_if`` 1 (to a 0-arity label,
at depth 1); local 1 last mentioned after 2 points, local 0 inside the loop, which ends
after 6; the stack is empty at every point."""


def test_the_shape_of_a_hand_counted_function() -> None:
    shape = scan(COUNTED)
    assert shape.functions == (FunctionShape(operators=10, locals=2, points=6, live=2 + 6, nested=1, max_depth=1,
                                             max_stack=1),)
    assert shape.escaping == 8 + 1 + 0  # exported: ESCAPE_UNITS + params + results
    assert (shape.imports, shape.declared_locals) == (0, 1)


def test_the_work_formula_term_by_term() -> None:
    model = CompileModel(module_ns=1, function_ns=2, escape_ns=3, operator_ns=5, local_ns=7, point_ns=11,
                         point_square_ns=13, operator_square_tenths_ns=17, live_ns=19, nested_ns=23)
    shape = scan(COUNTED)
    work = 1 + 3 * 9 + 2 + 5 * 10 + 7 * 2 + 11 * 6 + 13 * 36 + 17 * 100 // 10 + 19 * 8 + 23 * 1
    assert model.work(shape) == work
    assert compile_gas(shape, 1_000_000, model) == work  # gas_per_ms = 10⁶: one gas per ns
    assert compile_gas(shape, 1, model) == 1  # rounds up


# --- the decoder agrees with wasmtime ------------------------------------------------------------


def _spec_modules() -> list[bytes]:
    runner = WastRunner(Engine())
    out = []
    for path in sorted(SPEC.glob("*.wast")):
        src = path.read_text()
        for node in parse(src):
            if node.items[0] == "module":
                out.append(runner._module_bytes(src, node))
    return out


def test_every_spec_module_wasmtime_accepts_passes_the_decoder() -> None:
    """The spec scripts' modules (tests/vectors/wasm): none is malformed to the deploy
    rules' decoder, whatever rule it may break."""
    engine = Engine()
    modules = _spec_modules()
    assert len(modules) > 100
    for code in modules:
        wasmtime.Module.validate(engine.wasm_engine, code)
        try:
            scan(code)
        except ModuleError as e:
            assert e.reason in RULE_REASONS, (e.reason, e.detail)


@given(st.data())
def test_the_decoder_refuses_damaged_code_with_a_module_error(data: st.DataObject) -> None:
    code = bytearray(SCRIPT)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(code) - 1))
        code[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(8, len(code)))
    try:
        scan(bytes(code[:cut]))
    except ModuleError as e:
        assert e.reason in RULE_REASONS | {"malformed_wasm"}
