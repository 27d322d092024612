"""The light client against four validator processes (``node.light``, ``chain.light``).

Four ``cairn run`` validators over loopback TCP and the reference provider: a job is asked,
proven, resolved and paid at the epoch's end.  A light client trusting only the genesis file
then proves an account, the job, its result and its payout, each against a header it verified
by commits; it refuses a forged header, a forged commit, a tampered proof and a different
genesis, each naming the check that failed.  The tampering happens in a JSON-RPC proxy in
front of a real node (a test double at the edge: the network a light client cannot trust).
Last, a "witness" that serves a conflicting header at a height, signed by three of the four
devnet validator keys (public, as devnet keys are), makes the client report double-sign
evidence, which a block commits: the three validators are slashed and tombstoned.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from capabilities.abi import encode_args
from chain.block import Commit, Header, sign_commit_sig
from chain.keys import encode_address
from chain.types import Hash32
from chain.vm.runtime import contract_address
from genesis.build import build_genesis, validator_set
from genesis.devnet import devnet_account_key, devnet_genesis, devnet_validator_key
from genesis.schema import load_genesis
from node.client import RpcClient
from node.light import LightError, LightSession, Source, query_key, show_value
from tests.node.test_jobs_network import _call, _provider, _receipt, _send
from tests.node.test_network_processes import CAIRN, Net, free_base, height, wait_for

YEAR_MS = 400 * 24 * 3600 * 1000
"""The devnet genesis is dated 2026-01-01; trusting it needs a long trusting period."""


class TamperingProxy:
    """A JSON-RPC proxy to ``upstream`` whose ``tamper(method, params, result)`` may rewrite answers."""

    def __init__(self, upstream: str, tamper: Callable[[str, dict[str, Any], Any], Any]) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                doc = httpx.post(upstream, json=body, timeout=10).json()
                if "result" in doc:
                    doc["result"] = proxy.tamper(body["method"], body.get("params") or {}, doc["result"])
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.tamper = tamper
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, samples: dict[str, bytes]) -> Iterator[dict[str, Any]]:
    """Four validators and a provider; one AI job asked, resolved and paid (epoch 1 or 2)."""
    net = Net.init(tmp_path_factory.mktemp("light") / "net")
    provider = None
    try:
        for i in range(4):
            net.start(i)
        provider = _provider(net, "honest", 0, 1)
        wait_for(lambda: (_call(net.url(1), "aicf.listProviders") or {"providers": []})["providers"] != [] and
                 _call(net.url(1), "aicf.listProviders")["providers"][0]["heartbeat_height"] > 0,
                 "the provider registered and heartbeating")
        owner = devnet_account_key(3)
        agent = contract_address(owner.address, 0)
        assert _receipt(net.url(2), _send(net.url(2), owner, 0, "deploy", [samples["ai_agent"], b""],
                                          20_000_000))["status"] == "ok"
        ask = _receipt(net.url(2), _send(net.url(2), owner, 1, "call", [bytes(agent), "ask", encode_args(
            [("str", "llama3-8b"), ("str", "light question"), ("u64", 16)]), 1_000_000]))
        task = next(e["attrs"]["task_id"] for e in ask["events"] if e["name"] == "enqueued")
        wait_for(lambda: _call(net.url(0), "aicf.getJob", task_id=task)["status"] == "resolved", "the job resolved")
        wait_for(lambda: _call(net.url(3), "aicf.getPayout", task_id=task) is not None, "the job paid", timeout=90)
        yield {"net": net, "task": task, "owner": owner, "agent": agent,
               "genesis": load_genesis((net.home(0) / "genesis.json").read_bytes())}
    finally:
        if provider is not None:
            provider.stop()
        net.stop_all()


def _session(url: str, genesis: Any, *, witnesses: tuple[str, ...] = ()) -> LightSession:
    now = lambda: int(httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "chain.getHead"},  # noqa: E731
                                 timeout=10).json()["result"]["time_ms"]) + 1_000
    sources = [Source(RpcClient(u)) for u in (url, *witnesses)]
    try:
        return LightSession.from_genesis(sources[0], build_genesis(genesis).header, validator_set(genesis),
                                         witnesses=sources[1:], now_ms=now, trusting_period_ms=YEAR_MS)
    except LightError:
        for source in sources:
            source.close()
        raise


def _prove(session: LightSession, kind: str, ident: str) -> Any:
    k, i, key = query_key(kind, ident, "cairn")
    value, header = session.prove(k, i, key)
    return show_value(kind, value), header


def test_the_light_client_proves_an_account_a_job_its_result_and_its_payout(chain: dict[str, Any]) -> None:
    net = chain["net"]
    with _session(net.url(0), chain["genesis"], witnesses=(net.url(1), net.url(2))) as session:
        _proves(session, chain)


def _proves(session: LightSession, chain: dict[str, Any]) -> None:
    net, task = chain["net"], chain["task"]
    account, header = _prove(session, "account", encode_address(chain["owner"].address, "cairn"))
    assert header.height >= 20 and session.warnings == []
    rpc_account = _call(net.url(0), "state.getAccount", address=encode_address(chain["owner"].address, "cairn"),
                        height=header.height)
    assert str(account["balance"]) == rpc_account["balance"]
    job, _ = _prove(session, "job", task)
    assert job["status"] == "resolved" and job["task_id"] == task
    result, _ = _prove(session, "result", task)
    assert result["task_id"] == task and result["proof_hash"] == job["results"][0]["proof_hash"]
    payout, _ = _prove(session, "payout", task)
    (share,) = payout["shares"]
    assert share["proof_hash"] == result["proof_hash"]
    rpc_share = _call(net.url(0), "aicf.getPayout", task_id=task)["shares"][0]
    assert str(share["provider_share"]) == rpc_share["provider_share"]
    absent, _ = _prove(session, "payout", "ab" * 32)
    assert absent is None  # proven absent, not just missing


def _refusal(session_of: Callable[[], LightSession], kind: str, ident: str) -> str:
    with pytest.raises(LightError) as info, session_of() as session:
        _prove(session, kind, ident)
    return info.value.check


@pytest.mark.parametrize("forgery", ["header", "commit", "proof"])
def test_forgeries_are_refused_with_the_check_that_caught_them(chain: dict[str, Any], forgery: str) -> None:
    net, task = chain["net"], chain["task"]

    def tamper(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "chain.getCommit" and forgery == "header":
            header = Header.decode(bytes.fromhex(result["header"]["raw"]))
            result["header"]["raw"] = replace(header, state_root=Hash32(b"\x66" * 32)).encode().hex()
        if method == "chain.getCommit" and forgery == "commit":
            raw = bytearray(bytes.fromhex(result["commit"]["raw"]))
            raw[-3] ^= 1  # inside the last signature
            result["commit"]["raw"] = raw.hex()
        if method == "state.getProof" and forgery == "proof" and result["value"] is not None:
            value = bytearray(bytes.fromhex(result["value"]))
            value[-1] ^= 1
            result["value"] = value.hex()
        return result

    proxy = TamperingProxy(net.url(0), tamper)
    try:
        check = _refusal(lambda: _session(proxy.url, chain["genesis"]), "job", task)
    finally:
        proxy.close()
    assert check == {"header": "commit", "commit": "commit", "proof": "proof"}[forgery]


def test_a_different_genesis_is_refused(chain: dict[str, Any]) -> None:
    net = chain["net"]
    other = replace(devnet_genesis(4), genesis_time_ms=chain["genesis"].genesis_time_ms + 1)
    with pytest.raises(LightError) as info:
        _session(net.url(0), other)
    assert info.value.check == "trusted_hash"
    with pytest.raises(LightError) as info:
        _session(net.url(0), devnet_genesis(4, chain_id="cairn-other"))
    assert info.value.check == "chain"


def test_a_witness_conflict_becomes_evidence_that_a_block_commits(chain: dict[str, Any]) -> None:
    net = chain["net"]
    target = height(net.url(0)) - 1
    real = _call(net.url(0), "chain.getCommit", height=target)
    header = Header.decode(bytes.fromhex(real["header"]["raw"]))
    commit = Commit.decode(bytes.fromhex(real["commit"]["raw"]))
    forged = replace(header, time_ms=header.time_ms + 1)
    keys = {bytes(devnet_validator_key(i).address): devnet_validator_key(i) for i in range(4)}
    signed = [bytes(sig.validator) for sig in commit.signatures]
    signers = sorted((keys[a] for a in signed[:3]), key=lambda k: bytes(k.address))  # 3 of 4: > 2/3
    forged_commit = Commit(target, commit.round, forged.hash(), tuple(
        sign_commit_sig(k, header.chain_id, target, commit.round, forged.hash(), header.time_ms + 5) for k in signers))

    def fork(method: str, params: dict[str, Any], result: Any) -> Any:
        if method == "chain.getCommit" and params.get("height") == target:
            result["header"]["raw"] = forged.encode().hex()
            result["commit"]["raw"] = forged_commit.encode().hex()
        return result

    witness = TamperingProxy(net.url(3), fork)
    try:
        with _session(net.url(0), chain["genesis"], witnesses=(witness.url,)) as session:
            with pytest.raises(LightError) as info:
                session.verify_to(target)
            assert info.value.check == "witness_conflict"
            assert len(session.submitted) == 3, session.warnings
    finally:
        witness.close()

    def slashed() -> bool:
        top = height(net.url(1))
        return any(_call(net.url(1), "chain.getBlock", height=h)["evidence"] for h in range(target, top + 1))

    wait_for(slashed, "a block to commit the evidence", timeout=60)
    # tombstoned validators leave the set at the next epoch boundary (20 blocks on the devnet)
    offenders = {encode_address(k.address, "cairn") for k in signers}

    def dropped() -> bool:
        doc = _call(net.url(3), "chain.getValidators", height=height(net.url(3)) + 2)
        return doc is not None and not offenders & {v["address"] for v in doc["validators"]}

    wait_for(dropped, "the double-signers to leave the validator set", timeout=90)


def _post(url: str, method: str, **params: Any) -> Any:
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30).json()


def _serve(tmp_path: Path, upstream: str, genesis_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_base(1)
    with open(tmp_path / "light-serve.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([CAIRN, "light", "serve", "--rpc", upstream, "--genesis", str(genesis_file),
                                 "--laddr", f"127.0.0.1:{port}", "--trusting-period-s", str(YEAR_MS // 1000)],
                                stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return "result" in _post(url, "chain.getHead")
        except httpx.HTTPError:
            return False

    wait_for(up, "the light proxy to answer")
    return proc, url


def test_the_light_proxy_answers_like_a_node_from_verified_data_only(chain: dict[str, Any], tmp_path: Path) -> None:
    net, task = chain["net"], chain["task"]
    proc, url = _serve(tmp_path, net.url(0), net.home(0) / "genesis.json")
    try:
        owner = encode_address(chain["owner"].address, "cairn")
        mine = _post(url, "state.getAccount", address=owner)["result"]
        theirs = _call(net.url(0), "state.getAccount", address=owner, height=mine["height"])
        assert mine["balance"] == theirs["balance"] and mine["state_root"] == theirs["state_root"]
        result = _post(url, "cap.readResult", task_id=task)["result"]
        assert result["result"] == _call(net.url(0), "cap.readResult", task_id=task)["result"]
        payout = _post(url, "aicf.getPayout", task_id=task)["result"]
        assert payout["shares"] == _call(net.url(0), "aicf.getPayout", task_id=task)["shares"]
        epoch = _post(url, "aicf.getEpoch", epoch=payout["shares"][0]["epoch"])["result"]
        assert epoch["payouts"] >= 1 and epoch["settled"]
        assert _post(url, "tx.send", tx="00")["error"]["code"] == -32601  # nothing unverifiable passes
    finally:
        proc.terminate()
        proc.wait(timeout=10)
