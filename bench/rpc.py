"""``python -m bench rpc``: JSON-RPC throughput and latency, and light-client header verification.

(a) The raw single-core Ed25519 verify rate (``bench.transfers.raw_verify_rate``), measured in
    the same run: every figure is also given as a ratio to it.

(r) A ``cairn devnet`` node (one validator, its reference provider, on loopback) with an AI
    job asked and resolved, then ``BENCH_RPC_CLIENTS`` (default 8) concurrent clients (trio
    tasks, one keep-alive ``httpx.AsyncClient`` each) calling one method for
    ``BENCH_RPC_SECONDS`` (default 3) seconds: ``state.getAccount`` (a devnet account),
    ``chain.getBlock`` (block 1), ``aicf.getJob`` (the resolved job).  Requests per second, and
    the p50 and p99 latency of one request.  The node shares the two cores with the clients.

(l) ``chain.light.LightClient`` over a chain of ``BENCH_LIGHT_BLOCKS`` (default 200) blocks
    signed by four validators (a ``MemChain`` whose commits carry all four precommits):
    sequential (each header verified from the one before) and skipping (the last header
    verified from the first in one step); per header, and as a ratio to (a).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from bench.aicf import build_ai_agent
from bench.transfers import raw_verify_rate
from capabilities.abi import encode_args
from chain.block import Block, Commit, sign_commit_sig
from chain.keys import encode_address
from chain.light import LightClient
from chain.tx import TxBody
from chain.vm.runtime import contract_address
from genesis.build import validator_set
from genesis.devnet import devnet_account_key, devnet_genesis, devnet_validator_key
from node.network import free_base

CLIENTS = int(os.environ.get("BENCH_RPC_CLIENTS", "8"))
SECONDS = float(os.environ.get("BENCH_RPC_SECONDS", "3"))
BLOCKS = int(os.environ.get("BENCH_LIGHT_BLOCKS", "200"))
CAIRN = str(Path(sys.executable).parent / "cairn")


def _call(url: str, method: str, **params: Any) -> Any:
    doc = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30).json()
    if "error" in doc:
        raise RuntimeError(f"{method}: {doc['error']}")
    return doc["result"]


def _wait(what: str, probe: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (httpx.HTTPError, RuntimeError, KeyError, TypeError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"bench rpc: timed out waiting for {what}")


def _send(url: str, key: Any, nonce: int, kind: str, payload: Any, gas: int) -> dict[str, Any]:
    body = TxBody("cairn-devnet", nonce, key.public_key, gas, gas, kind, payload)
    h = _call(url, "tx.send", tx=body.sign(key).raw.hex())["hash"]
    return _wait(f"tx {h[:12]}", lambda: _call(url, "tx.getReceipt", hash=h))


def setup_node(home: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, dict[str, Any]]]:
    """A devnet with a resolved AI job; the calls each load runs."""
    port = free_base(1)
    url = f"http://127.0.0.1:{port}"
    log = open(home / "devnet.log", "wb")
    proc = subprocess.Popen([CAIRN, "devnet", "--home", str(home / "devnet"), "--rpc-laddr", f"127.0.0.1:{port}"],
                            stdout=log, stderr=log)
    log.close()
    _wait("the devnet", lambda: _call(url, "node.status")["height"] >= 1)
    owner = devnet_account_key(5)
    agent = contract_address(owner.address, 0)
    assert _send(url, owner, 0, "deploy", [build_ai_agent(), b""], 20_000_000)["status"] == "ok"
    ask = _send(url, owner, 1, "call", [bytes(agent), "ask", encode_args(
        [("str", "llama3-8b"), ("str", "bench question"), ("u64", 16)]), 1_000_000_000], 5_000_000)
    task = next(e["attrs"]["task_id"] for e in ask["events"] if e["name"] == "enqueued")
    _wait("the job to resolve", lambda: _call(url, "aicf.getJob", task_id=task)["status"] == "resolved")
    calls = {
        "state.getAccount": {"address": encode_address(owner.address, "cairn")},
        "chain.getBlock": {"height": 1},
        "aicf.getJob": {"task_id": task},
    }
    return proc, url, calls


async def load(url: str, method: str, params: dict[str, Any]) -> tuple[float, list[float]]:
    """``CLIENTS`` tasks calling ``method`` for ``SECONDS``: (requests/s, latencies)."""
    latencies: list[float] = []
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    headers = {"content-type": "application/json"}
    start = time.perf_counter()
    end = start + SECONDS

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                resp = await http.post("/", content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                if "result" not in resp.json():
                    raise SystemExit(f"bench rpc: {method} answered {resp.text[:200]}")

    async with trio.open_nursery() as nursery:
        for _ in range(CLIENTS):
            nursery.start_soon(client)
    return len(latencies) / (time.perf_counter() - start), latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def light_chain() -> tuple[LightClient, list[tuple[Any, Commit, Any, Any]]]:
    """``BLOCKS`` headers of a four-validator chain, with commits signed by all four."""
    from tests.chain.helpers import MemChain

    genesis = devnet_genesis(4)
    keys = sorted((devnet_validator_key(i) for i in range(4)), key=lambda k: bytes(k.address))

    class FourSigners(MemChain):
        def sign_commit(self, block: Block, time_ms: int | None = None) -> Commit:
            h = block.header
            stamp = h.time_ms + 1000 if time_ms is None else time_ms
            return Commit(h.height, 0, block.hash, tuple(
                sign_commit_sig(k, h.chain_id, h.height, 0, block.hash, stamp) for k in keys))

    mem = FourSigners(genesis)
    vs = validator_set(genesis)
    headers = []
    for _ in range(BLOCKS):
        block, out = mem.build([])
        mem.commit(block, out)
        headers.append((block.header, mem.sign_commit(block), vs, vs))
    from genesis.build import build_genesis
    trusted = LightClient.bootstrap(genesis.chain_id, build_genesis(genesis).header, vs,
                                    trusting_period_ms=10**15)
    return trusted, headers


def main() -> None:
    started = time.perf_counter()
    rate = raw_verify_rate()
    trusted, headers = light_chain()
    now = headers[-1][0].time_ms + 1_000

    def sequential() -> None:
        client = trusted
        for header, commit, vs, nxt in headers:
            client = client.verify(header, commit, vs, nxt, now_ms=now)

    def skipping() -> None:
        header, commit, vs, nxt = headers[-1]
        trusted.verify(header, commit, vs, nxt, now_ms=now)

    seq = statistics.median(_timed(sequential) for _ in range(3)) / len(headers)
    skip = statistics.median(_timed(skipping) for _ in range(20))
    with tempfile.TemporaryDirectory(prefix="cairn-bench-rpc-") as tmp:
        proc, url, calls = setup_node(Path(tmp))
        try:
            results = {m: trio.run(load, url, m, p) for m, p in calls.items()}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"## rpc: {CLIENTS} concurrent clients for {SECONDS:g} s per method against one devnet node; "
          "light-client verification")
    print(f"(a)  Ed25519 verify (raw, one core)          {rate:10,.0f} /s   = {1e6 / rate:8.2f} µs")
    for method, (rps, lat) in results.items():
        print(f"{method:<22} {rps:10,.0f} req/s   p50 {_pct(lat, 0.5) * 1e3:7.2f} ms   p99 {_pct(lat, 0.99) * 1e3:7.2f} ms"
              f"   ratio to (a) {rps / rate:6.3f}")
    print(f"light client, sequential, per header (4 sigs) {seq * 1e6:9.1f} µs   ratio to (a) {seq * rate:6.2f}")
    print(f"light client, skipping {len(headers)} blocks at once   {skip * 1e6:9.1f} µs   ratio to (a) {skip * rate:6.2f}")
    print(f"(rpc bench took {time.perf_counter() - started:.1f} s)")


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
