"""Contracts (VM): calls, gas, host calls, ``zk_verify`` and compiled-module loading.

Every figure is printed with the anchor it is compared with, measured in the same run:

(a)  raw single-core Ed25519 verifies per second (``bench.transfers.raw_verify_rate``).
(t0) plain ``transfer`` transactions per second through the validator path on a
     ``MemChain``-style chain: blocks pre-built by a proposer chain, then decoded, every
     signature verified, applied (``apply_block``: execution, state root) and saved to
     a ``MemoryKV`` block store by a second chain.  No LevelDB: see ``bench/transfers.py``.
(c0) ``call`` transactions of an empty method (``noop``): the fixed cost of a call;
(c1) ``call`` transactions of a storage-writing method (``put``: read 40 bytes of input,
     ``storage_set`` an 8-byte key to a 32-byte value; every call writes a new key),
     through the same path; ratio to (a) and to (t0).
(c2) ``call`` transactions of a WAT token's ``transfer(to, amount)``: ``input``,
     ``caller``, two ``storage_get`` and two ``storage_set`` of 8-byte balances, one
     ``emit_event`` of 48 bytes; ratio to (a) and to (t0).
     The blocks of (t0), (c0), (c1) and (c2) are applied in turn (t0, c0, c1, c2, t0,
     ...), so machine load changes hit all of them alike.  Also reported: the gas each
     transaction used and the gas per second this gives.
(i1, i2) the same two methods as bare ``ContractRuntime.invoke`` calls: no transaction,
     no signature, no block; what the VM and host functions cost per call.
(g)  gas per second of two compute loops run with one ``invoke`` each: ``spin`` (an LCG
     step and an xor-shift on i64 locals, 21 wasm operators per iteration) and
     ``spin_mem`` (a multiply-add with an i64 load and an i64 store, 25 per iteration).
     Gas is wasmtime fuel, one unit per operator except the free ones (``loop``,
     ``block``, ``end``, ``nop``, ``drop``, none of which the loop bodies repeat), so
     gas/s is wasm operators/s here.  Each is also put against the gas/s of (t0) and as
     the wall time of a block full of it (``block_gas_limit``).
(h)  the time of one host call: a loop calling ``block_height`` (and one calling
     ``caller``, which also writes 20 bytes to memory) minus the same loop with the
     call replaced by a constant, divided by the iterations.  Converted into the gas
     the same wall time buys in wasm at rate (g, ``spin``), and compared with the
     table's base cost (``capabilities.costs``); also against the gas/s
     of (t0), and as the wall time of a block full of such calls at their base cost.
(z)  ``zk_verify`` on the snarkjs vectors of ``tests/vectors/groth16``
     (``risc0_multiplier_1pub``, ``circomcompat_multiplier_1pub``): cold (empty
     ``Groth16Cache``) and cached (statement verified before), both through a contract
     call (``invoke`` of a method that passes its input to ``zk_verify``) and directly
     with ``proofs.groth16.verify_groth16``.  Anchor: one BN254 pairing with
     ``py_ecc.optimized_bn128`` (what ``proofs.groth16`` uses); ratio = time / pairing.
     Also the gas a cold call is charged per second of its wall time, against (g) and
     the gas/s of (t0).
(m)  compiling a module (``Engine.compile`` on a new engine) against loading it from
     ``Engine.serialize`` bytes (``Engine.deserialize`` on a new engine), for the token,
     the bench contract and a generated ~100 KB module.

Sampling: the timed figures other than the transaction path are sampled in rounds
(each round one sample of every figure in turn) and the median is printed.
Environment: ``BENCH_VM_QUICK=1`` (or ``python -m bench.vm --quick``) for a short run
(~20 s instead of ~50 s on a 2-core VM); ``BENCH_VM_TXS`` (calls per workload,
default 4000, quick 1000), ``BENCH_VM_BLOCK`` (transactions per block, 500),
``BENCH_VM_ROUNDS`` (5, quick 3), ``BENCH_VM_ZK_ROUNDS`` (3, quick 1).
"""

from __future__ import annotations

import os
import statistics
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import wasmtime
from py_ecc import optimized_bn128 as bn

