"""The three sample contracts, built from source with the SDK, on a running devnet via the CLI.

Each step is a ``cairn`` subprocess against one devnet node on loopback (the helpers and
fixtures of tests/node/test_cli_contracts.py); commands that do not depend on each other
run side by side from different devnet keys.  The devnet runs the reference provider (as
``make run`` does), so the AI agent's job and a quantum job complete, and the contract reads
its answer in a later block, all through the CLI.
"""

from __future__ import annotations

from pathlib import Path

import cbor2

from capabilities.records import AiRequest, ResultRecord
from capabilities.task import task_id
from chain.keys import decode_address
from tests.chain.vm.contracts import FLOATS, MEM_BYTES, SCRIPT, Script
from tests.node import test_cli
from tests.node.test_cli import Devnet, addr, run_many
from tests.node.test_cli_contracts import as_json, contract_of

env = test_cli.env  # the module-scoped fixtures of test_cli.py: a throwaway HOME, one devnet node
devnet = test_cli.devnet

ZK_GAS = "45000000"


def test_samples_on_a_devnet(devnet: Devnet, env: dict[str, str], samples: dict[str, bytes],
                             vectors: Path, tmp_path: Path) -> None:
    rpc = ("--rpc", devnet.url)
    wasm = {}
    for name in ("token", "ai_agent", "zk_vault"):
        wasm[name] = tmp_path / f"{name}.wasm"
        wasm[name].write_bytes(samples[name])
    zk = vectors / "groth16" / "risc0_multiplier_1pub"
    token, agent, vault = contract_of(0), contract_of(1), contract_of(2)

    deployed = run_many(
        env,
        ("tx", "deploy", wasm["token"], "--from", "devnet:0", "--init-arg", "u64:1000", "--wait", "--json", *rpc),
        ("tx", "deploy", wasm["ai_agent"], "--from", "devnet:1", "--wait", "--json", *rpc),
        ("tx", "deploy", wasm["zk_vault"], "--from", "devnet:2", "--init-arg", f"bytes:@{zk}/verification_key.json",
         "--wait", "--json", *rpc),
    )
    assert [as_json(p)["address"] for p in deployed] == [token, agent, vault]

    payee = addr(8)
    start_payee = int(devnet.call("state.getAccount", address=payee)["balance"])
    transfer, overdraw, ask, deposit = run_many(
        env,
        ("tx", "call", token, "transfer", "--arg", f"addr:{addr(7)}", "--arg", "u64:250", "--from", "devnet:0",
         "--wait", "--json", *rpc),
        ("tx", "call", token, "transfer", "--arg", f"addr:{addr(7)}", "--arg", "u64:1", "--from", "devnet:3",
         "--wait", "--json", *rpc),
        ("tx", "call", agent, "ask", "--arg", "str:llama3-8b", "--arg", "str:Is 33 = 3 x 11?", "--arg", "u64:64",
         "--value", "1000000000", "--from", "devnet:1", "--wait", "--json", *rpc),
        ("tx", "call", vault, "deposit", "--value", "5000", "--from", "devnet:2", "--wait", "--json", *rpc),
    )
    t = as_json(transfer)
    assert [(e["module"], e["name"]) for e in t["events"]] == [("contract", "log")]
    assert as_json(overdraw, rc=1)["reason"] == "abort: insufficient"  # devnet:3 holds no tokens
    a = as_json(ask)
    enqueued = [e["attrs"] for e in a["events"] if (e["module"], e["name"]) == ("capabilities", "enqueued")]
    payload = AiRequest("llama3-8b", "Is 33 = 3 x 11?", 64).encode()
    expected = task_id("cairn-devnet", a["height"], bytes.fromhex(a["tx_hash"]), decode_address(agent, "cairn"),
                       payload, 0)
    assert [e["task_id"] for e in enqueued] == [bytes(expected).hex()]
    assert as_json(deposit)["status"] == "ok"

    bad, good = run_many(
        env,
        ("tx", "call", vault, "withdraw", "--arg", f"bytes:@{zk}/proof.json", "--arg", f"bytes:@{zk}/public_bad.json",
         "--arg", f"addr:{payee}", "--gas", ZK_GAS, "--from", "devnet:4", "--wait", "--json", *rpc),
        ("query", "contract", token, "balance_of", "--arg", f"addr:{addr(7)}", "--returns", "u64", "--json", *rpc),
    )
    assert as_json(bad, rc=1)["reason"] == "abort: invalid_proof"
    assert as_json(good)["decoded"] == [250]
    withdraw, mine, task, answer = run_many(
        env,
        ("tx", "call", vault, "withdraw", "--arg", f"bytes:@{zk}/proof.json", "--arg", f"bytes:@{zk}/public.json",
         "--arg", f"addr:{payee}", "--gas", ZK_GAS, "--from", "devnet:4", "--wait", "--json", *rpc),
        ("query", "contract", token, "balance_of", "--arg", f"addr:{addr(0)}", "--returns", "u64", "--json", *rpc),
        ("query", "contract", agent, "task", "--returns", "hash", "--json", *rpc),
        ("query", "contract", agent, "answer", "--json", *rpc),
    )
    w = as_json(withdraw)
    assert w["status"] == "ok", w
    assert int(devnet.call("state.getAccount", address=payee)["balance"]) == start_payee + 5000
    assert as_json(mine)["decoded"] == [750]
    assert as_json(task)["decoded"] == [bytes(expected).hex()]
    early = as_json(answer)
    assert early["ok"] and early["return"][:16] in ("0" * 16, "0" * 15 + "1")  # u64 0, or 1 if already answered

    # The reference provider runs the job; the contract reads the ResultRecord a block later.
    tid = bytes(expected).hex()
    job, = run_many(env, ("job", "show", tid, "--wait", "--json", *rpc))
    j = as_json(job)
    assert j["status"] == "resolved" and j["end_reason"] == "verified", j
    result = j["result"]
    assert result["committed_height"] > a["height"] and int(j["paid"]) + int(j["refunded"]) == int(j["ceiling"])
    words = bytes.fromhex(result["output"]).decode().split()
    assert len(words) == 64  # the built-in model answers with max_tokens words
    answer, = run_many(env, ("query", "contract", agent, "answer", "--returns", "u64,bytes", "--json", *rpc))
    a2 = as_json(answer)
    flag, record = a2["decoded"]
    assert flag == 1 and a2["height"] > result["committed_height"]
    read = ResultRecord.decode(bytes.fromhex(record))
    assert (bytes(read.task_id).hex(), read.output, read.committed_height) == (
        tid, bytes.fromhex(result["output"]), result["committed_height"])

    # A quantum job from a second agent: commit, the next beacon, reveal, verified.
    circuit = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1]; measure q -> c;'
    second = contract_of(9)
    deploy, = run_many(env, ("tx", "deploy", wasm["ai_agent"], "--from", "devnet:9", "--wait", "--json", *rpc))
    assert as_json(deploy)["address"] == second
    asked, = run_many(env, ("tx", "call", second, "ask_quantum", "--arg", f"str:{circuit}", "--arg", "u64:200",
                            "--value", "30000000", "--from", "devnet:9", "--wait", "--json", *rpc))
    (q_event,) = [e["attrs"] for e in as_json(asked)["events"] if e["name"] == "enqueued"]
    qjob, = run_many(env, ("job", "show", q_event["task_id"], "--wait", "--json", *rpc))
    q = as_json(qjob)
    assert q["status"] == "resolved" and q["kind"] == "quantum", q
    histogram = cbor2.loads(bytes.fromhex(q["result"]["output"]))
    assert sum(n for _, n in histogram) == 200 and {o for o, _ in histogram} <= {0, 3}  # a Bell pair: 00 or 11

    devnet.wait_height(devnet.call("node.status")["height"] + 2)
    assert devnet.proc.poll() is None


