"""``make demo``: the AICF seed's worked example (§10), run against a devnet over JSON-RPC.

``python -m node.demo --rpc URL`` drives a running one-validator devnet with its reference
provider (``make run``) and prints each step in plain words:

1. deploys the ``ai_agent`` sample (built from ``contracts/samples`` with ``contracts/build.py``,
   or ``--wasm FILE``) and calls ``ask`` (``llama3-8b``);
2. follows the job: the lease the matcher gave the reference provider, the ``AI_V1`` proof a
   block included and the validator verified, the ``ResultRecord`` the resolver wrote, and the
   answer the contract reads (``answer``) in a later block;
3. the same for a quantum job (``ask_quantum``, a Bell circuit);
4. waits for the epoch that pays both, prints each payout (units, base rate, multipliers, the
   three shares) and checks it as a light client would (``node.light``): the header's commit against the
   validator set, trusted from the devnet genesis (``chain.light``), then the sparse Merkle
   proof of the ``Payout`` record against that header's ``state_root``;
5. registers a cheating provider (a devnet provider key, the public devnet attestation
   signer) and has it submit an ``AI_V1`` proof whose attestation binds another output digest
   than the body's: the block includes it as a failed proof, the provider is slashed
   (``bad_proof``) and jailed, the job is requeued and the reference provider completes it.

How the cheater gets a lease.  The ``ask`` method passes no options, so the cheater's job is
asked with the agent's ``ask_with``, whose ``opts`` are ``{"allow": cheater ‖ reference
provider}``.  The matcher's pick among allowed providers is a draw from the block's beacon
weighted by health, so a job may go to the reference provider instead; the demo then asks
again (at most ``CHEAT_ATTEMPTS`` times).  The reference provider is in the list so that the
requeued job has someone left to complete it: the cheater is excluded from the job for good.

Every wait is bounded; a failed check is one line on stderr and exit 1, no node at the URL
exit 3.  :func:`main` is importable: ``tests/node/test_demo.py`` runs it against a devnet.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from aicf.records import ProviderRecord, decode_record, provider_key
from aicf.settlement import Payout, payout_key
from capabilities.abi import decode_values, encode_args
from capabilities.records import JobReceipt, ResultRecord
from chain.block import Header
from chain.codec import decode, encode
from chain.errors import ChainError, ErrorCode
from chain.keys import PrivateKey, decode_address, encode_address
from chain.tx import TxBody
from chain.types import Hash32
from genesis.build import build_genesis, validator_set
from genesis.devnet import (
    DEVNET_MEASUREMENT,
    DEVNET_PROVIDERS,
    devnet_account_key,
    devnet_attestation_seed,
    devnet_genesis,
    devnet_provider_key,
)
from genesis.schema import Genesis
from node.cli import deploy_gas
from node.client import NodeUnreachable, RpcClient, RpcClientError
from node.light import LightError, LightSession, Source
from node.provider.backends import TinyModelBackend
from node.provider.work import ed25519, registration
from proofs.ai import AiBody, DevnetEvidence, QosReport, ai_output_digest
from proofs.devnet import DevnetSigner, report_data_for
from proofs.envelope import ProofType, seal_envelope

T = TypeVar("T")

DEFAULT_RPC = "http://127.0.0.1:26657"
ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "contracts" / "build.py"

MODEL = "llama3-8b"
PROMPT = "Is 33 = 3 x 11?"
MAX_TOKENS = 64
AGENT_VALUE = 1_000_000_000
"""Sent with each ``ask``: the agent pays each job's ceiling into escrow from its balance."""
BELL = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1]; measure q -> c;'
SHOTS = 200
CHEAT_PROMPT = "Which provider will answer this?"
CHEAT_TOKENS = 16
CHEAT_ATTEMPTS = 10
CHEAT_STAKE = 10**10

OWNER = devnet_account_key(7)
"""Deploys and calls the agent (devnet:7)."""
FUNDER = devnet_account_key(8)
"""Funds a fresh cheating provider once devnet provider keys 1..3 are all registered (devnet:8)."""
HONEST = devnet_provider_key(0)
"""The reference provider ``make run`` starts."""

