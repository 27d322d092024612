"""The contract runtime's rules (chain/vm/runtime.py, ABI.md), through real transactions.

Deploys and calls go into blocks built and committed on an in-memory devnet chain;
expectations come from the rules as written (module docstring of ``chain.vm.runtime``
and ``capabilities/specs/ABI.md``), never from re-running the runtime's own code.
"""

from __future__ import annotations

from typing import Any

import pytest

from chain.apply import intrinsic_gas
from chain.codec import encode
from chain.hashing import H
from chain.types import Address
from chain.vm.deploy_rules import compile_gas, scan
from chain.vm.runtime import code_key, contract_address, storage_key
from tests.chain.helpers import account
from tests.chain.vm.contracts import (
    CALL_DEPTH,
    CALL_FAILED,
    INSUFFICIENT_BALANCE,
    RC,
    SCRATCH,
    SCRIPT,
    SCRIPT_NO_INIT,
    SELF,
    Node,
    Script,
    events,
    genesis_with,
    import_decl,
    logs,
    parse,
    rc_addr,
    wat,
)

FUNDS = 10**9


def code_hash_of(code: bytes) -> bytes:
    """``H("cairn/code/v1", code)`` (the engine's module docstring)."""
    return H(b"cairn/code/v1", code)


def nothing_at(node: Node, address: bytes) -> bool:
    """No contract, no balance, no nonce at ``address``."""
    acct = node.state().get_account(address)
    return not acct.code_hash and acct.balance == 0 and acct.nonce == 0


@pytest.fixture
def node() -> Node:
    return Node()


# --- deploy ----------------------------------------------------------------------------------


def test_contract_address_is_the_abi_formula() -> None:
    me = account(4).address
    for nonce in (0, 1, 23, 24, 1000):
        expected = H(b"cairn/contract/v1", encode([bytes(me), nonce]))[:20]
        assert bytes(contract_address(me, nonce)) == expected


def test_deploy_creates_code_and_account_and_runs_init_as_the_deployer(node: Node) -> None:
    node.run(node.tx("transfer", [bytes(account(2).address), 1], key=1))  # key 1's next nonce is 1
    init = Script()
    init.op("caller", SCRATCH)
    init.op("storage_set", init.data(b"deployer"), 8, SCRATCH, 20)
    init.op("input", SCRATCH + 64, 4096)
    init.emit(b"hello", b"from init")
    init.op("storage_set", init.data(b"args"), 4, SCRATCH + 64, 16)
    args = init.encode()
    tx, addr = node.deploy_tx(SCRIPT, args, key=1)
    assert tx.body.nonce == 1
    (r,) = node.run(tx)
    assert r.ok, r.reason
    assert addr == contract_address(account(1).address, 1)
    state = node.state()
    acct = state.get_account(addr)
    assert acct.code_hash == code_hash_of(SCRIPT)
    assert state.get(code_key(acct.code_hash)) == SCRIPT
    assert node.storage(addr, b"deployer") == bytes(account(1).address)
    assert node.storage(addr, b"args") == args[:16]  # init saw the init args as its input
    (deployed,) = events(r, "contract", "deployed")
    assert deployed == {"address": bytes(addr), "code_hash": code_hash_of(SCRIPT)}
    assert logs(r) == [(bytes(addr), b"hello", b"from init")]


def test_deploy_keeps_what_was_sent_to_the_address_before(node: Node) -> None:
    """The address is known before the deploy lands; value sent there first is kept."""
    me = account(0).address
    future = contract_address(me, 1)  # nonce 0 is the transfer below
    node.run(node.tx("transfer", [bytes(future), 4321]))
    tx, addr = node.deploy_tx(SCRIPT)
    assert addr == future
    (r,) = node.run(tx)
    assert r.ok
    acct = node.state().get_account(addr)
    assert (acct.balance, acct.code_hash) == (4321, code_hash_of(SCRIPT))
    s = Script()
    s.op("transfer", s.data(bytes(account(1).address)), s.data((4321).to_bytes(32, "big")))
    assert node.exec(addr, s).rcs == [0]
    assert node.balance(addr) == 0


def compile_gas_of(node: Node, code: bytes) -> int:
    """The compile gas of chain/vm/deploy_rules.py for ``code`` at the node's parameters."""
    return compile_gas(scan(code), node.app.params.compile_gas_per_ms)


