"""The block store: indexes, one batch per block, and refusal of blocks that do not extend the head."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.errors import NotFound, StoreCorrupt
from chain.store import BlockStore
from node.db import LevelDBKV
from tests.chain.helpers import MemChain, account, transfer


class CountingKV:
    """Wraps a real KV and counts batches (observes, does not replace, the store's writes)."""

    def __init__(self, inner: LevelDBKV) -> None:
        self.inner = inner
        self.batches = 0

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def write_batch(self, puts, deletes=frozenset(), *, sync=True):  # type: ignore[no-untyped-def]
        assert sync, "block commits must be synced"
        self.batches += 1
        self.inner.write_batch(puts, deletes, sync=sync)

    def iterate(self, prefix: bytes):  # type: ignore[no-untyped-def]
        return self.inner.iterate(prefix)


def test_one_synced_batch_per_block_on_leveldb(tmp_path: Path) -> None:
    chain = MemChain()
    kv = CountingKV(LevelDBKV(tmp_path / "db"))
    store = BlockStore(kv)  # type: ignore[arg-type]
    g = chain.store.load_block_at(0)
    from genesis.build import build_genesis

    out = build_genesis(chain.genesis)
    store.save_genesis(out.header, out.state, chain.genesis.hash())
    assert store.load_head_header() == g.header
    txs = [transfer(account(0), account(1).address, 3, 0), transfer(account(2), account(3).address, 4, 0)]
    block, bout = chain.build(txs)
    before = kv.batches
    store.save_block(block, bout, chain.sign_commit(block))
    assert kv.batches == before + 1
    assert store.head() == (1, block.hash)
    assert store.load_block_at(1).encode() == block.encode()
    assert store.load_commit(1).block_hash == block.hash
    loc = store.tx_location(txs[1].hash)
    assert (loc.height, loc.index, loc.block_hash) == (1, 1, block.hash)
    assert store.load_receipts(block.hash)[1].tx_hash == txs[1].hash
    assert store.head_state().get_account(account(1).address) == store.state_at(
        block.header.state_root).get_account(account(1).address)
    with pytest.raises(StoreCorrupt):
        store.save_block(block, bout, chain.sign_commit(block))  # height 1 again
    with pytest.raises(NotFound):
        store.tx_location(b"\x00" * 32)
    with pytest.raises(NotFound):
        store.load_block_at(9)
    kv.inner.close()
    reopened = BlockStore(LevelDBKV(tmp_path / "db"))
    assert reopened.check_head().hash() == block.hash


def test_genesis_cannot_be_written_twice() -> None:
    chain = MemChain()
    from genesis.build import build_genesis

    out = build_genesis(chain.genesis)
    with pytest.raises(StoreCorrupt):
        chain.store.save_genesis(out.header, out.state, chain.genesis.hash())


def test_account_key_fast_path_equals_the_general_rule() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from chain.smt import state_key
    from chain.state import account_key

    @given(st.binary(min_size=20, max_size=20))
    def check(addr: bytes) -> None:
        assert account_key(addr) == state_key("acct", addr)

    check()


# --- the event log -------------------------------------------------------------------------------


def test_every_event_of_a_block_is_logged_in_execution_order_in_the_same_batch(tmp_path: Path) -> None:
    from chain.store import EventsUnavailable
    from genesis.build import build_genesis

    chain = MemChain()
    kv = CountingKV(LevelDBKV(tmp_path / "db"))
    store = BlockStore(kv)  # type: ignore[arg-type]
    out = build_genesis(chain.genesis)
    store.save_genesis(out.header, out.state, chain.genesis.hash())
    assert store.load_events(0) == []
    txs = [transfer(account(0), account(1).address, 3, 0), transfer(account(2), account(3).address, 4, 0)]
    block, bout = chain.build(txs)
    before = kv.batches
    store.save_block(block, bout, chain.sign_commit(block))
    assert kv.batches == before + 1  # the log is part of the block's one batch
    logged = store.load_events(1)
    tx_events = [e for r in bout.receipts for e in r.events]
    assert tx_events and [e for e in logged if e.module == "bank"] == tx_events
    # begin-block events, then the transactions' in order, then proofs and end-block events
    begin, end = bout.events[:bout.begin_events], bout.events[bout.begin_events:]
    assert logged == [*begin, *tx_events, *end]
    assert end, "the block pays the fund, an end-block event"
    assert logged.index(tx_events[0]) == len(begin)
    assert dict(tx_events[1].attrs)["to"] == bytes(account(3).address)
    with pytest.raises(EventsUnavailable, match="no block at height 2"):
        store.load_events(2)
    # a height stored before the log existed reads as unavailable, not as "no events"
    kv.inner.write_batch({}, frozenset({b"evt/" + (1).to_bytes(8, "big")}), sync=True)
    with pytest.raises(EventsUnavailable, match="before this node kept an event log"):
        store.load_events(1)
    assert issubclass(EventsUnavailable, NotFound)


def test_the_event_log_round_trips_every_attribute_kind() -> None:
    from chain.module import Event
    from chain.store import decode_events, encode_events

    events = [Event("aicf", "job_assigned", (("task_id", b"\x01" * 32), ("provider", b"\x02" * 20))),
              Event("x", "y", (("n", 2**70), ("s", "text"), ("l", [1, b"\x00"]))), Event("bare", "e")]
    assert decode_events(encode_events(events)) == events
    assert decode_events(encode_events([])) == []