CALL_GAS = 5_000_000
PROVIDER_GAS = 2_000_000
HEARTBEAT = [1000, 3, 10_000, 40, 0]
"""The cheater's telemetry: bandwidth Mbit/s, latency ms, free compute bp, °C, errors."""
TRUSTING_PERIOD_MS = 10 * 365 * 86_400_000
"""The devnet genesis is the light client's checkpoint.  Its time is fixed (2026-01-01), so the
demo trusts it for ten years; a real client would start from a recent checkpoint instead."""


class DemoFailed(Exception):
    """A check did not hold; the message is the one line printed."""


def units(milli: int) -> str:
    """Milli-units as units with three decimals."""
    return f"{milli // 1000}.{milli % 1000:03d}"


def factor(bp: int) -> str:
    """Basis points as a factor: 11500 → ``×1.15``."""
    return f"×{bp / 10_000:.4g}"


def _short(hex_text: str) -> str:
    return hex_text[:16] + "…"


@dataclass
class Demo:
    """One run against one node."""

    client: RpcClient
    out: TextIO
    timeout: float = 60.0
    """The longest any one step may wait."""
    stall: float = 30.0
    """How long without a new block before a wait gives up."""
    genesis: Genesis = field(default_factory=devnet_genesis)
    chain_id: str = ""
    prefix: str = "cairn"
    gas_price: int = 1
    results: dict[str, Any] = field(default_factory=dict)
    """What the run saw, by step (for tests)."""

    # --- plumbing -----------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def call(self, rpc_method: str, /, **params: Any) -> Any:
        return self.client.call(rpc_method, **params)

    def addr(self, address: bytes) -> str:
        return encode_address(address, self.prefix)

    def height(self) -> int:
        return int(self.call("node.status")["height"])

    def wait(self, what: str, probe: Callable[[], T | None], timeout: float | None = None) -> T:
        """Poll ``probe`` until it returns something; fail after ``timeout`` or a stalled chain."""
        limit = self.timeout if timeout is None else timeout
        start = time.monotonic()
        last_height, last_change = -1, start
        while True:
            got = probe()
            if got is not None:
                return got
            now = time.monotonic()
            h = self.height()
            if h != last_height:
                last_height, last_change = h, now
            elif now - last_change > self.stall:
                raise DemoFailed(f"no block for {self.stall:.0f} s while waiting for {what}: is `make run` running?")
            if now - start > limit:
                raise DemoFailed(f"{what}: not within {limit:.0f} s (head {h})")
            time.sleep(0.1)

    def send(self, key: PrivateKey, kind: str, payload: Any, gas: int) -> dict[str, Any]:
        """Sign, send and wait for the receipt; fail unless it is ``ok``."""
        nonce = int(self.call("state.getAccount", address=self.addr(key.address))["next_nonce"])
        body = TxBody(self.chain_id, nonce, key.public_key, gas * self.gas_price, gas, kind, payload)
        tx_hash = self.call("tx.send", tx=body.sign(key).raw.hex())["hash"]

        def receipt() -> dict[str, Any] | None:
            try:
                return dict(self.call("tx.getReceipt", hash=tx_hash))
            except RpcClientError as exc:
                if isinstance(exc.data, dict) and exc.data.get("name") == "NOT_FOUND":
                    return None
                raise

        r = self.wait(f"the receipt of the {kind} transaction {tx_hash}", receipt)
        if r["status"] != "ok":
            raise DemoFailed(f"{kind} transaction {tx_hash} failed: {r.get('reason')}")
        return r

    def job(self, task: str) -> dict[str, Any]:
        return dict(self.call("aicf.getJob", task_id=task))

    def job_in(self, task: str, statuses: Sequence[str], what: str, timeout: float | None = None) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            j = self.job(task)
            if j["status"] in ("expired", "revoked") and j["status"] not in statuses:
                raise DemoFailed(f"job {task} {j['status']} ({j['end_reason']}) while waiting for {what}")
            return j if j["status"] in statuses else None
        return self.wait(what, probe, timeout)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            raise DemoFailed(message)

    def proof_block(self, envelope_hex: str, since: int) -> int:
        """The height of the block, at or after ``since``, whose proofs section holds the envelope."""
        seen = since - 1

        def probe() -> int | None:
            nonlocal seen
            head = self.height()
            while seen < head:
                seen += 1
                if envelope_hex in self.call("chain.getBlock", height=seen)["proofs"]:
                    return seen
            return None
        return self.wait("a block including the proof", probe)

    # --- the steps ----------------------------------------------------------------------

    def connect(self) -> None:
        status = self.call("node.status")
        self.chain_id, self.prefix = status["chain_id"], status["address_prefix"]
        self.gas_price = int(status.get("min_gas_price", 1))
        for n in range(1, 8):
            g = devnet_genesis(n)
            if g.hash().hex() == status["genesis_hash"]:
                self.genesis = g
                break
        else:
            raise DemoFailed(f"the node at {self.client.url} is not on a devnet genesis (chain {self.chain_id}): "
                             "the demo needs `make run`")
        self.say(f"Connected to {self.chain_id} at {self.client.url}: head {status['height']}, "
                 f"{len(self.genesis.validators)} validator(s).")
        honest = self.addr(HONEST.address)

        def ready() -> dict[str, Any] | None:
            try:
                p = self.call("aicf.getProvider", address=honest)
            except RpcClientError as exc:
                if exc.code == ErrorCode.NOT_FOUND:
                    return None
                raise
            return dict(p) if p["eligible"] else None

        self.wait(f"the reference provider {honest} to register and heartbeat "
                  "(`make run` starts it; `cairn devnet --no-provider` does not)", ready)

    def deploy(self, code: bytes) -> str:
        self.say("\n1. Deploy the ai_agent sample contract")
        r = self.send(OWNER, "deploy", [code, b""], deploy_gas(code, 0))
        (event,) = [e for e in r["events"] if (e["module"], e["name"]) == ("contract", "deployed")]
        agent = str(event["attrs"]["address"])
        self.say(f"   deployed by {self.addr(OWNER.address)} at {agent} (block {r['height']}, "
                 f"{len(code)} bytes of wasm)")
        return agent

    def ask(self, agent: str, method: str, args: bytes, what: str) -> tuple[str, dict[str, Any]]:
        """Call ``method``; the task id of the job it enqueued (from ``ai_enqueue``'s receipt) and the receipt."""
        contract = decode_address(agent, self.prefix)
        r = self.send(OWNER, "call", [bytes(contract), method, args, AGENT_VALUE], CALL_GAS)
        enqueued = [e["attrs"] for e in r["events"] if (e["module"], e["name"]) == ("capabilities", "enqueued")]
        self.check(len(enqueued) == 1, f"{method} enqueued {len(enqueued)} jobs, not one")
        task = str(enqueued[0]["task_id"])
        self.say(f"   {what}: task {task}")
        self.say(f"   enqueued in block {r['height']}; {enqueued[0]['fee']} units of the agent's balance escrowed")
        return task, r

    def follow(self, agent: str, task: str, kind: str) -> dict[str, Any]:
        """Steps 2 and 3: lease, proof, result record, and the contract's read of it."""
        leased = self.job_in(task, ("leased", "resolved"), f"a lease on {kind} job {task}")
        if leased["status"] == "leased":
            (lease,) = leased["leases"]
        else:  # resolved before we looked: the lease is over, its holder is the result's
            (res,) = leased["results"]
            lease = {"provider": res["provider"], "assigned_height": leased["enqueue_height"], "expires": "-"}
        self.check(lease["provider"] == self.addr(HONEST.address),
                   f"{kind} job {task} leased to {lease['provider']}, not the reference provider")
        self.say(f"   the matcher leased it to the reference provider {lease['provider']} "
                 f"in block {lease['assigned_height']} (lease open until block {lease['expires']})")
        done = self.job_in(task, ("resolved",), f"{kind} job {task} to resolve")
        (res,) = done["results"]
        included = int(res["height"])
        self.check(done["end_reason"] == "verified", f"job {task} ended {done['end_reason']}")
        proof_type = "an AI_V1" if kind == "AI" else "a QUANTUM_V1"
        self.say(f"   the provider sent {proof_type} proof {res['proof_hash']}; block {included} included it "
                 f"and the validator verified it")
        cap = self.call("cap.readResult", task_id=task)["result"]
        self.check(cap is not None and cap["proof_hash"] == res["proof_hash"] and cap["provider"] == res["provider"],
                   f"cap.readResult of {task} does not name the verified proof: {cap}")
        self.say(f"   the resolver wrote the ResultRecord at block {cap['committed_height']}: provider "
                 f"{cap['provider']}, output digest {_short(cap['output_digest'])}")
        self.say(f"   price {done['paid']} moved from escrow to the fund; {done['refunded']} went back to the agent")

        def answered() -> dict[str, Any] | None:
            a = self.call("contract.call", address=agent, method="answer")
            self.check(a["ok"], f"answer() failed: {a['reason']}")
            flag = decode_values(["u64"], bytes.fromhex(a["return"])[:8])[0]
            return dict(a) if flag == 1 else None

        a = self.wait(f"the agent to read the result of {task}", answered)
        _, record = decode_values(["u64", "bytes"], bytes.fromhex(a["return"]))
        read = ResultRecord.decode(record)
        output = bytes.fromhex(cap["output"])
        reader = int(a["height"]) + 1  # a query runs as the next block would
        self.check(bytes(read.task_id).hex() == task and read.output == output
                   and read.committed_height == cap["committed_height"] and reader > included,
                   f"the agent read another record than cap.readResult's for {task}")
        if kind == "AI":
            shown = output.decode()
        else:
            shown = "histogram " + ", ".join(f"{o:02b}: {n}" for o, n in _histogram(output))
        self.say(f"   contract.call answer(), run as block {reader} (a later block), returns that record; "
                 f"output: {shown}")
        return {"task": task, "provider": res["provider"], "proof_hash": res["proof_hash"], "output": output,
                "lease": lease, "included": included, "price": int(done["paid"])}

    def payouts(self, tasks: Sequence[str]) -> list[dict[str, Any]]:
        """Step 4: wait for the settling epoch, print and prove each payout."""
        self.say("\n4. Wait for the epoch to close, then the payouts, each checked against a signed header")
        length = self.genesis.params.epoch_length
        head = self.height()
        self.say(f"   epochs are {length} blocks; the head is {head}, the epoch closes at block "
                 f"{(head // length + 1) * length}")

        def paid(task: str) -> Callable[[], dict[str, Any] | None]:
            def probe() -> dict[str, Any] | None:
                try:
                    return dict(self.call("aicf.getPayout", task_id=task))
                except RpcClientError as exc:
                    if exc.code == ErrorCode.NOT_FOUND:
                        return None
                    raise
            return probe

        out = []
        for task in tasks:
            payout = self.wait(f"the payout of {task}", paid(task), timeout=self.timeout + 3 * length)
            (share,) = payout["shares"]
            epoch = self.call("aicf.getEpoch", epoch=share["epoch"])
            self.say(f"   {payout['kind']} job {task}: paid by epoch {epoch['epoch']} "
                     f"(blocks {epoch['start_height']}..{epoch['end_height']})")
            self.say(f"     units {units(share['units_milli'])} at base rate {share['base_rate']} per unit "
                     f"= price {share['price']}")
            self.say(f"     weight {share['weight_bp']} bp ({factor(share['weight_bp'])}), latency "
                     f"{share['latency_bp']} bp ({factor(share['latency_bp'])}), availability "
                     f"{share['availability_bp']} bp ({factor(share['availability_bp'])}), QoS {share['qos_bp']} bp "
                     f"({factor(share['qos_bp'])})")
            self.say(f"     shares: provider {share['provider_share']} to {share['provider']}, producer "
                     f"{share['producer_share']} to {share['producer']}, fund {share['fund_share']}")
            self.say(f"     proof {share['proof_hash']}")
            total = int(share["provider_share"]) + int(share["producer_share"]) + int(share["fund_share"])
            self.check(total == int(share["price"]), f"the shares of {task} add up to {total}, not {share['price']}")
            out.append({**self.prove_payout(task, payout), "share": share})
        return out

    def light(self) -> LightSession:
        """A light client over this node, trusting the devnet genesis (``node.light``)."""
        return LightSession.from_genesis(Source(self.client, self.prefix), build_genesis(self.genesis).header,
                                         validator_set(self.genesis), now_ms=lambda: int(time.time() * 1000),
                                         trusting_period_ms=TRUSTING_PERIOD_MS)

    def proved(self, kind: str, ident: str, key: bytes) -> tuple[bytes, Header]:
        """A record proven against a header verified by its commit from the genesis."""
        try:
            value, header = self.light().prove(kind, ident, key)
        except LightError as exc:
            raise DemoFailed(f"the light client refused the {kind} of {ident}: {exc}") from None
        self.check(value is not None, f"state.getProof: no {kind} record for {ident}")
        assert value is not None
        return value, header

    def prove_payout(self, task: str, payout: dict[str, Any]) -> dict[str, Any]:
        """The light-client check: header by commit and validators, record by SMT proof."""
        value, header = self.proved("payout", task, payout_key(bytes.fromhex(task)))
        record = decode_record(Payout, value)
        (rpc_share,) = payout["shares"]
        (share,) = record.shares
        proved = {
            "provider": self.addr(share.provider), "producer": self.addr(share.producer),
            "proof_hash": bytes(share.proof_hash).hex(), "epoch": share.epoch, "units_milli": share.units,
            "base_rate": str(share.base_rate), "weight_bp": share.weight_bp, "latency_bp": share.latency_bp,
            "availability_bp": share.availability_bp, "qos_bp": share.qos_bp, "price": str(share.price),
            "provider_share": str(share.provider_share), "producer_share": str(share.producer_share),
            "fund_share": str(share.fund_share),
        }
        diff = sorted(k for k in proved if proved[k] != rpc_share.get(k))
        self.check(not diff and bytes(record.task_id).hex() == task,
                   f"the proved Payout of {task} differs from aicf.getPayout in {', '.join(diff) or 'task_id'}")
        signed = Source(self.client, self.prefix).signed_header(header.height)
        signers = ", ".join(self.addr(s.validator) for s in signed.commit.signatures)
        self.say(f"     verified against header {header.height} ({_short(bytes(header.hash()).hex())}) signed by "
                 f"{signers} ({len(signed.commit.signatures)} of {len(signed.validators.validators)} validators, "
                 f"power {signed.validators.total_power}); the proved Payout record matches aicf.getPayout")
        return {"header": header.height, "signers": signers}

    def cheater_key(self) -> PrivateKey:
        """The first devnet provider key 1..3 not registered yet, else a fresh key funded by devnet:8."""
        for i in range(1, DEVNET_PROVIDERS):
            key = devnet_provider_key(i)
            if not self.registered(key):
                return key
        key = PrivateKey.derive(f"demo/cheater/{self.chain_id}/{self.height()}")
        self.send(FUNDER, "transfer", [bytes(key.address), CHEAT_STAKE + 10 * PROVIDER_GAS * self.gas_price], 20_000)
        self.say(f"   (devnet provider keys 1..3 are registered already: funded a fresh key {self.addr(key.address)})")
        return key

    def registered(self, key: PrivateKey) -> bool:
        try:
            self.call("aicf.getProvider", address=self.addr(key.address))
        except RpcClientError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                return False
            raise
        return True

    def cheat(self, agent: str) -> dict[str, Any]:
        """Step 5: a provider proves a job with a wrong binding and is slashed."""
        self.say("\n5. A provider that cheats")
        key = self.cheater_key()
        me, honest = self.addr(key.address), self.addr(HONEST.address)
        signer = DevnetSigner.from_seed(devnet_attestation_seed())
        payload = registration(self.chain_id, key, signer, kinds=["ai"], models=[MODEL], stake=CHEAT_STAKE)
        r = self.send(key, "provider_register", payload, PROVIDER_GAS)
        self.say(f"   registered {me} (stake {CHEAT_STAKE}, model {MODEL}, devnet attestation) in block {r['height']}")
        beat = self.send(key, "provider_heartbeat", HEARTBEAT, PROVIDER_GAS)
        last_beat = int(beat["height"])
        self.say(f"   heartbeat in block {last_beat}: it is eligible for leases")
        opts = encode({"allow": b"".join(sorted([bytes(key.address), bytes(HONEST.address)]))})
        args = encode_args([("str", MODEL), ("str", CHEAT_PROMPT), ("u64", CHEAT_TOKENS), ("bytes", opts)])
        self.say(f"   the agent asks with ask_with(opts {{allow: [{me}, the reference provider]}}): the matcher "
                 "draws one of the two, weighted by health")
        task = lease = None
        for attempt in range(1, CHEAT_ATTEMPTS + 1):
            if self.height() - last_beat >= 5:
                last_beat = int(self.send(key, "provider_heartbeat", HEARTBEAT, PROVIDER_GAS)["height"])
            t, _ = self.ask(agent, "ask_with", args, f"attempt {attempt}")
            j = self.job_in(t, ("leased", "resolved"), f"a lease on job {t}")
            holder = j["leases"][0]["provider"] if j["status"] == "leased" else j["results"][0]["provider"]
            if holder == me:
                task, lease = t, j["leases"][0]
                break
            self.say("   the draw gave it to the reference provider, which will answer it honestly; asking again")
        if task is None or lease is None:
            raise DemoFailed(f"the matcher never leased a job to {me} in {CHEAT_ATTEMPTS} attempts")
        self.say(f"   leased to the cheater in block {lease['assigned_height']} (open until block {lease['expires']})")
        before = self.call("aicf.getProvider", address=me)

        receipt_doc = self.call("state.getProof", kind="receipt", id=task)
        receipt = JobReceipt.decode(bytes.fromhex(receipt_doc["value"]))
        out = TinyModelBackend().run(MODEL, CHEAT_PROMPT, CHEAT_TOKENS)
        model_digest = Hash32(out.model_digest)
        wrong = ai_output_digest(b"an answer it never computed")
        report = signer.attest(self.chain_id, report_data_for(receipt.task_id, model_digest, receipt.request_digest,
                                                              wrong), DEVNET_MEASUREMENT)
        body = AiBody(model=MODEL, model_digest=model_digest, input_digest=receipt.request_digest,
                      output_digest=ai_output_digest(out.text), runtime_ms=out.runtime_ms,
                      qos=QosReport(out.runtime_ms, 1_000_000), attestation=DevnetEvidence(report.encode()),
                      output=out.text)
        envelope = seal_envelope(ProofType.AI_V1, receipt.task_id, body.encode(), chain_id=self.chain_id,
                                 provider_key=ed25519(key))
        since = self.height()
        sent = self.call("aicf.submitProof", envelope=envelope.encode().hex())
        self.say(f"   it submits an AI_V1 proof {sent['hash']} whose attestation binds output digest "
                 f"{_short(bytes(wrong).hex())}, not the body's {_short(bytes(ai_output_digest(out.text)).hex())}; "
                 "the pool accepts it (attribution only checks the lease and signature)")
        included = self.proof_block(envelope.encode().hex(), since)
        after = self.wait("the slash", lambda: (lambda p: p if p["slashes"] else None)(
            self.call("aicf.getProvider", address=me)))
        slash = after["slashes"][-1]
        bps = self.genesis.aicf.slashing.bad_proof_bps
        expected = int(before["stake"]) * bps // 10_000
        self.check(slash["reason"] == "bad_proof" and slash["task_id"] == task and int(slash["amount"]) == expected
                   and slash["height"] == included,
                   f"expected a bad_proof slash of {expected} at block {included} for {task}, got {slash}")
        self.check(int(after["stake"]) == int(before["stake"]) - expected and after["jailed_until"] > included
                   and not after["eligible"], f"the cheater's record after the slash is not as expected: {after}")
        self.check(after["failed"] == before["failed"] + 1, "the cheater's failed count did not grow")
        proved = decode_record(ProviderRecord, self.proved("provider", me, provider_key(key.address))[0])
        self.check(proved.stake == int(after["stake"]) and proved.jailed_until == after["jailed_until"],
                   "the proved provider record differs from aicf.getProvider")
        self.say(f"   block {included} included it as a failed proof: the attestation does not bind the body")
        self.say(f"   provider_slashed: reason {slash['reason']}, amount {slash['amount']} "
                 f"(= stake {before['stake']} × {bps} bp), slashed in all {after['slashed']}; stake now "
                 f"{after['stake']}; jailed until block {after['jailed_until']}; eligible: "
                 f"{'yes' if after['eligible'] else 'no'}")
        requeued = self.job(task)
        self.check(me in requeued["excluded"] and requeued["retries"] >= 1,
                   f"job {task} was not requeued without the cheater: {requeued['status']}")
        self.say(f"   job {task} is requeued ({requeued['status']}, retry {requeued['retries']}); the cheater is "
                 "excluded from it for good")
        done = self.job_in(task, ("resolved",), f"the reference provider to complete job {task}")
        (res,) = done["results"]
        self.check(res["provider"] == honest, f"job {task} was completed by {res['provider']}")
        self.say(f"   the reference provider completed it in block {res['height']} with proof {res['proof_hash']}: "
                 f"{bytes.fromhex(done['result']['output']).decode()}")
        return {"cheater": me, "task": task, "included": included, "slash": slash, "provider": after,
                "completed_by": res["provider"]}

    def run(self, code: bytes) -> None:
        self.connect()
        agent = self.deploy(code)
        self.say(f"   the agent calls ai_enqueue through ask(model {MODEL}, prompt {PROMPT!r}, max_tokens {MAX_TOKENS})")
        ai_task, _ = self.ask(agent, "ask", encode_args([("str", MODEL), ("str", PROMPT), ("u64", MAX_TOKENS)]),
                              "ai_enqueue returned")
        self.say("\n2. Follow the AI job")
        self.results["ai"] = self.follow(agent, ai_task, "AI")
        self.say("\n3. A quantum job: ask_quantum(a Bell circuit, 200 shots)")
        q_task, _ = self.ask(agent, "ask_quantum", encode_args([("str", BELL), ("u64", SHOTS)]),
                             "quantum_enqueue returned")
        self.results["quantum"] = self.follow(agent, q_task, "quantum")
        counts = dict(_histogram(self.results["quantum"]["output"]))
        self.check(sum(counts.values()) == SHOTS and set(counts) <= {0, 3},
                   f"a Bell pair measures 00 or 11 only, got {counts}")
        self.results["payouts"] = self.payouts([ai_task, q_task])
        self.results["cheat"] = self.cheat(agent)
        self.say("\nEvery check held.")


