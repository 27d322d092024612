"""Mempool admission with a sender's queue 1,000 and 30,000 deep, measured against the raw
Ed25519 verify rate of the same run.

(a)  raw single-core Ed25519 verifies per second (``bench.transfers.raw_verify_rate``);
(m1) ``Mempool.add_raw`` of ``BENCH_MEMPOOL_BATCH`` (default 1,000) signed transfers from one
     sender that already has 1,000 / 30,000 pending: decode, signature, every rule, bookkeeping;
(m2) the same with the signatures already in the pool's cache (a repeat submission): the
     pool's own bookkeeping alone;
(m3) one block's turn at that depth: ``reap`` of 1,000 transactions, then ``update`` after
     they were included.

The queue is filled with transactions whose hashes are planted in the signature cache (the
fill is not timed).  Each figure is the best of ``BENCH_MEMPOOL_REPEATS`` (default 9) runs on
a fresh pool, since the machines are shared.  Prints each rate, its ratio to (a), and the
30k ÷ 1k ratio, which is about 1 when the work per admission does not grow with the queue.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable

from bench.transfers import raw_verify_rate
from chain.keys import PrivateKey
from chain.state import Account
from chain.tx import SignedTx, TxBody
from chain.types import Address, Signature64
from genesis.build import make_application
from genesis.devnet import DEVNET_CHAIN_ID, devnet_genesis
from node.mempool import Mempool

BATCH = int(os.environ.get("BENCH_MEMPOOL_BATCH", "1000"))
REPEATS = int(os.environ.get("BENCH_MEMPOOL_REPEATS", "9"))
DEPTHS = (1_000, 30_000)
SENDER = PrivateKey.derive("bench/mempool")
TO = bytes(PrivateKey.derive("bench/mempool-to").address)


def _transfer(nonce: int, *, signed: bool) -> SignedTx:
    body = TxBody(DEVNET_CHAIN_ID, nonce, SENDER.public_key, 40_000, 20_000, "transfer", [TO, 1 + nonce % 1000])
    return body.sign(SENDER) if signed else SignedTx(body, Signature64(bytes(64)))


FILL: list[SignedTx] = []
"""The queue's filler transactions, built once for every pool."""


def _pool_at(depth: int) -> tuple[Mempool, dict[bytes, Account]]:
    accounts = {bytes(SENDER.address): Account(10**18, 0)}
    pool = Mempool(make_application(devnet_genesis(1)), lambda a: accounts.get(bytes(a), Account()),
                   max_txs_per_sender=depth + BATCH + 1)
    while len(FILL) < depth:
        FILL.append(_transfer(len(FILL), signed=False))
    for tx in FILL[:depth]:
        pool.sig_cache.add(tx.hash)
        pool.add(tx)
    return pool, accounts


def _best_rate(n: int, prepare: Callable[[], Callable[[], object]]) -> float:
    """The best of ``REPEATS`` timings of ``prepare()()``, each on what ``prepare`` built."""
    best = 0.0
    for _ in range(REPEATS):
        run = prepare()
        gc.collect()
        start = time.perf_counter()
        run()
        best = max(best, n / (time.perf_counter() - start))
    return best


def admission_rate(depth: int, *, cached: bool) -> float:
    raws = [_transfer(depth + i, signed=True).raw for i in range(BATCH)]

    def prepare() -> Callable[[], object]:
        pool, _ = _pool_at(depth)
        if cached:
            for raw in raws:
                pool.sig_cache.add(SignedTx.decode(raw).hash)

        def run() -> None:
            for raw in raws:
                pool.add_raw(raw)
            assert len(pool) == depth + BATCH

        return run

    return _best_rate(BATCH, prepare)


def block_turn_rate(depth: int) -> float:
    """Transactions per second through reap (1,000) plus the update after their commit."""
    key = bytes(SENDER.address)

    def prepare() -> Callable[[], object]:
        pool, accounts = _pool_at(depth)

        def run() -> None:
            txs = pool.reap(max_txs=1_000, max_bytes=4 * 1024 * 1024, max_gas=200_000_000)
            accounts[key] = Account(accounts[key].balance, accounts[key].nonce + len(txs))
            pool.update()
            assert len(pool) == depth - 1_000 and pool.next_nonce(Address(key)) == depth

        return run

    return _best_rate(1_000, prepare)


def main() -> None:
    print(f"## mempool: one sender, {BATCH} admissions at {DEPTHS[0]:,} and {DEPTHS[1]:,} pending")
    anchor = raw_verify_rate()
    print(f"(a) raw Ed25519 verify, 1 core:                     {anchor:10.0f} /s")
    rows = (
        ("(m1) add_raw, signature checked", lambda d: admission_rate(d, cached=False)),
        ("(m2) add_raw, signature cached", lambda d: admission_rate(d, cached=True)),
        ("(m3) reap 1,000 + update", block_turn_rate),
    )
    for name, measure in rows:
        shallow, deep = (measure(d) for d in DEPTHS)
        print(f"{name:34s} 1k: {shallow:9.0f} tx/s ({shallow / anchor:5.2f} of (a))   "
              f"30k: {deep:9.0f} tx/s ({deep / anchor:5.2f} of (a))   30k/1k: {deep / shallow:.2f}")
