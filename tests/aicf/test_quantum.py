"""A quantum job end to end: commit, the reveal beacon, the QUANTUM_V1 proof (``aicf``, ``proofs.quantum``).

The ``ai_agent`` sample asks for a 2-qubit Bell circuit with 100 shots; its ceiling is
10,000,000 (100 shots at the deepest weight 2.0: 200 units x 50,000).  The reference prover
plans the slots from the assignment beacon, commits to their root in a ``quantum_commit``
transaction, and once the next block has recorded its beacon, opens the slots that beacon
selects.  Bell has depth 2 (weight 1.0) and a noiseless simulator passes every trap (quality
1.0), so the price is 100 units x 50,000 = 5,000,000.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from aicf.records import FUND_ADDRESS
from capabilities.host import ESCROW_ADDRESS
from capabilities.records import ResultRecord, output_digest_of
from chain.hashing import H
from chain.types import Address, Hash32
from node.provider.work import ed25519
from proofs.envelope import ProofEnvelope, ProofType, seal_envelope
from proofs.quantum.commitment import Histogram
from proofs.quantum.traps import JobPlan
from tests.aicf.helpers import (
    AGENT_FUNDS,
    QUANTUM_CEILING_100,
    JobsChain,
    aicf_events,
    fast_genesis,
    provider_key,
)

P0, P1 = provider_key(0).address, provider_key(1).address
PRICE = 5_000_000
TREASURY_EMPTY_BLOCK = 15_000


@dataclass
class QuantumJob:
    c: JobsChain
    agent: Address
    task: Hash32
    plan: JobPlan
    histograms: tuple[Histogram, ...]
    root: bytes


def quantum_job(samples: dict[str, bytes]) -> QuantumJob:
    """Quantum providers 0 and 1 registered, only 0 heartbeating; the agent's Bell job leased to 0."""
    c = JobsChain(fast_genesis(leases={"lease_blocks": 20}))
    assert all(r.ok for r in c.run(c.register_tx(0, kinds=("quantum",), models=()),
                                   c.register_tx(1, kinds=("quantum",), models=())))
    assert all(r.ok for r in c.heartbeat(0))
    agent = c.deploy(samples["ai_agent"])
    (task,) = c.enqueued(c.ask_quantum_tx(agent))
    job = c.job(task)
    assert (job.kind, job.lane, job.status, job.ceiling) == ("quantum", "quantum/any", "leased", QUANTUM_CEILING_100)
    assert [le.provider for le in job.leases] == [P0]
    assert bytes(job.leases[0].assign_beacon) == bytes(c.mem.head.beacon)  # the assigning block's beacon
    plan, histograms, root = c.quantum_work(task, 0)
    return QuantumJob(c, agent, task, plan, histograms, root)


def test_commit_reveal_prove(samples: dict[str, bytes]) -> None:
    q = quantum_job(samples)
    c, task = q.c, q.task
    early = c.quantum_envelope(0, q.plan, q.histograms, bytes(c.job(task).leases[0].assign_beacon))
    assert c.refused(early).details["reason"] == "not_revealed"  # no commitment yet

    out = c.block(c.quantum_commit_tx(task, 0, q.root))
    assert out.receipts[0].ok, out.receipts[0].reason
    committed = c.height
    assert aicf_events(out, "quantum_committed") == [{"task_id": bytes(task), "provider": bytes(P0)}]
    lease = c.job(task).leases[0]
    assert (lease.commit_root, lease.commit_height, lease.reveal_beacon) == (q.root, committed, b"")
    (again,) = c.run(c.quantum_commit_tx(task, 0, H(b"other", b"root")))
    assert not again.ok and again.reason.startswith("already_committed")
    # That block (committed + 1) recorded its beacon at its end: a proof inside it came too early.
    lease = c.job(task).leases[0]
    assert lease.reveal_beacon == bytes(c.mem.store.load_block_at(committed + 1).header.beacon)
    assert lease.commit_root == q.root  # the second commitment changed nothing


