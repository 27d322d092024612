"""The proofs section (``aicf/resolver.py``): refusals, failed proofs, verified results, quorums.

An item that cannot be attributed makes the whole block invalid (``chain.apply.apply_block``
raises ``InvalidBlock`` naming the item and its reason) and ``build_block`` leaves it out; an
attributed item whose body fails stays in the block, jails its provider and requeues the job;
a verified one is paid at most the per-replica ceiling, the rest refunded.

Prices are worked out by hand from ``proofs/policy.py``'s schedule (llama3-8b, weight 1.0,
15,000 per unit; see ``tests.aicf.helpers``).  The treasury takes 150 bp of the 1,000,000
block reward, 15,000, plus 200 bp of fees, every block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from aicf.records import FUND_ADDRESS, Fault
from capabilities.host import ESCROW_ADDRESS
from capabilities.records import ResultRecord, output_digest_of
from chain.hashing import H
from chain.types import Hash32, Signature64
from genesis.devnet import DEVNET_MEASUREMENT
from node.provider.work import ed25519
from proofs.ai import AiBody, DevnetEvidence, QosReport, ai_output_digest
from proofs.devnet import report_data_for
from proofs.envelope import ProofEnvelope, ProofType, seal_envelope
from tests.aicf.helpers import (
    AGENT_FUNDS,
    AI_CEILING_64,
    MODEL,
    OTHER_SIGNER,
    SIGNER,
    JobsChain,
    aicf_events,
    provider_key,
)

P0, P1, P2 = (provider_key(i).address for i in range(3))
TREASURY_EMPTY_BLOCK = 15_000
PRICE_DEFAULT = 13_200
"""The helper's default envelope: 1,000 ms x 1.0 x (0.8 x 1.1 = 0.88) = 880 milli-units x 15."""


def leased_job(c: JobsChain) -> Hash32:
    """Providers 0 and 1 registered, only 0 heartbeating; one job, leased to provider 0."""
    assert all(r.ok for r in c.run(c.register_tx(0), c.register_tx(1)))
    assert all(r.ok for r in c.heartbeat(0))
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    assert [le.provider for le in c.job(task).leases] == [P0]
    return task


# --- attribution: the whole block is invalid ------------------------------------------------


def _garbage(c: JobsChain, task: Hash32) -> bytes:
    return b"\x00not an envelope"


def _bad_signature(c: JobsChain, task: Hash32) -> bytes:
    """Provider 1's envelope with a zeroed signature (the signature is checked before the lease)."""
    return replace(c.envelope(task, 1), signature=Signature64(bytes(64))).encode()


def _wrong_nullifier(c: JobsChain, task: Hash32) -> bytes:
    return replace(c.envelope(task, 0), nullifier=Hash32(H(b"another", b"nullifier"))).encode()


def _unknown_task(c: JobsChain, task: Hash32) -> bytes:
    body = c.envelope(task, 0).body
    return seal_envelope(ProofType.AI_V1, H(b"no such", b"task"), body, chain_id=c.chain_id,
                         provider_key=ed25519(provider_key(0))).encode()


def _unregistered(c: JobsChain, task: Hash32) -> bytes:
    return c.envelope(task, 3).encode()


def _not_leased(c: JobsChain, task: Hash32) -> bytes:
    return c.envelope(task, 1).encode()


@pytest.mark.parametrize(("make", "reason"), [
    (_garbage, "envelope_trailing_bytes"),
    (_bad_signature, "bad_signature"),
    (_wrong_nullifier, "nullifier_mismatch"),
    (_unknown_task, "unknown_task"),
    (_unregistered, "unknown_provider"),
    (_not_leased, "not_leased"),
])
def test_an_unattributable_item_makes_the_block_invalid(make: Callable[[JobsChain, Hash32], bytes],
                                                        reason: str) -> None:
    c = JobsChain()
    task = leased_job(c)
    good = c.envelope(task, 0)
    err = c.refused(make(c, task))
    assert err.details["reason"] == reason and err.details["index"] == 0
    # Next to a good proof, at either place, it still spoils the block.
    assert c.refused(good, make(c, task)).details == {"index": 1, "reason": reason}
    assert c.refused(make(c, task), good).details == {"index": 0, "reason": reason}
    # The proposer's builder leaves it out and keeps the good one.
    block, out = c.build(proofs=[make(c, task), good])
    assert block.proofs == (good.encode(),)
    c.mem.commit(block, out)
    assert c.job(task).status == "resolved"