def test_deploy_gas(node: Node) -> None:
    """ABI.md: intrinsic + contract_call_gas + code_byte_gas per code byte + the compile gas
    + what init uses."""
    p = node.app.params
    tx, _ = node.deploy_tx(SCRIPT_NO_INIT)
    (r,) = node.run(tx)
    assert r.gas_used == (intrinsic_gas(tx, p) + p.contract_call_gas + p.code_byte_gas * len(SCRIPT_NO_INIT)
                          + compile_gas_of(node, SCRIPT_NO_INIT))
    init = Script()
    init.set(b"k", b"v")
    init.emit(b"t", b"d")
    tx, addr = node.deploy_tx(SCRIPT, init.encode())
    (r,) = node.run(tx)
    assert r.ok
    # what init used: the same script through "run" (both exports only call the script runner)
    r2, tx2 = node.script(addr, init)
    assert r.gas_used == (intrinsic_gas(tx, p) + p.contract_call_gas + p.code_byte_gas * len(SCRIPT)
                          + compile_gas_of(node, SCRIPT) + node.call_gas(r2, tx2))


def test_deploy_without_init(node: Node) -> None:
    addr = node.deploy(SCRIPT_NO_INIT)
    assert node.state().get_account(addr).code_hash == code_hash_of(SCRIPT_NO_INIT)
    s = Script()
    s.set(b"k", b"v")
    assert node.call(addr, "run", s.encode()).ok
    assert node.storage(addr, b"k") == b"v"


@pytest.mark.parametrize("how", ["abort", "trap", "out_of_gas", "bad_pointer"])
def test_a_failing_init_leaves_nothing(node: Node, how: str) -> None:
    init = Script()
    init.set(b"k", b"v")
    init.emit(b"t", b"d")
    expected_reason = {"abort": "abort: no", "trap": "trap: unreachable", "out_of_gas": "out_of_gas",
                       "bad_pointer": "trap: memory_out_of_bounds"}[how]
    if how == "abort":
        init.op("abort", init.data(b"no"), 2)
    elif how == "trap":
        init.op("trap")
    elif how == "out_of_gas":
        init.op("loop")
    else:
        init.op("storage_set", 0, 1, 0x7FFFFFFF, 1)
    tx, addr = node.deploy_tx(SCRIPT, init.encode(), gas=2_000_000)
    balance = node.balance(account(0).address)
    (r,) = node.run(tx)
    assert (r.ok, r.reason) == (False, expected_reason)
    assert r.events == ()
    assert nothing_at(node, addr)
    assert node.state().get(code_key(code_hash_of(SCRIPT))) is None
    assert node.storage(addr, b"k") is None
    assert r.gas_used > 0 and node.balance(account(0).address) == balance - r.fee_paid
    if how in ("trap", "out_of_gas"):  # wasm traps and running out charge the whole gas
        assert r.gas_used == 2_000_000


def test_init_is_never_callable_after_deploy(node: Node) -> None:
    a = node.deploy(SCRIPT)
    b = node.deploy(SCRIPT)
    r = node.call(a, "init", Script().encode())
    assert (r.ok, r.reason) == (False, "no_such_method")
    s = Script()
    s.call(b, b"", method="init")
    s.call(b, b"", method="run")
    out = node.exec(a, s)
    assert out.rcs == [CALL_FAILED, 0]  # the nested init fails; run (empty script) returns no data


# --- deploy refusals ----------------------------------------------------------------------------

GOOD_MEMORY = '(memory (export "memory") 1)'


def _mod(*parts: str) -> bytes:
    return wat("(module " + " ".join(parts) + ")")


