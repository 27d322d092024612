"""The proof pool: attribution before anything is kept, its bounds, pruning on commit, and
which refusals count as a peer's fault.  Driven against a real chain's head state."""

from __future__ import annotations

import pytest

from chain.errors import InvalidProof
from node.proofpool import FAULTS, ProofPool
from proofs.envelope import ProofEnvelope
from tests.aicf.helpers import JobsChain, tuned_genesis


def _setup(samples: dict[str, bytes], jobs: int = 2, max_proofs: int = 8) -> tuple[JobsChain, list[bytes], ProofPool]:
    chain = JobsChain(tuned_genesis(leases={"lease_blocks": 50}))
    chain.providers(0)
    agent = chain.deploy(samples["ai_agent"])
    tasks = [chain.ask(agent, prompt=f"question {i}") for i in range(jobs)]
    pool = ProofPool(chain.chain_id, chain.state, max_proofs=max_proofs)
    return chain, [bytes(t) for t in tasks], pool


def _reason(pool: ProofPool, raw: bytes) -> str:
    with pytest.raises(InvalidProof) as err:
        pool.add(raw)
    return err.value.reason


def test_only_attributed_envelopes_enter_and_the_pool_is_bounded(samples: dict[str, bytes]) -> None:
    chain, tasks, pool = _setup(samples, jobs=3, max_proofs=2)
    first, second, third = (chain.envelope(t, 0).encode() for t in tasks)
    assert _reason(pool, b"\x00junk") in FAULTS  # bytes that are no envelope: the relaying peer is at fault
    flipped = ProofEnvelope.decode(first)
    forged = ProofEnvelope(flipped.type_id, flipped.task_id, flipped.provider, flipped.body, flipped.nullifier,
                           type(flipped.signature)(bytes(64)))
    assert _reason(pool, forged.encode()) == "bad_signature" and "bad_signature" in FAULTS
    stranger = chain.envelope(tasks[0], 3).encode()  # provider 3 never registered: state-dependent
    assert _reason(pool, stranger) == "unknown_provider" and "unknown_provider" not in FAULTS
    assert len(pool) == 0

    pool.add(first)
    assert _reason(pool, first) == "duplicate"
    pool.add(second)
    assert _reason(pool, third) == "pool_full"
    assert pool.reap(10**9) == [first, second]


def test_the_pool_drops_what_a_commit_made_stale(samples: dict[str, bytes]) -> None:
    chain, tasks, pool = _setup(samples)
    raws = [chain.envelope(t, 0).encode() for t in tasks]
    for raw in raws:
        pool.add(raw)
    assert pool.reap(len(raws[0]) + 5) == [raws[0]]  # the byte budget of a block
    chain.block(proofs=[raws[0]])  # the first envelope is in a block: its nullifier is spent
    assert pool.update() == 1
    assert pool.reap(10**9) == [raws[1]]
    assert _reason(pool, raws[0]) in ("nullifier_used", "not_leased")
