"""Intake, SLA expiry and revokes (``aicf/jobs.py``, ``aicf/txs.py``): the escrow always goes back.

Genesis: the AI SLA is 6 blocks here (``sla_blocks_ai``), so a job enqueued at ``e`` may take
a result through block ``e + 6`` and expires at the end of it.
"""

from __future__ import annotations

from aicf.store import active_lanes, job_count, load_lane, logged_job
from capabilities.host import ESCROW_ADDRESS
from chain.hashing import H
from tests.aicf.helpers import (
    AGENT_FUNDS,
    AI_CEILING_64,
    MODEL,
    JobsChain,
    account,
    aicf_events,
    fast_genesis,
    provider_key,
)

LANE = f"ai/{MODEL}"
P0 = provider_key(0).address


def sla_chain(**sections: dict[str, object]) -> JobsChain:
    return JobsChain(fast_genesis(capabilities={"sla_blocks_ai": 6, "sla_blocks_quantum": 6}, **sections))


def test_intake_records_the_job_in_its_lane_and_the_job_log() -> None:
    c = sla_chain()
    contract = c.deploy_script()
    out = c.block(c.script_ai_tx(contract, prompt="one"), c.script_ai_tx(contract, prompt="two"))
    tasks = [dict(e.attrs)["task_id"] for r in out.receipts for e in r.events if e.name == "enqueued"]
    assert [e["task_id"] for e in aicf_events(out, "job_queued")] == tasks
    assert all(e["lane"] == LANE for e in aicf_events(out, "job_queued"))
    state = c.state()
    assert job_count(state) == 2 and [logged_job(state, i) for i in range(2)] == tasks
    assert active_lanes(state) == (LANE,)
    assert sorted(bytes(e.task_id) for e in load_lane(state, LANE).queue) == sorted(tasks)
    job = c.job(tasks[0])
    assert (job.status, job.kind, job.requester, job.origin) == ("queued", "ai", contract, account(0).address)
    assert (job.replicas, job.ceiling, job.enqueue_height, job.deadline) == (1, AI_CEILING_64, c.height, c.height + 6)


def test_a_job_nobody_serves_expires_at_its_deadline_fully_refunded() -> None:
    c = sla_chain()
    contract = c.deploy_script()
    before = c.balance(contract)
    (task,) = c.enqueued(c.script_ai_tx(contract))
    enqueued = c.height
    assert c.balance(contract) == before + AGENT_FUNDS - AI_CEILING_64
    assert c.balance(ESCROW_ADDRESS) == AI_CEILING_64
    c.until(enqueued + 5)
    assert c.job(task).status == "queued"
    (out,) = c.empty_blocks(1)
    assert aicf_events(out, "job_expired") == [{"task_id": bytes(task), "reason": "sla_deadline",
                                                "refund": AI_CEILING_64}]
    job = c.job(task)
    assert (job.status, job.end_reason, job.end_height, job.refunded, job.paid) == (
        "expired", "sla_deadline", enqueued + 6, AI_CEILING_64, 0)
    assert c.balance(contract) == before + AGENT_FUNDS
    assert c.balance(ESCROW_ADDRESS) == 0
    assert load_lane(c.state(), LANE).queue == () and active_lanes(c.state()) == ()


def test_a_leased_job_past_its_deadline_expires_and_the_lease_ends_missed() -> None:
    c = sla_chain(leases={"lease_blocks": 20})
    c.providers(0)
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    c.until(c.job(task).deadline)
    job = c.job(task)
    assert (job.status, job.refunded, job.leases) == ("expired", AI_CEILING_64, ())
    record = c.record(0)
    assert (record.missed, record.leases, record.locked) == (1, (), 0)
    assert c.refused(c.envelope(task, 0)).details["reason"] == "not_leased"


def test_a_proof_in_the_deadline_block_still_counts() -> None:
    c = sla_chain(leases={"lease_blocks": 20})
    c.providers(0)
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    c.until(c.job(task).deadline - 1)
    c.block(proofs=[c.envelope(task, 0)])
    assert c.height == c.job(task).deadline
    assert c.job(task).status == "resolved"


def test_revoke_by_the_origin_while_queued_refunds_everything() -> None:
    c = sla_chain()
    contract = c.deploy_script()
    before = c.balance(contract)
    (task,) = c.enqueued(c.script_ai_tx(contract))
    out = c.block(c.tx(account(0), "job_revoke", [bytes(task)]))
    assert out.receipts[0].ok, out.receipts[0].reason
    assert aicf_events(out, "job_revoked") == [{"task_id": bytes(task), "refund": AI_CEILING_64}]
    job = c.job(task)
    assert (job.status, job.end_reason, job.refunded, job.end_height) == ("revoked", "revoked", AI_CEILING_64,
                                                                          c.height)
    assert c.balance(contract) == before + AGENT_FUNDS and c.balance(ESCROW_ADDRESS) == 0
    assert load_lane(c.state(), LANE).queue == () and active_lanes(c.state()) == ()
    # Its SLA entry fires later and changes nothing.
    c.until(job.deadline + 1)
    assert c.job(task).status == "revoked" and c.balance(contract) == before + AGENT_FUNDS
    (again,) = c.run(c.tx(account(0), "job_revoke", [bytes(task)]))
    assert not again.ok and again.reason.startswith("not_revocable")


def test_revoke_refusals() -> None:
    c = sla_chain(leases={"lease_blocks": 20})
    c.providers(0)
    contract = c.deploy_script()
    (leased,) = c.enqueued(c.script_ai_tx(contract))
    assert c.job(leased).status == "leased"
    r1, r2, r3 = c.run(c.tx(account(1), "job_revoke", [bytes(leased)]),
                       c.tx(account(0), "job_revoke", [bytes(leased)]),
                       c.tx(account(0), "job_revoke", [H(b"no", b"job")]))
    assert r1.reason.startswith("not_origin")
    assert r2.reason.startswith("not_revocable")
    assert r3.reason.startswith("unknown_job")
    assert c.job(leased).status == "leased" and c.balance(ESCROW_ADDRESS) == AI_CEILING_64


def test_the_origin_is_the_signer_of_the_enqueuing_call() -> None:
    """Account 1 calls a contract account 0 deployed: account 1 may revoke, account 0 may not."""
    c = sla_chain()
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract, key=account(1)))
    assert c.job(task).origin == account(1).address and c.job(task).requester == contract
    (r,) = c.run(c.tx(account(0), "job_revoke", [bytes(task)]))
    assert r.reason.startswith("not_origin") and c.job(task).status == "queued"
    (r,) = c.run(c.tx(account(1), "job_revoke", [bytes(task)]))
    assert r.ok and c.job(task).status == "revoked"


def test_revoke_in_backoff_refunds_and_the_requeue_is_a_no_op() -> None:
    c = sla_chain()
    c.providers(0)
    contract = c.deploy_script()
    before = c.balance(contract)
    (task,) = c.enqueued(c.script_ai_tx(contract))
    c.block(proofs=[c.envelope(task, 0, model="llama3-70b")])  # a failed proof: backoff for 2 blocks
    assert c.job(task).status == "backoff"
    (r,) = c.run(c.tx(account(0), "job_revoke", [bytes(task)]))
    assert r.ok, r.reason
    c.empty_blocks(3)
    job = c.job(task)
    assert (job.status, job.refunded) == ("revoked", AI_CEILING_64)
    assert c.balance(contract) == before + AGENT_FUNDS
    assert load_lane(c.state(), LANE).queue == ()