from bench.transfers import bench_genesis, raw_verify_rate
from capabilities.costs import HOST_COSTS
from capabilities.host import host_functions
from chain.apply import apply_block, build_block
from chain.block import Block, Commit, sign_commit_sig
from chain.keys import PrivateKey
from chain.kv import MemoryKV
from chain.module import BlockEnv
from chain.state import StateDB
from chain.store import BlockStore
from chain.tx import TxBody
from chain.types import Address
from chain.vm.engine import Engine, VmConfig
from chain.vm.runtime import CallOutcome, ContractRuntime, TxScope, contract_address
from genesis.build import build_genesis, make_application
from genesis.devnet import devnet_onion, devnet_validator_key
from genesis.schema import Genesis
from proofs.groth16 import Groth16Cache, verify_groth16

QUICK = os.environ.get("BENCH_VM_QUICK", "") not in ("", "0") or "--quick" in sys.argv
N_CALLS = int(os.environ.get("BENCH_VM_TXS", "1000" if QUICK else "4000"))
BLOCK = int(os.environ.get("BENCH_VM_BLOCK", "500"))
ROUNDS = int(os.environ.get("BENCH_VM_ROUNDS", "3" if QUICK else "5"))
ZK_ROUNDS = int(os.environ.get("BENCH_VM_ZK_ROUNDS", "1" if QUICK else "3"))
N_ACCOUNTS = 1000
BATCH_S = 0.1
"""A sample of a fast operation is the mean over a batch lasting about this long."""

GROTH16 = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "groth16"
ZK_VECTORS = ("risc0_multiplier_1pub", "circomcompat_multiplier_1pub")

TRANSFER_GAS, NOOP_GAS, STORE_GAS, TOKEN_GAS = 20_000, 60_000, 100_000, 150_000
"""Gas limits of the three transaction workloads (fee = 2 × the limit)."""
TOKEN_GRANT = 10**9
"""Tokens the deployer hands each bench account before the timed blocks."""
BIG_GAS = 10**12
"""Gas limit of the single-invoke loops: never the binding limit."""

# --------------------------------------------------------------------------- contracts

STORE_WAT = r"""
;; put(key: 8 bytes, value: 32 bytes): storage_set(key, value).  noop(): nothing.
(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "storage_set" (func $storage_set (param i32 i32 i32 i32) (result i32)))
  (import "env" "abort" (func $abort (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bad_args")
  (func (export "noop"))
  (func (export "put")
    (if (i32.ne (call $input (i32.const 64) (i32.const 64)) (i32.const 40))
      (then (call $abort (i32.const 0) (i32.const 8)) (unreachable)))
    (drop (call $storage_set (i32.const 64) (i32.const 8) (i32.const 72) (i32.const 32)))))
"""

