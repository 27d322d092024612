"""Property: a block of contract calls gives the same state root and receipts root on
every execution: built on one chain, applied on another in this process, and applied
again in a separate Python process (another interpreter, another hash seed).

Blocks are random lists of ``call`` transactions into three deployed script contracts
(``contracts.SCRIPT``) from three senders, each call a random list of host calls:
storage writes, reads and deletes, events, ``random``, AI and quantum enqueues,
transfers, environment reads, nested calls (with value, into any of the three, possibly
failing) and failures of every kind (trap, abort, out of gas, runaway recursion, out of
bounds).  Every return code is kept in storage, so it is part of the state root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chain.block import Block
from chain.codec import encode
from chain.types import Address
from tests.chain.helpers import account
from tests.chain.vm.contracts import SCRATCH, SCRIPT, SCRIPT_NO_INIT, Node, Script

ROOT = Path(__file__).resolve().parents[3]
KEYS = (b"a", b"b", b"c")
MODELS = ("llama3-8b", "llama3-70b", "clip-vit-b")
CIRCUIT = b"OPENQASM 2.0;\nqreg q[2];\ncx q[0],q[1];"

leaf = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), st.binary(min_size=1, max_size=24)),
    st.tuples(st.just("get"), st.sampled_from(KEYS)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS)),
    st.tuples(st.just("emit"), st.binary(max_size=8), st.binary(max_size=24)),
    st.tuples(st.just("random"), st.integers(1, 70)),
    st.tuples(st.just("ai"), st.sampled_from(MODELS), st.integers(1, 64)),
    st.tuples(st.just("quantum"), st.integers(100, 500)),
    st.tuples(st.just("transfer"), st.integers(0, 4), st.integers(0, 3000)),
    st.tuples(st.just("env")),
    st.tuples(st.just("fail"), st.sampled_from(("trap", "abort", "loop", "recurse", "oob"))),
)
command = st.one_of(
    leaf,
    st.tuples(st.just("call"), st.integers(0, 2), st.integers(0, 500), st.lists(leaf, max_size=4)),
)
transaction = st.tuples(
    st.integers(0, 2),  # sender
    st.integers(0, 2),  # contract
    st.integers(0, 1000),  # value
    st.sampled_from((300_000, 2_000_000)),  # gas limit
    st.lists(command, min_size=1, max_size=6).filter(lambda cmds: _fits(cmds)),
)
block_plan = st.lists(transaction, min_size=1, max_size=6)


def _build(s: Script, cmds: list[Any], contracts: list[Address]) -> Script:
    """Materialize commands into ``s``; results that are not return codes go to storage."""
    for cmd in cmds:
        kind = cmd[0]
        if kind == "set":
            s.set(cmd[1], cmd[2])
        elif kind == "get":
            s.get(cmd[1], out=SCRATCH, cap=64)
            s.op("storage_set", s.data(b"copy"), 4, SCRATCH, 8)
        elif kind == "delete":
            s.op("storage_delete", s.data(cmd[1]), len(cmd[1]))
        elif kind == "emit":
            s.emit(cmd[1], cmd[2])
        elif kind == "random":
            s.op("random", SCRATCH + 256, cmd[1])
            s.op("storage_set", s.data(b"rnd"), 3, SCRATCH + 256, cmd[1])
        elif kind == "ai":
            model = cmd[1].encode()
            s.op("ai_enqueue", s.data(model), len(model), s.data(b"say hi"), 6, cmd[2], SCRATCH, 0,
                 SCRATCH + 512, 256)
            s.op("storage_set", s.data(b"job"), 3, SCRATCH + 512, 64)
        elif kind == "quantum":
            s.op("quantum_enqueue", s.data(CIRCUIT), len(CIRCUIT), cmd[1], SCRATCH, 0, SCRATCH + 512, 256)
            s.op("storage_set", s.data(b"job"), 3, SCRATCH + 512, 64)
        elif kind == "transfer":
            to = bytes(account(cmd[1]).address) if cmd[1] < 3 else bytes(contracts[cmd[1] - 3])
            s.op("transfer", s.data(to), s.data(cmd[2].to_bytes(32, "big")))
        elif kind == "env":
            base = SCRATCH + 1024
            s.op("caller", base)
            s.op("self_address", base + 20)
            s.op("value", base + 40)
            s.op("balance", s.data(bytes(account(0).address)), base + 72)
            s.op("block_height")
            s.op("block_time")
            s.op("storage_set", s.data(b"env"), 3, base, 104)
        elif kind == "fail":
            how = cmd[1]
            if how == "abort":
                s.op("abort", s.data(b"no"), 2)
            elif how == "oob":
                s.op("storage_set", 0, 1, 0x7FFFFFF0, 8)
            else:
                s.op(how)
        elif kind == "call":
            inner = _build(Script(), cmd[3], contracts).keep()
            s.call(contracts[cmd[1]], inner.encode(), value=cmd[2], gas=200_000)
        else:  # pragma: no cover
            raise AssertionError(kind)
    return s


def _fits(cmds: list[Any]) -> bool:
    """Whether ``cmds`` (and every nested call's) fit in one script of ``MAX_CMDS`` commands:
    a leaf such as ``env`` is several commands, so six of them may not."""
    try:
        _build(Script(), cmds, _contracts()).keep()
    except ValueError:
        return False
    return True


def _deploy(node: Node) -> Block:
    """Block 1, the same for every example: three contracts, each given 10**8."""
    txs, contracts = [], []
    for code in (SCRIPT, SCRIPT, SCRIPT_NO_INIT):
        tx, addr = node.deploy_tx(code)
        txs.append(tx)
        contracts.append(addr)
    txs += [node.call_tx(c, value=10**8) for c in contracts]
    block, out = node.block(txs)
    assert all(r.ok for r in out.receipts)
    return block


@cache
def _deploy_block() -> Block:
    return _deploy(Node())


def _contracts() -> list[Address]:
    from chain.vm.runtime import contract_address

    return [contract_address(account(0).address, n) for n in range(3)]


def _fresh(*, builds: bool = False) -> Node:
    """A chain at block 1.  One that will build blocks builds block 1 itself (the same
    block: signing is deterministic), so that its proposer's beacon onion stays in step."""
    node = Node()
    if builds:
        assert _deploy(node).hash == _deploy_block().hash
    else:
        node.apply(_deploy_block())
    return node


def test_blocks_of_calls_replay_identically_here_and_in_another_process(tmp_path: Path) -> None:
    contracts = _contracts()
    runs: list[tuple[bytes, list[str]]] = []

    @given(plan=block_plan)
    def same_roots_twice(plan: list[Any]) -> None:
        builder = _fresh(builds=True)
        txs = []
        for sender, target, value, gas, cmds in plan:
            script = _build(Script(), cmds, contracts).keep()
            txs.append(builder.call_tx(contracts[target], "run", script.encode(), value=value, key=sender, gas=gas))
        block, built = builder.block(txs)
        applied = _fresh().apply(block)  # apply_block: raises unless both roots match the header
        assert applied.receipt_bytes == built.receipt_bytes
        assert (applied.state_root, applied.receipts_root) == (built.state_root, built.receipts_root)
        runs.append((block.encode(), [bytes(built.state_root).hex(), bytes(built.receipts_root).hex()]))
        outcomes.update(r.reason.split(":")[0] or "ok" for r in built.receipts)

    outcomes: set[str] = set()
    same_roots_twice()
    assert runs
    assert {"ok", "trap"} <= outcomes  # both kinds of blocks were compared, not only one
    path = tmp_path / "blocks.cbor"
    path.write_bytes(encode([[_deploy_block().encode()], [[raw] for raw, _ in runs]]))
    env = {**os.environ, "PYTHONHASHSEED": "20261122", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.chain.vm.replay", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == [[roots] for _, roots in runs]


def test_the_plans_exercise_every_outcome() -> None:
    """A fixed block touching every command kind once: succeeded and failed calls both
    occur, so the property above is not only ever comparing failures (or successes)."""
    contracts = _contracts()
    kinds: list[Any] = [
        ("set", b"a", b"x"), ("get", b"a"), ("delete", b"b"), ("emit", b"t", b"d"), ("random", 40),
        ("ai", "llama3-8b", 5), ("quantum", 100), ("transfer", 4, 10), ("env",),
        ("call", 1, 5, [("set", b"c", b"y"), ("fail", "trap")]), ("call", 2, 0, [("random", 3)]),
    ]
    node = _fresh(builds=True)
    ok_tx = node.call_tx(contracts[0], "run", _build(Script(), kinds, contracts).keep().encode())
    failing = [node.call_tx(contracts[0], "run", _build(Script(), [("set", b"a", b"z"), ("fail", how)],
                                                        contracts).keep().encode(), gas=300_000)
               for how in ("trap", "abort", "loop", "recurse", "oob")]
    _, out = node.block([ok_tx, *failing])
    assert [r.ok for r in out.receipts] == [True] + [False] * 5
    assert [r.reason for r in out.receipts[1:]] == [
        "trap: unreachable", "abort: no", "out_of_gas", "trap: stack_overflow", "trap: memory_out_of_bounds"]
    assert node.storage(contracts[0], b"a") == b"x"
    assert node.storage(contracts[1], b"c") is None  # the failed nested call was reverted
    kept = node.storage(contracts[0], b"\xffrc") or b""
    rcs = [int.from_bytes(kept[i:i + 8], "little", signed=True) for i in range(0, len(kept), 8)]
    assert -4 in rcs and all(r != -3 for r in rcs)
