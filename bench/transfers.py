"""Transfer throughput, measured against the raw Ed25519 verify rate of the same run.

(a) raw single-core Ed25519 verifies per second with ``cryptography``;
(b) blocks of signed transfers through the validator's real pipeline: decode the
    block bytes, verify every signature, apply, compute the state root, commit to
    LevelDB (one synced batch per block).  Reported twice: (b1) all on one core,
    and (b) with signatures checked by ``node.sigverify.SignaturePool`` on every
    core while the previous block applies, as a syncing node does;
(c) ``tx.send`` → committed through a running node process over HTTP.

Prints tx/s for (b) and (c) and each as a ratio to (a).
Environment: ``BENCH_TXS`` (default 20000), ``BENCH_ACCOUNTS`` (2000),
``BENCH_BLOCK`` (txs per block, 1000), ``BENCH_SEND_TXS`` (3000), ``BENCH_CLIENTS`` (8).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chain.apply import apply_block, build_block
from chain.block import Block, Commit, sign_commit_sig
from chain.keys import PrivateKey
from chain.kv import MemoryKV
from chain.store import BlockStore
from chain.tx import TxBody
from genesis.build import build_genesis, make_application
from genesis.devnet import DEVNET_ONION_LENGTH, devnet_onion, devnet_onion_seed, devnet_validator_key
from genesis.schema import Genesis, GenesisValidator
from node.db import LevelDBKV
from node.home import Home
from node.sigverify import SignaturePool

N_TXS = int(os.environ.get("BENCH_TXS", "20000"))
N_ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "2000"))
BLOCK = int(os.environ.get("BENCH_BLOCK", "1000"))
N_SEND = int(os.environ.get("BENCH_SEND_TXS", "3000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))


def raw_verify_rate(seconds: float = 2.0) -> float:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes_raw()
    msg = b"\x42" * 32
    sig = key.sign(msg)
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
        n += 200
    return n / (time.perf_counter() - start)


def bench_genesis(accounts: list[PrivateKey]) -> Genesis:
    v = devnet_validator_key(0)
    return Genesis(
        chain_id="cairn-bench-devnet",
        genesis_time_ms=1_767_225_600_000,
        initial_balances=tuple(sorted((k.address, 10**15) for k in accounts)),
        validators=(GenesisValidator("v0", v.public_key, 100, devnet_onion(0).tip),),
    )


def signed_transfers(accounts: list[PrivateKey], n: int, chain_id: str, nonce_base: dict[int, int] | None = None) -> list[bytes]:
    nonces = dict(nonce_base or {})
    out = []
    for i in range(n):
        s = i % len(accounts)
        r = (i * 7 + 1) % len(accounts)
        nonce = nonces.get(s, 0)
        nonces[s] = nonce + 1
        body = TxBody(chain_id, nonce, accounts[s].public_key, 40_000, 20_000, "transfer",
                      [bytes(accounts[r].address), 1 + i % 1000])
        out.append(body.sign(accounts[s]).raw)
    return out


def pipeline_rate(genesis: Genesis, txs: list[bytes], *, parallel: bool) -> float:
    """Pre-build the blocks on a scratch chain, then time a validator applying and committing them."""
    app = make_application(genesis)
    v = devnet_validator_key(0)
    g = build_genesis(genesis)
    scratch = BlockStore(MemoryKV())
    scratch.save_genesis(g.header, g.state, genesis.hash())
    onion = devnet_onion(0)
    blocks: list[bytes] = []
    commits: list[Commit] = []
    last = None
    for i in range(0, len(txs), BLOCK):
        parent = scratch.load_head_header()
        block, out = build_block(scratch.head_state(), parent, app, txs=txs[i:i + BLOCK],
                                 now_ms=parent.time_ms + 1000, proposer=v.address, onion=onion, last_commit=last)
        h = block.header
        last = Commit(h.height, 0, block.hash, (sign_commit_sig(v, h.chain_id, h.height, 0, block.hash, h.time_ms + 1000),))
        scratch.save_block(block, out, last)
        blocks.append(block.encode())
        commits.append(last)
    pool = SignaturePool(genesis.chain_id, app.params.max_tx_bytes) if parallel else None
    if pool is not None:
        pool.verify(txs[:8])  # start the workers before timing
    with tempfile.TemporaryDirectory() as d:
        kv = LevelDBKV(d)
        store = BlockStore(kv)
        store.save_genesis(g.header, g.state, genesis.hash())
        start = time.perf_counter()
        decoded = [Block.decode(blocks[0])]
        pending = pool.submit(decoded[0].txs) if pool else []
        for i, commit in enumerate(commits):
            block = decoded[i]
            verified = pool.collect(pending) if pool else set()
            if pool and i + 1 < len(blocks):  # verify the next block while this one applies
                decoded.append(Block.decode(blocks[i + 1]))
                pending = pool.submit(decoded[i + 1].txs)
            elif i + 1 < len(blocks):
                decoded.append(Block.decode(blocks[i + 1]))
            out = apply_block(store.head_state(), store.load_head_header(), block, app, verified=verified)
            store.save_block(block, out, commit)
        elapsed = time.perf_counter() - start
        kv.close()
    if pool is not None:
        pool.close()
    return len(txs) / elapsed


def node_rate(genesis: Genesis, accounts: list[PrivateKey]) -> float:
    """Start a node process, send ``N_SEND`` transfers with tx.send, time until the last is committed."""
    txs = signed_transfers(accounts, N_SEND, genesis.chain_id)
    with tempfile.TemporaryDirectory() as d:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        home = Home(Path(d) / "home")
        home.init(genesis, devnet_validator_key(0), rpc=f"127.0.0.1:{port}", min_interval=0.05, max_interval=0.5,
                  onion=(devnet_onion_seed(0), DEVNET_ONION_LENGTH))
        cairn = str(Path(sys.executable).parent / "cairn")
        proc = subprocess.Popen([cairn, "run", "--home", str(home.path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(timeout=30) as client:
                for _ in range(300):
                    try:
                        client.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "node.status"})
                        break
                    except httpx.HTTPError:
                        time.sleep(0.05)
                # CLIENTS senders' worth of connections, each sending its own senders' txs in nonce order.
                lanes: list[list[bytes]] = [[] for _ in range(CLIENTS)]
                for i, raw in enumerate(txs):
                    lanes[(i % len(accounts)) % CLIENTS].append(raw)
                hashes: list[str] = []

                def lane(raws: list[bytes]) -> None:
                    with httpx.Client(timeout=60) as c:
                        for raw in raws:
                            doc = c.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tx.send",
                                                    "params": {"tx": raw.hex()}}).json()
                            if "error" in doc:
                                raise RuntimeError(f"tx.send failed: {doc['error']}")
                            hashes.append(doc["result"]["hash"])

                start = time.perf_counter()
                with ThreadPoolExecutor(CLIENTS) as pool:
                    list(pool.map(lane, lanes))
                for h in hashes[-CLIENTS:]:
                    while "result" not in client.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "tx.getReceipt",
                                                               "params": {"hash": h}}).json():
                        time.sleep(0.01)
                elapsed = time.perf_counter() - start
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    return len(txs) / elapsed


def main() -> None:
    accounts = [PrivateKey.derive(f"bench/{i}") for i in range(N_ACCOUNTS)]
    genesis = bench_genesis(accounts)
    print(f"## transfers: {N_TXS} txs over {N_ACCOUNTS} accounts, {BLOCK} per block")
    anchor = raw_verify_rate()
    print(f"(a) raw Ed25519 verify, 1 core:           {anchor:10.0f} /s")
    txs = signed_transfers(accounts, N_TXS, genesis.chain_id)
    rate_b1 = pipeline_rate(genesis, txs, parallel=False)
    print(f"(b1) decode+verify+apply+root+LevelDB, one core:        {rate_b1:8.0f} tx/s   ratio to (a): "
          f"{rate_b1 / anchor:.2f}")
    rate_b = pipeline_rate(genesis, txs, parallel=True)
    print(f"(b)  same, signatures checked by the node's worker pool: {rate_b:8.0f} tx/s   ratio to (a): "
          f"{rate_b / anchor:.2f}")
    anchor2 = raw_verify_rate(1.0)
    rate_c = node_rate(genesis, accounts)
    print(f"(c) tx.send -> committed (node process):  {rate_c:10.0f} tx/s   ratio to (a): {rate_c / anchor2:.2f}"
          f"   ({N_SEND} txs, {CLIENTS} HTTP clients)")
