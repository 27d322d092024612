"""The mempool, without I/O: admission with its exact error codes, the signature cache,
fee-priority reaping under caps, replacement, eviction, the re-check after a commit, the
per-sender cap, the bounded queue for gossip that arrives ahead of its nonce (junk never
enters it), and work per operation that does not grow with a sender's queue (counted in
executed lines, not timed).

Most tests read accounts from a plain dict; the commit tests drive real blocks through
``chain.apply.build_block`` and a ``BlockStore`` on ``MemoryKV``, finalized by a real
``Commit`` signed by the devnet validator.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.apply import apply_block, build_block
from chain.block import Block, Commit, sign_commit_sig
from chain.codec import encode
from chain.errors import ErrorCode, InvalidTransaction
from chain.kv import MemoryKV
from chain.state import Account
from chain.store import BlockStore
from chain.tx import SignedTx, TxBody
from chain.types import Address, PublicKey32, Signature64
from genesis.build import build_genesis, make_application
from genesis.devnet import devnet_account_key, devnet_genesis, devnet_onion, devnet_validator_key
from genesis.schema import Genesis
from node.mempool import Mempool, SignatureCache
from tests.node.helpers import GAS_LIMIT, flip_signature_bit, sign_tx

GENESIS = devnet_genesis(1)
APP = make_application(GENESIS)
PARAMS = APP.params
A, B, C, D = (devnet_account_key(i) for i in range(4))
ONION = devnet_onion(0)
VALIDATOR = devnet_validator_key(0)
RICH = 10**15
NO_CAPS = {"max_txs": 10**6, "max_bytes": 10**9, "max_gas": 10**15}


def pool_over(accounts: dict[bytes, Account], **kwargs: Any) -> Mempool:
    return Mempool(APP, lambda a: accounts.get(bytes(a), Account()), **kwargs)


@pytest.fixture
def accounts() -> dict[bytes, Account]:
    return {bytes(k.address): Account(RICH, 0) for k in (A, B, C, D)}


@pytest.fixture
def pool(accounts: dict[bytes, Account]) -> Mempool:
    return pool_over(accounts)


@pytest.fixture
def pool_factory(accounts: dict[bytes, Account]) -> Callable[..., Mempool]:
    return lambda **kw: pool_over(accounts, **kw)


def rejection(pool: Mempool, tx: SignedTx | bytes, *, queue_future: bool = False) -> InvalidTransaction:
    """Submit ``tx`` expecting a refusal; the pool (pending and queued) must be left exactly as it was."""
    before = (len(pool), pool.size_bytes, pool.future_len, pool.future_bytes)
    with pytest.raises(InvalidTransaction) as info:
        if isinstance(tx, bytes):
            pool.add_raw(tx, queue_future=queue_future)
        else:
            pool.add(tx, queue_future=queue_future)
    assert (len(pool), pool.size_bytes, pool.future_len, pool.future_bytes) == before
    return info.value


# --- admission ------------------------------------------------------------------------


def test_admits_a_valid_transfer(pool: Mempool) -> None:
    tx = sign_tx(A, 0, amount=5)
    assert pool.add_raw(tx.raw) == [tx]
    assert pool.get(tx.hash) == tx
    assert len(pool) == 1 and pool.size_bytes == len(tx.raw)
    assert pool.next_nonce(A.address) == 1
    assert pool.next_nonce(B.address) == 0


def _oversize() -> SignedTx:
    return sign_tx(A, 0, payload=[bytes(PARAMS.max_tx_bytes), 1])


REJECTIONS: dict[str, tuple[Callable[[], SignedTx | bytes], ErrorCode]] = {
    "bad signature": (lambda: flip_signature_bit(sign_tx(A, 0)), ErrorCode.TX_BAD_SIGNATURE),
    "signature by another key": (
        lambda: SignedTx(
            sign_tx(A, 0).body, B.sign(b"cairn/tx-sig/v1", GENESIS.chain_id, sign_tx(A, 0).body.encode())
        ),
        ErrorCode.TX_BAD_SIGNATURE,
    ),
    "sender key is not a curve point": (
        lambda: SignedTx(
            dataclasses.replace(sign_tx(A, 0).body, sender_pubkey=PublicKey32(b"\xff" * 32)),
            Signature64(bytes(64)),
        ),
        ErrorCode.TX_BAD_SIGNATURE,
    ),
    "wrong chain id": (lambda: sign_tx(A, 0, chain_id="other-chain"), ErrorCode.TX_WRONG_CHAIN),
    "nonce too low": (lambda: sign_tx(C, 2), ErrorCode.TX_NONCE_TOO_LOW),
    "nonce gap": (lambda: sign_tx(C, 4), ErrorCode.TX_NONCE_GAP),
    "unfunded sender": (lambda: sign_tx(devnet_account_key(42), 0), ErrorCode.TX_INSUFFICIENT_BALANCE),
    "balance below fee plus amount": (
        lambda: sign_tx(A, 0, amount=RICH - GAS_LIMIT + 1),
        ErrorCode.TX_INSUFFICIENT_BALANCE,
    ),
    "gas price below the minimum": (lambda: sign_tx(A, 0, fee=GAS_LIMIT - 1), ErrorCode.TX_FEE_TOO_LOW),
    "zero fee": (lambda: sign_tx(A, 0, fee=0), ErrorCode.TX_FEE_TOO_LOW),
    "gas limit below intrinsic": (
        lambda: sign_tx(A, 0, gas_limit=PARAMS.tx_base_gas),
        ErrorCode.TX_GAS_LIMIT,
    ),
    "gas limit above the block's": (
        lambda: sign_tx(A, 0, gas_limit=PARAMS.block_gas_limit + 1),
        ErrorCode.TX_GAS_LIMIT,
    ),
    "unknown kind": (lambda: sign_tx(A, 0, kind="mint"), ErrorCode.TX_UNKNOWN_KIND),
    "payload not a pair": (lambda: sign_tx(A, 0, payload=[bytes(20)]), ErrorCode.TX_BAD_PAYLOAD),
    "payload address too short": (lambda: sign_tx(A, 0, payload=[bytes(19), 1]), ErrorCode.TX_BAD_PAYLOAD),
    "payload amount negative": (lambda: sign_tx(A, 0, payload=[bytes(20), -1]), ErrorCode.TX_BAD_PAYLOAD),
    "payload amount above 2^128-1": (
        lambda: sign_tx(A, 0, payload=[bytes(20), 2**128]),
        ErrorCode.TX_BAD_PAYLOAD,
    ),
    "oversize": (_oversize, ErrorCode.TX_TOO_LARGE),
    "not CBOR": (lambda: b"\xff\x00", ErrorCode.DECODE),
    "empty bytes": (lambda: b"", ErrorCode.DECODE),
    "trailing bytes": (lambda: sign_tx(A, 0).raw + b"\x00", ErrorCode.DECODE_TRAILING),
    "unknown version": (
        lambda: encode([2, sign_tx(A, 0).body.encode_value(), bytes(64)]),
        ErrorCode.DECODE_VERSION,
    ),
    "truncated signature": (
        lambda: encode([1, sign_tx(A, 0).body.encode_value(), bytes(63)]),
        ErrorCode.BAD_LENGTH,
    ),
    "non-canonical CBOR": (
        # the same transaction with its nonce as a two-byte integer head instead of one
        lambda: sign_tx(A, 0).raw.replace(b"\x6ccairn-devnet\x00", b"\x6ccairn-devnet\x18\x00", 1),
        ErrorCode.DECODE_NON_CANONICAL,
    ),
}


@pytest.mark.parametrize("case", REJECTIONS)
def test_rejects_with_exact_code(case: str, accounts: dict[bytes, Account]) -> None:
    accounts[bytes(C.address)] = Account(RICH, 3)
    pool = pool_over(accounts)
    build, code = REJECTIONS[case]
    err = rejection(pool, build())
    assert err.code == code, err.message


def test_rejection_details_and_temporariness(accounts: dict[bytes, Account]) -> None:
    accounts[bytes(C.address)] = Account(RICH, 3)
    pool = pool_over(accounts)
    low = rejection(pool, sign_tx(C, 1))
    assert (low.details["expected"], low.details["got"], low.temporary) == (3, 1, False)
    gap = rejection(pool, sign_tx(C, 9))
    assert (gap.details["expected"], gap.details["got"], gap.temporary) == (3, 9, True)
    assert rejection(pool, sign_tx(C, 3, chain_id="elsewhere")).details == {
        "expected": "cairn-devnet",
        "got": "elsewhere",
    }
    assert not rejection(pool, flip_signature_bit(sign_tx(C, 3))).temporary


def test_oversize_raw_bytes_are_refused_before_decoding(pool: Mempool) -> None:
    # Through ``add_raw`` the strict decoder's size cap fires first.  Either code names the
    # size; both are permanent.
    err = rejection(pool, _oversize().raw)
    assert err.code in (ErrorCode.TX_TOO_LARGE, ErrorCode.DECODE_OVERSIZE)
    assert not err.temporary


def test_duplicate(pool: Mempool) -> None:
    tx = sign_tx(A, 0)
    pool.add(tx)
    err = rejection(pool, tx.raw)
    assert err.code == ErrorCode.TX_DUPLICATE and err.temporary


def test_a_nonce_queue_grows_one_at_a_time(pool: Mempool) -> None:
    for n in range(4):
        pool.add(sign_tx(A, n))
    assert pool.next_nonce(A.address) == 4
    assert rejection(pool, sign_tx(A, 5)).code == ErrorCode.TX_NONCE_GAP
    pool.add(sign_tx(A, 4))
    assert len(pool) == 5


def test_balance_covers_the_sum_over_pending_txs(accounts: dict[bytes, Account]) -> None:
    per_tx = GAS_LIMIT + 30_000
    accounts[bytes(D.address)] = Account(3 * per_tx, 0)
    pool = pool_over(accounts)
    pool.add(sign_tx(D, 0, amount=30_000))
    pool.add(sign_tx(D, 1, amount=30_000))
    # alone this one is affordable; behind the two pending ones it is one unit short
    err = rejection(pool, sign_tx(D, 2, amount=30_001))
    assert err.code == ErrorCode.TX_INSUFFICIENT_BALANCE and err.temporary
    pool.add(sign_tx(D, 2, amount=30_000))  # exactly the balance
    assert len(pool) == 3
    # nothing is left for a fourth, not even its fee
    assert rejection(pool, sign_tx(D, 3, amount=1)).code == ErrorCode.TX_INSUFFICIENT_BALANCE
    # another sender is not affected by D's pending spends
    pool.add(sign_tx(A, 0))


# --- the signature cache ----------------------------------------------------------------


def test_signature_is_verified_once_and_remembered(accounts: dict[bytes, Account]) -> None:
    first = pool_over(accounts)
    tx = sign_tx(A, 0)
    assert tx.hash not in first.sig_cache
    first.add(tx)
    assert tx.hash in first.sig_cache

    # A second pool sharing the cache admits the transaction on the cache's word.  To show
    # that it does not verify again, plant the hash of a transaction whose signature is
    # broken: the pool trusts the cache and admits it.
    shared = pool_over(accounts, sig_cache=first.sig_cache)
    shared.add(tx)
    broken = SignedTx.decode(flip_signature_bit(sign_tx(B, 0)))
    assert not broken.verify_signature()
    assert rejection(shared, broken).code == ErrorCode.TX_BAD_SIGNATURE
    first.sig_cache.add(broken.hash)
    shared.add(broken)
    assert shared.get(broken.hash) == broken


def test_failed_signatures_are_not_cached_but_stateful_failures_are(pool: Mempool) -> None:
    bad = flip_signature_bit(sign_tx(A, 0))
    rejection(pool, bad)
    assert SignedTx.decode(bad).hash not in pool.sig_cache
    early = sign_tx(A, 1)  # a valid signature, refused for its nonce gap
    assert rejection(pool, early).code == ErrorCode.TX_NONCE_GAP
    assert early.hash in pool.sig_cache


def test_signature_cache_is_bounded_oldest_first() -> None:
    cache = SignatureCache(capacity=2)
    for h in (b"a" * 32, b"b" * 32, b"c" * 32):
        cache.add(h)
    assert b"a" * 32 not in cache
    assert b"b" * 32 in cache and b"c" * 32 in cache
    cache.add(b"b" * 32)  # refreshed: now c is the oldest
    cache.add(b"d" * 32)
    assert b"c" * 32 not in cache and b"b" * 32 in cache


# --- reaping ---------------------------------------------------------------------------


@pytest.fixture
def priced(pool: Mempool) -> dict[str, SignedTx]:
    """A0 bids 5 then A1 50; B0 bids 10 then B1 2; C0 bids 3."""
    txs = {
        "A0": sign_tx(A, 0, price=5),
        "B0": sign_tx(B, 0, price=10),
        "C0": sign_tx(C, 0, price=3),
        "A1": sign_tx(A, 1, price=50, gas_limit=100_000),
        "B1": sign_tx(B, 1, price=2),
    }
    for tx in txs.values():
        pool.add(tx)
    return txs


def names(out: list[SignedTx], txs: dict[str, SignedTx]) -> list[str]:
    by_hash = {tx.hash: name for name, tx in txs.items()}
    return [by_hash[t.hash] for t in out]


def test_reap_orders_by_price_across_senders_and_by_nonce_within(
    pool: Mempool, priced: dict[str, SignedTx]
) -> None:
    # A1 bids the most but waits for A0; B1 bids the least and comes last.
    assert names(pool.reap(**NO_CAPS), priced) == ["B0", "A0", "A1", "C0", "B1"]
    assert len(pool) == 5  # reaping does not remove


def test_reap_count_cap(pool: Mempool, priced: dict[str, SignedTx]) -> None:
    assert names(pool.reap(max_txs=2, max_bytes=10**9, max_gas=10**15), priced) == ["B0", "A0"]
    assert pool.reap(max_txs=0, max_bytes=10**9, max_gas=10**15) == []


def test_reap_gas_cap_skips_a_sender_whose_next_tx_does_not_fit(
    pool: Mempool, priced: dict[str, SignedTx]
) -> None:
    # A1 (100_000 gas) does not fit after B0 and A0, so A stops there; C0 still fits, B1 not.
    out = pool.reap(max_txs=100, max_bytes=10**9, max_gas=3 * GAS_LIMIT + 1)
    assert names(out, priced) == ["B0", "A0", "C0"]
    assert sum(t.body.gas_limit for t in out) <= 3 * GAS_LIMIT + 1



def test_reap_lets_one_transaction_over_the_budget_go_first_and_alone(
    pool: Mempool, priced: dict[str, SignedTx]
) -> None:
    # B0 (the best bid, 20_000 gas) is over a 10_000 budget: without lone_gas nothing fits; with
    # it, B0 goes first, and the rest must fit the budget (none does).
    assert pool.reap(max_txs=100, max_bytes=10**9, max_gas=GAS_LIMIT // 2) == []
    out = pool.reap(max_txs=100, max_bytes=10**9, max_gas=GAS_LIMIT // 2, lone_gas=GAS_LIMIT)
    assert names(out, priced) == ["B0"]

def test_reap_byte_cap(pool: Mempool, priced: dict[str, SignedTx]) -> None:
    cap = len(priced["B0"].raw) + len(priced["A0"].raw) + len(priced["A1"].raw)
    out = pool.reap(max_txs=100, max_bytes=cap, max_gas=10**15)
    assert names(out, priced) == ["B0", "A0", "A1"]
    out = pool.reap(max_txs=100, max_bytes=cap - 1, max_gas=10**15)
    assert sum(len(t.raw) for t in out) <= cap - 1
    assert names(out, priced)[:2] == ["B0", "A0"] and "A1" not in names(out, priced)


def test_reap_starts_each_sender_at_its_account_nonce(accounts: dict[bytes, Account]) -> None:
    accounts[bytes(A.address)] = Account(RICH, 7)
    pool = pool_over(accounts)
    txs = [sign_tx(A, n, price=1 + n) for n in range(7, 10)]
    for tx in txs:
        pool.add(tx)
    assert [t.body.nonce for t in pool.reap(**NO_CAPS)] == [7, 8, 9]


# --- replacement ------------------------------------------------------------------------


def test_replacement_needs_ten_percent_more(pool: Mempool) -> None:
    old = sign_tx(A, 0, price=10)
    pool.add(old)
    pool.add(sign_tx(A, 1, price=10))
    for price, amount in ((10, 2), (9, 3)):
        err = rejection(pool, sign_tx(A, 0, price=price, amount=amount))
        assert err.code == ErrorCode.TX_REPLACEMENT_UNDERPRICED and err.temporary
    new = sign_tx(A, 0, price=11, amount=2)
    pool.add(new)
    assert pool.get(old.hash) is None and pool.get(new.hash) == new
    assert len(pool) == 2
    assert pool.size_bytes == len(new.raw) + len(sign_tx(A, 1, price=10).raw)
    assert [t.hash for t in pool.reap(**NO_CAPS)][0] == new.hash
    # the nonce queue is unchanged by a replacement
    assert pool.next_nonce(A.address) == 2


def test_replacement_rechecks_the_balance_without_the_replaced_tx(accounts: dict[bytes, Account]) -> None:
    accounts[bytes(D.address)] = Account(GAS_LIMIT * 20 + 100, 0)
    pool = pool_over(accounts)
    pool.add(sign_tx(D, 0, price=10))  # costs 10 * GAS_LIMIT + 1
    pool.add(sign_tx(D, 0, price=11, amount=1))  # replaces: 11 * GAS_LIMIT + 1
    err = rejection(pool, sign_tx(D, 0, price=30))
    assert err.code == ErrorCode.TX_INSUFFICIENT_BALANCE


# --- a full pool --------------------------------------------------------------------------


def test_full_pool_evicts_the_cheapest_tail_for_a_better_bid(pool_factory: Callable[..., Mempool]) -> None:
    pool = pool_factory(max_txs=3)
    a0, b0, b1 = sign_tx(A, 0, price=1), sign_tx(B, 0, price=9), sign_tx(B, 1, price=2)
    for tx in (a0, b0, b1):
        pool.add(tx)
    c0 = sign_tx(C, 0, price=3)
    pool.add(c0)  # tails: A0 at 1, B1 at 2 -> A0 goes
    assert pool.get(a0.hash) is None and pool.get(c0.hash) is not None and len(pool) == 3
    d0 = sign_tx(D, 0, price=3)
    pool.add(d0)  # tails: B1 at 2, C0 at 3 -> B1 goes, B0 (a head) stays
    assert pool.get(b1.hash) is None and pool.get(b0.hash) is not None
    assert pool.next_nonce(B.address) == 1  # the queue has no hole
    # now every tail bids at least 3: an equal bid does not get in
    err = rejection(pool, sign_tx(A, 0, price=3))
    assert err.code == ErrorCode.MEMPOOL_FULL and err.temporary
    assert len(pool) == 3 and pool.size_bytes == sum(len(t.raw) for t in (b0, c0, d0))


def test_full_pool_never_evicts_the_newcomers_own_txs(pool_factory: Callable[..., Mempool]) -> None:
    pool = pool_factory(max_txs=2)
    pool.add(sign_tx(A, 0, price=1))
    pool.add(sign_tx(A, 1, price=1))
    assert rejection(pool, sign_tx(A, 2, price=100)).code == ErrorCode.MEMPOOL_FULL


def test_full_pool_by_bytes(pool_factory: Callable[..., Mempool]) -> None:
    a0, b0 = sign_tx(A, 0, price=1), sign_tx(B, 0, price=2)
    pool = pool_factory(max_bytes=len(a0.raw) + len(b0.raw))
    pool.add(a0)
    pool.add(b0)
    c0 = sign_tx(C, 0, price=2)
    assert len(c0.raw) <= len(a0.raw)
    pool.add(c0)
    assert pool.get(a0.hash) is None and pool.size_bytes <= len(a0.raw) + len(b0.raw)
    assert rejection(pool, sign_tx(D, 0, price=2)).code == ErrorCode.MEMPOOL_FULL


def test_a_refused_newcomer_evicts_nothing(pool_factory: Callable[..., Mempool]) -> None:
    # The newcomer is larger than the cheapest tail, so entering needs two evictions; the
    # second tail bids more than the newcomer, so it is refused.  The first tail must
    # still be in the pool: a refused transaction may not cost another one its place.
    a0, b0 = sign_tx(A, 0, price=1), sign_tx(B, 0, price=3)
    c0 = sign_tx(C, 0, price=2, amount=2**40)
    assert len(c0.raw) > len(a0.raw)
    pool = pool_factory(max_bytes=len(a0.raw) + len(b0.raw))
    pool.add(a0)
    pool.add(b0)
    assert rejection(pool, c0).code == ErrorCode.MEMPOOL_FULL
    assert pool.get(a0.hash) is not None, "a refused newcomer evicted A0"


def test_a_replacement_respects_the_byte_cap(pool_factory: Callable[..., Mempool]) -> None:
    # fee 3 * 20_000 encodes in 3 bytes, 4 * 20_000 in 5: the replacement is 2 bytes larger
    old, new = sign_tx(A, 0, price=3), sign_tx(A, 0, price=4)
    assert len(new.raw) > len(old.raw)
    pool = pool_factory(max_bytes=len(old.raw))
    pool.add(old)
    try:
        pool.add(new)
    except InvalidTransaction as exc:
        assert exc.code == ErrorCode.MEMPOOL_FULL
    assert pool.size_bytes <= len(old.raw), "a replacement took the pool over its byte cap"


# --- after a commit ------------------------------------------------------------------------


class Chain:
    """A chain on ``MemoryKV`` that commits blocks the way the node does."""

    def __init__(self, genesis: Genesis) -> None:
        self.genesis = genesis
        self.app = make_application(genesis)
        self.store = BlockStore(MemoryKV())
        out = build_genesis(genesis)
        self.store.save_genesis(out.header, out.state, genesis.hash())

    def account(self, address: Address) -> Account:
        return self.store.head_state().get_account(address)

    def commit(self, txs: list[SignedTx], verified: SignatureCache | None = None) -> Block:
        parent = self.store.load_head_header()
        last = self.store.load_commit(parent.height) if parent.height else None
        block, out = build_block(
            self.store.head_state(),
            parent,
            self.app,
            txs=[t.raw for t in txs],
            now_ms=parent.time_ms + 1_000,
            proposer=VALIDATOR.address,
            onion=ONION,
            last_commit=last,
            verified=verified if verified is not None else frozenset(),
        )
        assert len(block.txs) == len(txs), "the test meant every transaction to be valid"
        # the block is what an honest validator would accept on the same parent
        again = apply_block(self.store.head_state(), parent, block, self.app)
        assert again.state_root == block.header.state_root
        h = block.header
        sig = sign_commit_sig(VALIDATOR, self.app.chain_id, h.height, 0, block.hash, h.time_ms + 1_000)
        self.store.save_block(block, out, Commit(h.height, 0, block.hash, (sig,)))
        return block


def test_update_drops_included_and_stale_txs_and_rechecks_balances() -> None:
    per_tx = GAS_LIMIT + 30_000
    genesis = dataclasses.replace(
        GENESIS,
        initial_balances=tuple(sorted([(A.address, RICH), (B.address, RICH), (D.address, 2 * per_tx)])),
    )
    chain = Chain(genesis)
    pool = Mempool(chain.app, chain.account)
    a = [sign_tx(A, n) for n in range(3)]
    b0 = sign_tx(B, 0, amount=5)
    d = [sign_tx(D, n, amount=30_000) for n in range(2)]
    for tx in (*a, b0, *d):
        pool.add(tx)
    assert len(pool) == 6

    # The block carries A0 and A1 from the pool, and for B and D other transactions with
    # nonce 0 (sent elsewhere); D's spends its balance down so D1 can no longer pay.
    b0_other = sign_tx(B, 0, amount=6)
    d0_other = sign_tx(D, 0, amount=70_000)
    chain.commit([a[0], a[1], b0_other, d0_other])
    assert chain.account(D.address).balance < per_tx
    pool.update()

    assert [pool.get(t.hash) is not None for t in (*a, b0, *d)] == [False, False, True, False, False, False]
    assert len(pool) == 1 and pool.size_bytes == len(a[2].raw)
    assert pool.next_nonce(A.address) == 3 and pool.next_nonce(D.address) == 1
    assert [t.hash for t in pool.reap(**NO_CAPS)] == [a[2].hash]

    # a second block (carrying the first one's commit) empties the pool
    block = chain.commit(pool.reap(**NO_CAPS), verified=pool.sig_cache)
    assert block.last_commit is not None and block.header.height == 2
    pool.update()
    assert len(pool) == 0 and pool.size_bytes == 0
    assert chain.account(A.address).nonce == 3


def test_update_keeps_pending_txs_that_still_fit() -> None:
    chain = Chain(GENESIS)
    pool = Mempool(chain.app, chain.account)
    txs = [sign_tx(A, n) for n in range(4)]
    for tx in txs:
        pool.add(tx)
    chain.commit(txs[:1])
    pool.update()
    assert len(pool) == 3
    assert [t.body.nonce for t in pool.reap(**NO_CAPS)] == [1, 2, 3]
    pool.add(sign_tx(A, 4))
    assert rejection(pool, sign_tx(A, 0, amount=9)).code == ErrorCode.TX_NONCE_TOO_LOW


def test_update_leaves_no_transaction_behind_a_dropped_one() -> None:
    # D's pending D1 becomes unaffordable after D spends elsewhere; D2 (cheap) would still
    # fit the balance but can never run before a nonce-1 transaction.  Every transaction
    # left in the pool must be ready to reap.
    genesis = dataclasses.replace(GENESIS, initial_balances=((D.address, 200_000),))
    chain = Chain(genesis)
    pool = Mempool(chain.app, chain.account)
    d1, d2 = sign_tx(D, 1, amount=60_000), sign_tx(D, 2, amount=1)
    for tx in (sign_tx(D, 0, amount=1), d1, d2):
        pool.add(tx)
    chain.commit([sign_tx(D, 0, amount=120_000)])
    balance = chain.account(D.address).balance
    assert d2.body.fee <= balance < d1.body.fee + 60_000
    pool.update()
    assert pool.get(d1.hash) is None
    assert len(pool.reap(**NO_CAPS)) == len(pool), "update() left a transaction stuck behind a nonce gap"


# --- property: reap keeps each sender's nonce order ---------------------------------------

SENDERS = (A, B, C)
ops = st.lists(
    st.tuples(
        st.integers(0, len(SENDERS) - 1),  # sender
        st.integers(-2, 2),  # nonce relative to the sender's next one (replacements, gaps, stale)
        st.integers(1, 6),  # gas price
        st.sampled_from([0, 1, 20_000, 60_000]),  # amount
    ),
    max_size=24,
)


@given(
    start=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    balance=st.lists(st.integers(0, 300_000), min_size=3, max_size=3),
    ops=ops,
    max_txs=st.integers(1, 12),
    max_bytes=st.integers(150, 2_500),
    caps=st.tuples(st.integers(0, 16), st.integers(0, 4_000), st.integers(0, 400_000)),
)
def test_reap_keeps_each_senders_nonces_consecutive_from_its_account_nonce(
    start: list[int],
    balance: list[int],
    ops: list[tuple[int, int, int, int]],
    max_txs: int,
    max_bytes: int,
    caps: tuple[int, int, int],
) -> None:
    accounts = {bytes(k.address): Account(balance[i], start[i]) for i, k in enumerate(SENDERS)}
    pool = pool_over(accounts, max_txs=max_txs, max_bytes=max_bytes)
    for s, offset, price, amount in ops:
        key = SENDERS[s]
        try:
            pool.add(sign_tx(key, max(0, pool.next_nonce(key.address) + offset), price=price, amount=amount))
        except InvalidTransaction:
            pass
    assert len(pool) <= max_txs and pool.size_bytes <= max_bytes

    everything = pool.reap(**NO_CAPS)
    # with no caps every pending transaction is ready: the pool never holds a gap
    assert len(everything) == len(pool) and all(pool.get(t.hash) == t for t in everything)
    assert pool.size_bytes == sum(len(t.raw) for t in everything)
    for i, k in enumerate(SENDERS):
        spent = sum(t.body.fee + t.body.payload[1] for t in everything if t.sender == k.address)
        assert spent <= balance[i]
    # and each pick bids at least as much as every other sender's next transaction
    for i, tx in enumerate(everything):
        for later in {t.sender: t for t in reversed(everything[i + 1 :])}.values():
            if later.sender != tx.sender:
                assert tx.body.gas_price >= later.body.gas_price

    n, nbytes, gas = caps
    capped = pool.reap(max_txs=n, max_bytes=nbytes, max_gas=gas)
    assert len(capped) <= n and sum(len(t.raw) for t in capped) <= nbytes
    assert sum(t.body.gas_limit for t in capped) <= gas
    for out in (everything, capped):
        for i, k in enumerate(SENDERS):
            nonces = [t.body.nonce for t in out if t.sender == k.address]
            assert nonces == list(range(start[i], start[i] + len(nonces)))


def test_non_canonical_fixture_really_is_the_same_tx_re_encoded() -> None:
    # guards the "non-canonical CBOR" case above: the bytes decode (leniently) to the same value
    tx = sign_tx(A, 0)
    bent = REJECTIONS["non-canonical CBOR"][0]()
    assert isinstance(bent, bytes) and bent != tx.raw
    assert cbor2.loads(bent) == cbor2.loads(tx.raw)


# --- queued ("future") transactions: gossip that arrives ahead of its nonce -----------------

UNFUNDED = devnet_account_key(42)
BIG = 60_000  # payload bytes of a large transaction
BIG_GAS = PARAMS.tx_base_gas + PARAMS.tx_byte_gas * (BIG + 400)


def queue(pool: Mempool, tx: SignedTx) -> None:
    """Gossip ``tx`` in ahead of its nonce: it must be held, not admitted."""
    before = (len(pool), pool.future_len, pool.future_bytes)
    assert pool.add(tx, queue_future=True) == []
    assert pool.get(tx.hash) is None and len(pool) == before[0]
    assert (pool.future_len, pool.future_bytes) == (before[1] + 1, before[2] + len(tx.raw))


def test_a_queued_tx_is_promoted_when_the_gap_closes(pool: Mempool) -> None:
    a0, a1, a2, a3 = (sign_tx(A, n) for n in range(4))
    queue(pool, a2)
    queue(pool, a1)
    assert pool.next_nonce(A.address) == 0  # queued nonces are not pending ones
    assert rejection(pool, a2, queue_future=True).code == ErrorCode.TX_DUPLICATE
    assert rejection(pool, a1).code == ErrorCode.TX_DUPLICATE
    # the missing one arrives: it and the queued ones behind it enter, in nonce order
    assert pool.add(a0) == [a0, a1, a2]
    assert (len(pool), pool.future_len, pool.future_bytes) == (3, 0, 0)
    assert [t.body.nonce for t in pool.reap(**NO_CAPS)] == [0, 1, 2]
    assert pool.add_raw(a3.raw, queue_future=True) == [a3]  # next in line: admitted, not queued


def test_without_queue_future_a_gap_is_refused_as_before(pool: Mempool) -> None:
    err = rejection(pool, sign_tx(A, 1))
    assert (err.code, err.details, err.temporary) == (ErrorCode.TX_NONCE_GAP, {"expected": 0, "got": 1}, True)


def test_a_gap_beyond_max_future_gap_is_refused(pool_factory: Callable[..., Mempool]) -> None:
    pool = pool_factory(max_future_gap=2)
    pool.add(sign_tx(A, 0))
    queue(pool, sign_tx(A, 3))  # next is 1: two missing
    err = rejection(pool, sign_tx(A, 4), queue_future=True)
    assert (err.code, err.details) == (ErrorCode.TX_NONCE_GAP, {"expected": 1, "got": 4})


GAPPED_JUNK: dict[str, tuple[Callable[[], SignedTx], ErrorCode]] = {
    # the red team's case: an unfunded key, a kind nobody knows, 60 KB, far ahead of its nonce
    "unfunded key, unknown kind, large": (
        lambda: sign_tx(UNFUNDED, 5, kind="junk", payload=[bytes(BIG)], gas_limit=BIG_GAS),
        ErrorCode.TX_UNKNOWN_KIND,
    ),
    "unfunded key, large bad payload": (
        lambda: sign_tx(UNFUNDED, 5, payload=[bytes(BIG)], gas_limit=BIG_GAS),
        ErrorCode.TX_BAD_PAYLOAD,
    ),
    "unfunded key, valid transfer": (lambda: sign_tx(UNFUNDED, 5), ErrorCode.TX_INSUFFICIENT_BALANCE),
    "unknown kind": (lambda: sign_tx(A, 3, kind="mint"), ErrorCode.TX_UNKNOWN_KIND),
    "bad payload": (lambda: sign_tx(A, 3, payload=[bytes(19), 1]), ErrorCode.TX_BAD_PAYLOAD),
    "bad signature": (lambda: SignedTx.decode(flip_signature_bit(sign_tx(A, 3))), ErrorCode.TX_BAD_SIGNATURE),
    "wrong chain": (lambda: sign_tx(A, 3, chain_id="other-chain"), ErrorCode.TX_WRONG_CHAIN),
    "gas price below the minimum": (lambda: sign_tx(A, 3, fee=GAS_LIMIT - 1), ErrorCode.TX_FEE_TOO_LOW),
    "gas limit below intrinsic": (
        lambda: sign_tx(A, 3, gas_limit=PARAMS.tx_base_gas),
        ErrorCode.TX_GAS_LIMIT,
    ),
    "oversize": (lambda: sign_tx(A, 3, payload=[bytes(PARAMS.max_tx_bytes), 1]), ErrorCode.TX_TOO_LARGE),
    "amount above the balance": (lambda: sign_tx(A, 3, amount=RICH), ErrorCode.TX_INSUFFICIENT_BALANCE),
}


@pytest.mark.parametrize("case", GAPPED_JUNK)
def test_junk_ahead_of_its_nonce_is_refused_before_it_is_queued(case: str, pool: Mempool) -> None:
    build, code = GAPPED_JUNK[case]
    tx = build()
    assert tx.body.nonce > pool.next_nonce(tx.sender)  # it would be queued if it were valid
    err = rejection(pool, tx, queue_future=True)  # nothing held, pending or queued
    assert err.code == code, err.message


def test_the_balance_of_a_queued_tx_counts_pending_and_queued_ones(accounts: dict[bytes, Account]) -> None:
    per_tx = GAS_LIMIT + 30_000
    accounts[bytes(D.address)] = Account(3 * per_tx, 0)
    pool = pool_over(accounts)
    pool.add(sign_tx(D, 0, amount=30_000))
    queue(pool, sign_tx(D, 2, amount=30_000))
    # alone it is affordable; behind the pending D0 and the queued D2 it is one unit short
    err = rejection(pool, sign_tx(D, 3, amount=30_001), queue_future=True)
    assert err.code == ErrorCode.TX_INSUFFICIENT_BALANCE and err.temporary
    queue(pool, sign_tx(D, 3, amount=30_000))  # exactly the balance
    err = rejection(pool, sign_tx(D, 4, amount=1), queue_future=True)
    assert err.code == ErrorCode.TX_INSUFFICIENT_BALANCE


def test_a_queued_tx_that_no_longer_fits_is_dropped_at_promotion(accounts: dict[bytes, Account]) -> None:
    per_tx = GAS_LIMIT + 30_000
    accounts[bytes(D.address)] = Account(2 * per_tx, 0)
    pool = pool_over(accounts)
    d2 = sign_tx(D, 2, amount=1)
    queue(pool, d2)  # fits the balance on its own
    d0, d1 = sign_tx(D, 0, amount=30_000), sign_tx(D, 1, amount=30_000)
    assert pool.add(d0) == [d0]
    assert pool.add(d1) == [d1]  # D2 was next; re-checked behind D0 and D1 it cannot pay: dropped
    assert pool.get(d2.hash) is None and (pool.future_len, pool.future_bytes) == (0, 0)
    assert pool.next_nonce(D.address) == 2


def test_update_promotes_queued_txs_and_drops_stale_ones(accounts: dict[bytes, Account]) -> None:
    pool = pool_over(accounts)
    a2, a3, a5, a6 = (sign_tx(A, n) for n in (2, 3, 5, 6))
    for tx in (a2, a3, a5, a6):
        queue(pool, tx)
    assert pool.update() == []  # nothing moved
    # A's nonces 0..2 were used by transactions that came another way
    accounts[bytes(A.address)] = Account(RICH, 3)
    promoted = pool.update()
    assert promoted == [a3]  # A2 is stale and dropped, A3 is next, A5 still waits for A4
    assert pool.get(a3.hash) == a3 and pool.get(a2.hash) is None
    assert (pool.future_len, pool.future_bytes) == (2, len(a5.raw) + len(a6.raw))
    a4 = sign_tx(A, 4)
    assert pool.add(a4) == [a4, a5, a6]
    assert pool.future_len == 0


def test_queued_txs_expire_after_future_ttl_commits(pool_factory: Callable[..., Mempool]) -> None:
    pool = pool_factory(future_ttl_commits=3)
    b1 = sign_tx(B, 1, price=1)
    queue(pool, sign_tx(A, 1))
    pool.update()
    queue(pool, b1)  # queued one commit later
    pool.update()
    b1_again = sign_tx(B, 1, price=2)  # replaces B1 two commits after A1 was queued
    assert pool.add(b1_again, queue_future=True) == [] and pool.future_len == 2
    assert pool.update() == []  # A1 is three commits old: dropped
    assert (pool.future_len, pool.future_bytes) == (1, len(b1_again.raw))
    pool.update()  # B1's replacement kept B1's age: three commits, dropped too
    assert (pool.future_len, pool.future_bytes) == (0, 0)
    b0 = sign_tx(B, 0)
    assert pool.add(b0) == [b0]  # nothing left to promote


def test_a_queued_tx_can_be_replaced_only_with_a_higher_bid(pool: Mempool) -> None:
    old = sign_tx(A, 1, price=10)
    queue(pool, old)
    assert rejection(pool, sign_tx(A, 1, price=10, amount=2), queue_future=True).code == (
        ErrorCode.TX_REPLACEMENT_UNDERPRICED
    )
    new = sign_tx(A, 1, price=11, amount=2)
    assert pool.add(new, queue_future=True) == []
    assert (pool.future_len, pool.future_bytes) == (1, len(new.raw))
    a0 = sign_tx(A, 0)
    assert pool.add(a0) == [a0, new]


def test_the_queue_caps(pool_factory: Callable[..., Mempool]) -> None:
    a1, a2, a3 = (sign_tx(A, n) for n in (1, 2, 3))
    pool = pool_factory(max_future_per_sender=2, max_future_txs=3)
    queue(pool, a1)
    queue(pool, a2)
    err = rejection(pool, a3, queue_future=True)
    assert (err.code, err.details["limit"], err.temporary) == (ErrorCode.MEMPOOL_FULL, "future_sender", True)
    queue(pool, sign_tx(B, 1))
    err = rejection(pool, sign_tx(C, 1), queue_future=True)
    assert (err.code, err.details["limit"], err.temporary) == (ErrorCode.MEMPOOL_FULL, "future_txs", True)
    # bytes: room for exactly two
    pool = pool_factory(max_future_bytes=len(a1.raw) + len(a2.raw))
    queue(pool, a1)
    queue(pool, a2)
    err = rejection(pool, sign_tx(B, 1), queue_future=True)
    assert (err.code, err.details["limit"]) == (ErrorCode.MEMPOOL_FULL, "future_bytes")
    assert pool.future_bytes <= pool.max_future_bytes


def test_a_pending_tx_supersedes_a_queued_one_at_its_nonce(accounts: dict[bytes, Account]) -> None:
    pool = pool_over(accounts)
    queued = sign_tx(A, 2, amount=7)
    queue(pool, queued)
    pool.add(sign_tx(A, 0))
    accounts[bytes(A.address)] = Account(RICH, 2)  # A0 and another A1 were committed elsewhere
    other = sign_tx(A, 2, amount=8)  # admitted before update(): it takes nonce 2
    assert pool.add(other) == [other]
    assert pool.future_len == 0 and pool.get(queued.hash) is None
    assert [t.hash for t in pool.reap(**NO_CAPS)] == [other.hash]


# --- per-sender cap -------------------------------------------------------------------------------


def test_a_sender_holds_at_most_max_txs_per_sender(accounts: dict[bytes, Account]) -> None:
    pool = pool_over(accounts, max_txs_per_sender=3)
    for n in range(3):
        pool.add(sign_tx(A, n))
    err = rejection(pool, sign_tx(A, 3))
    assert (err.code, err.temporary) == (ErrorCode.MEMPOOL_FULL, True)
    assert err.details == {"limit": "sender", "cap": 3}
    pool.add(sign_tx(A, 1, price=2))  # a replacement adds nothing
    pool.add(sign_tx(B, 0))  # other senders are not affected
    # queued transactions count too
    pool.add(sign_tx(B, 1))
    queue(pool, sign_tx(B, 3))
    err = rejection(pool, sign_tx(B, 4), queue_future=True)
    assert (err.code, err.details["limit"]) == (ErrorCode.MEMPOOL_FULL, "sender")
    # after a commit that includes A0 there is room again
    accounts[bytes(A.address)] = Account(RICH, 1)
    pool.update()
    pool.add(sign_tx(A, 3))
    assert pool.next_nonce(A.address) == 4


# --- work per admission does not grow with the sender's queue (finding 9) -----------------------


def unsigned(nonce: int, *, price: int = 1, key: Any = A) -> SignedTx:
    """A transfer with an all-zero signature; the test plants its hash in the pool's signature cache."""
    body = TxBody(GENESIS.chain_id, nonce, key.public_key, GAS_LIMIT * price, GAS_LIMIT, "transfer",
                  [bytes(D.address), 1])
    return SignedTx(body, Signature64(bytes(64)))


