"""The ``cairn`` console script, run as a subprocess against a real devnet on loopback.

Checks the issue's "done when": a transfer made with ``cairn tx transfer --wait`` is
visible through ``state.getAccount``, and ``state.getProof`` verifies against the head's
``state_root`` (membership) and for an unknown address (non-membership).  Bad input
must exit non-zero with exactly one line on stderr.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.block import Header
from chain.keys import decode_address, encode_address
from chain.smt import SmtProof, verify_proof
from chain.state import Account, account_key
from genesis.devnet import DEVNET_BALANCE, devnet_account_key
from node.network import free_base

CAIRN = shutil.which("cairn", path=str(Path(sys.executable).parent)) or shutil.which("cairn")
STARTUP = 30.0

pytestmark = pytest.mark.skipif(CAIRN is None, reason="the cairn console script is not installed")


def addr(i: int) -> str:
    return encode_address(devnet_account_key(i).address, "cairn")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every ``cairn`` run: no CAIRN_* settings, a throwaway HOME."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    e["HOME"] = str(tmp_path_factory.mktemp("home"))
    return e


def run_cairn(
    env: dict[str, str], *args: str | Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    assert CAIRN is not None
    return subprocess.run([CAIRN, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def run_many(
    env: dict[str, str], *commands: tuple[str | Path, ...], timeout: float = 60
) -> list[subprocess.CompletedProcess[str]]:
    """Run independent ``cairn`` commands side by side (each start-up costs an interpreter)."""
    assert CAIRN is not None
    procs = [
        subprocess.Popen(
            [CAIRN, *map(str, c)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for c in commands
    ]
    out = []
    for c, proc in zip(commands, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=timeout)
        out.append(subprocess.CompletedProcess([CAIRN, *map(str, c)], proc.returncode, stdout, stderr))
    return out


def ok_json(env: dict[str, str], *args: str | Path) -> Any:
    proc = run_cairn(env, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def fails_with_one_line(proc: subprocess.CompletedProcess[str], rc: int = 1) -> str:
    """The run failed with ``rc`` and exactly one stderr line ``error: ...``; returns that line."""
    lines = proc.stderr.splitlines()
    assert proc.returncode == rc, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Devnet:
    home: Path
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def call(self, method: str, **params: Any) -> Any:
        doc = httpx.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10
        ).json()
        assert "result" in doc, doc
        return doc["result"]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP
        while True:
            assert self.proc.poll() is None, (
                f"cairn exited with {self.proc.returncode}:\n{self.log.read_text()}"
            )
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no /health within {STARTUP}s:\n{self.log.read_text()}"
            time.sleep(0.05)

    def wait_height(self, height: int) -> int:
        deadline = time.monotonic() + STARTUP
        while (h := self.call("node.status")["height"]) < height:
            assert time.monotonic() < deadline, f"height {h} never reached {height}"
            time.sleep(0.05)
        return int(h)

    def stop(self, sig: signal.Signals) -> int:
        """Send ``sig`` and wait for the exit; kill as a last resort (then fail)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(STARTUP)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"cairn did not exit on {sig.name}") from None
        return self.proc.returncode


def _default_sigint() -> None:
    # A shell that runs the tests in the background leaves SIGINT ignored, and an ignored
    # signal stays ignored across exec; the node must see SIGINT as an operator would send it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(env: dict[str, str], *args: str | Path, home: Path, port: int) -> Devnet:
    assert CAIRN is not None
    log = home.parent / f"{home.name}-{args[0]}-{port}-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [CAIRN, *map(str, args)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_default_sigint,
        )
    node = Devnet(home, f"http://127.0.0.1:{port}", proc, log)
    try:
        node.wait_ready()
    except BaseException:
        node.stop(signal.SIGKILL)
        raise
    return node