def test_a_proof_before_the_reveal_is_refused_and_after_it_resolves(samples: dict[str, bytes]) -> None:
    q = quantum_job(samples)
    c, task = q.c, q.task
    c.block(c.quantum_commit_tx(task, 0, q.root))
    # In the block after the commitment, proofs run before the beacon is recorded.
    guess = c.quantum_envelope(0, q.plan, q.histograms, bytes(c.job(task).leases[0].assign_beacon))
    assert c.refused(guess).details["reason"] == "not_revealed"
    out = c.block()
    reveal = c.job(task).leases[0].reveal_beacon
    assert aicf_events(out, "quantum_reveal") == [{"task_id": bytes(task), "provider": bytes(P0),
                                                   "beacon": bytes(c.mem.head.beacon)}]
    assert reveal == bytes(c.mem.head.beacon)

    env = c.quantum_envelope(0, q.plan, q.histograms, reveal)
    fund = c.balance(FUND_ADDRESS)
    out = c.block(proofs=[env])
    h = c.height
    assert aicf_events(out, "job_resolved") == [{"task_id": bytes(task), "provider": bytes(P0), "price": PRICE,
                                                 "refund": QUANTUM_CEILING_100 - PRICE}]
    job = c.job(task)
    assert (job.status, job.paid, job.refunded) == ("resolved", PRICE, QUANTUM_CEILING_100 - PRICE)
    assert c.balance(ESCROW_ADDRESS) == 0
    assert c.balance(FUND_ADDRESS) == fund + PRICE + TREASURY_EMPTY_BLOCK
    assert c.balance(q.agent) == AGENT_FUNDS - PRICE
    assert c.record(0).completed == 1 and c.record(0).leases == ()

    # The result is the user slot's histogram, readable from the next block.
    assert c.answer(q.agent, height=h) == (0, b"")
    flag, raw = c.answer(q.agent)
    output = q.histograms[q.plan.user_slot].encode()
    assert flag == 1
    assert ResultRecord.decode(raw) == ResultRecord(task, P0, output_digest_of(output), output, h, Hash32(env.hash()))
    # A Bell pair only ever measures 00 or 11.
    assert {outcome for outcome, _ in q.histograms[q.plan.user_slot].counts} <= {0b00, 0b11}


def test_quantum_commit_from_a_provider_without_the_lease(samples: dict[str, bytes]) -> None:
    q = quantum_job(samples)
    c = q.c
    (r,) = c.run(c.quantum_commit_tx(q.task, 1, q.root))
    assert not r.ok and r.reason.startswith("not_leased")
    (r,) = c.run(c.quantum_commit_tx(H(b"no", b"job"), 0, q.root))
    assert not r.ok and r.reason.startswith("not_leased")
    assert c.job(q.task).leases[0].commit_root == b""


def _opened_for_another_beacon(q: QuantumJob, reveal: bytes) -> ProofEnvelope:
    return q.c.quantum_envelope(0, q.plan, q.histograms, H(b"a beacon", b"of the provider's choosing"))


def _ai_envelope_for_a_quantum_job(q: QuantumJob, reveal: bytes) -> ProofEnvelope:
    return seal_envelope(ProofType.AI_V1, q.task, b"\x80", chain_id=q.c.chain_id,
                         provider_key=ed25519(provider_key(0)))


@pytest.mark.parametrize(("make", "reason"), [
    (_opened_for_another_beacon, "quantum_reveal_mismatch"),
    (_ai_envelope_for_a_quantum_job, "wrong_proof_type"),
])
def test_a_bad_quantum_proof_fails_and_jails(samples: dict[str, bytes],
                                             make: Callable[[QuantumJob, bytes], ProofEnvelope], reason: str) -> None:
    q = quantum_job(samples)
    c = q.c
    c.block(c.quantum_commit_tx(q.task, 0, q.root))
    c.block()
    out = c.block(proofs=[make(q, c.job(q.task).leases[0].reveal_beacon)])
    assert [e["reason"] for e in aicf_events(out, "proof_failed")] == [reason]
    assert c.record(0).jailed_until == c.height + 3
    job = c.job(q.task)
    assert (job.status, job.leases, job.excluded) == ("backoff", (), (P0,))
