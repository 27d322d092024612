"""No unit is created or lost by the AICF: a property over random block sequences.

Each example registers three AI providers, deploys two SCRIPT requesters and then runs
random blocks: enqueues (one to three replicas, with enough value or not), heartbeats
(healthy, tripped, or none, so leases expire), good, failed and dissenting proofs for the
leases open at the time, revokes by the right or the wrong account, unbonding, and runs of
empty blocks that let backoffs, SLAs and jails run out.  After every block:

* the sum of every balance in state grows by exactly ``block_reward`` per block since
  genesis (``chain.apply``'s rule, which the AICF must keep);
* the escrow holds exactly what the open jobs have not settled (``ceiling − paid`` each);
* the stake account holds exactly the registered providers' stakes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aicf.records import FUND_ADDRESS, OPEN_STATES, STAKE_ADDRESS, Telemetry
from aicf.store import job_count, load_job_record, logged_job, provider_addresses
from capabilities.host import ESCROW_ADDRESS
from chain.errors import ChainError
from chain.state import FLAT_PREFIX, Account
from chain.tx import SignedTx
from chain.types import Address, Hash32
from genesis.devnet import DEVNET_ACCOUNTS, DEVNET_PROVIDERS
from proofs.envelope import ProofEnvelope
from tests.aicf.helpers import AI_CEILING_64, HEALTHY, JobsChain, account, fast_genesis, provider_key

PROVIDERS = (0, 1, 2)
TRIPPED = Telemetry(1_000, 10, 9_000, 95, 0)


def total_balance(c: JobsChain, contracts: list[Address]) -> int:
    """Every balance in state: the accounts the test knows, checked against a scan of the flat index."""
    known = {bytes(account(i).address) for i in range(DEVNET_ACCOUNTS)}
    known |= {bytes(provider_key(i).address) for i in range(DEVNET_PROVIDERS)}
    known |= {bytes(a) for a in contracts}
    known |= {bytes(ESCROW_ADDRESS), bytes(FUND_ADDRESS), bytes(STAKE_ADDRESS), bytes(c.mem.validator.address)}
    state = c.state()
    total = sum(state.get_account(a).balance for a in known)
    scanned = 0
    for _, value in c.mem.kv.iterate(FLAT_PREFIX):
        try:
            scanned += Account.decode(value).balance
        except ChainError:
            continue
    assert scanned == total, "an account outside the known set holds a balance"
    return total


def open_jobs(c: JobsChain) -> list[Hash32]:
    state = c.state()
    tasks = [logged_job(state, i) for i in range(job_count(state))]
    return [t for t in tasks if t is not None and c.job(t).status in OPEN_STATES]


def all_jobs(c: JobsChain) -> list[Hash32]:
    state = c.state()
    return [t for t in (logged_job(state, i) for i in range(job_count(state))) if t is not None]


def check_books(c: JobsChain, contracts: list[Address], supply: int) -> None:
    assert total_balance(c, contracts) == supply + c.height * c.mem.app.params.block_reward
    state = c.state()
    owed = 0
    for task in open_jobs(c):
        job = load_job_record(state, task)
        assert job is not None
        owed += job.ceiling - job.paid
    assert c.balance(ESCROW_ADDRESS) == owed
    stakes = 0
    for address in provider_addresses(state):
        record = c.provider(next(i for i in range(DEVNET_PROVIDERS) if provider_key(i).address == address))
        assert record is not None and 0 <= record.locked <= record.stake
        stakes += record.stake
    assert c.balance(STAKE_ADDRESS) == stakes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_value_is_conserved_over_random_aicf_blocks(data: st.DataObject) -> None:
    c = JobsChain(fast_genesis(capabilities={"sla_blocks_ai": 8, "sla_blocks_quantum": 8}))
    supply = total_balance(c, [])
    assert c.height == 0
    c.providers(*PROVIDERS)
    contracts = [c.deploy_script(), c.deploy_script(key=account(1))]
    check_books(c, contracts, supply)

    for _ in range(data.draw(st.integers(3, 10), label="blocks")):
        txs: list[SignedTx] = []
        for _ in range(data.draw(st.integers(0, 3), label="enqueues")):
            who = data.draw(st.integers(0, 1), label="requester")
            replicas = data.draw(st.integers(1, 3), label="replicas")
            value = data.draw(st.sampled_from([0, AI_CEILING_64, 3 * AI_CEILING_64]), label="value")
            txs.append(c.script_ai_tx(contracts[who], prompt=f"q{len(all_jobs(c))}-{len(txs)}",
                                      opts={"replicas": replicas}, value=value, key=account(who)))
        for p in PROVIDERS:
            beat = data.draw(st.sampled_from(["none", "none", "healthy", "tripped"]), label=f"heartbeat {p}")
            if beat != "none":
                txs.append(c.heartbeat_tx(p, HEALTHY if beat == "healthy" else TRIPPED))
        known = all_jobs(c)
        if known and data.draw(st.booleans(), label="revoke"):
            task = data.draw(st.sampled_from(known), label="revoked task")
            txs.append(c.tx(account(data.draw(st.integers(0, 1), label="revoker")), "job_revoke", [bytes(task)]))
        if data.draw(st.integers(0, 9), label="unbond") == 0:
            txs.append(c.tx(provider_key(data.draw(st.sampled_from(PROVIDERS), label="unbonding")),
                            "provider_unbond", []))

        proofs: list[ProofEnvelope] = []
        for task in open_jobs(c):
            for lease in c.job(task).leases:
                index = next(i for i in PROVIDERS if provider_key(i).address == lease.provider)
                kind = data.draw(st.sampled_from(["none", "good", "good", "bad", "dissent"]), label="proof")
                if kind == "good":
                    proofs.append(c.envelope(task, index))
                elif kind == "bad":
                    proofs.append(c.envelope(task, index, model="llama3-70b"))
                elif kind == "dissent":
                    proofs.append(c.envelope(task, index, text=f"dissent {index}".encode()))

        block, out = c.build(*txs, proofs=proofs)
        assert len(block.txs) == len(txs)
        c.mem.commit(block, out)  # a proof for a lease an earlier proof released is left out
        check_books(c, contracts, supply)

        for _ in range(data.draw(st.integers(0, 4), label="empty blocks")):
            c.block()
        check_books(c, contracts, supply)
