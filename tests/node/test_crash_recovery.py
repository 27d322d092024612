"""SIGKILL a node while it commits blocks; it must always restart at a consistent head.

Each round starts the real ``cairn run`` process, feeds it transfers, kills it
with SIGKILL at a random moment (seeded; the seed is printed on failure), then
checks the data offline (head, height index, block links, and the flat state
rebuilding exactly the head header's ``state_root``), and that no block the
node had reported as committed was lost.  Rounds: 6 in ``make test``,
``CAIRN_CRASH_ROUNDS`` (or 40 under ``CAIRN_SOAK``) for longer runs.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chain.smt import SmtProof, verify_proof
from chain.state import account_key
from genesis.devnet import devnet_account_key
from node.check import check_home
from node.home import Home
from tests.chain.helpers import transfer

CAIRN = str(Path(sys.executable).parent / "cairn")
ROUNDS = int(os.environ.get("CAIRN_CRASH_ROUNDS", "40" if os.environ.get("CAIRN_SOAK") else "6"))
SEED = int(os.environ.get("CAIRN_CRASH_SEED", "20261122"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc(url: str, method: str, **params: object) -> object:
    r = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10)
    doc = r.json()
    assert "error" not in doc, doc
    return doc["result"]


def wait_ready(url: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"node exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            rpc(url, "node.status")
            return
        except (httpx.HTTPError, OSError):
            time.sleep(0.05)
    raise AssertionError("node did not become ready")


def test_sigkill_during_commits_always_restarts_consistent(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    home = tmp_path / "home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    subprocess.run([CAIRN, "init", "--devnet", "--home", str(home), "--rpc-laddr", f"127.0.0.1:{port}"],
                   check=True, capture_output=True)
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("min_block_interval = 0.2", "min_block_interval = 0.02")
                   .replace("max_block_interval = 1.0", "max_block_interval = 0.05"))
    senders = [devnet_account_key(i) for i in range(4)]
    committed_height = 0
    for round_ in range(ROUNDS):
        proc = subprocess.Popen([CAIRN, "run", "--home", str(home)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            wait_ready(url, proc, time.monotonic() + 30)
            status = rpc(url, "node.status")
            assert isinstance(status, dict)
            # Nothing reported committed before the previous kill was lost.
            assert status["height"] >= committed_height, (SEED, round_, status["height"], committed_height)
            prefix = status["address_prefix"]
            txs = []
            for key in senders:
                from chain.keys import encode_address

                acct = rpc(url, "state.getAccount", address=encode_address(key.address, prefix))
                assert isinstance(acct, dict)
                for k in range(5):
                    txs.append(transfer(key, senders[0].address, 1 + k, acct["next_nonce"] + k).raw.hex())
            rpc(url, "tx.sendBatch", txs=txs)
            time.sleep(rng.uniform(0.02, 0.4))
            seen = rpc(url, "node.status")
            assert isinstance(seen, dict)
            committed_height = seen["height"]
            time.sleep(rng.uniform(0.0, 0.1))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            if proc.stderr:
                proc.stderr.close()
        report = check_home(Home(home))
        assert report["height"] >= committed_height, (SEED, round_)
    # A final restart answers a state proof that verifies against its head.
    proc = subprocess.Popen([CAIRN, "run", "--home", str(home)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url, proc, time.monotonic() + 30)
        from chain.keys import encode_address

        answer = rpc(url, "state.getProof", address=encode_address(senders[0].address, "cairn"))
        assert isinstance(answer, dict)
        proof = SmtProof.decode(bytes.fromhex(answer["proof"]))
        root = bytes.fromhex(answer["header"]["state_root"])
        assert verify_proof(root, account_key(senders[0].address), bytes.fromhex(answer["value"]), proof)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
