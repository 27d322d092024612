"""``cairn tx deploy``, ``cairn tx call`` and ``cairn query contract`` against a real devnet.

The ``cairn`` console script runs as a subprocess, as in test_cli.py (same helpers), against
one devnet for the module; independent commands run side by side, each from its own
devnet key so their nonces do not race.  The contract is the counter of
test_rpc_contracts.py, compiled from WAT in the test.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chain.keys import encode_address
from chain.vm.engine import code_hash
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key
from node.cli import main
from tests.node import test_cli
from tests.node.test_cli import CAIRN, Devnet, addr, fails_with_one_line, run_many
from tests.node.test_rpc_contracts import counter_code

env = test_cli.env  # the same module-scoped fixtures: a throwaway HOME, one devnet node
devnet = test_cli.devnet

pytestmark = pytest.mark.skipif(CAIRN is None, reason="the cairn console script is not installed")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("files")
    out = {"counter": d / "counter.wasm", "bad": d / "bad.wasm", "note": d / "note.txt", "blob": d / "blob.bin"}
    out["counter"].write_bytes(counter_code())
    out["bad"].write_bytes(b"\x00asm\x01\x00\x00\x00 this is not a module")
    out["note"].write_text("héllo @ world")
    out["blob"].write_bytes(bytes(range(256)))
    return out


def contract_of(key: int, nonce: int = 0) -> str:
    return encode_address(contract_address(devnet_account_key(key).address, nonce), "cairn")


def as_json(proc: subprocess.CompletedProcess[str], rc: int = 0) -> Any:
    assert proc.returncode == rc, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr == "", proc.stderr
    return json.loads(proc.stdout)


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> subprocess.CompletedProcess[str]:
    """``cairn ARGV`` in this process (no interpreter start-up), as a finished process."""
    args = [str(a) for a in argv]
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse usage errors
        rc = int(exc.code or 0)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, rc, out.out, out.err)


def test_deploy_call_and_query(devnet: Devnet, env: dict[str, str], files: dict[str, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    rpc = ("--rpc", devnet.url)
    counter = contract_of(0)

    # --- deploys (and a call to nothing), side by side ---------------------------------------
    deployed, bad, no_init, no_contract, quiet = run_many(
        env,
        ("tx", "deploy", files["counter"], "--from", "devnet:0", "--init-arg", "u64:5", "--wait", "--json", *rpc),
        ("tx", "deploy", files["bad"], "--from", "devnet:1", "--wait", *rpc),
        ("tx", "deploy", files["counter"], "--from", "devnet:2", "--wait", "--json", *rpc),  # init needs a u64
        ("tx", "call", addr(9), "get", "--from", "devnet:3", "--wait", "--json", *rpc),
        ("tx", "deploy", files["counter"], "--from", "devnet:4", "--init-args-hex", "00" * 7 + "2a", "--json", *rpc),
    )
    d = as_json(deployed)
    assert d["status"] == "ok" and d["reason"] == "" and d["address"] == counter
    assert d["events"] == [{"module": "contract", "name": "deployed",
                            "attrs": {"address": counter, "code_hash": code_hash(files["counter"].read_bytes()).hex()}}]

    line = fails_with_one_line(bad)  # refused before signing: the chain would charge for it
    assert "not a valid WebAssembly module" in line and "nothing was sent" in line

    n = as_json(no_init, rc=1)
    assert (n["status"], n["reason"]) == ("failed", "abort: bad_args")
    assert "address" not in n  # a failed deploy made no contract

    c = as_json(no_contract, rc=1)
    assert (c["status"], c["reason"]) == ("failed", "no_such_contract")

    q = as_json(quiet)  # without --wait: the hash and the address at once
    assert set(q) == {"hash", "address"} and q["address"] == contract_of(4) and len(q["hash"]) == 64

    # --- calls in transactions ---------------------------------------------------------------
    inc, add, fail, nosuch = run_many(
        env,
        ("tx", "call", counter, "increment", "--from", "devnet:0", "--wait", "--json", *rpc),
        ("tx", "call", counter, "add", "--arg", "u64:10", "--from", "devnet:5", "--wait", *rpc),
        ("tx", "call", counter, "fail", "--from", "devnet:6", "--gas", "100000", "--wait", "--json", *rpc),
        ("tx", "call", counter, "nosuch", "--from", "devnet:7", "--wait", "--json", *rpc),
    )
    i = as_json(inc)
    assert i["status"] == "ok" and len(i["events"]) == 1
    log = i["events"][0]
    assert (log["module"], log["name"]) == ("contract", "log")
    assert log["attrs"]["contract"] == counter and log["attrs"]["topic"] == b"inc".hex()
    assert int(log["attrs"]["data"], 16) in (6, 16)  # before or after the add, whichever came first
    assert add.returncode == 0 and "status:   ok" in add.stdout, (add.stdout, add.stderr)
    f = as_json(fail, rc=1)
    assert (f["status"], f["reason"]) == ("failed", "abort: nope") and 0 < f["gas_used"] <= 100_000
    m = as_json(nosuch, rc=1)
    assert (m["status"], m["reason"]) == ("failed", "no_such_method")

    # --- queries: two as subprocesses, the rest in this process (same CLI, no start-up) ----------
    get, write = run_many(
        env,
        ("query", "contract", counter, "get", "--returns", "u64", "--json", *rpc),
        ("query", "contract", counter, "increment", "--json", *rpc),
    )
    plus_text = cli(capsys, "query", "contract", counter, "plus", "--arg", "u64:4", "--returns", "u64", *rpc)
    echo = cli(capsys, "query", "contract", counter, "echo", "--arg", f"str:@{files['note']}",
               "--arg", f"bytes:@{files['blob']}", "--arg", f"addr:{addr(1)}", "--arg", "u256:" + str(2**255),
               "--arg", "hash:" + "ab" * 32, "--arg", "str:@@x", "--returns", "str,bytes,addr,u256,hash,str",
               "--json", *rpc)
    hexed = cli(capsys, "query", "contract", counter, "plus", "--args-hex", "0x" + "00" * 7 + "01",
                "--returns", "u64", "--json", *rpc)
    wrong_returns = cli(capsys, "query", "contract", counter, "get", "--returns", "u64,str", "--json", *rpc)
    tx = cli(capsys, "query", "tx", i["tx_hash"], "--json", *rpc)
    gone = cli(capsys, "query", "contract", contract_of(2), "get", "--json", *rpc)
    quiet_get = cli(capsys, "query", "contract", contract_of(4), "get", "--returns", "u64", "--json", *rpc)
    g = as_json(get)
    assert g["ok"] is True and g["status"] == "ok" and g["decoded"] == [16] and g["return"] == "00" * 7 + "10"
    assert g["height"] >= i["height"]
    assert plus_text.returncode == 0 and "decoded: [20]" in plus_text.stdout, (plus_text.stdout, plus_text.stderr)
    w = as_json(write, rc=1)  # a failed query prints its result and exits 1
    assert (w["ok"], w["status"], w["reason"]) == (False, "read_only", "read_only") and "decoded" not in w
    assert as_json(echo)["decoded"] == ["héllo @ world", bytes(range(256)).hex(), addr(1), str(2**255),
                                        "ab" * 32, "@x"]
    assert as_json(hexed)["decoded"] == [17]
    assert wrong_returns.returncode == 1  # under --json, the error is JSON on stderr
    assert "--returns" in json.loads(wrong_returns.stderr)["error"]["message"]
    t = as_json(tx)
    assert t["tx"]["kind"] == "call"
    assert t["tx"]["payload"] == {"contract": counter, "method": "increment", "args": "", "value": "0"}
    assert t["receipt"]["status"] == "ok"
    assert (as_json(gone, rc=1)["status"]) == "no_such_contract"  # its deploy failed: no contract
    assert as_json(quiet_get)["decoded"] == [42]  # deployed without --wait, committed since

    # the node kept making blocks through all of it
    devnet.wait_height(devnet.call("node.status")["height"] + 2)
    assert devnet.proc.poll() is None


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("tx", "deploy", "{tmp}/missing.wasm", "--from", "devnet:8"), "missing.wasm"),
        (("tx", "deploy", "{counter}", "--from", "devnet:8", "--init-arg", "u64:x"), "--init-arg 'u64:x'"),
        (("tx", "deploy", "{counter}", "--from", "devnet:8", "--init-args-hex", "xyz"), "--init-args-hex"),
        (("tx", "call", "{a9}", "m", "--from", "devnet:8", "--arg", "u32:1"), "unknown type 'u32'"),
        (("tx", "call", "{a9}", "m", "--from", "devnet:8", "--arg", "u64:-1"), "not a non-negative integer"),
        (("tx", "call", "{a9}", "m", "--from", "devnet:8", "--arg", "bytes:@{tmp}/missing.bin"), "missing.bin"),
        (("tx", "call", "{a9}", "m", "--from", "devnet:8", "--arg", "novalue"), "TYPE:VALUE"),
        (("tx", "call", "{a9}", "m", "--from", "devnet:8", "--args-hex", "0g"), "--args-hex"),
        (("tx", "call", "{a9}", "m", "--from", "devnet:8", "--value", str(2**128)), "--value"),
        (("tx", "call", "{a9}x", "m", "--from", "devnet:8"), "contract address"),
        (("tx", "call", "{a9}", "m", "--from", "nobody"), "nobody"),
        (("query", "contract", "{a9}", "m", "--arg", "str:@{blob}"), "UTF-8"),
        (("query", "contract", "{a9}", "m", "--arg", "addr:cairn1qqqq"), "address"),
        (("query", "contract", "{a9}", "m", "--returns", "u64,int"), "unknown type 'int'"),
        (("query", "contract", "{a9}", "m", "--caller", "nobody"), "--caller"),
        (("query", "contract", "cairn1bad", "m"), "contract address"),
    ],
)
def test_bad_input_is_one_line_on_stderr(devnet: Devnet, files: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                         fragment: str) -> None:
    names = {"tmp": tmp_path, "counter": files["counter"], "blob": files["blob"], "a9": addr(9)}
    proc = cli(capsys, *(a.format(**names) for a in argv), "--rpc", devnet.url)
    assert proc.stdout == "" and fragment in fails_with_one_line(proc), proc.stderr


def test_usage_errors_exit_2_and_nothing_is_sent(devnet: Devnet, files: dict[str, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    both = cli(capsys, "query", "contract", addr(9), "m", "--arg", "u64:1", "--args-hex", "00", "--rpc", devnet.url)
    no_from = cli(capsys, "tx", "deploy", files["counter"], "--rpc", devnet.url)
    no_method = cli(capsys, "tx", "call", addr(9), "--from", "devnet:8", "--rpc", devnet.url)
    for proc, fragment in ((both, "not allowed"), (no_from, "--from"), (no_method, "method")):
        assert proc.stdout == "" and fragment in fails_with_one_line(proc, rc=2), proc.stderr
    # none of the bad commands above sent anything
    assert devnet.call("state.getAccount", address=addr(8))["next_nonce"] == 0
