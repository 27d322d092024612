"""Hostile contracts: every one ends the same way on every node, and the chain goes on.

An infinite loop, memory bombs (grow until ``memory.grow`` says -1, then fill and touch
what was granted; once, and in a loop), runaway recursion and a float-heavy contract
are each put in the same block on two fresh chains: the receipts (bytes) and the state
roots must be identical, a third chain must accept the block through ``apply_block``
(which recomputes every root), the outcome must be what the rules say (engine and
runtime module docstrings), and further blocks with a plain transfer must still build,
apply and commit.

The chains here use a 16 MiB memory cap (``ChainParams.max_memory_bytes``) so that a
bomb is cheap to run; the rules do not depend on the size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from chain.apply import Receipt
from chain.block import Block
from chain.tx import SignedTx
from chain.types import Address
from genesis.schema import Genesis
from tests.chain.helpers import account, transfer
from tests.chain.vm.contracts import (
    CALL_FAILED,
    FLOATS,
    KEEP_RC,
    MEM_BYTES,
    PAGES,
    SCRIPT,
    SELF,
    WASM_PAGE,
    Node,
    Script,
    float_expectations,
    genesis_with,
    rc_addr,
)

CAP_PAGES = 256
GENESIS = genesis_with(max_memory_bytes=CAP_PAGES * WASM_PAGE)
GAS = 30_000_000


@dataclass
class Net:
    """Two nodes that build every block themselves, and a third that applies node a's."""

    a: Node
    b: Node
    c: Node
    script: Address
    floats: Address

    @classmethod
    def start(cls, genesis: Genesis = GENESIS) -> Net:
        nodes = [Node(genesis) for _ in range(3)]
        a = nodes[0]
        tx1, script = a.deploy_tx(SCRIPT)
        tx2, floats = a.deploy_tx(FLOATS)
        net = cls(*nodes, script=script, floats=floats)
        receipts = net.same_block([tx1, tx2])
        assert all(r.ok for r in receipts)
        return net

    def same_block(self, txs: list[SignedTx]) -> list[Receipt]:
        """Build ``txs`` on a and b, apply a's block on c; every node must agree exactly."""
        block_a, out_a = self.a.block(txs)
        block_b, out_b = self.b.block(txs)
        out_c = self.c.apply(block_a)
        assert out_a.receipt_bytes == out_b.receipt_bytes == out_c.receipt_bytes
        assert out_a.state_root == out_b.state_root == out_c.state_root
        assert block_a.hash == block_b.hash
        return list(out_a.receipts)

    def keeps_going(self, blocks: int = 2) -> None:
        """Plain transfers still build, apply and commit after the hostile block."""
        for _ in range(blocks):
            h = self.a.height
            to = account(6).address
            before = self.a.balance(to)
            tx = transfer(account(5), to, 77, self.a.state().get_account(account(5).address).nonce)
            (r,) = self.same_block([tx])
            assert r.ok, r.reason
            assert self.a.height == h + 1 == self.c.height
            assert self.a.balance(to) == before + 77


def _run(net: Net, script: Script, gas: int = GAS) -> Receipt:
    (r,) = net.same_block([net.a.call_tx(net.script, "run", script.encode(), gas=gas)])
    return r


def test_infinite_loop() -> None:
    net = Net.start()
    s = Script()
    s.set(b"k", b"v")
    s.op("loop")
    r = _run(net, s, gas=2_000_000)
    assert (r.ok, r.reason, r.gas_used) == (False, "out_of_gas", 2_000_000)
    assert net.a.storage(net.script, b"k") is None
    net.keeps_going()


def test_memory_bomb_once() -> None:
    """Grow one page at a time until refused: the cap is reached exactly, -1 beyond it,
    and everything granted can be filled and touched; the call succeeds."""
    net = Net.start()
    s = Script()
    s.op("bomb", MEM_BYTES, 0xAB)  # fill from the end of the initial memory to the end
    s.op("grow", 1)
    s.op("touch", MEM_BYTES)
    s.op("fill", CAP_PAGES * WASM_PAGE - 8, 0xCD, 8)
    s.op("storage_set", s.data(b"last"), 4, CAP_PAGES * WASM_PAGE - 8, 8)
    s.op("storage_set", s.data(b"rcs"), 3, rc_addr(0), 16)
    r = _run(net, s)
    assert r.ok, r.reason
    rcs = net.a.storage(net.script, b"rcs") or b""
    assert int.from_bytes(rcs[:8], "little", signed=True) == CAP_PAGES  # memory.size at the end
    assert int.from_bytes(rcs[8:], "little", signed=True) == -1  # no page beyond the cap
    assert net.a.storage(net.script, b"last") == b"\xcd" * 8
    net.keeps_going()