def test_a_nullifier_is_spent_once() -> None:
    c = JobsChain()
    task = leased_job(c)
    env = c.envelope(task, 0)
    assert c.refused(env, env).details == {"index": 1, "reason": "nullifier_used"}
    block, out = c.build(proofs=[env, env])
    assert block.proofs == (env.encode(),)
    c.mem.commit(block, out)
    # Again in a later block: refused at once, and left out by the builder.
    assert c.refused(env).details == {"index": 0, "reason": "nullifier_used"}
    block, _ = c.build(proofs=[env])
    assert block.proofs == ()


def test_more_than_the_proof_limit_is_invalid() -> None:
    c = JobsChain()
    task = leased_job(c)
    env = c.envelope(task, 0)
    err = c.refused(*([env] * 65))
    assert "at most 64" in err.message


# --- failed proofs: in the block, the provider jailed, the job requeued -----------------------


def _bad_attestation(c: JobsChain, task: Hash32) -> ProofEnvelope:
    return c.envelope(task, 0, signer=OTHER_SIGNER)


def _wrong_measurement(c: JobsChain, task: Hash32) -> ProofEnvelope:
    return c.envelope(task, 0, measurement=H(b"cairn/devnet-measurement/v1", b"modified provider"))


def _binding_for_other_digests(c: JobsChain, task: Hash32) -> ProofEnvelope:
    """A body for the true output whose report binds another output digest."""
    out, receipt = c.ai_output(task), c.receipt(task)
    model_digest = Hash32(out.model_digest)
    report = SIGNER.attest(c.chain_id, report_data_for(task, model_digest, receipt.request_digest,
                                                       ai_output_digest(b"some other answer")), DEVNET_MEASUREMENT)
    body = AiBody(model=MODEL, model_digest=model_digest, input_digest=receipt.request_digest,
                  output_digest=ai_output_digest(out.text), runtime_ms=1_000, qos=QosReport(1_000, 1_000_000),
                  attestation=DevnetEvidence(report.encode()), output=out.text)
    return seal_envelope(ProofType.AI_V1, task, body.encode(), chain_id=c.chain_id,
                         provider_key=ed25519(provider_key(0)))


def _wrong_model(c: JobsChain, task: Hash32) -> ProofEnvelope:
    return c.envelope(task, 0, model="llama3-70b")


def _wrong_input(c: JobsChain, task: Hash32) -> ProofEnvelope:
    return c.envelope(task, 0, receipt=replace(c.receipt(task), request_digest=Hash32(H(b"another", b"request"))))


def _wrong_type(c: JobsChain, task: Hash32) -> ProofEnvelope:
    return seal_envelope(ProofType.QUANTUM_V1, task, c.envelope(task, 0).body, chain_id=c.chain_id,
                         provider_key=ed25519(provider_key(0)))


@pytest.mark.parametrize(("make", "reason"), [
    (_bad_attestation, "devnet_unknown_signer"),
    (_wrong_measurement, "devnet_measurement_not_allowed"),
    (_binding_for_other_digests, "ai_report_data_mismatch"),
    (_wrong_model, "ai_model_mismatch"),
    (_wrong_input, "ai_input_mismatch"),
    (_wrong_type, "wrong_proof_type"),
])
def test_a_failed_proof_jails_the_provider_and_requeues_the_job(make: Callable[[JobsChain, Hash32], ProofEnvelope],
                                                                reason: str) -> None:
    c = JobsChain()
    task = leased_job(c)
    escrow = c.balance(ESCROW_ADDRESS)
    bad = make(c, task)
    out = c.block(proofs=[bad])  # included: a failed proof is not an invalid block
    h = c.height
    assert aicf_events(out, "proof_failed") == [{"task_id": bytes(task), "provider": bytes(P0), "reason": reason}]
    assert aicf_events(out, "job_requeued") == [{"task_id": bytes(task), "reason": "proof_failed", "at": h + 2}]
    assert aicf_events(out, "proof_verified") == []
    record = c.record(0)
    assert record.jailed_until == h + 3  # jail_blocks 3
    assert (record.failed, record.completed, record.missed) == (1, 0, 0)
    assert record.faults == (Fault(h, task, "failed"),)
    assert record.leases == () and record.locked == 0
    job = c.job(task)
    assert (job.status, job.retries, job.leases, job.excluded, job.results) == ("backoff", 1, (), (P0,), ())
    assert job.paid == 0 and c.balance(ESCROW_ADDRESS) == escrow
    # Its nullifier is spent like any other.
    assert c.refused(bad).details["reason"] == "nullifier_used"

    # Jailed: no unjail before the jail runs out, then it works.
    (r,) = c.run(c.tx(provider_key(0), "provider_unjail", []))
    assert not r.ok and r.reason.startswith("still_jailed")
    c.until(h + 2)
    out = c.block(c.tx(provider_key(0), "provider_unjail", []))
    assert c.height == h + 3 and out.receipts[0].ok, out.receipts[0].reason
    assert aicf_events(out, "provider_unjailed") == [{"provider": bytes(P0)}]
    assert c.record(0).jailed_until == 0