REFUSED: dict[str, tuple[Any, str]] = {
    "malformed": (lambda: b"\0asm\x01\0\0\0garbage", "invalid_module: malformed_wasm"),
    "not_wasm": (lambda: b"hello world", "invalid_module: malformed_wasm"),
    "unknown_import": (lambda: _mod('(import "env" "nope" (func))', GOOD_MEMORY),
                       "invalid_module: unknown_import:env.nope"),
    "other_module": (lambda: _mod('(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) '
                                  '(result i32)))', GOOD_MEMORY),
                     "invalid_module: unknown_import:wasi_snapshot_preview1.fd_write"),
    "import_type_mismatch": (lambda: _mod(import_decl("storage_get", (("i32", "i32"), ("i32",))), GOOD_MEMORY),
                             "invalid_module: import_type_mismatch:env.storage_get"),
    "import_result_mismatch": (lambda: _mod(import_decl("block_height", ((), ("i32",))), GOOD_MEMORY),
                               "invalid_module: import_type_mismatch:env.block_height"),
    "imported_memory": (lambda: _mod('(import "env" "memory" (memory 1))'),
                        "invalid_module: unsupported_import:env.memory"),
    "no_memory_export": (lambda: _mod("(memory 1)", '(func (export "run"))'), "invalid_module: no_memory_export"),
    "no_memory": (lambda: _mod('(func (export "run"))'), "invalid_module: no_memory_export"),
    "memory_under_another_name": (lambda: _mod('(memory (export "mem") 1)'), "invalid_module: no_memory_export"),
    "bad_init_type": (lambda: _mod(GOOD_MEMORY, '(func (export "init") (param i32))'),
                      "invalid_module: bad_init_type"),
    "disabled_simd": (lambda: _mod(GOOD_MEMORY, '(func (export "run") (drop (v128.const i64x2 1 2)))'),
                      "invalid_module: malformed_wasm"),
}


REFUSED_BEFORE_COMPILE_GAS = {"malformed", "not_wasm", "disabled_simd"}
"""Refused by the static rules (the deploy rules' decoder), so no compile gas is charged."""


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_deploy_refuses_bad_modules(node: Node, case: str) -> None:
    make, reason = REFUSED[case]
    code = make()
    tx, addr = node.deploy_tx(code)
    (r,) = node.run(tx)
    assert not r.ok
    assert r.reason.startswith(reason), r.reason
    assert r.events == ()
    assert nothing_at(node, addr)
    p = node.app.params  # a refused deploy still pays for carrying and checking its code,
    # and for compiling it once it passed the static rules (chain/vm/deploy_rules.py)
    compiled = 0 if case in REFUSED_BEFORE_COMPILE_GAS else compile_gas_of(node, code)
    assert r.gas_used == intrinsic_gas(tx, p) + p.contract_call_gas + p.code_byte_gas * len(code) + compiled


def test_deploy_refuses_code_over_max_code_bytes() -> None:
    node = Node(genesis_with(max_code_bytes=len(SCRIPT) - 1))
    tx, addr = node.deploy_tx(SCRIPT)
    (r,) = node.run(tx)
    assert (r.ok, r.reason) == (False, "code_too_large: code_too_large")
    assert nothing_at(node, addr)
    node = Node(genesis_with(max_code_bytes=len(SCRIPT)))
    assert node.deploy(SCRIPT)


def test_deploy_refuses_initial_memory_over_the_cap() -> None:
    node = Node(genesis_with(max_memory_bytes=4 * 65536))
    ok = _mod('(memory (export "memory") 4)')
    big = _mod('(memory (export "memory") 5)')
    tx, addr = node.deploy_tx(big)
    (r,) = node.run(tx)
    assert (r.ok, r.reason) == (False, "invalid_module: initial_memory_over_cap")
    assert nothing_at(node, addr)
    assert node.deploy(ok)


# --- calls ----------------------------------------------------------------------------------------

BAD_NAMES = ["", "1abc", "a-b", "run ", "é", "a.b", "memory", "nope", "x" * 64, "recurse", "withparam", "answer"]


def test_bad_method_names(node: Node) -> None:
    code = _mod(GOOD_MEMORY, '(func (export "withparam") (param i32))', '(func (export "answer") (result i32) '
                '(i32.const 1))', '(func (export "ok"))')
    a = node.deploy(code)
    txs = [node.call_tx(a, name) for name in BAD_NAMES] + [node.call_tx(a, "ok")]
    receipts = node.run(*txs)
    assert [(r.ok, r.reason) for r in receipts] == [(False, "no_such_method")] * len(BAD_NAMES) + [(True, "")]


def test_a_method_name_over_64_bytes_is_not_a_valid_transaction(node: Node) -> None:
    a = node.deploy(SCRIPT)
    tx = node.call_tx(a, "x" * 65)
    block, _ = node.chain.build([tx])
    assert block.txs == ()