TOKEN_WAT = r"""
;; A token.  Balances: key "b" || addr (21 bytes) -> u64 little endian (8 bytes).
;; init(supply u64 LE): the supply to the deployer.
;; transfer(to addr, amount u64 LE): caller -> to; abort "insufficient";
;;   event "transfer": from (20) || to (20) || amount (8).
;; Memory: 0 "transfer", 16 "bad_args", 32 "insufficient", 200 args, 400 the sender's
;; key, 440 the recipient's key, 480 the value buffer, 500 the event data.
(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "caller" (func $caller (param i32) (result i32)))
  (import "env" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
  (import "env" "storage_set" (func $storage_set (param i32 i32 i32 i32) (result i32)))
  (import "env" "emit_event" (func $emit_event (param i32 i32 i32 i32) (result i32)))
  (import "env" "abort" (func $abort (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "transfer")
  (data (i32.const 16) "bad_args")
  (data (i32.const 32) "insufficient")
  (data (i32.const 400) "b")
  (data (i32.const 440) "b")
  (func $args (param $len i32)
    (if (i32.ne (call $input (i32.const 200) (i32.const 64)) (local.get $len))
      (then (call $abort (i32.const 16) (i32.const 8)) (unreachable))))
  (func $get (param $key i32) (result i64)
    (if (result i64)
        (i32.eq (call $storage_get (local.get $key) (i32.const 21) (i32.const 480) (i32.const 8)) (i32.const 8))
      (then (i64.load (i32.const 480)))
      (else (i64.const 0))))
  (func $set (param $key i32) (param $v i64)
    (i64.store (i32.const 480) (local.get $v))
    (drop (call $storage_set (local.get $key) (i32.const 21) (i32.const 480) (i32.const 8))))
  (func (export "init")
    (call $args (i32.const 8))
    (drop (call $caller (i32.const 401)))
    (call $set (i32.const 400) (i64.load (i32.const 200))))
  (func (export "transfer") (local $amount i64) (local $have i64)
    (call $args (i32.const 28))
    (local.set $amount (i64.load (i32.const 220)))
    (drop (call $caller (i32.const 401)))
    (memory.copy (i32.const 441) (i32.const 200) (i32.const 20))
    (local.set $have (call $get (i32.const 400)))
    (if (i64.lt_u (local.get $have) (local.get $amount))
      (then (call $abort (i32.const 32) (i32.const 12)) (unreachable)))
    (call $set (i32.const 400) (i64.sub (local.get $have) (local.get $amount)))
    (call $set (i32.const 440) (i64.add (call $get (i32.const 440)) (local.get $amount)))
    (memory.copy (i32.const 500) (i32.const 401) (i32.const 20))
    (memory.copy (i32.const 520) (i32.const 200) (i32.const 28))
    (drop (call $emit_event (i32.const 0) (i32.const 8) (i32.const 500) (i32.const 48)))))
"""


def wasm(wat: str) -> bytes:
    return bytes(wasmtime.wat2wasm(wat))


def _loop(name: str, body: str) -> str:
    """An export running ``body`` (which updates ``$acc``) ``n`` times; ``n`` is the u64 LE input."""
    return f"""
  (func (export "{name}") (local $n i64) (local $i i64) (local $acc i64)
    (local.set $n (call $n))
    (local.set $acc (i64.const 1))
    (block $exit
      (loop $next
        (br_if $exit (i64.ge_u (local.get $i) (local.get $n)))
        {body}
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (call $done (local.get $acc)))"""


SPIN_OPS = 21
"""Wasm operators per iteration of ``spin``: the loop test (4), the LCG step (6), the
xor-shift (6), the counter (4), the branch back (1).  The bench checks it against the
fuel wasmtime counts per iteration."""

VM_WAT = (
    r"""
;; The compute, host-call and zk_verify methods.  Loops take n (u64 LE) as input and
;; return their accumulator; verify takes three u32 LE lengths then vk, proof, inputs.
(module
  (import "env" "input" (func $input (param i32 i32) (result i32)))
  (import "env" "output" (func $output (param i32 i32) (result i32)))
  (import "env" "block_height" (func $block_height (result i64)))
  (import "env" "caller" (func $caller (param i32) (result i32)))
  (import "env" "zk_verify" (func $zk_verify (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (func $n (result i64)
    (drop (call $input (i32.const 0) (i32.const 8)))
    (i64.load (i32.const 0)))
  (func $done (param $x i64)
    (i64.store (i32.const 8) (local.get $x))
    (drop (call $output (i32.const 8) (i32.const 8))))
  (func (export "verify") (local $v i32) (local $p i32)
    (drop (call $input (i32.const 1024) (i32.const 200000)))
    (local.set $v (i32.load (i32.const 1024)))
    (local.set $p (i32.load (i32.const 1028)))
    (call $done (i64.extend_i32_u
      (call $zk_verify
        (i32.const 1036) (local.get $v)
        (i32.add (i32.const 1036) (local.get $v)) (local.get $p)
        (i32.add (i32.add (i32.const 1036) (local.get $v)) (local.get $p)) (i32.load (i32.const 1032))))))"""
    + _loop("spin", """(local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 6364136223846793005))
                                      (i64.const 1442695040888963407)))
        (local.set $acc (i64.xor (local.get $acc) (i64.shr_u (local.get $acc) (i64.const 33))))""")
    + _loop("spin_mem", """(local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31))
                                      (i64.load (i32.and (i32.wrap_i64 (local.get $i)) (i32.const 0xfff8)))))
        (i64.store (i32.and (i32.wrap_i64 (local.get $acc)) (i32.const 0xfff8)) (local.get $acc))""")
    + _loop("loop_height", "(local.set $acc (i64.add (local.get $acc) (call $block_height)))")
    + _loop("loop_height_base", "(local.set $acc (i64.add (local.get $acc) (i64.const 7)))")
    + _loop("loop_caller",
            "(local.set $acc (i64.add (local.get $acc) (i64.extend_i32_s (call $caller (i32.const 64)))))")
    + _loop("loop_caller_base", "(local.set $acc (i64.add (local.get $acc) (i64.extend_i32_s (i32.const 64))))")
    + "\n)\n"
)


