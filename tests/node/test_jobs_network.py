"""Jobs on a real network: four validator processes, two reference providers, one killed.

Four ``cairn run`` validators over loopback TCP and two ``cairn provider run`` processes, each
talking to a different validator, so a provider's proof reaches the block's proposer only
through the ``proof`` gossip topic.  Provider A is SIGKILLed before a batch of jobs is
enqueued (so the matcher still leases jobs to it: its last heartbeat is fresh) and restarted
a few blocks later: it picks its leases up again from the chain and its saved progress, and
proves them itself (the genesis leases last 200 blocks here, so its leases outlive the restart;
a silent provider losing its lease to another is ``tests/aicf/test_leases.py``).  Every job
ends resolved, and every validator holds the same blocks, so the same state roots.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from capabilities.abi import encode_args
from capabilities.records import JobReceipt
from chain.codec import encode
from chain.hashing import H
from chain.keys import decode_address, encode_address
from chain.tx import TxBody
from chain.types import Hash32
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key, devnet_attestation_seed, devnet_provider_key
from node.provider.backends import TinyModelBackend
from node.provider.work import ai_envelope, registration
from proofs.devnet import DevnetSigner
from tests.chain.vm.contracts import SCRATCH, SCRIPT, Script
from tests.node.test_network_processes import CAIRN, Net, height, rpc, wait_for

JOBS = 12


class _Provider:
    """A ``cairn provider run`` process with its log file."""

    def __init__(self, net: Net, name: str, key: int, validator: int) -> None:
        self.log = open(net.base_dir / f"provider-{name}.log", "ab")
        self.proc = subprocess.Popen([CAIRN, "provider", "run", "--home", str(net.base_dir / f"provider-{name}"),
                                      "--rpc", net.url(validator), "--devnet-key", str(key), "--poll", "0.2"],
                                     stdout=self.log, stderr=self.log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)
        self.log.close()


def _provider(net: Net, name: str, key: int, validator: int) -> _Provider:
    return _Provider(net, name, key, validator)


def _send(url: str, key: Any, nonce: int, kind: str, payload: Any, gas: int = 5_000_000) -> str:
    body = TxBody("cairn-devnet", nonce, key.public_key, gas, gas, kind, payload)
    return str(rpc(url, "tx.send", tx=body.sign(key).raw.hex())["hash"])


def _receipt(url: str, tx_hash: str) -> Any:
    found: list[Any] = []

    def committed() -> bool:
        doc = _call(url, "tx.getReceipt", hash=tx_hash)
        if doc is not None:
            found.append(doc)
        return bool(found)

    wait_for(committed, f"tx {tx_hash[:12]} to commit")
    return found[0]


def _call(url: str, method: str, **params: Any) -> Any:
    """The result, or None while the node is not up yet or the item not there yet."""
    try:
        doc = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                         timeout=10).json()
    except (httpx.HTTPError, OSError):
        return None
    return doc.get("result")


def _long_leases(net: Net) -> None:
    """Every validator's genesis with 200-block leases (the same file in each home)."""
    for i in range(4):
        path = net.home(i) / "genesis.json"
        doc = json.loads(path.read_text())
        doc["aicf"]["leases"]["lease_blocks"] = 200
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def test_jobs_resolve_with_a_provider_killed_and_restarted(tmp_path: Path, samples: dict[str, bytes]) -> None:
    net = Net.init(tmp_path / "net")
    _long_leases(net)
    providers: dict[str, _Provider] = {}
    try:
        for i in range(4):
            net.start(i)
        providers["a"] = _provider(net, "a", 0, 0)
        providers["b"] = _provider(net, "b", 1, 2)
        a_addr = encode_address(devnet_provider_key(0).address, "cairn")
        b_addr = encode_address(devnet_provider_key(1).address, "cairn")

        def registered() -> bool:
            doc = _call(net.url(1), "aicf.listProviders")
            return doc is not None and sum(p["heartbeat_height"] > 0 for p in doc["providers"]) == 2

        wait_for(registered, "both providers registered and heartbeating")

        owner = devnet_account_key(1)
        agent = contract_address(owner.address, 0)
        deploy = _receipt(net.url(1), _send(net.url(1), owner, 0, "deploy", [samples["ai_agent"], b""], 20_000_000))
        assert deploy["status"] == "ok", deploy

        # A dies with a fresh heartbeat: the matcher still leases jobs to it.
        providers.pop("a").stop(signal.SIGKILL)
        asks = [_send(net.url(3), owner, 1 + k, "call", [bytes(agent), "ask",
                                                         encode_args([("str", "llama3-8b"), ("str", f"question {k}"),
                                                                      ("u64", 16)]), 1_000_000])
                for k in range(JOBS)]
        tasks = []
        for h in asks:
            r = _receipt(net.url(3), h)
            assert r["status"] == "ok", r
            (event,) = [e["attrs"] for e in r["events"] if e["name"] == "enqueued"]
            tasks.append(event["task_id"])
        jobs = [_call(net.url(0), "aicf.getJob", task_id=t) for t in tasks]
        held_by_a = [j["task_id"] for j in jobs if any(le["provider"] == a_addr for le in j["leases"])]
        assert held_by_a, "no job was leased to the stopped provider"

        time.sleep(2.0)  # a few blocks with A's jobs stuck
        assert all(_call(net.url(0), "aicf.getJob", task_id=t)["status"] == "leased" for t in held_by_a)
        providers["a"] = _provider(net, "a", 0, 0)  # restarted: same home, same key

        def all_done() -> bool:
            return all(_call(net.url(2), "aicf.getJob", task_id=t)["status"] in ("resolved", "expired") for t in tasks)

        wait_for(all_done, "every job to resolve or be refunded", timeout=150)
        final = {t: _call(net.url(2), "aicf.getJob", task_id=t) for t in tasks}
        for j in final.values():
            assert j["status"] == "resolved", j
            assert int(j["paid"]) + int(j["refunded"]) == int(j["ceiling"]) and j["result"] is not None
            assert j["result"]["provider"] in (a_addr, b_addr)
        # the restarted provider proved every job it held when it was killed
        assert {final[t]["result"]["provider"] for t in held_by_a} == {a_addr}

        top = min(height(net.url(i)) for i in range(4))
        net.assert_no_fork([0, 1, 2, 3])
        roots = {rpc(net.url(i), "chain.getBlock", height=top)["header"]["state_root"] for i in range(4)}
        assert len(roots) == 1
    finally:
        for p in providers.values():
            p.stop()
        net.stop_all()