def _histogram(output: bytes) -> list[tuple[int, int]]:
    """A quantum result's user histogram (canonical CBOR ``[[outcome, count], ...]``)."""
    return [(int(o), int(n)) for o, n in decode(output)]


def build_agent() -> bytes:
    """``ai_agent.wasm`` built from ``contracts/samples`` by ``contracts/build.py`` into a temporary directory."""
    if not BUILD_SCRIPT.is_file():
        raise DemoFailed(f"{BUILD_SCRIPT} is missing: pass --wasm with a built ai_agent.wasm")
    with tempfile.TemporaryDirectory(prefix="cairn-demo-") as out:
        proc = subprocess.run([sys.executable, str(BUILD_SCRIPT), out], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            raise DemoFailed(f"building the sample contracts failed: {reason}")
        return (Path(out) / "ai_agent.wasm").read_bytes()


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpc", default=os.environ.get("CAIRN_RPC", DEFAULT_RPC), help="the devnet's RPC URL")
    parser.add_argument("--wasm", type=Path, help="a built ai_agent.wasm (default: build contracts/samples now)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds any one step may wait (default 60)")
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    try:
        with RpcClient(args.rpc, timeout=10.0) as client:
            try:
                client.call("node.status")
            except NodeUnreachable:
                print(f"demo: no node answers at {args.rpc}: is `make run` running?", file=sys.stderr)
                return 3
            code = args.wasm.read_bytes() if args.wasm else build_agent()
            Demo(client, stream, timeout=args.timeout).run(code)
    except DemoFailed as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except NodeUnreachable as exc:
        print(f"demo failed: the node went away ({exc})", file=sys.stderr)
        return 3
    except RpcClientError as exc:
        print(f"demo failed: the node refused a request: {exc}", file=sys.stderr)
        return 1
    except ChainError as exc:  # bytes from the node that do not decode
        print(f"demo failed: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