def test_memory_bomb_out_of_bounds_after_the_cap() -> None:
    """A write one byte past the granted memory traps (the memory never grew past the cap)."""
    net = Net.start()
    s = Script()
    s.op("bomb", MEM_BYTES, 0)
    s.op("fill", CAP_PAGES * WASM_PAGE - 4, 1, 5)
    r = _run(net, s, gas=20_000_000)
    assert (r.ok, r.reason, r.gas_used) == (False, "trap: memory_out_of_bounds", 20_000_000)
    net.keeps_going()


def test_memory_bomb_in_a_loop() -> None:
    net = Net.start()
    s = Script()
    s.op("bomb_forever", MEM_BYTES)
    r = _run(net, s, gas=3_000_000)
    assert (r.ok, r.reason, r.gas_used) == (False, "out_of_gas", 3_000_000)
    net.keeps_going()


def test_runaway_recursion() -> None:
    net = Net.start()
    s = Script()
    s.set(b"k", b"v")
    s.op("recurse")
    r = _run(net, s, gas=5_000_000)
    assert (r.ok, r.reason, r.gas_used) == (False, "trap: stack_overflow", 5_000_000)
    assert net.a.storage(net.script, b"k") is None
    net.keeps_going()


def test_runaway_recursion_in_every_frame_of_a_deep_call_stack() -> None:
    """Each frame recurses without end in a callee, then calls itself one level deeper:
    every nested entry overflows its own wasm stack, and the host stack holds."""
    net = Net.start()
    crash = Script()
    crash.op("recurse")
    s = Script()
    s.call(net.script, crash.encode(), gas=200_000)
    s.call(net.script, SELF)
    s.keep()  # every frame keeps its return codes; the outermost writes last
    r = _run(net, s, gas=50_000_000)
    assert r.ok, r.reason
    kept = net.a.storage(net.script, KEEP_RC) or b""
    crashed, deeper = (int.from_bytes(kept[i:i + 8], "little", signed=True) for i in (0, 8))
    assert crashed == CALL_FAILED and deeper == 8 * 3  # the next frame returned its three codes
    net.keeps_going(1)


def test_float_heavy_contract() -> None:
    net = Net.start()
    (r,) = net.same_block([net.a.call_tx(net.floats, "run", gas=5_000_000)])
    assert r.ok, r.reason
    for key, value in float_expectations().items():
        assert net.a.storage(net.floats, key) == value, key
    # the canonical NaNs, spelled out
    assert (net.a.storage(net.floats, b"f32nan") or b"")[:4] == (0x7FC00000).to_bytes(4, "little")
    assert (net.a.storage(net.floats, b"f64nan") or b"")[:8] == (0x7FF8000000000000).to_bytes(8, "little")
    net.keeps_going()


def test_all_of_them_in_one_block_with_a_transfer() -> None:
    net = Net.start()
    a = net.a
    scripts: list[Any] = []
    for op in ("loop", "bomb_forever", "recurse"):
        s = Script()
        s.op(op, *((MEM_BYTES,) if op == "bomb_forever" else ()))
        scripts.append(s)
    txs = [a.call_tx(net.script, "run", s.encode(), gas=2_000_000) for s in scripts]
    txs.append(a.call_tx(net.floats, "run", gas=2_000_000))
    txs.append(transfer(account(5), account(6).address, 5, a.state().get_account(account(5).address).nonce))
    receipts = net.same_block(txs)
    assert [(r.ok, r.reason) for r in receipts] == [
        (False, "out_of_gas"), (False, "out_of_gas"), (False, "trap: stack_overflow"), (True, ""), (True, "")]
    net.keeps_going()


