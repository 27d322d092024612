"""Leases, lost leases, backoff, tombstones and the retry budget (``aicf/jobs.py``).

Genesis (``fast_genesis``): ``lease_blocks`` 4, backoff ``min(2 x 2^(n-1), 8)`` blocks,
``retry_budget`` 3 unless a test says otherwise, jail 3 blocks.  A provider that heartbeats
at height ``h`` holds its leases through block ``h + 4``; at the end of that block they
end as missed.
"""

from __future__ import annotations

from aicf.records import Fault
from aicf.store import active_lanes, load_lane
from capabilities.host import ESCROW_ADDRESS
from tests.aicf.helpers import AGENT_FUNDS, JobsChain, aicf_events, fast_genesis, provider_key

P0, P1 = provider_key(0).address, provider_key(1).address


def test_a_silent_provider_loses_its_lease_and_the_job_moves_to_another() -> None:
    c = JobsChain()
    assert all(r.ok for r in c.run(c.register_tx(0), c.register_tx(1)))
    assert all(r.ok for r in c.heartbeat(0))  # provider 1 never heartbeats yet: not eligible
    beat = c.height
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    job = c.job(task)
    assert job.status == "leased" and [le.provider for le in job.leases] == [P0]
    assert c.record(0).lease_deadline == beat + 4
    assert c.record(0).locked == job.ceiling  # collateral_bps 10000: the per-replica ceiling

    c.until(beat + 3)
    assert c.job(task).status == "leased"
    (out,) = c.empty_blocks(1)  # the deadline block: its end closes the lease
    deadline = c.height
    assert deadline == beat + 4
    assert aicf_events(out, "lease_expired") == [{"task_id": bytes(task), "provider": bytes(P0)}]
    assert aicf_events(out, "job_requeued") == [{"task_id": bytes(task), "reason": "lease_expired",
                                                 "at": deadline + 2}]
    record = c.record(0)
    assert (record.missed, record.failed, record.completed) == (1, 0, 0)
    assert record.faults == (Fault(deadline, task, "missed"),)
    assert record.leases == () and record.locked == 0
    job = c.job(task)
    assert (job.status, job.retries, job.leases, job.excluded) == ("backoff", 1, (), (P0,))

    # In backoff the job is in no lane's queue; the late proof of the first provider is refused.
    assert load_lane(c.state(), job.lane).queue == () and active_lanes(c.state()) == ()
    late = c.envelope(task, 0)
    assert c.refused(late).details["reason"] == "not_leased"

    c.block()
    (out,) = c.empty_blocks(1)  # backoff of 2 blocks ends
    assert c.height == deadline + 2
    assert aicf_events(out, "job_queued") == [{"task_id": bytes(task), "lane": job.lane, "retry": 1}]
    assert c.job(task).status == "queued"
    assert [e.task_id for e in load_lane(c.state(), job.lane).queue] == [task]

    # Both heartbeat; the first provider is excluded from this job (its tombstone), so the second gets it.
    out = c.block(c.heartbeat_tx(0), c.heartbeat_tx(1))
    assert aicf_events(out, "job_assigned") == [{"task_id": bytes(task), "provider": bytes(P1)}]
    assert [le.provider for le in c.job(task).leases] == [P1]

    out = c.block(proofs=[c.envelope(task, 1)])
    assert [e["provider"] for e in aicf_events(out, "job_resolved")] == [bytes(P1)]
    job = c.job(task)
    assert job.status == "resolved" and job.retries == 1 and job.excluded == (P0,)
    assert c.record(1).completed == 1 and c.record(0).completed == 0
    # The first provider's proof is still refused once the job is resolved.
    assert c.refused(late).details["reason"] == "not_leased"