def lines_run_in_the_mempool(action: Callable[[], object]) -> int:
    """How many lines of node/mempool.py ``action`` executes (a deterministic measure of work)."""
    target = inspect.getfile(Mempool)
    count = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename == target else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        action()
    finally:
        sys.settrace(previous)
    return count


def work_at_depth(depth: int) -> dict[str, int]:
    """Lines executed by each mempool operation with ``depth`` transactions of A pending."""
    accounts = {bytes(A.address): Account(RICH, 0), bytes(B.address): Account(RICH, 0)}
    pool = pool_over(accounts, max_txs_per_sender=depth + 10)
    txs = {n: unsigned(n) for n in range(depth + 2)}
    later = {"replace": unsigned(depth // 2, price=2), "b0": unsigned(0, price=5, key=B)}
    for tx in (*txs.values(), *later.values()):
        pool.sig_cache.add(tx.hash)
    for n in range(depth):
        pool.add(txs[n])
    assert len(pool) == depth

    def commit_100() -> None:
        accounts[bytes(A.address)] = Account(RICH, 100)
        pool.update()

    def full_pool_evicts() -> None:
        pool.max_txs = len(pool)
        pool.add(later["b0"])  # outbids A's tail, which is evicted

    steps: dict[str, Callable[[], object]] = {
        "admit at the tail": lambda: pool.add(txs[depth]),
        "next_nonce": lambda: pool.next_nonce(A.address),
        "replace in the middle": lambda: pool.add(later["replace"]),
        "reap 100": lambda: pool.reap(max_txs=100, max_bytes=10**9, max_gas=10**15),
        "update after 100 are included": commit_100,
        "admit after the commit": lambda: pool.add(txs[depth + 1]),
        "evict from a full pool": full_pool_evicts,
    }
    work = {name: lines_run_in_the_mempool(step) for name, step in steps.items()}
    assert len(pool) == depth - 100 + 2 and pool.get(txs[depth + 1].hash) is None  # evicted
    return work


def test_work_per_operation_does_not_grow_with_the_senders_queue() -> None:
    # The red team's case: one funded account with 30,000 pending transactions made every
    # admission (and next_nonce, reap, update) walk the whole queue.
    # On that code each count here grew with the depth (admission ~3 lines per pending tx);
    # now they are equal up to the tail heap's amortized clean-up (a few lines, sometimes).
    shallow, deep = work_at_depth(1_000), work_at_depth(30_000)
    assert all(n > 0 for n in shallow.values())
    assert all(abs(deep[step] - shallow[step]) <= 16 for step in shallow), (shallow, deep)


# --- property: pending and queued transactions stay consistent through commits -------------------

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("tx"),
            st.integers(0, len(SENDERS) - 1),  # sender
            st.integers(-1, 4),  # nonce relative to the sender's next one
            st.integers(1, 6),  # gas price
            st.sampled_from([1, 20_000, 60_000]),  # amount
            st.booleans(),  # queue_future (gossip) or not (RPC)
        ),
        st.tuples(st.just("commit"), st.integers(0, 4)),  # a block with up to this many reaped txs
    ),
    max_size=30,
)