def test_hostile_contracts_on_a_devnet(devnet: Devnet, env: dict[str, str], tmp_path: Path) -> None:
    """An infinite loop, a memory bomb, runaway recursion and a float-heavy contract, sent
    through the CLI to a running node: each gets a failed (or, for floats, ok) receipt with
    a stable reason and the gas rules' charge, and the node keeps producing blocks."""
    rpc = ("--rpc", devnet.url)
    files = {"script": tmp_path / "script.wasm", "floats": tmp_path / "floats.wasm"}
    files["script"].write_bytes(SCRIPT)
    files["floats"].write_bytes(FLOATS)
    script, floats = contract_of(5), contract_of(6)
    d1, d2 = run_many(env, ("tx", "deploy", files["script"], "--from", "devnet:5", "--wait", "--json", *rpc),
                      ("tx", "deploy", files["floats"], "--from", "devnet:6", "--wait", "--json", *rpc))
    assert (as_json(d1)["address"], as_json(d2)["address"]) == (script, floats)

    def hostile(op: str, *args: int) -> str:
        s = Script()
        s.op(op, *args)
        return s.encode().hex()

    gas = "3000000"
    loop, bomb, recurse, flt = run_many(
        env,
        ("tx", "call", script, "run", "--args-hex", hostile("loop"), "--gas", gas, "--from", "devnet:5",
         "--wait", "--json", *rpc),
        ("tx", "call", script, "run", "--args-hex", hostile("bomb_forever", MEM_BYTES), "--gas", gas,
         "--from", "devnet:7", "--wait", "--json", *rpc),
        ("tx", "call", script, "run", "--args-hex", hostile("recurse"), "--gas", gas, "--from", "devnet:8",
         "--wait", "--json", *rpc),
        ("tx", "call", floats, "run", "--gas", gas, "--from", "devnet:6", "--wait", "--json", *rpc),
    )
    for proc, reason in ((loop, "out_of_gas"), (bomb, "out_of_gas"), (recurse, "trap: stack_overflow")):
        r = as_json(proc, rc=1)
        assert (r["status"], r["reason"]) == ("failed", reason), r
        assert r["gas_used"] == int(gas)  # wasm traps and out-of-gas charge the whole limit
    assert as_json(flt)["status"] == "ok"
    start = devnet.call("node.status")["height"]
    devnet.wait_height(start + 2)
    assert devnet.proc.poll() is None
