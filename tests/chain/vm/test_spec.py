"""WebAssembly spec scripts (tests/vectors/wasm) on the deterministic engine.

Every assertion of every script passes at the genesis configuration.  The two chain
differences of ARCHITECTURE §6 are exercised on purpose with a small memory cap and a small
stack, and must show up as counted differences, never as failures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.vm import Engine, VmConfig
from tests.chain.vm.wast import Report, WastRunner

SCRIPTS = {
    # name: (assertions executed, of which assert_invalid/assert_malformed)
    "call": (90, 18),
    "conversions": (618, 25),
    "f32": (2513, 13),
    "f32_bitwise": (363, 3),
    "float_exprs": (819, 0),
    "float_memory": (60, 0),
    "float_misc": (470, 0),
    "memory": (77, 24),
    "memory_grow": (94, 7),
    "traps": (32, 0),
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _run(engine: Engine, path: Path, **kw: int) -> Report:
    return WastRunner(engine, **kw).run(path.read_text())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_spec_script_passes(engine: Engine, vectors: Path, name: str) -> None:
    report = _run(engine, vectors / "wasm" / f"{name}.wast")
    executed, refused = SCRIPTS[name]
    assert report.failures == []
    assert not report.unsupported
    assert not report.differences
    assert (report.executed, report.refused_checked) == (executed, refused)
    assert report.passed == report.executed


def test_memory_cap_difference_is_counted(engine: Engine, vectors: Path) -> None:
    # 1 MiB cap: `grow 800` on a 3-page memory returns -1 instead of 3, and the next
    # size-dependent assertion on that instance differs too.  Nothing else may differ.
    report = _run(engine, vectors / "wasm" / "memory_grow.wast", memory_limit=1 << 20)
    assert report.failures == []
    assert report.differences == {"memory_cap": 2}
    assert report.passed + 2 == report.executed == 94


def test_recursion_limit_difference_is_counted(vectors: Path) -> None:
    # An 8 KiB wasm stack is too small for one of call.wast's deep (but finite) recursions.
    small = Engine(VmConfig(max_wasm_stack=8 * 1024))
    report = _run(small, vectors / "wasm" / "call.wast")
    assert report.failures == []
    assert set(report.differences) == {"recursion_limit"}
    assert report.passed + report.differences["recursion_limit"] == report.executed == 90


def test_runner_detects_a_wrong_expectation(engine: Engine, vectors: Path) -> None:
    src = (vectors / "wasm" / "f32.wast").read_text()
    good = '(assert_return (invoke "add" (f32.const -0x0p+0) (f32.const -0x0p+0)) (f32.const -0x0p+0))'
    assert good in src
    wrong = '(assert_return (invoke "add" (f32.const -0x0p+0) (f32.const -0x0p+0)) (f32.const 0x0p+0))'
    report = WastRunner(engine).run(src.replace(good, wrong, 1))
    assert len(report.failures) == 1
    assert report.passed == report.executed - 1
