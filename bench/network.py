"""The validator network on loopback, measured against the raw Ed25519 verify rate of the same run.

(n1) four validator processes (``cairn init --devnet --validators 4``): transfers
     sent with ``tx.sendBatch`` to one validator; committed transfers per second,
     and the latency from ``tx.sendBatch`` to the commit that holds each
     transaction (median and p95), seen by polling the chain's blocks;
(n2) sync: a validator's home is filled with ``BENCH_SYNC_BLOCKS`` blocks (default
     10,000, ``BENCH_SYNC_TXS`` transfers each), then a fresh full node catches up
     from it over p2p; blocks/s and tx/s.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.transfers import raw_verify_rate
from chain.apply import build_block
from chain.block import Commit, sign_commit_sig
from chain.keys import PrivateKey
from chain.store import BlockStore
from chain.tx import TxBody
from genesis.build import build_genesis
from genesis.devnet import devnet_account_key, devnet_genesis, devnet_onion, devnet_validator_key
from node.db import LevelDBKV
from node.home import Home
from node.network import free_base

CAIRN = str(Path(sys.executable).parent / "cairn")
N_TXS = int(os.environ.get("BENCH_NET_TXS", "2000"))
SYNC_BLOCKS = int(os.environ.get("BENCH_SYNC_BLOCKS", "10000"))
SYNC_TXS = int(os.environ.get("BENCH_SYNC_TXS", "5"))




def _rpc(url: str, method: str, **params: Any) -> Any:
    doc = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30).json()
    if "error" in doc:
        raise RuntimeError(f"{method}: {doc['error']}")
    return doc["result"]


def _height(url: str) -> int:
    try:
        return int(_rpc(url, "node.status")["height"])
    except (httpx.HTTPError, OSError, RuntimeError):
        return -1


def _fast(config: Path) -> None:
    text = config.read_text()
    for old, new in (("min_block_interval = 0.2", "min_block_interval = 0.05"),
                     ("max_block_interval = 1.0", "max_block_interval = 0.2"),
                     ("timeout_propose_ms = 3000", "timeout_propose_ms = 1000")):
        text = text.replace(old, new)
    config.write_text(text)


def transfers(keys: list[PrivateKey], n: int, chain_id: str, nonces: dict[int, int]) -> list[bytes]:
    out = []
    for i in range(n):
        s = i % len(keys)
        nonce = nonces.get(s, 0)
        nonces[s] = nonce + 1
        body = TxBody(chain_id, nonce, keys[s].public_key, 40_000, 20_000, "transfer",
                      [bytes(keys[(s + 1) % len(keys)].address), 1])
        out.append(body.sign(keys[s]).raw)
    return out


def network_rate(tmp: Path) -> tuple[float, float, float]:
    base = free_base(5, start=41_000)
    subprocess.run([CAIRN, "init", "--devnet", "--validators", "4", "--home", str(tmp / "net"),
                    "--rpc-laddr", f"127.0.0.1:{base}"], check=True, capture_output=True)
    procs = []
    try:
        for i in range(4):
            _fast(tmp / "net" / f"v{i}" / "config.toml")
            procs.append(subprocess.Popen([CAIRN, "run", "--home", str(tmp / "net" / f"v{i}")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        url = f"http://127.0.0.1:{base}"
        end = time.monotonic() + 60
        while min(_height(f"http://127.0.0.1:{base + 10 * i}") for i in range(4)) < 2:
            if time.monotonic() > end:
                raise RuntimeError("the network did not start")
            time.sleep(0.1)
        keys = [devnet_account_key(i) for i in range(10)]
        txs = transfers(keys, N_TXS, "cairn-devnet", {})
        sent_at: dict[str, float] = {}
        committed_at: dict[str, float] = {}
        start = time.perf_counter()
        for i in range(0, len(txs), 100):
            t = time.perf_counter()
            for r in _rpc(url, "tx.sendBatch", txs=[x.hex() for x in txs[i:i + 100]]):
                if "hash" in r:
                    sent_at[r["hash"]] = t
        seen = _height(url)
        deadline = time.monotonic() + 300
        while len(committed_at) < len(sent_at) and time.monotonic() < deadline:
            head = _height(url)
            while seen < head:
                seen += 1
                now = time.perf_counter()
                for h in _rpc(url, "chain.getBlock", height=seen)["txs"]:
                    if h in sent_at:
                        committed_at[h] = now
            time.sleep(0.02)
        elapsed = max(committed_at.values()) - start
        lat = sorted(committed_at[h] - sent_at[h] for h in committed_at)
        return len(committed_at) / elapsed, statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)


def sync_rate(tmp: Path) -> tuple[float, float]:
    base = free_base(5, start=41_000)
    genesis = devnet_genesis(1)
    home = Home(tmp / "src")
    subprocess.run([CAIRN, "init", "--devnet", "--home", str(home.path), "--rpc-laddr", f"127.0.0.1:{base}",
                    "--p2p-laddr", f"127.0.0.1:{base - 1}"], check=True, capture_output=True)
    # Fill the source node's store with SYNC_BLOCKS real blocks (valid commits, BFT times, onion reveals).
    kv = LevelDBKV(home.data_dir)
    store = BlockStore(kv)
    g = build_genesis(genesis)
    store.save_genesis(g.header, g.state, genesis.hash())
    from genesis.build import make_application

    app, v, onion = make_application(genesis), devnet_validator_key(0), devnet_onion(0)
    keys = [devnet_account_key(i) for i in range(10)]
    nonces: dict[int, int] = {}
    last = None
    for _ in range(SYNC_BLOCKS):
        parent = store.load_head_header()
        block, out = build_block(store.head_state(), parent, app, txs=transfers(keys, SYNC_TXS, genesis.chain_id, nonces),
                                 now_ms=parent.time_ms + 1000, proposer=v.address, onion=onion, last_commit=last)
        h = block.header
        last = Commit(h.height, 0, block.hash, (sign_commit_sig(v, h.chain_id, h.height, 0, block.hash,
                                                                h.time_ms + 1000),))
        store.save_block(block, out, last)
    kv.close()
    node_id = bytes(v.address).hex()
    fresh = tmp / "fresh"
    subprocess.run([CAIRN, "init", "--home", str(fresh), "--genesis", str(home.genesis_file),
                    "--rpc-laddr", f"127.0.0.1:{base + 10}", "--p2p-laddr", f"127.0.0.1:{base + 9}",
                    "--peer", f"{node_id}@127.0.0.1:{base - 1}"], check=True, capture_output=True)
    cfg = home.config_file.read_text().replace("persistent_peers = []", f'persistent_peers = ["{_fresh_id(fresh)}@127.0.0.1:{base + 9}"]')
    home.config_file.write_text(cfg)
    src = subprocess.Popen([CAIRN, "run", "--home", str(home.path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dst = None
    try:
        while _height(f"http://127.0.0.1:{base}") < SYNC_BLOCKS:
            time.sleep(0.1)
        start = time.perf_counter()
        dst = subprocess.Popen([CAIRN, "run", "--home", str(fresh)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while _height(f"http://127.0.0.1:{base + 10}") < SYNC_BLOCKS:
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
    finally:
        for p in (src, dst):
            if p is not None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
    return SYNC_BLOCKS / elapsed, SYNC_BLOCKS * SYNC_TXS / elapsed


def _fresh_id(home: Path) -> str:
    from chain.keys import address_of

    return bytes(address_of(bytes.fromhex(json.loads((home / "validator_key.json").read_text())["pubkey"]))).hex()


def main() -> None:
    print(f"## network: 4 validator processes on loopback; sync of {SYNC_BLOCKS} blocks × {SYNC_TXS} transfers")
    anchor = raw_verify_rate(1.0)
    print(f"(a) raw Ed25519 verify, 1 core:              {anchor:10.0f} /s")
    with tempfile.TemporaryDirectory() as d:
        rate, p50, p95 = network_rate(Path(d))
    print(f"(n1) committed transfers, 4 validators:     {rate:10.0f} tx/s   ratio to (a): {rate / anchor:.3f}"
          f"   latency median {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms ({N_TXS} txs)")
    with tempfile.TemporaryDirectory() as d:
        bps, tps = sync_rate(Path(d))
    print(f"(n2) sync from a peer:                      {bps:10.0f} blocks/s  {tps:8.0f} tx/s   "
          f"ratio to (a): {tps / anchor:.3f}")