@pytest.fixture(scope="module")
def devnet(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    home = tmp_path_factory.mktemp("devnet") / "home"
    port = free_port()
    node = start(env, "devnet", "--home", home, "--rpc-laddr", f"127.0.0.1:{port}", home=home, port=port)
    try:
        yield node
    finally:
        node.stop(signal.SIGINT)


def verified_account(node: Devnet, address: bytes) -> Account | None:
    """The account at the head, read through ``state.getProof`` and checked against the head header."""
    head = node.call("chain.getHead")
    header = Header.decode(bytes.fromhex(head["raw"]))
    assert bytes(header.hash()).hex() == head["hash"]
    p = node.call("state.getProof", address=encode_address(address, "cairn"), height=head["height"])
    assert p["state_root"] == bytes(header.state_root).hex()
    value = None if p["value"] is None else bytes.fromhex(p["value"])
    assert verify_proof(
        header.state_root, account_key(address), value, SmtProof.decode(bytes.fromhex(p["proof"]))
    )
    return None if value is None else Account.decode(value)


# --- against a running devnet --------------------------------------------------------------


def test_transfer_wait_then_state_and_proofs(devnet: Devnet, env: dict[str, str]) -> None:
    receipt = ok_json(
        env,
        "tx",
        "transfer",
        "--from",
        "devnet:0",
        "--to",
        addr(1),
        "--amount",
        "777",
        "--wait",
        "--rpc",
        devnet.url,
    )
    assert receipt["status"] == "ok" and receipt["reason"] == ""
    assert receipt["events"][0]["attrs"] == {"from": addr(0), "to": addr(1), "amount": "777"}
    assert receipt["height"] >= 1 and len(receipt["tx_hash"]) == 64

    account = devnet.call("state.getAccount", address=addr(1))
    assert account["balance"] == str(DEVNET_BALANCE + 777)
    sender = devnet.call("state.getAccount", address=addr(0))
    assert sender["nonce"] == 1 and sender["balance"] == str(DEVNET_BALANCE - 777 - int(receipt["fee_paid"]))

    assert verified_account(devnet, devnet_account_key(1).address) == Account(DEVNET_BALANCE + 777, 0)
    assert verified_account(devnet, devnet_account_key(123).address) is None

    # the queries print JSON with the expected fields
    rpc = ("--rpc", devnet.url)
    outs = run_many(
        env,
        ("query", "account", addr(1), *rpc, "--json"),
        ("query", "account", addr(1), "--height", str(receipt["height"] - 1), *rpc, "--json"),
        ("query", "tx", receipt["tx_hash"], *rpc, "--json"),
        ("query", "block", str(receipt["height"]), *rpc, "--json"),
        ("query", "block", receipt["block_hash"], "--full", *rpc, "--json"),
        ("query", "block", *rpc, "--json"),
        ("query", "account", addr(1), *rpc),
        ("query", "block", str(receipt["height"]), "--full", *rpc),
    )
    assert all(o.returncode == 0 and o.stderr == "" for o in outs), [o.stderr for o in outs]
    q, past, t, b, full, head = (json.loads(o.stdout) for o in outs[:6])
    assert q["address"] == addr(1) and q["balance"] == str(DEVNET_BALANCE + 777) and q["nonce"] == 0
    assert past["balance"] == str(DEVNET_BALANCE) and past["height"] == receipt["height"] - 1
    assert t["status"] == "committed" and t["height"] == receipt["height"]
    assert t["tx"]["payload"] == {"to": addr(1), "amount": "777"} and t["receipt"]["status"] == "ok"
    assert b["hash"] == receipt["block_hash"] and b["header"]["height"] == receipt["height"]
    assert receipt["tx_hash"] in b["txs"]  # with the reference provider's heartbeats, maybe
    (mine,) = [t for t in full["txs"] if t["hash"] == receipt["tx_hash"]]
    assert mine["sender"] == addr(0)
    assert head["header"]["height"] >= receipt["height"]
    assert f"balance: {DEVNET_BALANCE + 777}" in outs[6].stdout
    # human block output: the time as ISO 8601 UTC, and with --full a line per transaction
    text = outs[7].stdout
    assert re.search(r"  time: +20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n", text), text
    assert f"  tx {receipt['tx_hash']}  transfer" in text and f"from {addr(0)} nonce 0" in text
    assert "None" not in text


def test_keys_and_a_transfer_from_a_keyring_key(devnet: Devnet, env: dict[str, str], tmp_path: Path) -> None:
    ring = tmp_path / "ring"
    new = ok_json(env, "keys", "new", "alice", "--keyring", ring)
    alice = decode_address(new["address"], "cairn")
    assert new["name"] == "alice" and len(new["pubkey"]) == 64
    assert stat.S_IMODE((ring / "alice.json").stat().st_mode) == 0o600
    show, listed, dup, missing, evil, devnet0 = run_many(
        env,
        ("keys", "show", "alice", "--keyring", ring, "--json"),
        ("keys", "list", "--keyring", ring, "--json"),
        ("keys", "new", "alice", "--keyring", ring),
        ("keys", "show", "carol", "--keyring", ring),
        ("keys", "new", "../evil", "--keyring", ring),
        ("keys", "show", "devnet:0", "--keyring", ring, "--json"),
    )
    assert json.loads(show.stdout) == new
    assert json.loads(listed.stdout) == [new]
    assert "already exists" in fails_with_one_line(dup)
    assert "carol" in fails_with_one_line(missing)
    fails_with_one_line(evil)
    assert not (tmp_path / "evil.json").exists()
    assert json.loads(devnet0.stdout)["address"] == addr(0)

    funded = ok_json(
        env,
        "tx",
        "transfer",
        "--from",
        "devnet:2",
        "--to",
        new["address"],
        "--amount",
        "100000",
        "--wait",
        "--rpc",
        devnet.url,
    )
    assert funded["status"] == "ok"
    spent = run_cairn(
        env,
        "tx",
        "transfer",
        "--from",
        "alice",
        "--keyring",
        ring,
        "--to",
        addr(3),
        "--amount",
        "5",
        "--wait",
        "--rpc",
        devnet.url,
    )
    # without --json: the human-readable receipt
    assert spent.returncode == 0 and "status:   ok" in spent.stdout, spent.stderr
    fee = int(spent.stdout.split("fee paid:")[1].split()[0])
    assert verified_account(devnet, alice) == Account(100_000 - 5 - fee, 1)

    # names the user already has work wherever an address is asked for
    by_name, by_devnet, by_bech32, unknown = run_many(
        env,
        ("query", "account", "alice", "--keyring", ring, "--rpc", devnet.url, "--json"),
        ("query", "account", "devnet:3", "--rpc", devnet.url, "--json"),
        ("query", "account", addr(3), "--rpc", devnet.url, "--json"),
        ("query", "account", "devnet:10", "--rpc", devnet.url),
    )
    assert json.loads(by_name.stdout)["address"] == new["address"]
    assert json.loads(by_devnet.stdout)["address"] == json.loads(by_bech32.stdout)["address"] == addr(3)
    assert "devnet:0 .. devnet:9" in fails_with_one_line(unknown)


def test_bad_input_against_a_running_node(devnet: Devnet, env: dict[str, str]) -> None:
    bad_checksum = addr(1)[:-1] + ("q" if addr(1)[-1] != "q" else "p")
    transfer = ("tx", "transfer", "--rpc", devnet.url, "--from")
    to_bad, too_much, no_hash, no_block, locked, second, sent = run_many(
        env,
        (*transfer, "devnet:0", "--to", bad_checksum, "--amount", "1"),
        (*transfer, "devnet:6", "--to", addr(1), "--amount", str(DEVNET_BALANCE)),
        ("query", "tx", "ab" * 32, "--rpc", devnet.url),
        ("query", "block", "99999999", "--rpc", devnet.url),
        ("check", "--home", devnet.home),
        ("run", "--home", devnet.home),
        (*transfer, "devnet:4", "--to", addr(5), "--amount", "1", "--json"),
    )
    line = fails_with_one_line(to_bad)
    assert "--to" in line and "checksum" in line
    assert "204" in fails_with_one_line(too_much)  # refused by the mempool, with its code
    assert "600" in fails_with_one_line(no_hash)
    assert "600" in fails_with_one_line(no_block)
    assert "running" in fails_with_one_line(locked)  # the data directory is locked while the node runs
    line = fails_with_one_line(second)  # a second node on the same home: said in words, not a bytes repr
    assert "in use by another process" in line and "b'" not in line
    # without --wait the hash is printed at once
    assert sent.returncode == 0 and set(json.loads(sent.stdout)) == {"hash"}
    assert devnet.proc.poll() is None


def test_usage_errors_and_an_absent_node(env: dict[str, str]) -> None:
    transfer = ("tx", "transfer", "--from", "devnet:0", "--to", addr(1), "--rpc", "http://127.0.0.1:1")
    minus, letters, bare, absent, absent_query = run_many(
        env,
        (*transfer, "--amount", "-5"),
        (*transfer, "--amount", "abc"),
        (),
        (*transfer, "--amount", "1"),
        ("query", "account", addr(1), "--rpc", "http://127.0.0.1:1"),
    )
    assert "127.0.0.1:1" in fails_with_one_line(absent)
    assert "127.0.0.1:1" in fails_with_one_line(absent_query)
    assert bare.returncode == 0 and "COMMAND" in bare.stdout  # a bare `cairn` prints its help
    # argparse usage errors exit 2; the issue still wants one line on stderr
    assert "--amount" in fails_with_one_line(minus, rc=2)
    assert "--amount" in fails_with_one_line(letters, rc=2)


# --- homes -------------------------------------------------------------------------------


def test_init_twice_fails_the_second_time(env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "node"
    doc = ok_json(env, "init", "--home", home, "--chain-id", "cairn-test", "--fund", f"{addr(0)}=1000")
    assert doc["chain_id"] == "cairn-test" and doc["home"] == str(home)
    genesis = json.loads((home / "genesis.json").read_text())
    assert genesis["chain_id"] == "cairn-test"
    assert genesis["initial_balances"] == [{"address": addr(0), "amount": 1000}]
    assert stat.S_IMODE((home / "validator_key.json").stat().st_mode) == 0o600
    before = (home / "genesis.json").read_bytes()
    again, bad_fund, empty_run, empty_check = run_many(
        env,
        ("init", "--home", home, "--devnet"),
        ("init", "--home", tmp_path / "x", "--fund", f"{addr(0)}=-1"),
        ("run", "--home", tmp_path / "empty"),
        ("check", "--home", tmp_path / "empty"),
    )
    assert "already" in fails_with_one_line(again)
    assert (home / "genesis.json").read_bytes() == before
    assert "--fund" in fails_with_one_line(bad_fund)
    assert not (tmp_path / "x" / "genesis.json").exists()
    assert "init" in fails_with_one_line(empty_run)
    fails_with_one_line(empty_check)


def test_a_taken_port_fails_cleanly(env: dict[str, str], tmp_path: Path) -> None:
    # A node's stderr carries its log, so the contract here is: exit 1, no traceback, and
    # the last line is the one-line error naming the problem.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cairn(
            env, "devnet", "--home", tmp_path / "node", "--rpc-laddr", f"127.0.0.1:{port}", timeout=30
        )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("error: ") and ("in use" in last or str(port) in last), last


def test_a_multi_validator_devnet_names_the_taken_port_before_starting_any_validator(
        env: dict[str, str], tmp_path: Path) -> None:
    base = free_base(4)
    with socket.socket() as taken:  # validator 2's p2p port, as a running devnet would hold it
        taken.bind(("127.0.0.1", base - 1 + 20))
        taken.listen()
        proc = run_cairn(env, "devnet", "--validators", "4", "--home", tmp_path / "net",
                         "--rpc-laddr", f"127.0.0.1:{base}", timeout=30)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith(f"error: 127.0.0.1:{base + 19} is already in use") and "--rpc-laddr" in last, last
    assert "validator 0: home" not in proc.stderr  # refused before any validator started


# --- stopping, checking, restarting ----------------------------------------------------------


def test_stop_check_and_restart(devnet: Devnet, env: dict[str, str]) -> None:
    """Runs last against the module's devnet: SIGINT, an offline check, a restart, SIGTERM, a check."""
    seen = devnet.wait_height(2)
    recipient = verified_account(devnet, devnet_account_key(1).address)
    sigint_rc = devnet.stop(signal.SIGINT)
    report = ok_json(env, "check", "--home", devnet.home)
    assert report["height"] >= seen and report["accounts"] > 10
    assert len(report["head_hash"]) == 64 and len(report["state_root"]) == 64

    # the same home starts again (its config keeps the port) and resumes at the checked head
    port = int(devnet.url.rsplit(":", 1)[1])
    again = start(env, "run", "--home", devnet.home, home=devnet.home, port=port)
    try:
        block = again.call("chain.getBlock", height=report["height"])
        assert block["hash"] == report["head_hash"]
        assert block["header"]["state_root"] == report["state_root"]
        again.wait_height(report["height"] + 1)
        assert verified_account(again, devnet_account_key(1).address) == recipient
    finally:
        again.stop(signal.SIGTERM)
    text = run_cairn(env, "check", "--home", devnet.home)
    assert text.returncode == 0 and text.stdout.startswith("ok: head "), text.stderr
    assert int(text.stdout.split()[2]) > report["height"]

    log = devnet.log.read_text()
    assert sigint_rc == 0 and "Traceback" not in log, f"SIGINT: exit {sigint_rc}\n{log[-1500:]}"