def _enqueue_for(contract: bytes, prompt: str, allow: bytes) -> bytes:
    """The SCRIPT contract's ``run`` calling ``ai_enqueue`` for a job only ``allow`` may take."""
    s = Script()
    m, p, o = b"llama3-8b", prompt.encode(), encode({"allow": allow})
    s.op("ai_enqueue", s.data(m), len(m), s.data(p), len(p), 16, s.data(o), len(o), SCRATCH, 256)
    return s.encode()


def test_an_epoch_with_jobs_a_failed_proof_and_a_slash_settles_the_same_on_every_validator(
        tmp_path: Path, samples: dict[str, bytes]) -> None:
    net = Net.init(tmp_path / "net")
    providers: dict[str, _Provider] = {}
    try:
        for i in range(4):
            net.start(i)
        providers["honest"] = _provider(net, "honest", 0, 1)
        wait_for(lambda: all((_call(net.url(i), "node.status") or {}).get("height", 0) >= 1 for i in range(4)),
                 "every validator up and committing")
        cheater = devnet_provider_key(2)
        signer = DevnetSigner.from_seed(devnet_attestation_seed())
        reg = registration("cairn-devnet", cheater, signer, kinds=["ai"], models=["llama3-8b"], stake=10**10)
        assert _receipt(net.url(2), _send(net.url(2), cheater, 0, "provider_register", reg))["status"] == "ok"
        assert _receipt(net.url(2), _send(net.url(2), cheater, 1, "provider_heartbeat",
                                          [1_000, 10, 9_000, 50, 0]))["status"] == "ok"
        owner = devnet_account_key(2)
        agent, script = contract_address(owner.address, 0), contract_address(owner.address, 1)
        for nonce, code in ((0, samples["ai_agent"]), (1, SCRIPT)):
            assert _receipt(net.url(3), _send(net.url(3), owner, nonce, "deploy", [code, b""], 20_000_000))[
                "status"] == "ok"
        asks = [_send(net.url(3), owner, 2 + k, "call", [bytes(agent), "ask", encode_args(
            [("str", "llama3-8b"), ("str", f"question {k}"), ("u64", 16)]), 1_000_000]) for k in range(3)]
        trap = _send(net.url(3), owner, 5, "call", [bytes(script), "run",
                                                    _enqueue_for(script, "for the cheater", cheater.address),
                                                    1_000_000])
        tasks = [next(e["attrs"]["task_id"] for e in _receipt(net.url(3), h)["events"] if e["name"] == "enqueued")
                 for h in (*asks, trap)]
        cheat_task = tasks[-1]

        def leased_to_cheater() -> bool:
            job = _call(net.url(0), "aicf.getJob", task_id=cheat_task)
            return job is not None and job["status"] == "leased"

        wait_for(leased_to_cheater, "the restricted job leased to the cheating provider")
        job = _call(net.url(0), "aicf.getJob", task_id=cheat_task)
        receipt = JobReceipt(bytes.fromhex(cheat_task), "ai", decode_address(job["receipt"]["requester"]),
                             int(job["receipt"]["fee_escrowed"]), int(job["receipt"]["price_ceiling"]),
                             job["receipt"]["sla_deadline"], job["receipt"]["enqueue_height"],
                             Hash32(H(b"not", b"the request")))  # a proof for another input: it fails
        out = TinyModelBackend().run("llama3-8b", "for the cheater", 16)
        bad = ai_envelope("cairn-devnet", cheater, signer, receipt, "llama3-8b", out)
        assert _call(net.url(1), "aicf.submitProof", envelope=bad.encode().hex()) is not None

        def slashed() -> bool:
            doc = _call(net.url(2), "aicf.getProvider", address=encode_address(cheater.address, "cairn"))
            return doc is not None and bool(doc["slashes"])

        wait_for(slashed, "the cheating provider to be slashed")
        wait_for(lambda: all(_call(net.url(0), "aicf.getJob", task_id=t)["status"] == "resolved" for t in tasks[:3]),
                 "the honest jobs to resolve")
        settled_at = height(net.url(0))
        epoch = (settled_at - 1) // 20 + 1  # the epoch the last of these happened in settles at its end
        wait_for(lambda: all(height(net.url(i)) >= epoch * 20 + 1 for i in range(4)), f"epoch {epoch} to settle",
                 timeout=90)
        records = [_call(net.url(i), "state.getProof", kind="epoch", id=epoch, height=epoch * 20) for i in range(4)]
        assert len({r["value"] for r in records}) == 1 and records[0]["value"] is not None
        assert len({r["state_root"] for r in records}) == 1
        views = []
        for i in range(4):
            doc = _call(net.url(i), "aicf.getEpoch", epoch=epoch)
            doc.pop("height")
            views.append(doc)
        assert all(v == views[0] for v in views)
        slashed_total = sum(int(_call(net.url(0), "aicf.getEpoch", epoch=e)["slashed_in"]) for e in range(1, epoch + 1))
        assert slashed_total == 10**10 * 1_000 // 10_000
        paid = sum(int(_call(net.url(0), "aicf.getEpoch", epoch=e)["payouts"]) for e in range(1, epoch + 1))
        assert paid == 3  # the honest replicas; the cheater's job was never paid
        net.assert_no_fork([0, 1, 2, 3])
    finally:
        for p in providers.values():
            p.stop()
        net.stop_all()