def test_calling_a_non_contract(node: Node) -> None:
    me, other = account(0).address, account(1).address
    before_other = node.balance(other)
    for target in (other, Address(bytes(20)), contract_address(me, 99)):
        balance = node.balance(me)
        r = node.call(target, "run", b"", value=5)
        assert (r.ok, r.reason) == (False, "no_such_contract")
        assert node.balance(me) == balance - r.fee_paid
    assert node.balance(other) == before_other


def test_value_moves_with_a_call_and_comes_back_when_it_fails(node: Node) -> None:
    me = account(0).address
    a = node.deploy(SCRIPT)
    balance = node.balance(me)
    r = node.call(a, "run", Script().encode(), value=1000)
    assert r.ok
    assert node.balance(a) == 1000
    assert node.balance(me) == balance - 1000 - r.fee_paid
    failing = Script()
    failing.op("trap")
    balance = node.balance(me)
    r = node.call(a, "run", failing.encode(), value=500)
    assert not r.ok
    assert node.balance(a) == 1000
    assert node.balance(me) == balance - r.fee_paid


def test_a_call_cannot_send_more_than_the_sender_has(node: Node) -> None:
    me = account(0).address
    a = node.deploy(SCRIPT)
    balance = node.balance(me)
    tx = node.call_tx(a, "run", Script().encode(), value=balance)  # the fee is reserved first
    (r,) = node.run(tx)
    assert (r.ok, r.reason) == (False, "insufficient_balance")
    assert node.balance(a) == 0
    assert node.balance(me) == balance - r.fee_paid


def test_a_failed_call_reverts_storage_and_events_but_pays_gas(node: Node) -> None:
    a = node.deploy(SCRIPT)
    s = Script()
    s.set(b"k", b"first")
    assert node.call(a, "run", s.encode()).ok
    s = Script()
    s.set(b"k", b"second")
    s.set(b"other", b"x")
    s.emit(b"t", b"d")
    s.op("transfer", s.data(bytes(account(1).address)), s.data((1).to_bytes(32, "big")))
    s.op("abort", s.data(b"changed my mind"), 15)
    me = account(0).address
    balance = node.balance(me)
    r = node.call(a, "run", s.encode(), value=10)
    assert (r.ok, r.reason, r.events) == (False, "abort: changed my mind", ())
    assert node.storage(a, b"k") == b"first" and node.storage(a, b"other") is None
    assert node.balance(a) == 0
    assert r.gas_used > 0 and r.fee_paid == r.gas_used  # gas price 1
    assert node.balance(me) == balance - r.fee_paid


def test_out_of_gas_charges_the_whole_gas_limit(node: Node) -> None:
    a = node.deploy(SCRIPT)
    s = Script()
    s.set(b"k", b"v")
    s.op("loop")
    me = account(0).address
    balance = node.balance(me)
    r = node.call(a, "run", s.encode(), gas=1_234_567)
    assert (r.ok, r.reason, r.gas_used, r.fee_paid) == (False, "out_of_gas", 1_234_567, 1_234_567)
    assert node.balance(me) == balance - 1_234_567
    assert node.storage(a, b"k") is None


def test_output_last_call_wins(node: Node) -> None:
    a = node.deploy(SCRIPT)
    callee = Script()
    callee.op("output", callee.data(b"first"), 5)
    callee.op("output", callee.data(b"second!"), 7)
    s = Script()
    s.call(a, callee.encode(), out=SCRATCH, cap=64)
    s.show(SCRATCH, 16)
    outcome, _ = node.query(a, s)
    rcs, window = parse(outcome.return_data, 1)
    assert rcs == [16]  # the callee's final output (its two return codes) replaced "second!"
    assert parse(window, 2)[0] == [0, 0]


# --- nested calls ---------------------------------------------------------------------------------


def test_nested_call_returns_data_and_moves_value(node: Node) -> None:
    a, b = node.deploy(SCRIPT), node.deploy(SCRIPT)
    node.call(a, value=10_000)
    inner = Script()
    inner.op("value", 0)
    inner.set(b"seen", b"yes")
    inner.emit(b"inner", b"!")
    inner.show(0, 32)
    s = Script()
    s.call(b, inner.encode(), value=300, out=SCRATCH, cap=128)
    s.show(SCRATCH, 24 + 32)
    out = node.exec(a, s)
    assert out.rcs == [24 + 32]  # three return codes and the 32-byte window
    rcs, window = parse(out.window, 3)
    assert rcs == [0, 0, 0] and int.from_bytes(window, "big") == 300
    assert node.storage(b, b"seen") == b"yes"
    assert (node.balance(a), node.balance(b)) == (10_000 - 300, 300)
    assert logs(out.receipt) == [(bytes(b), b"inner", b"!")]