def test_a_heartbeat_renews_every_lease() -> None:
    c = JobsChain()
    c.providers(0)
    contract = c.deploy_script()
    tasks = c.enqueued(c.script_ai_tx(contract, prompt="a"), c.script_ai_tx(contract, prompt="b"))
    for _ in range(6):  # past the first deadline, heartbeating every other block
        c.block(c.heartbeat_tx(0))
        c.block()
    assert all(c.job(t).status == "leased" for t in tasks)
    assert c.record(0).missed == 0
    # Then silence: both leases end together at the last deadline.
    deadline = c.record(0).lease_deadline
    outs = c.until(deadline)
    assert sorted(e["task_id"] for e in aicf_events(outs[-1], "lease_expired")) == sorted(bytes(t) for t in tasks)
    assert c.record(0).missed == 2


def test_a_heartbeat_in_the_deadline_block_keeps_the_lease() -> None:
    c = JobsChain()
    c.providers(0)
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    c.until(c.record(0).lease_deadline - 1)
    out = c.block(c.heartbeat_tx(0))
    assert aicf_events(out, "lease_expired") == []
    assert c.job(task).status == "leased" and c.record(0).lease_deadline == c.height + 4


def test_a_proof_in_the_lease_deadline_block_still_counts() -> None:
    c = JobsChain()
    c.providers(0)
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    c.until(c.record(0).lease_deadline - 1)
    out = c.block(proofs=[c.envelope(task, 0)])
    assert aicf_events(out, "lease_expired") == []
    assert c.job(task).status == "resolved" and c.record(0).missed == 0


def test_no_lease_is_granted_that_could_never_expire() -> None:
    """A provider whose lease deadline is the current block must not keep a lease granted at
    the end of that block past its deadline: the deadline's schedule has already run."""
    c = JobsChain()
    c.providers(0)
    deadline = c.record(0).lease_deadline
    contract = c.deploy_script()
    c.until(deadline - 1)
    (task,) = c.enqueued(c.script_ai_tx(contract))  # enqueued (and matched) in the deadline block
    assert c.height == deadline
    c.empty_blocks(6)
    assert c.job(task).lease_of(P0) is None
    assert c.record(0).leases == () and c.record(0).locked == 0
    # Once it heartbeats again the job is served normally.
    out = c.block(c.heartbeat_tx(0))
    assert aicf_events(out, "job_assigned") == [{"task_id": bytes(task), "provider": bytes(P0)}]


def test_the_retry_budget_ends_the_job_with_a_refund() -> None:
    """retry_budget 1: the first failure requeues, the second expires the job (``retry_budget``)."""
    c = JobsChain(fast_genesis(leases={"retry_budget": 1}))
    c.providers(0, 1)
    contract = c.deploy_script()
    before = c.balance(contract)
    (task,) = c.enqueued(c.script_ai_tx(contract))
    ceiling = c.job(task).ceiling
    assert c.balance(contract) == before + AGENT_FUNDS - ceiling

    first = 0 if c.job(task).lease_of(P0) else 1
    second = 1 - first
    out = c.block(proofs=[c.envelope(task, first, model="llama3-70b")])
    assert [e["reason"] for e in aicf_events(out, "proof_failed")] == ["ai_model_mismatch"]
    assert c.job(task).status == "backoff" and c.job(task).retries == 1
    c.block(c.heartbeat_tx(second))
    out = c.block(c.heartbeat_tx(second))  # the backoff (2 blocks) ends; the other provider takes it
    assert aicf_events(out, "job_assigned") == [{"task_id": bytes(task), "provider":
                                                 bytes(provider_key(second).address)}]

    out = c.block(proofs=[c.envelope(task, second, model="llama3-70b")])
    assert aicf_events(out, "job_expired") == [{"task_id": bytes(task), "reason": "retry_budget", "refund": ceiling}]
    job = c.job(task)
    assert (job.status, job.end_reason, job.retries, job.refunded, job.paid) == ("expired", "retry_budget", 2,
                                                                                 ceiling, 0)
    assert job.end_height == c.height
    assert c.balance(contract) == before + AGENT_FUNDS
    assert c.balance(ESCROW_ADDRESS) == 0