def test_a_jailed_provider_takes_no_lease_until_it_unjails() -> None:
    c = JobsChain()
    task = leased_job(c)
    c.block(proofs=[_wrong_model(c, task)])
    h = c.height
    contract = c.deploy_script()
    (other,) = c.enqueued(c.heartbeat_tx(0), c.script_ai_tx(contract, prompt="another"))
    assert c.height == h + 2 and c.job(other).status == "queued"  # heartbeating, but jailed
    out = c.block(c.heartbeat_tx(0))  # height h + 3 = jailed_until: the jail has run out ...
    assert aicf_events(out, "job_assigned") == [] and c.job(other).status == "queued"
    out = c.block(c.tx(provider_key(0), "provider_unjail", []))  # ... and only unjailing frees it
    assert out.receipts[0].ok, out.receipts[0].reason
    assert aicf_events(out, "job_assigned") == [{"task_id": bytes(other), "provider": bytes(P0)}]
    assert c.job(task).lease_of(P0) is None  # the job it failed stays closed to it


# --- verified results ----------------------------------------------------------------------


def test_a_verified_result_pays_the_price_refunds_the_rest_and_is_readable_later(samples: dict[str, bytes]) -> None:
    c = JobsChain()
    c.providers(0)
    agent = c.deploy(samples["ai_agent"])
    task = c.ask(agent)
    assert c.balance(agent) == AGENT_FUNDS - AI_CEILING_64
    assert c.balance(ESCROW_ADDRESS) == AI_CEILING_64
    assert c.answer(agent) == (0, b"")

    env = c.envelope(task, 0)
    fund = c.balance(FUND_ADDRESS)
    out = c.block(proofs=[env])
    h = c.height
    assert aicf_events(out, "proof_verified") == [{"task_id": bytes(task), "provider": bytes(P0), "units": 880}]
    assert aicf_events(out, "job_resolved") == [{"task_id": bytes(task), "provider": bytes(P0),
                                                 "price": PRICE_DEFAULT, "refund": AI_CEILING_64 - PRICE_DEFAULT}]
    job = c.job(task)
    assert (job.status, job.end_reason, job.end_height) == ("resolved", "verified", h)
    assert (job.paid, job.refunded) == (PRICE_DEFAULT, AI_CEILING_64 - PRICE_DEFAULT)
    assert [(w.provider, w.units, w.price, w.qos_bp) for w in job.results] == [(P0, 880, PRICE_DEFAULT, 8_800)]
    assert c.balance(ESCROW_ADDRESS) == 0
    assert c.balance(FUND_ADDRESS) == fund + PRICE_DEFAULT + TREASURY_EMPTY_BLOCK
    assert c.balance(agent) == AGENT_FUNDS - PRICE_DEFAULT
    record = c.record(0)
    assert (record.completed, record.leases, record.locked, record.faults) == (1, (), 0, ())

    # The contract sees nothing in the block that recorded the result, the record after it.
    assert c.answer(agent, height=h) == (0, b"")
    flag, raw = c.answer(agent)
    assert flag == 1
    text = c.ai_output(task).text
    assert ResultRecord.decode(raw) == ResultRecord(task, P0, output_digest_of(text), text, h, Hash32(env.hash()))
    assert output_digest_of(text) == ai_output_digest(text)


@pytest.mark.parametrize(("runtime_ms", "p95", "price"), [
    # 10^6 ms claimed, metered at the cap 5,200 ms: 5,200 x 0.88 = 4,576 milli-units x 15
    (1_000_000, 1_000, 68_640),
    # at the cap with the best QoS (p95 200 ms: x1.15, x1.1) the price is the whole ceiling
    (1_000_000, 200, AI_CEILING_64),
    # exactly the cap, best QoS
    (5_200, 200, AI_CEILING_64),
    # below it: 2,000 ms x 1.265 = 2,530 milli-units x 15
    (2_000, 200, 37_950),
])
def test_runtime_above_the_cap_is_billed_at_the_cap(runtime_ms: int, p95: int, price: int) -> None:
    c = JobsChain()
    c.providers(0)
    contract = c.deploy_script()
    before = c.balance(contract)
    (task,) = c.enqueued(c.script_ai_tx(contract))
    out = c.block(proofs=[c.envelope(task, 0, runtime_ms=runtime_ms, p95_latency_ms=p95)])
    assert [e["price"] for e in aicf_events(out, "job_resolved")] == [price]
    job = c.job(task)
    assert (job.paid, job.refunded) == (price, AI_CEILING_64 - price)
    assert job.paid <= job.ceiling
    assert c.balance(contract) == before + AGENT_FUNDS - price


