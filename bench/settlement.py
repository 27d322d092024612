"""``python -m bench settlement``: settling an epoch of 100,000 verified jobs.

State: 1,000 providers (``ProviderRecord`` after registration, through ``aicf.store``) and
``BENCH_SETTLEMENT_JOBS`` (default 100,000) claims queued by ``aicf.settlement.enqueue_claims``
as the resolver queues them (one agreeing replica per job, spread over the providers and over
four priority classes), the fund holding their prices, all committed to a ``MemoryKV``; each
round settles on a new ``StateDB`` over that root with the flat index, as a validator's
end-block does, with a Γ cap large enough to pay every claim.  Per claim: load, two credits
and a debit, the ``Payout`` record, the provider's record, the paid index, the claim's delete.

Anchor: (a) the raw single-core Ed25519 verify rate with ``cryptography``, measured in the same
run (``bench.transfers.raw_verify_rate``); the figure is the cost per job in Ed25519
verifies.  ``BENCH_SETTLEMENT_ROUNDS`` rounds (default 3), median.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace

from aicf.params import AicfParams, EpochParams
from aicf.records import ACTIVE, FUND_ADDRESS, ProviderRecord, WorkEntry
from aicf.settlement import enqueue_claims, load_epoch, settle
from aicf.store import index_provider, save_provider
from bench.aicf import commit_state
from bench.transfers import raw_verify_rate
from chain.hashing import H
from chain.kv import MemoryKV
from chain.module import BlockEnv
from chain.smt import EMPTY_ROOT
from chain.state import StateDB
from chain.types import Address, Hash32

JOBS = int(os.environ.get("BENCH_SETTLEMENT_JOBS", "100000"))
ROUNDS = int(os.environ.get("BENCH_SETTLEMENT_ROUNDS", "3"))
PROVIDERS = 1_000
EPOCH = 100


def _provider(i: int) -> ProviderRecord:
    address = Address(H(b"bench/settlement/provider", i.to_bytes(4, "big"))[:20])
    return ProviderRecord(address=address, pubkey=bytes(32), kinds=("ai",), models=("llama3-8b",), devices=(),
                          region="local", attestation_class="devnet", stake=10**10, max_leases=50, status=ACTIVE,
                          registered_height=1)


def build() -> tuple[MemoryKV, bytes, int]:
    """The committed state of the module docstring; its KV, root and the claims' total price."""
    state = StateDB(MemoryKV(), EMPTY_ROOT)
    providers = [_provider(i) for i in range(PROVIDERS)]
    for record in providers:
        save_provider(state, record)
        index_provider(state, record)
    producer = bytes(H(b"bench/settlement/producer", b"")[:20])
    total = 0
    for j in range(JOBS):
        price = 10_000 + j % 5_000
        work = WorkEntry(providers[j % PROVIDERS].address, Hash32(bytes(32)), Hash32(H(b"bench/proof", j.to_bytes(4, "big"))),
                         880, 8_800, price, 50, producer=producer, base_rate=15_000, weight_bp=10_000,
                         latency_bp=8_000, availability_bp=11_000)
        enqueue_claims(state, H(b"bench/settlement/task", j.to_bytes(4, "big")), "ai", j % 4, (work,), 50, EPOCH)
        total += price
    state.credit(FUND_ADDRESS, total)
    kv, root = commit_state(state)
    return kv, root, total


def main() -> None:
    started = time.perf_counter()
    kv, root, total = build()
    built = time.perf_counter() - started
    params = replace(AicfParams(), epoch=EpochParams(gamma_cap=10**12))
    env = BlockEnv("cairn-bench", EPOCH, EPOCH * 1000, Address(bytes(20)), bytes(32))
    rate = raw_verify_rate()
    samples = []
    for _ in range(ROUNDS):
        state = StateDB(kv, root, flat=kv)
        t0 = time.perf_counter()
        settle(state, env, params, EPOCH)
        samples.append(time.perf_counter() - t0)
        record = load_epoch(state, 1)
        if record is None or record.payouts != JOBS or record.carried_claims != 0:
            raise SystemExit("bench settlement: the epoch did not pay every claim")
    seconds = statistics.median(samples)
    per_job = seconds / JOBS
    print(f"## settlement: one epoch of {JOBS:,} verified jobs, {PROVIDERS:,} providers, 4 classes "
          f"(median of {ROUNDS})")
    print(f"(a)  Ed25519 verify (raw, one core)             {rate:12,.0f} /s   = {1e6 / rate:8.2f} µs")
    print(f"settle the epoch                               {seconds * 1e3:12.1f} ms")
    print(f"per job                                        {per_job * 1e6:12.2f} µs   ratio to (a) "
          f"{per_job * rate:6.2f} Ed25519 verifies")
    print(f"(state of {JOBS:,} claims built in {built:.1f} s; total price {total:,}; "
          f"settlement bench took {time.perf_counter() - started:.1f} s)")
