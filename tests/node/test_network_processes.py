"""A real network: validator processes over loopback TCP (ARCHITECTURE §10, issue 3).

* four ``cairn run`` processes commit 20+ blocks carrying transfers;
* one is SIGKILLed, the chain goes on, it restarts and catches up;
* two are stopped, the chain halts (no quorum); restarted, it resumes; no fork anywhere;
* a fifth node, fresh, block-syncs from height 0 to the head;
* ``cairn devnet --validators 4`` brings up four committing processes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from chain.block import Header
from genesis.devnet import devnet_account_key
from node.network import free_base
from tests.chain.helpers import transfer

CAIRN = str(Path(sys.executable).parent / "cairn")
DEADLINE = 90.0




def rpc(url: str, method: str, **params: Any) -> Any:
    doc = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10).json()
    assert "error" not in doc, doc
    return doc["result"]


def height(url: str) -> int:
    try:
        return int(rpc(url, "node.status")["height"])
    except (httpx.HTTPError, OSError):
        return -1


def wait_for(cond: Any, what: str, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def speed_up(config: Path) -> None:
    text = config.read_text()
    for old, new in (("min_block_interval = 0.2", "min_block_interval = 0.05"),
                     ("max_block_interval = 1.0", "max_block_interval = 0.2"),
                     ("timeout_propose_ms = 3000", "timeout_propose_ms = 1000"),
                     ("timeout_prevote_ms = 1000", "timeout_prevote_ms = 500"),
                     ("timeout_precommit_ms = 1000", "timeout_precommit_ms = 500"),
                     ("timeout_delta_ms = 500", "timeout_delta_ms = 250")):
        text = text.replace(old, new)
    config.write_text(text)


class Net:
    @classmethod
    def init(cls, base_dir: Path, *, fast: bool = True) -> Net:
        """``cairn init --devnet --validators 4`` on a free port range (5 nodes' worth), sped up."""
        base = free_base(5)
        net = cls(base_dir, base)
        subprocess.run([CAIRN, "init", "--devnet", "--validators", "4", "--home", str(base_dir),
                        "--rpc-laddr", f"127.0.0.1:{base}"], check=True, capture_output=True)
        if fast:
            for i in range(4):
                speed_up(net.home(i) / "config.toml")
        return net

    def __init__(self, base_dir: Path, base: int) -> None:
        self.base_dir = base_dir
        self.base = base
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.logs: dict[int, Any] = {}

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.base + 10 * i}"

    def home(self, i: int) -> Path:
        return self.base_dir / f"v{i}"

    def start(self, i: int) -> None:
        log = open(self.base_dir / f"node{i}.log", "ab")
        self.logs[i] = log
        self.procs[i] = subprocess.Popen([CAIRN, "run", "--home", str(self.home(i))], stdout=log, stderr=log)

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(i)
        p.send_signal(sig)
        p.wait(timeout=20)
        self.logs.pop(i).close()

    def stop_all(self) -> None:
        for i in list(self.procs):
            self.kill(i, signal.SIGTERM)

    def header(self, i: int, h: int) -> Header:
        return Header.decode(bytes.fromhex(rpc(self.url(i), "chain.getBlock", height=h)["header"]["raw"]))

    def assert_no_fork(self, nodes: list[int]) -> None:
        top = min(height(self.url(i)) for i in nodes)
        for h in range(1, top + 1):
            hashes = {self.header(i, h).hash() for i in nodes}
            assert len(hashes) == 1, f"fork at height {h}"


def test_four_validator_processes(tmp_path: Path) -> None:
    net = Net.init(tmp_path / "net")
    base = net.base
    try:
        for i in range(4):
            net.start(i)
        wait_for(lambda: min(height(net.url(i)) for i in range(4)) >= 3, "the first blocks")
        # transfers, sent to different validators
        a, b = devnet_account_key(0), devnet_account_key(1)
        hashes = []
        for k in range(10):
            tx = transfer(a, b.address, 1 + k, k)
            hashes.append(rpc(net.url(0), "tx.send", tx=tx.raw.hex())["hash"])
        wait_for(lambda: min(height(net.url(i)) for i in range(4)) >= 20, "20 blocks")
        for h in hashes:
            assert rpc(net.url(3), "tx.getReceipt", hash=h)["status"] == "ok"

        # one validator dies: the others (3 of 4 > 2/3) go on; it restarts and catches up
        net.kill(2)
        before = height(net.url(0))
        wait_for(lambda: height(net.url(0)) >= before + 5, "progress without validator 2")
        net.start(2)
        wait_for(lambda: height(net.url(2)) >= height(net.url(0)) - 1 >= before + 5, "validator 2 catching up")

        # two validators down: no quorum, no blocks; back up, the chain resumes
        net.kill(1)
        net.kill(3)
        time.sleep(1.0)
        stalled = height(net.url(0))
        time.sleep(3.0)
        assert height(net.url(0)) <= stalled + 1, "blocks were committed without a quorum"
        net.start(1)
        net.start(3)
        wait_for(lambda: min(height(net.url(i)) for i in range(4)) >= stalled + 5, "the chain resuming")

        # a fresh full node syncs from genesis
        subprocess.run([CAIRN, "init", "--home", str(net.home(4)), "--genesis", str(net.home(0) / "genesis.json"),
                        "--rpc-laddr", f"127.0.0.1:{base + 40}", "--p2p-laddr", f"127.0.0.1:{base + 39}",
                        "--peer", f"{_node_id(net, 0)}@127.0.0.1:{base - 1}"], check=True, capture_output=True)
        speed_up(net.home(4) / "config.toml")
        net.start(4)
        target = height(net.url(0))
        wait_for(lambda: height(net.url(4)) >= target, "the fresh node syncing")
        net.assert_no_fork([0, 1, 2, 3, 4])
        # validators 1, 2, 3 were killed and restarted mid-round: none of them double-signed
        top = height(net.url(0))
        assert all(rpc(net.url(0), "chain.getBlock", height=h)["evidence"] == [] for h in range(1, top + 1))
        assert rpc(net.url(4), "state.getAccount", address=rpc(net.url(4), "tx.get", hash=hashes[0])["tx"]["sender"])[
            "nonce"] == 10
    finally:
        net.stop_all()


def _node_id(net: Net, i: int) -> str:
    import json

    key = json.loads((net.home(i) / "validator_key.json").read_text())
    from chain.keys import address_of

    return bytes(address_of(bytes.fromhex(key["pubkey"]))).hex()


def test_cairn_devnet_runs_four_processes(tmp_path: Path) -> None:
    base = free_base(5)
    log_path = tmp_path / "devnet.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([CAIRN, "devnet", "--validators", "4", "--home", str(tmp_path / "dn"),
                                 "--rpc-laddr", f"127.0.0.1:{base}"], stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for(lambda: min(height(f"http://127.0.0.1:{base + 10 * i}") for i in range(4)) >= 3, "four nodes")
            peers = rpc(f"http://127.0.0.1:{base}", "net.peers")
            assert len(peers) == 3 and all(set(p) >= {"id", "public_key", "address"} for p in peers)
            assert rpc(f"http://127.0.0.1:{base}", "consensus.state")["height"] >= 3
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    committed = [line for line in log_path.read_text().splitlines() if "block committed" in line]
    # interleaved, but every line says which validator wrote it
    assert {line.split("] [", 1)[-1].split("]")[0] for line in committed} == {"v0", "v1", "v2", "v3"}
