"""The AICF and capability RPC methods on a real in-process node (LevelDB, solo driver, hypercorn).

A provider registers and heartbeats through ``tx.send``, a contract enqueues a job, and the
test plays the provider over RPC: ``aicf.listJobs`` finds the lease, ``aicf.submitProof``
refuses bad envelopes with their attribution reason and pools the good one, the next block
resolves the job, and ``state.getProof`` proves the job, result and provider records against
the header's ``state_root``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from aicf.attestation import AttestationPolicy
from aicf.collateral import CollateralPart
from aicf.records import AicfJob, ProviderRecord, decode_record
from aicf.settlement import EpochRecord, Payout
from capabilities.abi import encode_args
from capabilities.records import JobReceipt, ResultRecord, output_digest_of
from chain.errors import ErrorCode
from chain.keys import encode_address
from chain.smt import SmtProof, verify_proof
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key, devnet_attestation_seed, devnet_provider_key
from node.provider.backends import TinyModelBackend
from node.provider.work import ai_envelope, registration
from node.rpc.jsonrpc import INVALID_PARAMS
from proofs.devnet import DevnetSigner
from tests.conftest import VECTORS
from tests.node.helpers import sign_tx
from tests.node.test_rpc import WAIT, Rpc, decode_header, node, rpc

__all__ = ["node", "rpc"]  # the fixtures of test_rpc.py: a real in-process node and its RPC

PROVIDER = devnet_provider_key(0)
SIGNER = DevnetSigner.from_seed(devnet_attestation_seed())


def _addr(address: bytes) -> str:
    return encode_address(address, "cairn")


async def _tx(rpc: Rpc, key: Any, nonce: int, kind: str, payload: Any, gas: int = 5_000_000) -> dict[str, Any]:
    sent = await rpc.call("tx.send", {"tx": sign_tx(key, nonce, kind=kind, payload=payload, gas_limit=gas).raw.hex()})
    receipt = await rpc.wait_receipt(sent["hash"])
    assert receipt["status"] == "ok", receipt
    return receipt


async def _job(rpc: Rpc, task: str, status: str) -> dict[str, Any]:
    with trio.fail_after(WAIT):
        while True:
            job = await rpc.call("aicf.getJob", {"task_id": task})
            if job["status"] == status:
                return job
            await trio.sleep(0.05)


def _proved(doc: dict[str, Any]) -> bytes:
    """The record's bytes, after checking its proof against the header's state root."""
    root = decode_header(doc["header"]).state_root
    value = bytes.fromhex(doc["value"])
    assert verify_proof(root, bytes.fromhex(doc["key"]), value, SmtProof.decode(bytes.fromhex(doc["proof"])))
    return value


async def test_a_job_through_the_rpc(rpc: Rpc, samples: dict[str, bytes], tmp_path: Path) -> None:
    chain_id = "cairn-devnet"
    provider = _addr(PROVIDER.address)
    assert (await rpc.call("aicf.listProviders"))["providers"] == []
    await _tx(rpc, PROVIDER, 0, "provider_register",
              registration(chain_id, PROVIDER, SIGNER, kinds=["ai"], models=["llama3-8b"], stake=10**10), 2_000_000)
    await _tx(rpc, PROVIDER, 1, "provider_heartbeat", [1000, 5, 9000, 40, 0], 1_000_000)
    listed = await rpc.call("aicf.listProviders")
    assert [p["address"] for p in listed["providers"]] == [provider] and listed["next_cursor"] is None
    shown = await rpc.call("aicf.getProvider", {"address": provider})
    assert shown["eligible"] and shown["models"] == ["llama3-8b"] and shown["stake"] == str(10**10)

    owner = devnet_account_key(1)
    agent = contract_address(owner.address, 0)
    await _tx(rpc, owner, 0, "deploy", [samples["ai_agent"], b""], 20_000_000)
    ask = encode_args([("str", "llama3-8b"), ("str", "What is a cairn?"), ("u64", 12)])
    receipt = await _tx(rpc, owner, 1, "call", [bytes(agent), "ask", ask, 1_000_000])
    (enqueued,) = [e["attrs"] for e in receipt["events"] if e["name"] == "enqueued"]
    task = enqueued["task_id"]

    job = await _job(rpc, task, "leased")  # assigned at the end of the enqueue block
    assert [le["provider"] for le in job["leases"]] == [provider]
    assert job["request"] == {"kind": "ai", "model": "llama3-8b", "prompt": "What is a cairn?", "max_tokens": 12,
                              "opts": {}}
    cap = await rpc.call("cap.getJob", {"task_id": task})
    assert cap["requester"] == _addr(agent) and cap["fee_escrowed"] == cap["price_ceiling"] == job["ceiling"]
    assert [j["task_id"] for j in (await rpc.call("aicf.listJobs", {"provider": provider, "status": "leased"}))[
        "jobs"]] == [task]
    assert [j["task_id"] for j in (await rpc.call("aicf.listJobs", {"requester": _addr(agent)}))["jobs"]] == [task]
    assert (await rpc.call("aicf.listJobs", {"status": "resolved"}))["jobs"] == []
    assert (await rpc.call("cap.readResult", {"task_id": task}))["result"] is None

    # refusals carry the attribution reason
    err = await rpc.error("aicf.submitProof", {"envelope": "00ff"})
    assert err["code"] == ErrorCode.PROOF_INVALID and err["data"]["reason"].startswith("envelope_")
    request_receipt = JobReceipt(bytes.fromhex(task), "ai", agent, int(cap["fee_escrowed"]),  # type: ignore[arg-type]
                                 int(cap["price_ceiling"]), cap["sla_deadline"], cap["enqueue_height"],
                                 bytes.fromhex(cap["request_digest"]))  # type: ignore[arg-type]
    out = TinyModelBackend().run("llama3-8b", "What is a cairn?", 12)
    stranger = devnet_provider_key(3)  # funded, never registered
    err = await rpc.error("aicf.submitProof", {"envelope": ai_envelope(chain_id, stranger, SIGNER, request_receipt,
                                                                        "llama3-8b", out).encode().hex()})
    assert err["data"]["reason"] == "unknown_provider"
    good = ai_envelope(chain_id, PROVIDER, SIGNER, request_receipt, "llama3-8b", out).encode().hex()
    pooled = await rpc.call("aicf.submitProof", {"envelope": good})
    assert len(pooled["hash"]) == 64
    err = await rpc.error("aicf.submitProof", {"envelope": good})
    assert err["data"]["reason"] in ("duplicate", "nullifier_used", "not_leased")  # pooled, or already in a block

    done = await _job(rpc, task, "resolved")
    assert int(done["paid"]) + int(done["refunded"]) == int(done["ceiling"]) and done["result"]["provider"] == provider
    read = (await rpc.call("cap.readResult", {"task_id": task}))["result"]
    assert bytes.fromhex(read["output"]) == out.text and read["output_digest"] == output_digest_of(out.text).hex()
    err = await rpc.error("aicf.submitProof", {"envelope": good})
    assert err["data"]["reason"] in ("nullifier_used", "not_leased")  # a late or replayed proof

    # every record a light client may ask about, proved against a header's state root
    result = ResultRecord.decode(_proved(await rpc.call("state.getProof", {"kind": "result", "id": task})))
    assert result.output == out.text
    record = decode_record(AicfJob, _proved(await rpc.call("state.getProof", {"kind": "job", "id": task})))
    assert record.status == "resolved" and record.paid == int(done["paid"])
    prov = decode_record(ProviderRecord, _proved(await rpc.call("state.getProof", {"kind": "provider",
                                                                                   "id": provider})))
    assert prov.completed == 1 and prov.leases == ()
    receipt_proof = await rpc.call("state.getProof", {"kind": "receipt", "id": task})
    assert JobReceipt.decode(_proved(receipt_proof)).task_id.hex() == task
    absent = await rpc.call("state.getProof", {"kind": "result", "id": "00" * 32})
    assert absent["value"] is None
    root = decode_header(absent["header"]).state_root
    assert verify_proof(root, bytes.fromhex(absent["key"]), None, SmtProof.decode(bytes.fromhex(absent["proof"])))

    policy = decode_record(AttestationPolicy, _proved(await rpc.call("state.getProof",
                                                                     {"kind": "attestation_policy"})))
    assert policy.version == 0 and policy.intel_root and policy.amd_arks

    # Intel collateral submitted by anyone (Intel-signed, so accepted), then proved part by part
    name = "tcb_info/TDX/b0c06f000000"
    assert (await rpc.call("state.getProof", {"kind": "collateral", "id": name}))["value"] is None
    collateral = (VECTORS / "tee" / "sgx-dcap" / "tdx-v4_dcap-qvl" / "tdx_quote_collateral.json").read_bytes()
    await _tx(rpc, devnet_account_key(4), 0, "collateral_update", ["TDX", bytes.fromhex("b0c06f000000"), collateral])
    part = decode_record(CollateralPart, _proved(await rpc.call("state.getProof", {"kind": "collateral", "id": name})))
    assert part.name == name and part.number == 17
    assert (await rpc.error("state.getProof", {"kind": "collateral", "id": "tcb_info/TDX/zz"}))["code"] == INVALID_PARAMS

    # the epoch closes (devnet: 20 blocks): the provider is paid, provably
    await rpc.wait_height(20)
    epoch = await rpc.call("aicf.getEpoch", {"epoch": 1})
    assert epoch["settled"] and epoch["payouts"] == 1 and epoch["fees_in"] == done["paid"]
    (share,) = epoch["payout_list"]
    assert share["task_id"] == task and share["provider"] == provider and epoch["cursor"] is None
    assert int(share["provider_share"]) + int(share["producer_share"]) + int(share["fund_share"]) == int(done["paid"])
    assert int(share["provider_share"]) == int(done["paid"]) * 8_000 // 10_000
    payout = decode_record(Payout, _proved(await rpc.call("state.getProof", {"kind": "payout", "id": task})))
    assert payout.shares[0].provider_share == int(share["provider_share"])
    record = decode_record(EpochRecord, _proved(await rpc.call("state.getProof", {"kind": "epoch", "id": 1})))
    assert record.payouts == 1 and record.paid_provider == int(share["provider_share"])
    assert (await rpc.call("aicf.getPayout", {"task_id": task}))["shares"][0]["epoch"] == 1
    balance = await rpc.call("aicf.getBalance", {"address": provider})
    assert balance["paid"] == share["provider_share"] and balance["pending"] == "0" and balance["claimable"] == "0"
    shown = await rpc.call("aicf.getProvider", {"address": provider})
    assert shown["paid"] == share["provider_share"] and shown["payouts"] == [task] and shown["slashes"] == []
    assert (await rpc.error("aicf.getEpoch", {"epoch": 99}))["code"] == ErrorCode.NOT_FOUND

    # bad params
    assert (await rpc.error("aicf.getJob", {"task_id": "zz"}))["code"] == INVALID_PARAMS
    assert (await rpc.error("aicf.getJob", {"task_id": "00" * 32}))["code"] == ErrorCode.NOT_FOUND
    assert (await rpc.error("aicf.listJobs", {"status": "bogus"}))["code"] == INVALID_PARAMS
    assert (await rpc.error("state.getProof", {"kind": "bogus", "id": task}))["code"] == INVALID_PARAMS
    assert (await rpc.error("aicf.getProvider", {"address": _addr(owner.address)}))["code"] == ErrorCode.NOT_FOUND
