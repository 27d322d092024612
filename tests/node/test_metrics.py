"""``GET /metrics`` on a real in-process node (LevelDB, solo driver, hypercorn), read over HTTP
and parsed with prometheus_client's own parser: every series ``node.metrics`` lists, with
values that follow what the test did to the chain."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from capabilities.abi import encode_args
from capabilities.records import JobReceipt
from chain.errors import ErrorCode
from chain.keys import encode_address
from chain.vm.runtime import contract_address
from genesis.devnet import devnet_account_key
from node.metrics import _StateCollector
from node.provider.backends import TinyModelBackend
from node.provider.work import ai_envelope, registration
from tests.conftest import VECTORS
from tests.node.helpers import sign_tx
from tests.node.p2p import start_node as start_p2p_node
from tests.node.p2p import wait_until
from tests.node.test_rpc import STILL, WAIT, Rpc, node, rpc, start_node
from tests.node.test_rpc_aicf import PROVIDER, SIGNER, _job, _tx

__all__ = ["node", "rpc"]

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
"""Series name -> labels (sorted pairs) -> value."""


async def scrape(http: httpx.AsyncClient) -> Samples:
    resp = await http.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain"), resp.headers
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        assert family.documentation, family.name  # every series has HELP text
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def one(samples: Samples, name: str, **labels: str) -> float:
    assert name in samples, f"{name} missing from /metrics"
    return samples[name][tuple(sorted(labels.items()))]


async def scrape_until(rpc: Rpc, name: str, ok: object, **labels: str) -> Samples:
    """Scrape until ``ok(value of name{labels})`` holds (the commit that moves it may lag the receipt)."""
    assert callable(ok)
    with trio.fail_after(WAIT):
        while True:
            samples = await scrape(rpc.http)
            if name in samples and tuple(sorted(labels.items())) in samples[name] and ok(one(samples, name, **labels)):
                return samples
            await trio.sleep(0.05)


async def test_consensus_process_and_p2p_series(rpc: Rpc) -> None:
    await rpc.wait_height(4)
    samples = await scrape(rpc.http)
    head = (await rpc.call("chain.getHead"))["height"]
    assert 4 <= one(samples, "cairn_height") <= head
    assert one(samples, "cairn_head_time_seconds") > 1.7e9
    assert one(samples, "cairn_consensus_validators") == 1
    # blocks 2.. carry a commit: the solo driver commits every height in its first round
    rounds = one(samples, "cairn_consensus_rounds_count")
    assert rounds >= 2 and one(samples, "cairn_consensus_rounds_sum") == rounds
    assert one(samples, "cairn_consensus_rounds_bucket", le="1.0") == rounds
    assert one(samples, "cairn_consensus_last_rounds") == 1
    intervals = one(samples, "cairn_block_interval_seconds_count")
    assert intervals >= 3 and one(samples, "cairn_block_interval_seconds_sum") > 0
    assert one(samples, "cairn_block_interval_seconds_bucket", le="+Inf") == intervals
    assert "cairn_consensus_missed_signatures_total" not in samples  # the one validator signs every commit
    assert one(samples, "cairn_consensus_byzantine_validators_total") == 0
    assert one(samples, "cairn_process_resident_memory_bytes") > 10 * 2**20
    assert one(samples, "cairn_process_open_fds") > 3
    # a solo node runs no p2p
    assert one(samples, "cairn_p2p_peers") == 0
    assert one(samples, "cairn_p2p_received_bytes_total") == one(samples, "cairn_p2p_sent_bytes_total") == 0
    assert one(samples, "cairn_p2p_bans_total", kind="id") == one(samples, "cairn_p2p_bans_total", kind="ip") == 0
    assert one(samples, "cairn_aicf_providers") == 0 and one(samples, "cairn_aicf_queue_jobs") == 0
    assert "cairn_attestation_collateral_next_update_min_seconds" not in samples  # nothing stored yet


async def test_mempool_series(nursery: trio.Nursery, tmp_path: Path) -> None:
    node = await start_node(nursery, tmp_path / "data", STILL)  # makes no block: the tx stays pending
    async with httpx.AsyncClient(base_url=node.rpc_addresses[0], timeout=WAIT) as http:
        rpc = Rpc(http)
        before = await scrape(http)
        assert one(before, "cairn_mempool_size") == 0 and one(before, "cairn_mempool_evicted_total") == 0
        assert "cairn_mempool_rejected_total" not in before
        tx = sign_tx(devnet_account_key(0), 0)
        await rpc.call("tx.send", {"tx": tx.raw.hex()})
        err = await rpc.error("tx.send", {"tx": tx.raw.hex()})
        assert err["code"] == ErrorCode.TX_DUPLICATE
        await rpc.error("tx.send", {"tx": "00ff"})
        after = await scrape(http)
    assert one(after, "cairn_mempool_size") == 1
    assert one(after, "cairn_mempool_bytes") == len(tx.raw)
    assert one(after, "cairn_mempool_future_size") == 0
    assert one(after, "cairn_mempool_rejected_total", reason="TX_DUPLICATE") == 1
    assert sum(after["cairn_mempool_rejected_total"].values()) == 2  # the duplicate and the undecodable one


async def test_two_nodes_in_one_process_keep_their_own_registries(nursery: trio.Nursery, tmp_path: Path) -> None:
    fast = await start_node(nursery, tmp_path / "a")
    still = await start_node(nursery, tmp_path / "b", STILL)
    async with httpx.AsyncClient(base_url=fast.rpc_addresses[0], timeout=WAIT) as a, \
            httpx.AsyncClient(base_url=still.rpc_addresses[0], timeout=WAIT) as b:
        await Rpc(a).wait_height(3)
        tx = sign_tx(devnet_account_key(0), 0)
        await Rpc(b).call("tx.send", {"tx": tx.raw.hex()})
        ours, theirs = await scrape(a), await scrape(b)
    assert one(ours, "cairn_height") >= 3 and one(theirs, "cairn_height") == 0
    assert one(ours, "cairn_block_interval_seconds_count") >= 2
    assert one(theirs, "cairn_block_interval_seconds_count") == 0
    assert one(ours, "cairn_mempool_size") == 0 and one(theirs, "cairn_mempool_size") == 1


async def test_aicf_and_collateral_series(rpc: Rpc, samples: dict[str, bytes]) -> None:
    chain_id = "cairn-devnet"
    provider = encode_address(PROVIDER.address, "cairn")
    await _tx(rpc, PROVIDER, 0, "provider_register",
              registration(chain_id, PROVIDER, SIGNER, kinds=["ai"], models=["llama3-8b"], stake=10**10), 2_000_000)
    await _tx(rpc, PROVIDER, 1, "provider_heartbeat", [1000, 5, 9000, 40, 0], 1_000_000)
    m = await scrape(rpc.http)
    assert one(m, "cairn_aicf_providers") == 1
    assert one(m, "cairn_aicf_provider_latency_seconds", provider=provider) == 0.005
    assert one(m, "cairn_aicf_provider_leases", provider=provider) == 0
    assert "cairn_aicf_provider_success_ratio" not in m  # no lease has ended yet
    assert one(m, "cairn_aicf_assignments_total") == 0

    owner = devnet_account_key(1)
    agent = contract_address(owner.address, 0)
    await _tx(rpc, owner, 0, "deploy", [samples["ai_agent"], b""], 20_000_000)
    # no provider serves llama3-70b: this job stays queued
    receipt = await _tx(rpc, owner, 1, "call", [bytes(agent), "ask", encode_args(
        [("str", "llama3-70b"), ("str", "Nobody serves me"), ("u64", 4)]), 1_000_000])
    queued_at = receipt["height"]
    m = await scrape_until(rpc, "cairn_aicf_queue_size", lambda v: v == 1, lane="ai/llama3-70b")
    assert one(m, "cairn_aicf_queue_jobs") == 1 and one(m, "cairn_aicf_jobs") == 1
    await rpc.wait_height(queued_at + 3)
    m = await scrape(rpc.http)
    assert one(m, "cairn_aicf_queue_oldest_age_blocks") >= 3
    assert one(m, "cairn_aicf_queue_oldest_age_blocks") == one(m, "cairn_height") - queued_at

    ask = encode_args([("str", "llama3-8b"), ("str", "What is a cairn?"), ("u64", 12)])
    receipt = await _tx(rpc, owner, 2, "call", [bytes(agent), "ask", ask, 1_000_000])
    (enqueued,) = [e["attrs"] for e in receipt["events"] if e["name"] == "enqueued"]
    task = enqueued["task_id"]
    await _job(rpc, task, "leased")
    m = await scrape_until(rpc, "cairn_aicf_assignments_total", lambda v: v == 1)
    assert one(m, "cairn_aicf_leases_active") == 1
    assert one(m, "cairn_aicf_provider_leases", provider=provider) == 1
    assert one(m, "cairn_aicf_queue_jobs") == 1  # the 70b job; the 8b one left the queue when leased

    cap = await rpc.call("cap.getJob", {"task_id": task})
    request = JobReceipt(bytes.fromhex(task), "ai", agent, int(cap["fee_escrowed"]),  # type: ignore[arg-type]
                         int(cap["price_ceiling"]), cap["sla_deadline"], cap["enqueue_height"],
                         bytes.fromhex(cap["request_digest"]))  # type: ignore[arg-type]
    out = TinyModelBackend().run("llama3-8b", "What is a cairn?", 12)
    envelope = ai_envelope(chain_id, PROVIDER, SIGNER, request, "llama3-8b", out)
    await rpc.call("aicf.submitProof", {"envelope": envelope.encode().hex()})
    await _job(rpc, task, "resolved")
    m = await scrape_until(rpc, "cairn_aicf_jobs_resolved_total", lambda v: v == 1)
    assert one(m, "cairn_aicf_leases_active") == 0
    assert one(m, "cairn_aicf_provider_jobs_total", provider=provider, outcome="completed") == 1
    assert one(m, "cairn_aicf_provider_jobs_total", provider=provider, outcome="failed") == 0
    assert one(m, "cairn_aicf_provider_success_ratio", provider=provider) == 1.0
    assert "cairn_aicf_proofs_failed_total" not in m and "cairn_aicf_requeues_total" not in m

    # the epoch that pays the job (20 blocks on the devnet) settles; its record becomes the epoch series
    m = await scrape_until(rpc, "cairn_aicf_epoch_payouts", lambda v: v >= 1)
    assert one(m, "cairn_aicf_epoch") >= 1
    assert one(m, "cairn_aicf_epoch_paid", share="provider") > 0
    assert one(m, "cairn_aicf_epoch_gamma_used_units") > 0
    assert one(m, "cairn_aicf_epoch_gamma_cap_units") >= one(m, "cairn_aicf_epoch_gamma_used_units")
    assert one(m, "cairn_aicf_fund_balance") > 0

    # Intel collateral: its parts' nextUpdate, relative to the head's block time
    collateral = (VECTORS / "tee" / "sgx-dcap" / "tdx-v4_dcap-qvl" / "tdx_quote_collateral.json").read_bytes()
    await _tx(rpc, devnet_account_key(4), 0, "collateral_update", ["TDX", bytes.fromhex("b0c06f000000"), collateral])
    m = await scrape_until(rpc, "cairn_attestation_collateral_next_update_seconds", lambda v: True,
                           part="tcb_info/TDX/b0c06f000000")
    parts = m["cairn_attestation_collateral_next_update_seconds"]
    assert len(parts) >= 2
    assert one(m, "cairn_attestation_collateral_next_update_min_seconds") == min(parts.values())
    head_time = one(m, "cairn_head_time_seconds")
    # a document's nextUpdate is within a year of its issue; the vectors were issued in 2024-2026
    assert all(abs(v) < 3 * 365 * 86400 for v in parts.values()), (head_time, parts)


async def test_p2p_series_count_traffic_and_bans_across_disconnects() -> None:
    def p2p_samples(peers: object) -> Samples:  # the collector's p2p part alone: these nodes run no chain
        out: Samples = {}
        for family in _StateCollector(None, None, peers)._p2p():  # type: ignore[arg-type]
            for s in family.samples:
                out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
        return out

    async with trio.open_nursery() as nursery:
        a, b = [await start_p2p_node(nursery, label) for label in "ab"]
        a.peers.add_peer(b.address())
        await wait_until(lambda: a.connected_to(b) and b.connected_to(a))
        assert a.gossip.publish("tx", b"x" * 10_000) == 1
        await wait_until(lambda: len(b.received) == 1)
        m = p2p_samples(a.peers)
        assert one(m, "cairn_p2p_peers") == 1
        sent = one(m, "cairn_p2p_sent_bytes_total")
        assert sent > 10_000 and one(m, "cairn_p2p_received_bytes_total") > 0
        assert one(m, "cairn_p2p_bans_total", kind="id") == 0
        b.peers.ban(a.node_id, duration=60, reason="test")
        await wait_until(lambda: not a.connected_to(b) and not b.connected_to(a))
        m, mb = p2p_samples(a.peers), p2p_samples(b.peers)
        assert one(m, "cairn_p2p_peers") == 0
        assert one(m, "cairn_p2p_sent_bytes_total") >= sent  # closed connections still count
        assert one(mb, "cairn_p2p_received_bytes_total") >= 10_000
        assert one(mb, "cairn_p2p_bans_total", kind="id") == 1
        nursery.cancel_scope.cancel()
