"""The host functions of ABI v1, each called from a contract in real transactions.

Every expectation comes from ``capabilities/specs/ABI.md``: gas from its table (through
``capabilities.costs.cost``; the wasm part of a call is measured by running the same
contract with free host functions, ``contracts.wasm_fuel``), return codes and traps from
the function descriptions, task ids from ``capabilities.task.task_id``, random bytes from
the formula, prices and deadlines from the default ``CapabilityParams`` numbers.  The
contract is ``tests.chain.vm.contracts.SCRIPT``, driven by lists of host calls.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aicf.module import FUND_ADDRESS
from capabilities.costs import cost
from capabilities.host import ESCROW_ADDRESS, host_functions
from capabilities.module import contracts_module
from capabilities.records import (
    CapabilityParams,
    JobReceipt,
    ResultRecord,
    load_job,
    output_digest_of,
    record_result,
)
from capabilities.task import request_digest, task_id
from chain.apply import Application
from chain.codec import encode
from chain.hashing import H
from chain.module import BlockEnv, BlockPot, Event
from chain.state import StateDB
from chain.types import Address
from genesis.build import make_application
from genesis.devnet import devnet_genesis
from genesis.schema import Genesis
from proofs.groth16 import Groth16Cache
from proofs.policy import PolicyParams
from tests.chain.helpers import account
from tests.chain.vm.contracts import (
    ABI,
    CALL_DEPTH,
    CALL_FAILED,
    INSUFFICIENT_BALANCE,
    MEM_BYTES,
    NO_RESULT_YET,
    NOT_FOUND,
    OUTBUF,
    SCRATCH,
    SCRIPT,
    Node,
    Script,
    events,
    parse,
    wasm_fuel,
)

FUNDS = 10**9
"""What each test contract is given to pay values and fees with."""
MODEL, PROMPT = b"llama3-8b", b"hello"
CIRCUIT = b"OPENQASM 2.0;\nqreg q[1];\nmeasure q[0] -> c[0];"
AI_FEE_10 = 47_430
"""Default schedule, llama3-8b, 10 tokens: runtime cap 2,000 + 10 x 50 = 2,500 ms, at the best
QoS 1.15 x 1.10 = 1.265 gives 3,162 milli-units, at 15,000 per unit: 47,430."""
QUANTUM_FEE_100 = 10_000_000
"""Default schedule, 100 shots at the deepest weight 2.0 and full quality: 200 units at 50,000."""
BIG_GAS = cost("zk_verify", 65536) + 5_000_000
"""Enough for any one host call of the table (zk_verify is by far the dearest)."""


def deployed(node: Node, count: int = 2, funds: int = FUNDS) -> list[Address]:
    """``count`` SCRIPT contracts, each holding ``funds``."""
    txs, addrs = [], []
    for _ in range(count):
        tx, addr = node.deploy_tx(SCRIPT)
        txs.append(tx)
        addrs.append(addr)
    txs += [node.call_tx(a, value=funds) for a in addrs if funds]
    assert all(r.ok for r in node.run(*txs))
    return addrs


@pytest.fixture
def node() -> Node:
    return Node()


@pytest.fixture
def pair(node: Node) -> list[Address]:
    return deployed(node)


@pytest.fixture(scope="module")
def shared() -> tuple[Node, Address]:
    """One chain for tests whose transactions fail (and so change nothing but fees)."""
    n = Node()
    (c,) = deployed(n, 1)
    return n, c


def host_gas(node: Node, contract: Address, script: Script, *, ok: bool = True) -> int:
    """Gas the script's host calls were charged: the call's gas minus the wasm part and
    the ``input``/``output`` calls every script makes."""
    r, tx = node.script(contract, script, gas=BIG_GAS)
    assert r.ok is ok, r.reason
    args = script.encode()
    own = cost("input", len(args))
    if ok:
        own += cost("output", 8 * len(script.cmds) + script.window[1])
    return node.call_gas(r, tx) - wasm_fuel(SCRIPT, "run", args) - own


def trap_reason(node: Node, contract: Address, script: Script) -> str:
    r, _ = node.script(contract, script, gas=BIG_GAS)
    assert not r.ok
    return r.reason


def ai(s: Script, model: bytes = MODEL, prompt: bytes = PROMPT, max_tokens: int = 10, opts: bytes = b"",
       out: int = SCRATCH, cap: int = 256) -> int:
    return s.op("ai_enqueue", s.data(model), len(model), s.data(prompt), len(prompt), max_tokens, s.data(opts),
                len(opts), out, cap)


def quantum(s: Script, circuit: bytes = CIRCUIT, shots: int = 100, opts: bytes = b"", out: int = SCRATCH,
            cap: int = 256) -> int:
    return s.op("quantum_enqueue", s.data(circuit), len(circuit), shots, s.data(opts), len(opts), out, cap)


def ai_payload(model: bytes, prompt: bytes, max_tokens: int, opts: dict[str, Any]) -> bytes:
    """``[1, "ai", model, prompt, max_tokens, opts]`` (records.py's request wire form)."""
    return encode([1, "ai", model.decode(), prompt.decode(), max_tokens, opts])


def quantum_payload(circuit: bytes, shots: int, opts: dict[str, Any]) -> bytes:
    return encode([1, "quantum", circuit.decode(), shots, opts])


# --- the import table ------------------------------------------------------------------------


def test_host_types_are_the_abi_document() -> None:
    table = host_functions(CapabilityParams(), PolicyParams())
    assert set(table) == set(ABI)
    for name, spec in table.items():
        assert (spec.params, spec.results) == ABI[name], name


# --- gas: the table, charged exactly -----------------------------------------------------------


def _setup_value(node: Node, c: Address, key: bytes, value: bytes) -> None:
    s = Script()
    s.set(key, value)
    assert node.exec(c, s).ok


GAS_CASES: dict[str, Any] = {
    "storage_get_hit": lambda s, c, o: (s.get(b"key", cap=64), cost("storage_get", 3 + 6)),
    "storage_get_no_room": lambda s, c, o: (s.get(b"key", cap=2), cost("storage_get", 3 + 6)),
    "storage_get_miss": lambda s, c, o: (s.get(b"nope", cap=64), cost("storage_get", 4)),
    "storage_set": lambda s, c, o: (s.set(b"abc", b"x" * 100), cost("storage_set", 103)),
    "storage_delete_hit": lambda s, c, o: (s.op("storage_delete", s.data(b"key"), 3), cost("storage_delete", 3)),
    "storage_delete_miss": lambda s, c, o: (s.op("storage_delete", s.data(b"zzzz"), 4), cost("storage_delete", 4)),
    "emit_event": lambda s, c, o: (s.emit(b"topic", b"d" * 50), cost("emit_event", 55)),
    "caller": lambda s, c, o: (s.op("caller", SCRATCH), cost("caller", 0)),
    "self_address": lambda s, c, o: (s.op("self_address", SCRATCH), cost("self_address", 0)),
    "value": lambda s, c, o: (s.op("value", SCRATCH), cost("value", 0)),
    "block_height": lambda s, c, o: (s.op("block_height"), cost("block_height", 0)),
    "block_time": lambda s, c, o: (s.op("block_time"), cost("block_time", 0)),
    "balance": lambda s, c, o: (s.op("balance", s.data(bytes(c)), SCRATCH), cost("balance", 0)),
    "transfer": lambda s, c, o: (s.op("transfer", s.data(bytes(account(3).address)), s.data((5).to_bytes(32, "big"))),
                                 cost("transfer", 0)),
    "read_result_unknown": lambda s, c, o: (s.op("read_result", s.data(bytes(32)), SCRATCH, 1024),
                                            cost("read_result", 32)),
    "zk_verify_garbage": lambda s, c, o: (s.op("zk_verify", s.data(b"{"), 1, s.data(b"[]"), 2, s.data(b"xyz"), 3),
                                          cost("zk_verify", 6)),
    "random_40": lambda s, c, o: (s.op("random", SCRATCH, 40), cost("random", 40)),
    "random_0": lambda s, c, o: (s.op("random", SCRATCH, 0), cost("random", 0)),
    "input_no_room": lambda s, c, o: (s.op("input", SCRATCH, 5), cost("input", 0)),
    "output": lambda s, c, o: (s.op("output", SCRATCH, 20), cost("output", 20)),
}


@pytest.mark.parametrize("case", sorted(GAS_CASES))
def test_gas_is_the_table(node: Node, pair: list[Address], case: str) -> None:
    c, other = pair
    _setup_value(node, c, b"key", b"value!")
    s = Script()
    _, expected = GAS_CASES[case](s, c, other)
    assert host_gas(node, c, s) == expected


def test_gas_of_input_counts_the_bytes_written(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    s = Script()
    s.op("input", SCRATCH, 100_000)
    assert host_gas(node, c, s) == cost("input", len(s.encode()))


def test_gas_of_call_is_bytes_plus_what_the_callee_used(node: Node, pair: list[Address]) -> None:
    c, callee = pair
    inner = Script()
    inner.set(b"in", b"callee")
    inner.show(0, 10)
    r, tx = node.script(callee, inner)
    assert r.ok
    callee_gas = node.call_gas(r, tx)
    inner_args = inner.encode()
    ret = 8 * 1 + 10
    for cap in (64, 0):  # the return data is paid for whether or not it fits
        s = Script()
        s.call(callee, inner_args, cap=cap)
        assert host_gas(node, c, s) == cost("call", len(b"run") + len(inner_args) + ret) + callee_gas


def test_gas_of_enqueues_counts_the_receipt(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    opts = encode({"temperature": 7})
    s = Script()
    ai(s, opts=opts)
    r, tx = node.script(c, s)
    assert r.ok
    (ev,) = events(r, "capabilities", "enqueued")
    receipt = load_job(node.state(), ev["task_id"])
    assert receipt is not None
    args = s.encode()
    charged = node.call_gas(r, tx) - wasm_fuel(SCRIPT, "run", args) - cost("input", len(args)) - cost("output", 8)
    assert charged == cost("ai_enqueue", len(MODEL) + len(PROMPT) + len(opts) + len(receipt.encode()))

    s = Script()
    quantum(s)
    r, tx = node.script(c, s)
    assert r.ok
    (ev,) = events(r, "capabilities", "enqueued")
    receipt = load_job(node.state(), ev["task_id"])
    assert receipt is not None
    args = s.encode()
    charged = node.call_gas(r, tx) - wasm_fuel(SCRIPT, "run", args) - cost("input", len(args)) - cost("output", 8)
    assert charged == cost("quantum_enqueue", len(CIRCUIT) + len(receipt.encode()))


@pytest.mark.parametrize(("length", "charged"), [(10, 10), (256, 256), (300, 256)])
def test_abort_gas_and_message(node: Node, pair: list[Address], length: int, charged: int) -> None:
    c, _ = pair
    msg = bytes(ord("a") + i % 26 for i in range(length))
    s = Script()
    s.op("abort", s.data(msg), len(msg))
    assert host_gas(node, c, s, ok=False) == cost("abort", charged)
    r, _ = node.script(c, s)
    assert r.reason == "abort: " + msg[:256].decode()


def test_abort_message_is_made_printable(node: Node, pair: list[Address]) -> None:
    """ABI.md: the first 256 bytes, invalid UTF-8 and unprintable characters replaced."""
    c, _ = pair
    msg = b"a\nb\xffc\x00d"
    s = Script()
    s.op("abort", s.data(msg), len(msg))
    r, _ = node.script(c, s)
    assert r.reason.startswith("abort: ")
    text = r.reason[len("abort: "):]
    assert text.isprintable()
    assert [text[i] for i in (0, 2, 4, 6)] == ["a", "b", "c", "d"] and len(text) == 7
    assert "\n" not in text and "\x00" not in text


def test_running_out_of_gas_in_a_host_call_charges_the_limit(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    s = Script()
    s.set(b"k", b"v" * 1000)  # 20_000 + 30 x 1001 = 50_030 gas
    # intrinsic ~32_000 + contract_call_gas 20_000 + input ~7_500 leave less than the 50_030
    tx = node.call_tx(c, "run", s.encode(), gas=100_000)
    (r,) = node.run(tx)
    assert (r.ok, r.reason, r.gas_used) == (False, "out_of_gas", 100_000)
    assert node.storage(c, b"k") is None


# --- bounds and caps ---------------------------------------------------------------------------

END = MEM_BYTES - 4
"""Four bytes before the end of the contract's memory: any longer span from here is out of bounds."""
ADDR_BYTES = bytes(account(1).address)


def _oob(name: str, *args: Any) -> Any:
    return lambda s: s.op(name, *(a(s) if callable(a) else a for a in args))


def _d(b: bytes) -> Any:
    return lambda s: s.data(b)


OOB_CASES: dict[str, Any] = {
    "storage_get.key": _oob("storage_get", END, 8, SCRATCH, 64),
    "storage_get.out": _oob("storage_get", _d(b"key"), 3, END, 64),
    "storage_set.key": _oob("storage_set", END, 8, _d(b"v"), 1),
    "storage_set.value": _oob("storage_set", _d(b"k"), 1, END, 8),
    "storage_delete.key": _oob("storage_delete", END, 8),
    "emit_event.topic": _oob("emit_event", END, 8, _d(b"d"), 1),
    "emit_event.data": _oob("emit_event", _d(b"t"), 1, END, 8),
    "caller.out": _oob("caller", END),
    "self_address.out": _oob("self_address", END),
    "value.out": _oob("value", END),
    "balance.addr": _oob("balance", END, SCRATCH),
    "balance.out": _oob("balance", _d(ADDR_BYTES), END),
    "transfer.to": _oob("transfer", END, _d((1).to_bytes(32, "big"))),
    "transfer.amount": _oob("transfer", _d(ADDR_BYTES), END),
    "call.addr": _oob("call", END, _d(b"run"), 3, SCRATCH, 0, _d(bytes(32)), 10**6, SCRATCH, 0),
    "call.method": _oob("call", _d(ADDR_BYTES), END, 8, SCRATCH, 0, _d(bytes(32)), 10**6, SCRATCH, 0),
    "call.args": _oob("call", _d(ADDR_BYTES), _d(b"run"), 3, END, 8, _d(bytes(32)), 10**6, SCRATCH, 0),
    "call.value": _oob("call", _d(ADDR_BYTES), _d(b"run"), 3, SCRATCH, 0, END, 10**6, SCRATCH, 0),
    "ai_enqueue.model": _oob("ai_enqueue", END, 8, _d(PROMPT), 5, 10, SCRATCH, 0, SCRATCH, 256),
    "ai_enqueue.prompt": _oob("ai_enqueue", _d(MODEL), 9, END, 8, 10, SCRATCH, 0, SCRATCH, 256),
    "ai_enqueue.opts": _oob("ai_enqueue", _d(MODEL), 9, _d(PROMPT), 5, 10, END, 8, SCRATCH, 256),
    "ai_enqueue.out": _oob("ai_enqueue", _d(MODEL), 9, _d(PROMPT), 5, 10, SCRATCH, 0, END, 256),
    "quantum_enqueue.circuit": _oob("quantum_enqueue", END, 8, 100, SCRATCH, 0, SCRATCH, 256),
    "quantum_enqueue.out": _oob("quantum_enqueue", _d(CIRCUIT), len(CIRCUIT), 100, SCRATCH, 0, END, 256),
    "read_result.id": _oob("read_result", END, SCRATCH, 1024),
    "zk_verify.vk": _oob("zk_verify", END, 8, SCRATCH, 1, SCRATCH, 1),
    "zk_verify.inputs": _oob("zk_verify", SCRATCH, 1, SCRATCH, 1, END, 8),
    "random.out": _oob("random", END, 8),
    "abort.msg": _oob("abort", END, 8),
    "input.out": _oob("input", END, 100_000),
    "output.ptr": _oob("output", END, 8),
    "u32_pointer": _oob("storage_set", -1, 2, _d(b"v"), 1),
    "u32_wraparound": _oob("random", 0xFFFFFFF0, 32),
}


@pytest.mark.parametrize("case", sorted(OOB_CASES))
def test_spans_outside_memory_trap(shared: tuple[Node, Address], case: str) -> None:
    node, c = shared
    _setup_value(node, c, b"key", b"value!")
    s = Script()
    marker = f"oob:{case}".encode()
    s.set(marker, b"written before the trap")
    OOB_CASES[case](s)
    assert trap_reason(node, c, s) == "trap: memory_out_of_bounds"
    assert node.storage(c, marker) is None


CAP_CASES: dict[str, Any] = {
    "storage_get.key": lambda s: s.op("storage_get", 0, 65, SCRATCH, 64),
    "storage_set.key": lambda s: s.op("storage_set", 0, 65, 0, 1),
    "storage_set.value": lambda s: s.op("storage_set", 0, 1, 0, 65537),
    "storage_delete.key": lambda s: s.op("storage_delete", 0, 65),
    "emit_event.topic": lambda s: s.op("emit_event", 0, 65, 0, 1),
    "emit_event.data": lambda s: s.op("emit_event", 0, 1, 0, 4097),
    "call.method": lambda s: s.op("call", 0, 0, 65, 0, 0, 0, 10**6, 0, 0),
    "call.args": lambda s: s.op("call", 0, 0, 3, 0, 65537, 0, 10**6, 0, 0),
    "zk_verify.vk": lambda s: s.op("zk_verify", 0, 65537, 0, 1, 0, 1),
    "zk_verify.proof": lambda s: s.op("zk_verify", 0, 1, 0, 65537, 0, 1),
    "zk_verify.inputs": lambda s: s.op("zk_verify", 0, 1, 0, 1, 0, 65537),
    "random.n": lambda s: s.op("random", SCRATCH, 1025),
    "output.len": lambda s: s.op("output", 0, 65537),
    "negative_length": lambda s: s.op("storage_get", 0, -1, SCRATCH, 64),
}


@pytest.mark.parametrize("case", sorted(CAP_CASES))
def test_lengths_over_caps_trap(shared: tuple[Node, Address], case: str) -> None:
    node, c = shared
    s = Script()
    marker = f"cap:{case}".encode()
    s.set(marker, b"x")
    CAP_CASES[case](s)
    assert trap_reason(node, c, s) == "trap: length_over_cap"
    assert node.storage(c, marker) is None


def test_negative_gas_for_a_call_traps(shared: tuple[Node, Address]) -> None:
    node, c = shared
    s = Script()
    s.set(b"neg", b"x")
    s.call(c, b"", gas=-1)
    assert trap_reason(node, c, s) == "trap: negative_gas"
    assert node.storage(c, b"neg") is None


def test_lengths_at_the_caps_are_fine(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    s = Script()
    s.set(b"k" * 64, b"v")
    s.get(b"k" * 64, out=0x80)
    s.op("storage_set", 0, 1, OUTBUF, 65536)  # OUTBUF.. is still all zeros here
    s.emit(b"t" * 64, b"d" * 4096)
    s.op("random", SCRATCH, 1024)
    s.op("output", 0, 65536)
    out = node.exec(c, s)
    assert out.ok, out.reason
    assert out.rcs == [0, 1, 0, 0, 0, 0]
    assert node.storage(c, b"\0") == bytes(65536)


# --- storage -------------------------------------------------------------------------------------


def test_storage_get_set_delete(node: Node, pair: list[Address]) -> None:
    c, other = pair
    s = Script()
    s.get(b"a")
    s.set(b"a", b"one")
    s.get(b"a", out=SCRATCH)
    s.set(b"a", b"three")
    s.get(b"a", out=SCRATCH + 16)
    s.op("storage_delete", s.data(b"a"), 1)
    s.get(b"a", out=SCRATCH + 32)
    s.op("storage_delete", s.data(b"a"), 1)
    s.set(b"b", b"kept")
    s.show(SCRATCH, 24)
    out = node.exec(c, s)
    assert out.rcs == [NOT_FOUND, 0, 3, 0, 5, 0, NOT_FOUND, NOT_FOUND, 0]
    assert out.window[:3] == b"one" and out.window[16:21] == b"three"
    assert node.storage(c, b"a") is None and node.storage(c, b"b") == b"kept"
    # keys are per contract
    s = Script()
    s.get(b"b")
    assert node.exec(other, s).rcs == [NOT_FOUND]


def test_storage_keeps_an_empty_value(node: Node, pair: list[Address]) -> None:
    """ABI.md: "An empty value is stored as empty (use storage_delete to remove)"."""
    c, _ = pair
    s = Script()
    s.set(b"e", b"")
    s.get(b"e")
    assert node.exec(c, s).rcs == [0, 0]
    s = Script()
    s.get(b"e")
    s.op("storage_delete", s.data(b"e"), 1)
    s.get(b"e")
    assert node.exec(c, s).rcs == [0, 0, NOT_FOUND]


def test_variable_outputs_write_only_when_they_fit(node: Node, pair: list[Address]) -> None:
    c, callee = pair
    _setup_value(node, c, b"key", b"0123456789")
    inner = Script().show(0, 12)  # returns 12 zero bytes
    s = Script()
    s.op("fill", SCRATCH, 0xAA, 256)
    s.get(b"key", out=SCRATCH, cap=9)
    s.get(b"key", out=SCRATCH + 32, cap=10)
    s.call(callee, inner.encode(), out=SCRATCH + 64, cap=11)
    s.call(callee, inner.encode(), out=SCRATCH + 96, cap=12)
    s.op("input", SCRATCH + 128, 4)
    s.show(SCRATCH, 140)
    out = node.exec(c, s)
    w = out.window
    assert out.rcs[1:5] == [10, 10, 12, 12]
    assert out.rcs[5] == len(s.encode())
    assert w[0:10] == b"\xaa" * 10
    assert w[32:42] == b"0123456789"
    assert w[64:76] == b"\xaa" * 12
    assert w[96:108] == bytes(12)
    assert w[128:140] == b"\xaa" * 12


# --- environment ---------------------------------------------------------------------------------


def test_environment(node: Node, pair: list[Address]) -> None:
    c, callee = pair
    me = bytes(account(0).address)
    inner = Script()
    inner.op("caller", 0)
    inner.op("value", 32)
    inner.show(0, 64)
    s = Script()
    s.op("caller", SCRATCH)
    s.op("self_address", SCRATCH + 20)
    s.op("value", SCRATCH + 40)
    s.op("block_height")
    s.op("block_time")
    s.op("balance", s.data(bytes(c)), SCRATCH + 72)
    s.op("balance", s.data(me), SCRATCH + 104)
    s.call(callee, inner.encode(), value=77, out=SCRATCH + 136, cap=200)
    s.show(SCRATCH, 136 + 16 + 64)
    before_me = node.balance(me)
    out = node.exec(c, s, value=1234)
    assert out.ok, out.reason
    head = node.chain.head
    w = out.window
    assert w[0:20] == me
    assert w[20:40] == bytes(c)
    assert int.from_bytes(w[40:72], "big") == 1234
    assert out.rcs[3] == head.height
    assert out.rcs[4] == head.time_ms // 1000
    assert int.from_bytes(w[72:104], "big") == FUNDS + 1234  # the call's value has arrived
    # the sender's balance as seen during the call: the fee is reserved and the value gone
    assert int.from_bytes(w[104:136], "big") == before_me - out.tx.body.fee - 1234
    assert out.rcs[7] == 16 + 64
    callee_ret = w[136 + 16:]
    assert callee_ret[0:20] == bytes(c)  # the immediate caller is the contract
    assert int.from_bytes(callee_ret[32:64], "big") == 77
    assert node.balance(callee) == FUNDS + 77
    assert node.balance(c) == FUNDS + 1234 - 77


def test_transfer(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    to = bytes(account(5).address)
    before = node.balance(to)
    s = Script()
    s.op("transfer", s.data(to), s.data((400).to_bytes(32, "big")))
    s.op("transfer", s.data(to), s.data((FUNDS).to_bytes(32, "big")))  # only FUNDS - 400 left
    s.op("transfer", s.data(to), s.data((2**255).to_bytes(32, "big")))
    out = node.exec(c, s)
    assert out.rcs == [0, INSUFFICIENT_BALANCE, INSUFFICIENT_BALANCE]
    assert node.balance(to) == before + 400
    assert node.balance(c) == FUNDS - 400
    assert [e["amount"] for e in events(out.receipt, "bank", "transfer")] == [400]


# --- random ------------------------------------------------------------------------------------


def expected_random(beacon: bytes, tx_hash: bytes, contract: bytes, call_index: int, n: int) -> bytes:
    """ABI.md: block i is H("cairn/contract-random/v1", [beacon, tx_hash, self, call_index, i])."""
    blocks = [H(b"cairn/contract-random/v1", encode([bytes(beacon), bytes(tx_hash), bytes(contract), call_index, i]))
              for i in range((n + 31) // 32)]
    return b"".join(blocks)[:n]


def test_random_is_the_abi_formula(node: Node, pair: list[Address]) -> None:
    c, callee = pair
    inner = Script()
    inner.op("random", 0, 33)
    inner.show(0, 33)
    s = Script()
    s.op("random", SCRATCH, 40)
    s.op("random", SCRATCH + 64, 40)
    s.call(callee, inner.encode(), out=SCRATCH + 128, cap=64)
    s.op("random", SCRATCH + 256, 5)
    s.show(SCRATCH, 261)
    out = node.exec(c, s)
    assert out.ok, out.reason
    h = node.height
    beacon = node.chain.store.load_block_at(h - 1).header.beacon  # the previous block's beacon
    w, tx_hash = out.window, out.tx.hash
    assert w[0:40] == expected_random(beacon, tx_hash, c, 0, 40)
    assert w[64:104] == expected_random(beacon, tx_hash, c, 1, 40)
    assert w[64:104] != w[0:40]
    assert w[128 + 8:128 + 41] == expected_random(beacon, tx_hash, callee, 2, 33)  # the index is per tx
    assert w[256:261] == expected_random(beacon, tx_hash, c, 3, 5)
    # the same script in the next block: another beacon and transaction, other bytes
    s = Script()
    s.op("random", SCRATCH, 40)
    again = node.exec(c, s.show(SCRATCH, 40))
    beacon2 = node.chain.store.load_block_at(node.height - 1).header.beacon
    assert beacon2 != beacon
    assert again.window == expected_random(beacon2, again.tx.hash, c, 0, 40) != w[0:40]


# --- AI and quantum enqueues -------------------------------------------------------------------


def test_ai_enqueue_escrows_and_returns_the_receipt(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    opts = {"temperature": 7, "seed": b"\x01"}
    s = Script()
    ai(s, opts=encode(opts))
    s.show(SCRATCH, 256)
    escrow = node.balance(ESCROW_ADDRESS)
    out = node.exec(c, s)
    assert out.ok, out.reason
    (n,) = out.rcs
    receipt = JobReceipt.decode(out.window[:n])
    h = node.height
    payload = ai_payload(MODEL, PROMPT, 10, opts)
    assert receipt == JobReceipt(task_id(node.genesis.chain_id, h, out.tx.hash, c, payload, 0), "ai", c,
                                 AI_FEE_10, AI_FEE_10, h + 300, h, request_digest(payload))
    assert node.balance(c) == FUNDS - AI_FEE_10
    assert node.balance(ESCROW_ADDRESS) == escrow + AI_FEE_10
    assert load_job(node.state(), receipt.task_id) == receipt
    (ev,) = events(out.receipt, "capabilities", "enqueued")
    assert (ev["task_id"], ev["fee"]) == (receipt.task_id, AI_FEE_10)


def test_ai_price_uses_the_model_weight(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    s = Script()
    ai(s, model=b"llama3-70b", max_tokens=10)
    s.show(SCRATCH, 256)
    out = node.exec(c, s)
    receipt = JobReceipt.decode(out.window[:out.rcs[0]])
    # runtime cap 2,000 + 10 x 50 x 6.5 = 5,250 ms; x 6.5 x 1.265 = 43,168 milli-units; x 15
    assert receipt.fee_escrowed == receipt.price_ceiling == 647_520


def test_quantum_enqueue_escrows_and_returns_the_receipt(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    s = Script()
    quantum(s)
    s.show(SCRATCH, 256)
    out = node.exec(c, s)
    assert out.ok, out.reason
    receipt = JobReceipt.decode(out.window[:out.rcs[0]])
    h = node.height
    payload = quantum_payload(CIRCUIT, 100, {})
    assert receipt == JobReceipt(task_id(node.genesis.chain_id, h, out.tx.hash, c, payload, 0), "quantum", c,
                                 QUANTUM_FEE_100, QUANTUM_FEE_100, h + 600, h, request_digest(payload))
    assert node.balance(c) == FUNDS - QUANTUM_FEE_100


def test_receipt_buffer_must_hold_256_bytes(shared: tuple[Node, Address]) -> None:
    node, c = shared
    for enqueue in (ai, quantum):
        s = Script()
        enqueue(s, cap=255)
        assert trap_reason(node, c, s) == "trap: receipt_buffer_too_small"
    # step 1 comes before the request is read and checked
    s = Script()
    ai(s, cap=255, max_tokens=0)
    assert trap_reason(node, c, s) == "trap: receipt_buffer_too_small"
    s = Script()
    quantum(s, circuit=b"not qasm", cap=255)
    assert trap_reason(node, c, s) == "trap: receipt_buffer_too_small"
    s = Script()
    ai(s, cap=256)
    quantum(s, cap=256)
    assert node.exec(c, s).ok


REQUEST_TRAPS: dict[str, Any] = {
    "model_empty": lambda s: ai(s, model=b""),
    "model_too_long": lambda s: ai(s, model=b"m" * 65),
    "model_invalid": lambda s: ai(s, model=b"llama 3"),
    "prompt_too_long": lambda s: ai(s, prompt=b"p" * (32 * 1024 + 1)),
    "max_tokens_out_of_range.0": lambda s: ai(s, max_tokens=0),
    "max_tokens_out_of_range.max": lambda s: ai(s, max_tokens=8193),
    "max_tokens_out_of_range.neg": lambda s: ai(s, max_tokens=-1),
    "circuit_not_ascii": lambda s: quantum(s, circuit="OPENQASM 2.0; // é".encode()),
    "circuit_too_long": lambda s: s.op("quantum_enqueue", 0, 64 * 1024 + 1, 100, 0, 0, SCRATCH, 256),
    "circuit_not_openqasm2": lambda s: quantum(s, circuit=b"qreg q[1];"),
    "shots_out_of_range.0": lambda s: quantum(s, shots=0),
    "shots_out_of_range.max": lambda s: quantum(s, shots=20_001),
    "shots_out_of_range.min": lambda s: quantum(s, shots=99),
    "shots_out_of_range.neg": lambda s: quantum(s, shots=-5),
    "opt_key_invalid": lambda s: ai(s, opts=encode({"": 1})),
    "opt_value_invalid": lambda s: quantum(s, opts=encode({"k": "x" * 257})),
    "opts_too_large": lambda s: ai(s, opts=encode({f"k{i}": "v" * 200 for i in range(6)})),
    "opts_too_large.len": lambda s: s.op("ai_enqueue", s.data(MODEL), 9, s.data(PROMPT), 5, 10, 0, 1025, SCRATCH, 256),
    "bad_text.model": lambda s: ai(s, model=b"\xff\xfe"),
    "bad_text.prompt": lambda s: ai(s, prompt=b"\xc3\x28"),
    "bad_text.circuit": lambda s: quantum(s, circuit=b"OPENQASM 2.0;\xff"),
    "bad_opts.not_cbor": lambda s: ai(s, opts=b"\xff"),
    "bad_opts.array": lambda s: ai(s, opts=encode([1, 2])),
    "bad_opts.float": lambda s: quantum(s, opts=encode({"a": 1.5})),
    "bad_opts.int_key": lambda s: ai(s, opts=encode({1: 2})),
    "bad_opts.nested": lambda s: ai(s, opts=encode({"a": {"b": 1}})),
    "bad_opts.non_canonical": lambda s: ai(s, opts=b"\xa2\x61b\x01\x61a\x01"),
    "bad_opts.trailing": lambda s: ai(s, opts=encode({"a": 1}) + b"\x00"),
}


@pytest.mark.parametrize("case", sorted(REQUEST_TRAPS))
def test_bad_requests_trap_with_their_reason(shared: tuple[Node, Address], case: str) -> None:
    node, c = shared
    escrow = node.balance(ESCROW_ADDRESS)
    s = Script()
    marker = f"req:{case}".encode()
    s.set(marker, b"x")
    REQUEST_TRAPS[case](s)
    assert trap_reason(node, c, s) == "trap: " + case.split(".")[0]
    assert node.storage(c, marker) is None
    assert node.balance(ESCROW_ADDRESS) == escrow


def test_enqueue_the_contract_cannot_pay_returns_minus_3_and_uses_no_seq(node: Node) -> None:
    (c,) = deployed(node, 1, funds=60_000)
    s = Script()
    ai(s, model=b"llama3-70b", max_tokens=8192, out=SCRATCH)  # hundreds of millions > 60_000
    quantum(s, out=SCRATCH)  # 10_000_000 > 60_000
    ai(s, out=SCRATCH + 512)  # 47_430: affordable
    s.show(SCRATCH + 512, 256)
    out = node.exec(c, s)
    assert out.rcs[:2] == [INSUFFICIENT_BALANCE, INSUFFICIENT_BALANCE]
    receipt = JobReceipt.decode(out.window[:out.rcs[2]])
    h = node.height
    payload = ai_payload(MODEL, PROMPT, 10, {})
    assert receipt.task_id == task_id(node.genesis.chain_id, h, out.tx.hash, c, payload, 0)
    assert node.balance(c) == 60_000 - AI_FEE_10
    assert len(events(out.receipt, "capabilities", "enqueued")) == 1


def test_two_identical_enqueues_get_two_ids_and_replay_gives_the_same(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    s = Script()
    ai(s, out=SCRATCH)
    ai(s, out=SCRATCH + 256)
    s.show(SCRATCH, 512)
    out = node.exec(c, s)
    first = JobReceipt.decode(out.window[:out.rcs[0]])
    second = JobReceipt.decode(out.window[256:256 + out.rcs[1]])
    h, chain_id = node.height, node.genesis.chain_id
    payload = ai_payload(MODEL, PROMPT, 10, {})
    assert first.task_id == task_id(chain_id, h, out.tx.hash, c, payload, 0)
    assert second.task_id == task_id(chain_id, h, out.tx.hash, c, payload, 1)
    assert first.task_id != second.task_id
    assert node.balance(c) == FUNDS - 2 * AI_FEE_10

    other = Node()
    for height in range(1, node.height + 1):
        mine = node.chain.store.load_block_at(height)
        theirs = other.apply(mine)
        assert theirs.receipt_bytes == tuple(r.encode() for r in node.chain.store.load_receipts(mine.hash))
    assert other.chain.head.state_root == node.chain.head.state_root
    for rec in (first, second):
        assert load_job(other.state(), rec.task_id) == rec


def test_seq_counts_enqueues_across_contracts_and_reverted_calls(node: Node, pair: list[Address]) -> None:
    c, callee = pair
    failing = Script()
    ai(failing)
    failing.op("trap")
    ok = Script()
    quantum(ok)
    ok.show(SCRATCH, 256)
    s = Script()
    s.call(callee, failing.encode(), gas=300_000)  # a wasm trap burns all the gas it was given
    s.call(callee, ok.encode(), out=SCRATCH, cap=512)
    ai(s, out=SCRATCH + 1024)
    s.show(SCRATCH, 1024 + 256)
    out = node.exec(c, s)
    assert out.rcs[0] == CALL_FAILED
    h, chain_id, tx_hash = node.height, node.genesis.chain_id, out.tx.hash
    in_callee = JobReceipt.decode(out.window[8:8 + parse(out.window, 1)[0][0]])
    in_caller = JobReceipt.decode(out.window[1024:1024 + out.rcs[2]])
    assert in_callee.task_id == task_id(chain_id, h, tx_hash, callee, quantum_payload(CIRCUIT, 100, {}), 1)
    assert in_caller.task_id == task_id(chain_id, h, tx_hash, c, ai_payload(MODEL, PROMPT, 10, {}), 2)
    assert node.balance(callee) == FUNDS - QUANTUM_FEE_100  # the reverted enqueue's fee came back


# --- read-only queries -------------------------------------------------------------------------

WRITES: dict[str, Any] = {
    "storage_set": lambda s, c: s.set(b"q", b"v"),
    "storage_delete": lambda s, c: s.op("storage_delete", s.data(b"key"), 3),
    "transfer": lambda s, c: s.op("transfer", s.data(ADDR_BYTES), s.data((1).to_bytes(32, "big"))),
    "call_with_value": lambda s, c: s.call(c, b"", value=1),
    "ai_enqueue": lambda s, c: ai(s),
    "quantum_enqueue": lambda s, c: quantum(s),
}


@pytest.mark.parametrize("case", sorted(WRITES))
def test_writes_trap_read_only_in_queries(node: Node, pair: list[Address], case: str) -> None:
    c, other = pair
    _setup_value(node, c, b"key", b"value!")
    state = node.state()
    root_before = node.chain.head.state_root
    s = Script()
    s.emit(b"t", b"d")
    WRITES[case](s, other)
    outcome, evs = node.query(c, s, state=state)
    assert (outcome.status, outcome.reason) == ("read_only", "read_only")
    assert evs == []
    assert state.commit().root == root_before


def test_queries_may_read(node: Node, pair: list[Address]) -> None:
    c, _ = pair
    _setup_value(node, c, b"key", b"value!")
    s = Script()
    s.get(b"key")
    s.op("balance", s.data(bytes(c)), SCRATCH + 64)
    s.op("random", SCRATCH + 128, 8)
    s.emit(b"t", b"d")
    s.show(SCRATCH, 6)
    outcome, evs = node.query(c, s)
    assert outcome.ok, outcome.reason
    rcs, window = parse(outcome.return_data, 4)
    assert rcs == [6, 0, 0, 0] and window == b"value!"
    assert len(evs) == 1


# --- read_result and the "committed in an earlier block" rule --------------------------------


class Settlement:
    """A stand-in for AICF settlement, which is not built yet: at the start of a chosen block
    it records a result through ``capabilities.records.record_result`` (the only way a result
    enters state) with ``committed_height`` = that block's height."""

    name = "test-settlement"

    def __init__(self) -> None:
        self.due: dict[int, list[ResultRecord]] = {}

    def tx_kinds(self) -> dict[str, Any]:
        return {}

    def begin_block(self, state: StateDB, env: BlockEnv) -> list[Event]:
        for rec in self.due.pop(env.height, []):
            record_result(state, rec.task_id, replace(rec, committed_height=env.height))
        return []

    def end_block(self, state: StateDB, env: BlockEnv, pot: BlockPot) -> list[Event]:
        return []


def settling_app(genesis: Genesis, settlement: Settlement) -> Application:
    base = make_application(genesis)
    assert base.modules[0].name == "staking"
    return Application.compose(genesis.chain_id, genesis.params, [*base.modules[1:], settlement],
                               slash_to=FUND_ADDRESS)


def test_read_result_sees_only_results_committed_in_an_earlier_block() -> None:
    genesis = devnet_genesis()
    settlement = Settlement()
    node = Node(genesis, app=settling_app(genesis, settlement))
    c, reader = deployed(node)

    def read(tid: bytes, cap: int = 1024) -> tuple[int, bytes]:
        s = Script()
        s.op("read_result", s.data(tid), SCRATCH, cap)
        s.show(SCRATCH, 300)
        out = node.exec(reader, s)
        assert out.ok, out.reason
        return out.rcs[0], out.window

    assert read(H(b"nobody", b"enqueued this"))[0] == NOT_FOUND
    s = Script()
    ai(s)
    s.show(SCRATCH, 256)
    out = node.exec(c, s)
    tid = JobReceipt.decode(out.window[:out.rcs[0]]).task_id
    enqueued = node.height
    assert read(tid)[0] == NO_RESULT_YET  # no result at all yet

    output = b"the answer"
    settled = node.height + 1
    result = ResultRecord(tid, account(7).address, output_digest_of(output), output, settled, H(b"proof", b"1"))
    settlement.due[settled] = [result]
    assert read(tid)[0] == NO_RESULT_YET  # recorded at the start of this very block: not visible in it
    assert node.height == settled and enqueued < settled
    n, window = read(tid, cap=10)  # visible from the next block on; too small a buffer gets the length
    record = result.encode()
    assert n == len(record) and window[:10] != record[:10]
    n, window = read(tid)
    assert (n, window[:n]) == (len(record), record)
    assert ResultRecord.decode(window[:n]).committed_height == settled


def test_read_result_gas_counts_the_record() -> None:
    genesis = devnet_genesis()
    settlement = Settlement()
    node = Node(genesis, app=settling_app(genesis, settlement))
    c, _ = deployed(node)
    s = Script()
    ai(s)
    s.show(SCRATCH, 256)
    out = node.exec(c, s)
    tid = JobReceipt.decode(out.window[:out.rcs[0]]).task_id
    result = ResultRecord(tid, account(7).address, output_digest_of(b"x" * 100), b"x" * 100, 0, bytes(32))
    settlement.due[node.height + 1] = [result]
    node.run()
    s = Script()
    s.op("read_result", s.data(bytes(tid)), SCRATCH, 1024)
    recorded = replace(result, committed_height=node.height)
    assert host_gas(node, c, s) == cost("read_result", 32 + len(recorded.encode()))


# --- zk_verify -----------------------------------------------------------------------------------

G16 = Path("groth16")
R0, CC = G16 / "risc0_multiplier_1pub", G16 / "circomcompat_multiplier_1pub"
VERDICTS: dict[str, tuple[Path, Path, Path, int]] = {
    "risc0_valid": (R0 / "verification_key.json", R0 / "proof.json", R0 / "public.json", 1),
    "risc0_public_bad": (R0 / "verification_key.json", R0 / "proof.json", R0 / "public_bad.json", 0),
    "risc0_public_noncanonical": (R0 / "verification_key.json", R0 / "proof.json", R0 / "public_noncanonical.json", 0),
    "risc0_proof_not_on_curve": (R0 / "verification_key.json", R0 / "proof_bad_not_on_curve.json", R0 / "public.json",
                                 0),
    "circomcompat_valid": (CC / "verification_key.json", CC / "proof.json", CC / "public.json", 1),
    "circomcompat_public_bad": (CC / "verification_key.json", CC / "proof.json", CC / "public_bad.json", 0),
    "cross_setup": (R0 / "verification_key.json", CC / "proof.json", CC / "public.json", 0),
}
"""``tests/vectors/README.md``, the groth16 table: files and verdict (1 VALID, 0 INVALID)."""


def zk_script(vk: bytes, proof: bytes, public: bytes) -> Script:
    s = Script()
    s.op("zk_verify", s.data(vk), len(vk), s.data(proof), len(proof), s.data(public), len(public))
    return s


@pytest.fixture(scope="module")
def zk_runs(vectors: Path) -> dict[str, Any]:
    """Every verdict case, plus the first case again (now cached), in one block."""
    genesis = devnet_genesis()
    cache = Groth16Cache()
    base = make_application(genesis)
    contracts = contracts_module(genesis.params, genesis.capabilities, genesis.aicf.pricing, groth16_cache=cache)
    app = Application.compose(genesis.chain_id, genesis.params,
                              [contracts, *[m for m in base.modules[1:] if m.name != "contracts"]],
                              slash_to=FUND_ADDRESS)
    node = Node(genesis, app=app)
    (c,) = deployed(node, 1)
    cases = {k: tuple((vectors / p).read_bytes() for p in v[:3]) for k, v in VERDICTS.items()}
    cases["garbage_json"] = (b"{not json", b"\xff\xfe", b"[")
    cases["empty"] = (b"", b"", b"")
    scripts = {k: zk_script(*v).keep() for k, v in cases.items()}
    gas = cost("zk_verify", 16_384) + 1_000_000
    names = [*scripts, "again"]
    txs, receipts = {}, {}
    per_block = node.genesis.params.block_gas_limit // gas
    for i in range(0, len(names), per_block):
        batch = names[i:i + per_block]
        for k in batch:
            txs[k] = node.call_tx(c, "run", scripts["risc0_valid" if k == "again" else k].encode(), gas=gas)
        _, out = node.block([txs[k] for k in batch])
        receipts.update(zip(batch, out.receipts, strict=True))
    return {"node": node, "contract": c, "cases": cases, "scripts": {**scripts, "again": scripts["risc0_valid"]},
            "txs": txs, "receipts": receipts, "cache": cache}


def _zk_rc(runs: dict[str, Any], case: str) -> int:
    # every case ran in one block and wrote its rc under the same key: replay each alone
    node, c = runs["node"], runs["contract"]
    r = runs["receipts"][case]
    assert r.ok, r.reason
    outcome, _ = node.query(c, zk_script(*runs["cases"][case]), gas=cost("zk_verify", 16_384) + 1_000_000)
    assert outcome.ok, outcome.reason
    return parse(outcome.return_data, 1)[0][0]


@pytest.mark.parametrize("case", sorted(VERDICTS))
def test_zk_verify_agrees_with_the_third_party_verdicts(zk_runs: dict[str, Any], case: str) -> None:
    assert _zk_rc(zk_runs, case) == VERDICTS[case][3]


def test_zk_verify_in_a_transaction_keeps_the_verdict(zk_runs: dict[str, Any]) -> None:
    """The last transaction of the block ran the valid risc0 case again: its kept rc is 1."""
    node, c = zk_runs["node"], zk_runs["contract"]
    raw = node.storage(c, b"\xffrc")
    assert raw is not None and int.from_bytes(raw, "little", signed=True) == 1


@pytest.mark.parametrize("case", ["garbage_json", "empty"])
def test_zk_verify_returns_0_for_malformed_input(zk_runs: dict[str, Any], case: str) -> None:
    assert _zk_rc(zk_runs, case) == 0


def test_zk_verify_gas_is_the_table_cached_or_not(zk_runs: dict[str, Any]) -> None:
    r1, r2 = zk_runs["receipts"]["risc0_valid"], zk_runs["receipts"]["again"]
    assert zk_runs["cache"].hits >= 1  # the second run was answered from the cache
    assert r1.gas_used == r2.gas_used
    node = zk_runs["node"]
    for case, (vk, proof, public) in [*zk_runs["cases"].items(), ("again", zk_runs["cases"]["risc0_valid"])]:
        s, tx, r = zk_runs["scripts"][case], zk_runs["txs"][case], zk_runs["receipts"][case]
        args = s.encode()
        own = cost("input", len(args)) + cost("output", 16)  # two commands: zk_verify and keep()'s storage_set
        host = node.call_gas(r, tx) - wasm_fuel(SCRIPT, "run", args) - own
        expected = cost("zk_verify", len(vk) + len(proof) + len(public)) + cost("storage_set", 3 + 8)
        assert host == expected, case


def test_return_codes_are_the_abi_numbers() -> None:
    from capabilities import host

    assert (host.NOT_FOUND, host.NO_RESULT_YET, host.INSUFFICIENT_BALANCE, host.CALL_FAILED, host.CALL_DEPTH) == (
        NOT_FOUND, NO_RESULT_YET, INSUFFICIENT_BALANCE, CALL_FAILED, CALL_DEPTH)