# --- replicas and the quorum ---------------------------------------------------------------


def replicated_job(c: JobsChain, replicas: int = 3) -> Hash32:
    c.providers(0, 1, 2)
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract, opts={"replicas": replicas}))
    job = c.job(task)
    assert job.replicas == replicas and job.ceiling == replicas * AI_CEILING_64
    assert sorted(le.provider for le in job.leases) == sorted([P0, P1, P2])
    return task


def test_two_agree_one_dissents() -> None:
    c = JobsChain()
    task = replicated_job(c)
    dissent = c.envelope(task, 2, text=b"a different answer")
    out = c.block(proofs=[dissent, c.envelope(task, 0), c.envelope(task, 1)])
    h = c.height
    # The second agreeing proof completes the quorum (2 of 3): its provider is the record's.
    assert aicf_events(out, "job_resolved") == [{"task_id": bytes(task), "provider": bytes(P1),
                                                 "price": 2 * PRICE_DEFAULT,
                                                 "refund": 3 * AI_CEILING_64 - 2 * PRICE_DEFAULT}]
    job = c.job(task)
    assert job.status == "resolved" and job.dissent == (P2,)
    assert (job.paid, job.refunded) == (2 * PRICE_DEFAULT, 3 * AI_CEILING_64 - 2 * PRICE_DEFAULT)
    assert job.leases == ()
    assert [(r.completed, r.failed) for r in (c.record(0), c.record(1), c.record(2))] == [(1, 0), (1, 0), (0, 1)]
    assert c.record(2).faults == (Fault(h, task, "dissent"),)
    assert c.record(0).faults == () and c.record(1).faults == ()
    assert all(c.record(i).locked == 0 for i in range(3))
    assert c.balance(ESCROW_ADDRESS) == 0


def test_a_quorum_reached_before_the_last_replica_releases_it() -> None:
    c = JobsChain()
    task = replicated_job(c)
    out = c.block(proofs=[c.envelope(task, 0), c.envelope(task, 2)])
    assert [e["provider"] for e in aicf_events(out, "job_resolved")] == [bytes(P2)]
    job = c.job(task)
    assert job.status == "resolved" and job.dissent == ()
    # The replica that had not reported is released without a fault; its proof now comes too late.
    assert (c.record(1).completed, c.record(1).failed, c.record(1).faults, c.record(1).leases) == (0, 0, (), ())
    assert c.refused(c.envelope(task, 1)).details["reason"] == "not_leased"


def test_no_quorum_expires_the_job_refunded_and_blames_nobody() -> None:
    c = JobsChain()
    task = replicated_job(c)
    out = c.block(proofs=[c.envelope(task, i, text=f"answer {i}".encode()) for i in range(3)])
    ceiling = 3 * AI_CEILING_64
    assert aicf_events(out, "job_expired") == [{"task_id": bytes(task), "reason": "no_quorum", "refund": ceiling}]
    job = c.job(task)
    assert (job.status, job.paid, job.refunded, job.dissent) == ("expired", 0, ceiling, ())
    assert all((c.record(i).failed, c.record(i).faults, c.record(i).leases) == (0, (), ()) for i in range(3))
    assert c.balance(ESCROW_ADDRESS) == 0


def test_a_failed_replica_leaves_the_others_running() -> None:
    c = JobsChain()
    task = replicated_job(c)
    out = c.block(proofs=[c.envelope(task, 2, model="llama3-70b")])
    assert [e["reason"] for e in aicf_events(out, "proof_failed")] == ["ai_model_mismatch"]
    assert aicf_events(out, "job_requeued") == []  # two replicas still hold leases: no requeue yet
    job = c.job(task)
    assert (job.status, job.retries) == ("leased", 0)
    assert sorted(le.provider for le in job.leases) == sorted([P0, P1]) and job.excluded == (P2,)
    assert c.record(2).jailed_until == c.height + 3
    # The two left agree: a quorum of the three replicas.
    out = c.block(proofs=[c.envelope(task, 0), c.envelope(task, 1)])
    job = c.job(task)
    assert job.status == "resolved" and job.paid == 2 * PRICE_DEFAULT
    assert job.refunded == 3 * AI_CEILING_64 - 2 * PRICE_DEFAULT