def large_wat(funcs: int = 200, stmts: int = 30) -> str:
    """A generated module of ``funcs`` methods, each ``stmts`` i64 updates with loads and stores."""
    parts = ['(module (memory (export "memory") 1)']
    for f in range(funcs):
        body = []
        for s in range(stmts):
            k = (f * 7919 + s * 104729) % 1_000_003
            if s % 5 == 4:
                body.append(f"(i64.store (i32.const {8 * (s % 64)}) (local.get $x))"
                            f"(local.set $y (i64.add (local.get $y) (i64.load (i32.const {8 * ((s + f) % 64)}))))")
            else:
                body.append(f"(local.set $x (i64.add (i64.mul (local.get $x) (i64.const {k})) (local.get $y)))")
        parts.append(f'(func (export "m{f}") (local $x i64) (local $y i64) {" ".join(body)})')
    parts.append(")")
    return "\n".join(parts)


# --------------------------------------------------------------------------- timing


def interleaved(cases: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median of ``rounds`` samples of every case, taken in turn; a case returns seconds per unit."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            samples[name].append(case())
    return {name: statistics.median(v) for name, v in samples.items()}


def batched(call: Callable[[], object]) -> Callable[[], float]:
    """A case timing ``call`` in a batch of about ``BATCH_S`` seconds (sized on a first call)."""
    start = time.perf_counter()
    call()
    n = max(1, int(BATCH_S / max(time.perf_counter() - start, 1e-7)))

    def sample() -> float:
        start = time.perf_counter()
        for _ in range(n):
            call()
        return (time.perf_counter() - start) / n

    return sample


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- transactions


@dataclass
class Chain:
    """A one-validator chain on a MemoryKV (what ``tests.chain.helpers.MemChain`` is)."""

    genesis: Genesis

    def __post_init__(self) -> None:
        self.app = make_application(self.genesis)
        self.store = BlockStore(MemoryKV())
        g = build_genesis(self.genesis)
        self.store.save_genesis(g.header, g.state, self.genesis.hash())
        self.validator = devnet_validator_key(0)
        self.onion = devnet_onion(0)

    def build(self, txs: list[bytes]) -> tuple[Block, Commit, list[int]]:
        """Build, commit and return the next block, its commit and its transactions' gas."""
        parent = self.store.load_head_header()
        last = self.store.load_commit(parent.height) if parent.height > 0 else None
        block, out = build_block(self.store.head_state(), parent, self.app, txs=txs, now_ms=parent.time_ms + 1000,
                                 proposer=self.validator.address, onion=self.onion, last_commit=last)
        if len(block.txs) != len(txs) or any(r.status != 0 for r in out.receipts):
            bad = next((r.reason for r in out.receipts if r.status != 0), "transactions dropped")
            raise SystemExit(f"bench vm: a bench transaction failed: {bad}")
        h = block.header
        commit = Commit(h.height, 0, block.hash,
                        (sign_commit_sig(self.validator, h.chain_id, h.height, 0, block.hash, h.time_ms + 1000),))
        self.store.save_block(block, out, commit)
        return block, commit, [r.gas_used for r in out.receipts]

    def apply(self, raw: bytes, commit: Commit) -> None:
        """What a validator does with a block it receives: decode, verify, apply, save."""
        block = Block.decode(raw)
        out = apply_block(self.store.head_state(), self.store.load_head_header(), block, self.app)
        self.store.save_block(block, out, commit)


class Signer:
    """Signs transactions of the bench accounts, keeping their nonces."""

    def __init__(self, chain_id: str, accounts: list[PrivateKey]) -> None:
        self.chain_id = chain_id
        self.accounts = accounts
        self.nonces = [0] * len(accounts)

    def tx(self, sender: int, gas: int, kind: str, payload: list[object]) -> bytes:
        key = self.accounts[sender]
        nonce = self.nonces[sender]
        self.nonces[sender] += 1
        return TxBody(self.chain_id, nonce, key.public_key, 2 * gas, gas, kind, payload).sign(key).raw

    def call(self, sender: int, gas: int, contract: Address, method: str, args: bytes) -> bytes:
        return self.tx(sender, gas, "call", [bytes(contract), method, args, 0])


@dataclass(frozen=True, slots=True)
class TxFigures:
    rate: float
    """Transactions per second through decode + verify + apply + save."""
    gas_per_tx: float


def store_args(i: int) -> bytes:
    return struct.pack("<Q", i) + bytes([i % 251]) * 32


def tx_path(genesis: Genesis, accounts: list[PrivateKey],
            kinds: tuple[str, ...] = ("t0", "c0", "c1", "c2")) -> dict[str, TxFigures]:
    """(t0), (c0), (c1), (c2) (or those of ``kinds``): build every block on one chain, then
    time a second chain applying them.  ``bench.compile`` takes its transfer anchor (t0) here."""
    signer = Signer(genesis.chain_id, accounts)
    n = len(accounts)
    proposer = Chain(genesis)
    setup: list[tuple[Block, Commit]] = []
    deployer = 0
    store_addr = contract_address(accounts[deployer].address, signer.nonces[deployer])
    deploy_store = signer.tx(deployer, 2_000_000, "deploy", [wasm(STORE_WAT), b""])
    token_addr = contract_address(accounts[deployer].address, signer.nonces[deployer])
    supply = struct.pack("<Q", TOKEN_GRANT * n)
    deploy_token = signer.tx(deployer, 3_000_000, "deploy", [wasm(TOKEN_WAT), supply])
    setup.append(proposer.build([deploy_store, deploy_token])[:2])
    grants = [signer.call(deployer, TOKEN_GAS, token_addr, "transfer",
                          bytes(accounts[r].address) + struct.pack("<Q", TOKEN_GRANT)) for r in range(1, n)]
    for i in range(0, len(grants), BLOCK):
        setup.append(proposer.build(grants[i:i + BLOCK])[:2])

    def make(kind: str, i: int) -> bytes:
        s, r = i % n, (i * 7 + 1) % n
        if kind == "t0":
            return signer.tx(s, TRANSFER_GAS, "transfer", [bytes(accounts[r].address), 1 + i % 1000])
        if kind == "c0":
            return signer.call(s, NOOP_GAS, store_addr, "noop", b"")
        if kind == "c1":
            return signer.call(s, STORE_GAS, store_addr, "put", store_args(i))
        return signer.call(s, TOKEN_GAS, token_addr, "transfer", bytes(accounts[r].address) + struct.pack("<Q", 1))

    timed_blocks: list[tuple[str, bytes, Commit]] = []
    gas: dict[str, list[int]] = {k: [] for k in kinds}
    for start in range(0, N_CALLS, BLOCK):
        for kind in kinds:
            txs = [make(kind, i) for i in range(start, min(N_CALLS, start + BLOCK))]
            block, commit, used = proposer.build(txs)
            timed_blocks.append((kind, block.encode(), commit))
            gas[kind] += used

    validator = Chain(genesis)
    for block, commit in setup:
        validator.apply(block.encode(), commit)
    spent = dict.fromkeys(kinds, 0.0)
    for kind, raw, commit in timed_blocks:
        start_t = time.perf_counter()
        validator.apply(raw, commit)
        spent[kind] += time.perf_counter() - start_t
    return {k: TxFigures(len(gas[k]) / spent[k], statistics.fmean(gas[k])) for k in kinds}


# --------------------------------------------------------------------------- bare invokes


class Bench:
    """A contract runtime with the full host table, its Groth16 cache and a state to run on."""

    def __init__(self, genesis: Genesis) -> None:
        self.cache = Groth16Cache()
        self.runtime = ContractRuntime(genesis.params, host_functions(genesis.capabilities, groth16_cache=self.cache))
        self.state: StateDB = Chain(genesis).store.head_state()
        validator = devnet_validator_key(0).address
        self.env = BlockEnv(genesis.chain_id, 1, genesis.genesis_time_ms + 1000, validator, b"")
        self.origin = Address(bytes(20))
        self.deploy_nonce = 0

    def scope(self) -> TxScope:
        return TxScope(self.env, bytes(32), self.origin, read_only=False, events=[])

    def deploy(self, wat: str, init_args: bytes = b"", deployer: Address | None = None) -> Address:
        who = deployer or self.origin
        self.deploy_nonce += 1
        addr, out = self.runtime.deploy(self.scope(), self.state, who, self.deploy_nonce, wasm(wat),
                                        init_args, gas_limit=10_000_000)
        if not out.ok:
            raise SystemExit(f"bench vm: deploy failed: {out.reason}")
        return addr

    def invoke(self, contract: Address, method: str, args: bytes, *, gas: int = BIG_GAS,
               caller: Address | None = None) -> CallOutcome:
        out = self.runtime.invoke(self.scope(), self.state, contract, caller=caller or self.origin, method=method,
                                  args=args, value=0, gas_limit=gas, depth=0)
        if not out.ok:
            raise SystemExit(f"bench vm: {method} failed: {out.reason}")
        return out


def zk_input(name: str) -> tuple[bytes, bytes, bytes]:
    d = GROTH16 / name
    return ((d / "verification_key.json").read_bytes(), (d / "proof.json").read_bytes(),
            (d / "public.json").read_bytes())


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:10.2f} µs"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:10.3f} ms"


