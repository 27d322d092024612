"""Paying for memory and refusing compile-time bombs (chain/vm/engine.py, ``execute`` and
``precheck``; the parameters are ``ChainParams.memory_page_gas`` / ``free_memory_pages``).

Rules under test: a call is charged ``memory_page_gas × max(0, pages − free_memory_pages)``
for the memory it ends with, and may never grow past ``free_memory_pages + gas_limit //
memory_page_gas`` pages (``memory.grow`` returns -1 there); a deploy whose code declares
more locals than the caps is refused before it is compiled.
"""

from __future__ import annotations

from chain.vm.engine import VmConfig
from tests.chain.vm.contracts import Node, Script, genesis_with, wat

SCRIPT_PAGES = 3  # a SCRIPT instance's initial memory (tests/chain/vm/contracts.py)


def test_memory_is_charged_per_page_beyond_the_free_pages() -> None:
    page_gas, free, grow = 1_000, 4, 20
    gas = {}
    for price in (0, page_gas):  # the same chain and script, with and without the charge
        node = Node(genesis_with(memory_page_gas=price, free_memory_pages=free))
        contract = node.deploy()
        s = Script()
        s.op("grow", grow)
        r, tx = node.script(contract, s)
        assert r.ok, r.reason
        gas[price] = node.call_gas(r, tx)
    assert gas[page_gas] - gas[0] == page_gas * (SCRIPT_PAGES + grow - free)


def test_a_call_cannot_grow_past_what_its_gas_could_pay_for() -> None:
    page_gas, free = 1_000_000, SCRIPT_PAGES
    node = Node(genesis_with(memory_page_gas=page_gas, free_memory_pages=free))
    contract = node.deploy()
    s = Script()
    s.op("grow", 9)  # to 12 pages: more than 3 free + 8 paid for
    s.op("grow", 8)  # to 11 pages: affordable
    # The call's own limit is 8.5M less the intrinsic gas (under 50k): 8 pages' worth.
    out = node.exec(contract, s, gas=node.app.params.contract_call_gas + 8_500_000)
    assert out.ok, out.reason
    assert out.rcs == [-1, SCRIPT_PAGES]  # refused, then granted (memory.grow returns the old size)


def test_initial_memory_beyond_what_the_gas_pays_is_refused() -> None:
    node = Node(genesis_with(memory_page_gas=1_000_000, free_memory_pages=0))
    contract = node.deploy()
    s = Script()
    r, _ = node.script(contract, s, gas=2_000_000)  # its 3 initial pages cost 3M > what the call has
    assert (r.ok, r.reason) == (False, "memory_limit: initial_memory_over_cap")


def _locals_module(functions: int, per_function: int) -> bytes:
    body = f"(func (local {' '.join(['i64'] * per_function)}))"
    return wat(f'(module (memory (export "memory") 1) {body * functions})')


def test_too_many_locals_are_refused_before_compiling() -> None:
    node = Node()
    cfg = VmConfig()
    over_one = _locals_module(1, cfg.max_function_locals + 1)
    over_all = _locals_module(cfg.max_total_locals // cfg.max_function_locals + 1, cfg.max_function_locals)
    at_cap = _locals_module(2, cfg.max_function_locals)
    misses = node.runtime.engine.cache_misses
    receipts = node.run(node.deploy_tx(over_one)[0], node.deploy_tx(over_all)[0], node.deploy_tx(at_cap)[0])
    assert [r.reason for r in receipts] == ["invalid_module: too_many_locals"] * 2 + [""]
    assert node.runtime.engine.cache_misses == misses + 1  # only the module within the caps was compiled