def test_callee_failure_is_minus_4_reverted_and_the_caller_goes_on(node: Node) -> None:
    a, b = node.deploy(SCRIPT), node.deploy(SCRIPT)
    node.call(a, value=10_000)
    for ending in ("trap", "abort", "loop", "recurse"):
        inner = Script()
        inner.set(b"inner", ending.encode())
        inner.emit(b"inner", b"!")
        inner.op("transfer", inner.data(bytes(account(1).address)), inner.data((7).to_bytes(32, "big")))
        inner.op(ending, *((inner.data(b"x"), 1) if ending == "abort" else ()))
        s = Script()
        s.emit(b"outer", b"before")
        s.call(b, inner.encode(), value=100, gas=500_000)
        s.set(b"after", ending.encode())
        s.emit(b"outer", b"after")
        out = node.exec(a, s)
        assert out.ok, out.reason
        assert out.rcs[1] == CALL_FAILED, ending
        assert node.storage(b, b"inner") is None
        assert node.storage(a, b"after") == ending.encode()
        assert (node.balance(a), node.balance(b)) == (10_000, 0)
        assert logs(out.receipt) == [(bytes(a), b"outer", b"before"), (bytes(a), b"outer", b"after")]
        assert events(out.receipt, "bank", "transfer") == []


def test_nested_call_errors(node: Node) -> None:
    a, b = node.deploy(SCRIPT), node.deploy(SCRIPT)
    node.call(a, value=50)
    s = Script()
    s.call(b, b"", value=51)  # more than a holds
    s.call(account(1).address, b"")  # not a contract
    s.call(b, b"", method="nope")
    s.call(b, b"", method="bad name")
    s.call(b, b"", value=50)
    out = node.exec(a, s)
    assert out.rcs == [INSUFFICIENT_BALANCE, CALL_FAILED, CALL_FAILED, CALL_FAILED, 0]
    assert (node.balance(a), node.balance(b)) == (0, 50)


def _depth_probe(target: Address) -> Script:
    """A self-recursive script: each frame counts itself in storage "n", calls the same
    script again, and stores that call's return code under its own count (8 bytes LE)."""
    s = Script()
    cnt = 0x10
    s.op("storage_get", s.data(b"n"), 1, cnt, 8)
    s.op("add", cnt, 1)
    s.op("storage_set", s.data(b"n"), 1, cnt, 8)
    s.call(target, SELF, out=SCRATCH, cap=0)
    s.op("storage_set", cnt, 8, rc_addr(3), 8)
    return s


@pytest.mark.parametrize("max_depth", [8, 3])
def test_call_depth_limit_is_minus_5_at_exactly_max_depth_plus_1(max_depth: int) -> None:
    node = Node(genesis_with(max_call_depth=max_depth))
    a = node.deploy(SCRIPT)
    assert node.genesis.params.max_call_depth == max_depth
    r = node.call(a, "run", _depth_probe(a).encode(), gas=20_000_000)
    assert r.ok, r.reason
    frames = int.from_bytes(node.storage(a, b"n") or b"", "little")
    assert frames == max_depth + 1  # depths 0 .. max_depth ran
    rc = {d: int.from_bytes(node.storage(a, d.to_bytes(8, "little")) or b"", "little", signed=True)
          for d in range(1, frames + 1)}
    assert rc[frames] == CALL_DEPTH  # the frame at max_depth could not call deeper
    assert all(rc[d] == 5 * 8 for d in range(1, frames))  # every other call returned 5 rcs


def test_a_callee_never_gets_all_the_gas(node: Node) -> None:
    """63/64: a callee that loops for ever leaves its caller enough to record the failure."""
    a, b = node.deploy(SCRIPT), node.deploy(SCRIPT)
    spin = Script()
    spin.op("loop")
    s = Script()
    s.call(b, spin.encode(), gas=2**62)
    s.op("storage_set", s.data(b"rc"), 2, rc_addr(0), 8)
    r = node.call(a, "run", s.encode(), gas=3_000_000)
    assert r.ok, r.reason
    assert int.from_bytes(node.storage(a, b"rc") or b"", "little", signed=True) == CALL_FAILED
    assert 3_000_000 * 63 // 64 - 60_000 < r.gas_used < 3_000_000  # the callee burnt nearly all of it