def main() -> None:
    if not GROTH16.is_dir():
        raise SystemExit(f"bench vm: Groth16 test vectors not found at {GROTH16}")
    started = time.perf_counter()
    accounts = [PrivateKey.derive(f"bench/{i}") for i in range(N_ACCOUNTS)]
    genesis = bench_genesis(accounts)
    print(f"## vm: contract calls ({N_CALLS} per workload, {BLOCK} per block, {N_ACCOUNTS} accounts), "
          f"gas/s, host calls, zk_verify, module loading{' [quick]' if QUICK else ''}")

    # -- 1. calls through the transaction path, and bare invokes
    anchor = raw_verify_rate()
    tx = tx_path(genesis, accounts)
    anchor_after = raw_verify_rate(1.0)
    t0 = tx["t0"].rate
    print(f"(a)  raw Ed25519 verify, 1 core:                    {anchor:10.0f} /s   (again after the tx path: "
          f"{anchor_after:.0f} /s)")
    labels = {"t0": "(t0) transfer txs: decode+verify+apply+root+save", "c0": "(c0) call: empty method (noop)",
              "c1": "(c1) call: storage_set (put)", "c2": "(c2) call: token transfer (2 get, 2 set, event)"}
    for k in ("t0", "c0", "c1", "c2"):
        f = tx[k]
        print(f"{labels[k]:52s} {f.rate:8.0f} tx/s   ratio to (a) {f.rate / anchor:.3f}   to (t0) {f.rate / t0:.2f}"
              f"   {f.gas_per_tx:8.0f} gas/tx = {f.rate * f.gas_per_tx / 1e6:6.1f} Mgas/s")

    b = Bench(genesis)
    store = b.deploy(STORE_WAT)
    holder = Address(accounts[0].address)
    token = b.deploy(TOKEN_WAT, struct.pack("<Q", 10**15), deployer=holder)
    vm = b.deploy(VM_WAT)
    recipients = [bytes(a.address) for a in accounts]
    counter = iter(range(10**9))

    def invoke_store() -> CallOutcome:
        return b.invoke(store, "put", store_args(next(counter)), gas=STORE_GAS)

    def invoke_token() -> CallOutcome:
        i = next(counter)
        return b.invoke(token, "transfer", recipients[i % len(recipients)] + struct.pack("<Q", 1), gas=TOKEN_GAS,
                        caller=holder)

    inv = interleaved({"i1": batched(invoke_store), "i2": batched(invoke_token)}, ROUNDS)
    i1_gas = invoke_store().gas_used
    i2_gas = invoke_token().gas_used
    for key, name, g in (("i1", "(i1) invoke put, no tx/signature/block", i1_gas),
                         ("i2", "(i2) invoke token transfer, no tx/signature/block", i2_gas)):
        rate = 1 / inv[key]
        print(f"{name:52s} {rate:8.0f} calls/s ratio to (a) {rate / anchor:.3f}   to (t0) {rate / t0:.2f}"
              f"   {g:8d} gas/call = {rate * g / 1e6:6.1f} Mgas/s   ({inv[key] * 1e6:.0f} µs/call)")

    # -- 2. gas per second, 3. host calls
    def loop_args(n: int) -> bytes:
        return struct.pack("<Q", n)

    loops: dict[str, tuple[int, int, float]] = {}
    """Loop → (iterations for ~0.25 s, gas used, gas per iteration)."""
    for loop in ("spin", "spin_mem"):
        small = b.invoke(vm, loop, loop_args(1000)).gas_used
        per_iter = (b.invoke(vm, loop, loop_args(2000)).gas_used - small) / 1000
        probe = 1_000_000
        per_iter_s = timed(partial(b.invoke, vm, loop, loop_args(probe))) / probe
        n = max(100_000, int(0.25 / max(per_iter_s, 1e-12)))
        loops[loop] = (n, b.invoke(vm, loop, loop_args(n)).gas_used, per_iter)
    host_n = 20_000 if QUICK else 40_000

    def loop_case(method: str, n: int) -> Callable[[], float]:
        return lambda: timed(lambda: b.invoke(vm, method, loop_args(n))) / n

    t = interleaved({
        **{loop: loop_case(loop, n) for loop, (n, _, _) in loops.items()},
        **{m: loop_case(m, host_n) for m in ("loop_height", "loop_height_base", "loop_caller", "loop_caller_base")},
    }, ROUNDS)
    block_gas = genesis.params.block_gas_limit
    tx_gas_rate = tx["t0"].rate * tx["t0"].gas_per_tx
    rates: dict[str, float] = {}
    for loop, what in (("spin", "i64 arithmetic in locals"), ("spin_mem", "with an i64 load and store")):
        n, used, per_iter = loops[loop]
        rates[loop] = per_iter / t[loop]
        extra = f" ({SPIN_OPS} wasm ops)" if loop == "spin" else ""
        print(f"(g)  {loop:8s} {what:28s} {per_iter:.0f} gas/iteration{extra}, {n} iterations: "
              f"{used} gas in {n * t[loop] * 1e3:.1f} ms")
        print(f"     {rates[loop] / 1e6:10.1f} Mgas/s = M wasm ops/s   (1 gas = {1e9 / rates[loop]:.3f} ns; "
              f"{rates[loop] / anchor:.0f} gas per Ed25519 verify of (a); {rates[loop] / tx_gas_rate:.0f} x the "
              f"gas/s of (t0); a {block_gas / 1e6:.0f} Mgas block in {block_gas / rates[loop] * 1e3:.1f} ms)")
    gas_rate = rates["spin"]
    for fn, loop in (("block_height", "loop_height"), ("caller", "loop_caller")):
        per_call = t[loop] - t[f"{loop}_base"]
        equiv = per_call * gas_rate
        base = HOST_COSTS[fn].base
        verdict = "covers" if base >= equiv else "does NOT cover"
        print(f"(h)  host call {fn:12s} {_us(per_call)} per call   ({host_n} iterations: {_us(t[loop])} vs "
              f"{_us(t[f'{loop}_base'])} per iteration without the call)")
        print(f"     = {equiv:8.0f} gas of wasm time at (g, spin); table base {base} {verdict} it "
              f"(base / measured = {base / equiv:.4f}); vs the gas/s of (t0): base {base} gas = "
              f"{base / tx_gas_rate * 1e6:.2f} µs (base / measured = {base / tx_gas_rate / per_call:.2f}); "
              f"a {block_gas / 1e6:.0f} Mgas block of these calls: {block_gas / base * per_call:.1f} s")

    # -- 4. zk_verify
    q, p = bn.multiply(bn.G2, 5), bn.multiply(bn.G1, 7)
    zk_cases: dict[str, Callable[[], float]] = {"pairing": lambda: timed(lambda: bn.pairing(q, p))}
    zk_gas: dict[str, int] = {}
    for name in ZK_VECTORS:
        vk, proof, public = zk_input(name)
        if verify_groth16(vk, proof, public) is not True:
            raise SystemExit(f"bench vm: {name} does not verify")
        args = struct.pack("<III", len(vk), len(proof), len(public)) + vk + proof + public
        warm = Groth16Cache()
        verify_groth16(vk, proof, public, cache=warm)

        def call(args: bytes = args) -> CallOutcome:
            out = b.invoke(vm, "verify", args, gas=50_000_000)
            if struct.unpack("<Q", out.return_data)[0] != 1:
                raise SystemExit("bench vm: zk_verify returned 0 for a valid proof")
            return out

        def call_cold(call: Callable[[], CallOutcome] = call) -> float:
            b.cache.clear()
            return timed(call)

        def direct_cold(vk: bytes = vk, proof: bytes = proof, public: bytes = public) -> float:
            return timed(lambda: verify_groth16(vk, proof, public, cache=Groth16Cache()))

        zk_gas[name] = call().gas_used  # also warms b.cache for the cached case
        zk_cases |= {
            f"{name}/call_cold": call_cold,
            f"{name}/call_cached": batched(call),
            f"{name}/direct_cold": direct_cold,
            f"{name}/direct_cached": batched(partial(verify_groth16, vk, proof, public, cache=warm)),
        }
    z = interleaved(zk_cases, ZK_ROUNDS)
    pairing = z["pairing"]
    print(f"(z)  BN254 pairing, py_ecc (anchor)                  {_ms(pairing)}")
    for name in ZK_VECTORS:
        for case, what in (("call_cold", "contract call, cold cache"), ("direct_cold", "verify_groth16, cold cache"),
                           ("call_cached", "contract call, cached"), ("direct_cached", "verify_groth16, cached")):
            sec = z[f"{name}/{case}"]
            print(f"     {name:28s} {what:27s} {_ms(sec)}   ratio to pairing {sec / pairing:.4f}")
        cold = z[f"{name}/call_cold"]
        g = zk_gas[name]
        print(f"     {name:28s} charged {g} gas: {g / cold / 1e6:.2f} Mgas/s of wall time cold = "
              f"{g / cold / gas_rate:.5f} of (g, spin), {g / cold / tx_gas_rate:.3f} of the gas/s of (t0); "
              f"a {block_gas / 1e6:.0f} Mgas block of cold calls: {block_gas / g * cold:.1f} s")

    # -- 5. compile vs load from the serialized cache
    modules = {"store": STORE_WAT, "token": TOKEN_WAT, "bench vm": VM_WAT, "generated": large_wat()}
    config = VmConfig(max_memory_bytes=genesis.params.max_memory_bytes)
    codes = {k: wasm(v) for k, v in modules.items()}
    blobs = {k: Engine(config).serialize(Engine(config).compile(c)) for k, c in codes.items()}

    def compile_case(code: bytes) -> Callable[[], float]:
        def sample() -> float:
            engine = Engine(config)
            return timed(lambda: engine.compile(code))
        return sample

    def load_case(blob: bytes) -> Callable[[], float]:
        def sample() -> float:
            engine = Engine(config)
            return timed(lambda: engine.deserialize(blob))
        return sample

    m = interleaved({**{f"{k}/compile": compile_case(c) for k, c in codes.items()},
                     **{f"{k}/load": load_case(bl) for k, bl in blobs.items()}}, ROUNDS)
    for k in modules:
        c, ld = m[f"{k}/compile"], m[f"{k}/load"]
        print(f"(m)  {k:10s} {len(codes[k]):7d} B wasm, {len(blobs[k]):8d} B compiled: compile {_ms(c)}, "
              f"load {_ms(ld)}   compile / load {c / ld:.1f}")
    print(f"(vm bench took {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