def _nested_bomb(net: Net, grow: int) -> Script:
    """Each frame counts itself (storage "n"), grows its memory by ``grow`` pages and keeps
    the result under its count (8 bytes LE), calls itself one level deeper and keeps that
    call's return code under "c" + its count."""
    s = Script()
    cnt = 0x10
    s.op("fill", cnt - 1, ord("c"), 1)
    s.op("storage_get", s.data(b"n"), 1, cnt, 8)
    s.op("add", cnt, 1)
    s.op("storage_set", s.data(b"n"), 1, cnt, 8)
    g = s.op("grow", grow)
    s.op("storage_set", cnt, 8, rc_addr(g), 8)
    c = s.call(net.script, SELF)
    s.op("storage_set", cnt - 1, 9, rc_addr(c), 8)
    return s


def _kept(node: Node, contract: Address, key: bytes) -> int:
    raw = node.storage(contract, key)
    assert raw is not None, key
    return int.from_bytes(raw, "little", signed=True)


def test_nested_memory_bombs_share_one_budget() -> None:
    """Cap 32 pages; every frame starts with 3 and grows by 6.  Depths 0-2 hold 9 pages
    each (27); depth 3 gets the 5 left: it starts (3 pages) but its grow is refused (-1),
    and its own callee would get 2 pages, fewer than its initial 3, so that call fails (-4).
    The whole stack never holds more than the cap: 27 + 3 = 30 <= 32."""
    net = Net.start(genesis_with(max_memory_bytes=32 * WASM_PAGE))
    assert PAGES == 3
    r = _run(net, _nested_bomb(net, 6), gas=20_000_000)
    assert r.ok, r.reason
    a, c = net.a, net.script
    assert _kept(a, c, b"n") == 4
    grows = [_kept(a, c, d.to_bytes(8, "little")) for d in range(1, 5)]
    calls = [_kept(a, c, b"c" + d.to_bytes(8, "little")) for d in range(1, 5)]
    assert grows == [3, 3, 3, -1]
    assert calls[3] == CALL_FAILED
    assert all(x >= 0 for x in calls[:3])
    net.keeps_going(1)


def test_nested_memory_bombs_down_to_the_depth_limit() -> None:
    """Growing by 1 page a frame, 9 frames would want 36 of 32 pages: depths 0-6 hold 4
    each (28), depth 7 fits exactly (4 of the 4 left), and depth 8 cannot start (-4)."""
    net = Net.start(genesis_with(max_memory_bytes=32 * WASM_PAGE))
    r = _run(net, _nested_bomb(net, 1), gas=20_000_000)
    assert r.ok, r.reason
    a, c = net.a, net.script
    assert _kept(a, c, b"n") == 8
    assert [_kept(a, c, d.to_bytes(8, "little")) for d in range(1, 9)] == [3] * 8
    assert _kept(a, c, b"c" + (8).to_bytes(8, "little")) == CALL_FAILED
    net.keeps_going(1)


@pytest.mark.parametrize("grow", [1, 6])
def test_nested_memory_bombs_are_deterministic(grow: int) -> None:
    """The same nested bomb twice more, on fresh chains: the same receipts and roots."""
    roots = []
    for _ in range(2):
        net = Net.start(genesis_with(max_memory_bytes=32 * WASM_PAGE))
        r = _run(net, _nested_bomb(net, grow), gas=20_000_000)
        roots.append((r.encode(), bytes(net.a.chain.head.state_root)))
    assert roots[0] == roots[1]


def test_a_hostile_block_replays_from_the_store() -> None:
    """A committed hostile block, read back from the block store, applies on a fresh chain."""
    net = Net.start()
    s = Script()
    s.op("bomb", MEM_BYTES, 1)
    s.op("recurse")
    _run(net, s, gas=20_000_000)
    net.keeps_going(1)
    fresh = Node(GENESIS)
    for h in range(1, net.a.height + 1):
        block: Block = net.a.chain.store.load_block_at(h)
        out = fresh.apply(block)
        assert out.receipt_bytes == tuple(r.encode() for r in net.a.chain.store.load_receipts(block.hash))
    assert fresh.chain.head.state_root == net.a.chain.head.state_root
