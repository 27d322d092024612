"""Every receipt the chain writes decodes again, and equals what execution produced.

Receipts are consensus data (the leaves of ``receipts_root``) and ``tx.getReceipt`` reads
them back through ``BlockStore.load_receipts``.  A receipt the decoder refuses makes every
receipt of its block unreadable for ever, so the rules that bound a receipt live where it
is written (``chain.apply.process_transaction``): a reason is cut to ``MAX_REASON`` code
points, and a successful execution whose receipt would pass ``MAX_RECEIPT_BYTES`` fails
``receipt_too_large``.  The property drives random failing transactions (long import
names, aborts, traps, out of gas, overdrawn transfers, calls to nothing, event floods)
through real blocks, and a second chain replays each block with ``apply_block``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chain.apply import MAX_REASON, MAX_RECEIPT_BYTES, Receipt, check_against_account
from chain.codec import encode
from chain.errors import DecodeError, ErrorCode, InvalidTransaction
from chain.tx import SignedTx
from chain.types import Hash32
from genesis.devnet import DEVNET_BALANCE
from tests.chain.helpers import account
from tests.chain.vm.contracts import SCRIPT, Node, Script, import_decl, wat

TOPIC = 64
EMITTER = wat(f"""(module
  {import_decl("input")} {import_decl("emit_event")} {import_decl("storage_set")}
  (memory (export "memory") 1)
  (data (i32.const 200) "k")
  (func (export "run") (local $i i32) (local $n i32)
    (drop (call $input (i32.const 0) (i32.const 8)))
    (drop (call $storage_set (i32.const 200) (i32.const 1) (i32.const 0) (i32.const 8)))
    (local.set $n (i32.load (i32.const 0)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (drop (call $emit_event (i32.const 16) (i32.const {TOPIC}) (i32.const 100) (i32.load (i32.const 4))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))))""")
"""``run(n: u32 LE, size: u32 LE)`` stores its args under ``k``, then emits ``n`` events of a
64-byte topic and ``size`` data bytes."""


def _wat_string(text: str) -> str:
    return "".join(f"\\{b:02x}" for b in text.encode())


def importing(module: str, name: str) -> bytes:
    """A module that imports function ``module.name`` (no host has it, or not with this type)."""
    return wat(f'(module (import "{_wat_string(module)}" "{_wat_string(name)}" (func (param i64 i64 i64)))'
               ' (memory (export "memory") 1) (func (export "run")))')


def event_gas(n: int, size: int) -> int:
    return 2_000_000 + n * (2_000 + 8 * (TOPIC + size))


class Chains:
    """The producing node (builds and commits blocks) and a replaying one (``apply_block``)."""

    def __init__(self) -> None:
        self.node = Node()
        self.replica = Node()
        deploy_script, self.script = self.node.deploy_tx(SCRIPT)
        deploy_emitter, self.emitter = self.node.deploy_tx(EMITTER)
        block, out = self.node.block([deploy_script, deploy_emitter])
        assert all(r.ok for r in out.receipts), out.receipts
        self.replica.apply(block)


# --- the transactions ------------------------------------------------------------------------

names = st.integers(0, 3000).flatmap(lambda n: st.text(min_size=n, max_size=n))
actions = st.one_of(
    st.tuples(st.just("import"), st.text(max_size=40), names),
    st.tuples(st.just("garbage"), st.binary(max_size=3000)),
    st.tuples(st.just("abort"), st.binary(max_size=600)),
    st.tuples(st.just("trap")),
    st.tuples(st.just("out_of_gas"), st.integers(60_000, 400_000)),
    st.tuples(st.just("overdraw"), st.integers(DEVNET_BALANCE, 2**128 - 1)),
    st.tuples(st.just("transfer"), st.integers(1, 10**6)),
    st.tuples(st.just("no_method"), st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=64)),
    st.tuples(st.just("no_contract"), st.binary(min_size=20, max_size=20)),
    st.tuples(st.just("events"), st.integers(0, 400), st.integers(0, 4096)),
)
FAILING = {"import", "garbage", "abort", "trap", "out_of_gas", "overdraw", "no_method", "no_contract"}


def make_tx(chains: Chains, action: tuple[Any, ...], key: int) -> SignedTx:
    node, kind = chains.node, action[0]
    if kind == "import":
        return node.deploy_tx(importing(action[1], action[2]), key=key, gas=20_000_000)[0]
    if kind == "garbage":
        return node.deploy_tx(action[1], key=key, gas=20_000_000)[0]
    if kind == "abort":
        s = Script()
        s.op("abort", s.data(action[1]), len(action[1]))
        return node.call_tx(chains.script, "run", s.encode(), key=key)
    if kind == "trap":
        s = Script()
        s.op("trap")
        return node.call_tx(chains.script, "run", s.encode(), key=key)
    if kind == "out_of_gas":
        s = Script()
        s.op("loop")
        return node.call_tx(chains.script, "run", s.encode(), key=key, gas=action[1])
    if kind in ("overdraw", "transfer"):
        return node.tx("transfer", [bytes(account(9).address), action[1]], key=key)
    if kind == "no_method":
        return node.call_tx(chains.script, action[1], key=key)
    if kind == "no_contract":
        return node.call_tx(action[1], key=key)
    n, size = action[1], action[2]
    args = n.to_bytes(4, "little") + size.to_bytes(4, "little")
    return node.call_tx(chains.emitter, "run", args, key=key, gas=event_gas(n, size))


def check_block(chains: Chains, txs: list[SignedTx]) -> list[Receipt]:
    """Commit ``txs`` in one block; every stored receipt decodes to exactly what was produced."""
    block, out = chains.node.block(txs)
    store = chains.node.chain.store
    stored = store.load_receipts(block.hash)
    assert stored == list(out.receipts)
    assert tuple(r.encode() for r in stored) == out.receipt_bytes
    for index, tx in enumerate(txs):
        loc = store.tx_location(tx.hash)  # the path of tx.getReceipt
        assert (loc.height, loc.index) == (block.header.height, index)
        assert store.load_receipts(loc.block_hash)[loc.index] == out.receipts[index]
    for data in out.receipt_bytes:
        assert len(data) <= MAX_RECEIPT_BYTES
        assert Receipt.decode(data).encode() == data
    replayed = chains.replica.apply(block)  # apply_block recomputes receipts_root from its own execution
    assert replayed.receipt_bytes == out.receipt_bytes
    return list(out.receipts)


LONG_NAME = ("import", "env", "n" * 2000)
FLOOD = ("events", 300, 4096)  # about 1.3 MB of events


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.tuples(actions, st.integers(0, 3)), min_size=1, max_size=6), min_size=1, max_size=3))
@example([[(LONG_NAME, 0), (("abort", b"\xff" * 600), 1), (FLOOD, 2), (("overdraw", 2**128 - 1), 3)]])
def test_every_receipt_decodes_and_equals_what_was_produced(blocks: list[list[tuple[tuple[Any, ...], int]]]) -> None:
    chains = Chains()
    for plan in blocks:
        txs = [make_tx(chains, action, key) for action, key in plan]
        receipts = check_block(chains, txs)
        for (action, _), r in zip(plan, receipts, strict=True):
            assert len(r.reason) <= MAX_REASON
            if action[0] in FAILING:
                assert not r.ok and r.reason and r.events == (), (action[0], r)
            elif action[0] == "transfer":
                assert r.ok, r
            else:  # events: kept whole, or the whole call fails
                assert r.ok or r.reason.startswith("receipt_too_large: "), r


# --- the two rules, one by one ------------------------------------------------------------------


def test_a_long_failure_message_is_cut_to_max_reason_code_points() -> None:
    chains = Chains()
    name = "é" * 1500 + "🦀" * 500  # 2-byte and 4-byte UTF-8: the cut counts code points
    (r,) = check_block(chains, [make_tx(chains, ("import", "env", name), 0)])
    assert not r.ok and len(r.reason) == MAX_REASON and r.reason.startswith("invalid_module: ")
    at = r.reason.index(name[:10])
    assert r.reason[at:] == name[:MAX_REASON - at]  # the message's first MAX_REASON code points


def test_events_past_the_receipt_cap_fail_the_call_and_undo_its_writes() -> None:
    chains = Chains()
    node = chains.node
    before = node.balance(account(1).address)
    per_event = 2_000 + 8 * (TOPIC + 4096)
    # ~0.9 MiB of events: kept; ~1.1 MiB: the call fails, keeps nothing, and pays its gas
    small, big = 220, 270
    ok_tx = make_tx(chains, ("events", small, 4096), 0)
    big_tx = make_tx(chains, ("events", big, 4096), 1)
    kept, refused = check_block(chains, [ok_tx, big_tx])
    assert kept.ok and len(kept.events) == small and len(kept.encode()) <= MAX_RECEIPT_BYTES
    assert not refused.ok and refused.events == ()
    assert refused.reason.startswith("receipt_too_large: ") and str(MAX_RECEIPT_BYTES) in refused.reason
    assert refused.gas_used >= big * per_event and refused.fee_paid == refused.gas_used  # gas price 1
    assert node.storage(chains.emitter, b"k") == small.to_bytes(4, "little") + (4096).to_bytes(4, "little")
    assert node.balance(account(1).address) == before - refused.fee_paid


def test_a_receipt_over_the_reason_cap_is_neither_built_nor_decoded() -> None:
    # The decoder's side of the rule: what a store written before the rule may hold.
    too_long = "x" * (MAX_REASON + 1)
    with pytest.raises(DecodeError, match="reason"):
        Receipt.decode(encode([1, bytes(32), 1, 1, 1, too_long, []]))
    with pytest.raises(ValueError, match="reason"):
        Receipt(Hash32(bytes(32)), 1, 1, 1, too_long)
    assert Receipt.decode(encode([1, bytes(32), 1, 1, 1, too_long[:-1], []])).reason == too_long[:-1]


def test_zero_transfers_are_malformed() -> None:
    chains = Chains()
    node = chains.node
    zero = node.tx("transfer", [bytes(account(9).address), 0], key=0)
    with pytest.raises(InvalidTransaction, match="amount") as info:
        check_against_account(zero, node.state().get_account(account(0).address), node.app)
    assert info.value.code == ErrorCode.TX_BAD_PAYLOAD
    block, _ = node.chain.build([zero])
    assert block.txs == ()  # a proposer leaves it out
    one = node.tx("transfer", [bytes(account(9).address), 1], key=1)
    assert check_block(chains, [one])[0].ok