def test_a_callee_gets_no_more_than_the_gas_asked_for(node: Node) -> None:
    a, b = node.deploy(SCRIPT), node.deploy(SCRIPT)
    spin = Script()
    spin.op("loop")
    used = []
    for gas in (100_000, 250_000):
        s = Script()
        s.call(b, spin.encode(), gas=gas)
        r = node.call(a, "run", s.encode())
        assert r.ok
        used.append(r.gas_used)
    assert used[1] - used[0] == 150_000  # an out-of-gas callee is charged exactly what it was given


def test_memory_budget_is_shared_down_the_call_stack() -> None:
    """A callee's memory budget is its caller's minus the caller's memory: a callee
    instance whose initial memory does not fit cannot run (-4)."""
    pages = 8
    node = Node(genesis_with(max_memory_bytes=pages * 65536))
    a = node.deploy(SCRIPT)  # 3 pages each
    s = Script()
    s.op("grow", 3)  # the caller holds 6 of 8 pages: a 3-page callee does not fit
    s.call(a, b"")
    s.op("grow", -3 & 0xFFFFFFFF)  # cannot shrink: -1, still 6 pages
    out = node.exec(a, s)
    assert out.rcs == [3, CALL_FAILED, -1]
    s = Script()
    s.op("grow", 2)  # 5 pages: the callee's 3 fit exactly
    s.call(a, b"")
    out = node.exec(a, s)
    assert out.rcs == [3, 0]


# --- read-only queries ------------------------------------------------------------------------------


def test_queries_are_read_only_and_leave_state_untouched(node: Node) -> None:
    a, b = node.deploy(SCRIPT), node.deploy(SCRIPT)
    s = Script()
    s.set(b"k", b"v")
    assert node.call(a, "run", s.encode(), value=100).ok
    root = node.chain.head.state_root
    for write in ("storage_set", "storage_delete", "transfer", "value"):
        s = Script()
        if write == "storage_set":
            s.set(b"k", b"w")
        elif write == "storage_delete":
            s.op("storage_delete", s.data(b"k"), 1)
        elif write == "transfer":
            s.op("transfer", s.data(bytes(account(1).address)), s.data((1).to_bytes(32, "big")))
        else:
            s.call(b, b"", value=1)
        state = node.state()
        outcome, evs = node.query(a, s, state=state)
        assert (outcome.status, outcome.reason) == ("read_only", "read_only"), write
        assert evs == []
        assert state.commit().root == root
    # a callee that writes fails inside the query; the caller sees -4 and goes on
    writer = Script()
    writer.set(b"k", b"w")
    s = Script()
    s.call(b, writer.encode())
    s.get(b"k")
    outcome, _ = node.query(a, s)
    assert outcome.ok
    assert parse(outcome.return_data, 2)[0] == [CALL_FAILED, 1]
    assert node.chain.head.state_root == root
    assert node.storage(a, b"k") == b"v"


def test_query_gas_is_capped(node: Node) -> None:
    a = node.deploy(SCRIPT)
    s = Script()
    s.op("loop")
    outcome, _ = node.query(a, s, gas=10**15)
    cap = node.genesis.params.max_query_gas
    assert (outcome.status, outcome.gas_used) == ("out_of_gas", cap)


def test_query_runs_the_code_a_transaction_would(node: Node) -> None:
    a = node.deploy(SCRIPT)
    s = Script()
    s.set(b"k", b"stored")
    assert node.call(a, "run", s.encode()).ok
    s = Script()
    s.get(b"k")
    s.op("self_address", SCRATCH + 64)
    s.show(SCRATCH, 84)
    outcome, _ = node.query(a, s)
    rcs, window = parse(outcome.return_data, 2)
    assert rcs == [6, 0] and window[:6] == b"stored" and window[64:84] == bytes(a)
    assert node.state().get(storage_key(a, b"k")) == b"\x00stored"  # state layout: 0x00 || value
    assert RC < SCRATCH  # layout sanity for the helpers above