@given(
    balance=st.lists(st.integers(0, 300_000), min_size=3, max_size=3),
    steps=steps,
    max_txs=st.integers(1, 12),
    max_future_txs=st.integers(0, 4),
    ttl=st.integers(1, 3),
)
def test_pending_and_queued_txs_stay_consistent_through_commits(
    balance: list[int], steps: list[tuple[Any, ...]], max_txs: int, max_future_txs: int, ttl: int
) -> None:
    accounts = {bytes(k.address): Account(balance[i], 0) for i, k in enumerate(SENDERS)}
    pool = pool_over(accounts, max_txs=max_txs, max_txs_per_sender=4, max_future_per_sender=2,
                     max_future_txs=max_future_txs, future_ttl_commits=ttl)
    for step in steps:
        if step[0] == "tx":
            _, s, offset, price, amount, gossiped = step
            key = SENDERS[s]
            nonce = max(0, pool.next_nonce(key.address) + offset)
            tx = sign_tx(key, nonce, price=price, amount=amount)
            try:
                entered = pool.add(tx, queue_future=gossiped)
            except InvalidTransaction:
                continue
            if not entered:  # queued: only gossip, and only ahead of the next nonce
                assert gossiped and nonce > pool.next_nonce(key.address)
            else:
                assert entered[0] == tx
                assert [t.body.nonce for t in entered] == list(range(nonce, nonce + len(entered)))
            assert all(pool.get(t.hash) == t for t in entered)
        else:
            # the chain includes some reaped transactions and charges at most their whole fee
            for t in pool.reap(max_txs=step[1], max_bytes=10**9, max_gas=10**15):
                acct = accounts[bytes(t.sender)]
                spent = t.body.fee + t.body.payload[1]
                accounts[bytes(t.sender)] = Account(acct.balance - spent, acct.nonce + 1)
            promoted = pool.update()
            assert all(pool.get(t.hash) == t for t in promoted)
        everything = pool.reap(**NO_CAPS)
        assert len(everything) == len(pool) <= max_txs  # every pending tx can run, in nonce order
        assert pool.size_bytes == sum(len(t.raw) for t in everything)
        assert pool.future_len <= max_future_txs and pool.future_bytes <= pool.max_future_bytes
        for k in SENDERS:
            mine = [t for t in everything if t.sender == k.address]
            account = accounts[bytes(k.address)]
            assert [t.body.nonce for t in mine] == list(range(account.nonce, account.nonce + len(mine)))
            assert sum(t.body.fee + t.body.payload[1] for t in mine) <= account.balance
            assert len(mine) <= 4


def test_a_fee_too_low_says_what_fee_would_do(pool: Mempool) -> None:
    # the user sets a fee, not a gas price: the refusal names the fee it takes
    err = rejection(pool, sign_tx(A, 0, fee=1000))
    assert err.code == ErrorCode.TX_FEE_TOO_LOW and err.details["min_fee"] == GAS_LIMIT
    assert f"fee 1000 for gas limit {GAS_LIMIT}" in err.message and f"at least {GAS_LIMIT}" in err.message
