"""Epoch settlement (``aicf.settlement``): verified work is paid at the epoch's end, FIFO
within priority classes under the Γ cap, split provider / producer / fund with rounding
down, recorded per job and per epoch; the rest carries, and a fund that cannot pay throttles
new leases.  The ledger is conserved to the unit (a Hypothesis property)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aicf.jobs import match
from aicf.params import AicfParams, EpochParams
from aicf.records import FUND_ADDRESS, WorkEntry, decode_record
from aicf.settlement import (
    Claim,
    claim_key,
    enqueue_claims,
    load_epoch,
    load_ledger,
    load_payout,
    note,
    save_ledger,
    settle,
    split,
    throttled,
)
from aicf.store import save_provider
from chain.keys import PrivateKey
from chain.kv import MemoryKV
from chain.module import BlockEnv
from chain.smt import EMPTY_ROOT
from chain.state import StateDB
from chain.types import Hash32
from tests.aicf.helpers import AI_CEILING_64, HEALTHY, JobsChain, aicf_events, fast_genesis, provider_key
from tests.aicf.test_proofs import PRICE_DEFAULT, leased_job, replicated_job

L = 10
"""Epoch length of the hand-built ledgers."""
PROVIDERS = [PrivateKey.derive(f"settlement-test/provider/{i}").address for i in range(4)]
PRODUCER = PrivateKey.derive("settlement-test/producer").address


def _state() -> StateDB:
    return StateDB(MemoryKV(), EMPTY_ROOT)


def _env(height: int) -> BlockEnv:
    return BlockEnv("cairn-test", height, height * 1000, PRODUCER, bytes(32))


def _params(gamma: int = 1_000_000) -> AicfParams:
    return replace(AicfParams(), epoch=EpochParams(gamma_cap=gamma))


def _work(price: int, units: int, provider: int = 0) -> WorkEntry:
    return WorkEntry(PROVIDERS[provider], Hash32(bytes(32)), Hash32(bytes([price % 256]) * 32), units, 10_000, price,
                     1, producer=bytes(PRODUCER), base_rate=15_000, weight_bp=10_000, latency_bp=11_500,
                     availability_bp=11_000)


def _resolve(state: StateDB, task: int, price: int, units: int, *, klass: int = 0, provider: int = 0,
             height: int = 1, funded: bool = True) -> Hash32:
    """What the resolver does for one agreeing replica: price → fund, one claim queued."""
    task_id = Hash32(task.to_bytes(32, "big"))
    if funded:
        state.credit(FUND_ADDRESS, price)
        note(state, fees=price)
    enqueue_claims(state, task_id, "ai", klass, (_work(price, units, provider),), height, L)
    return task_id


def _balance(state: StateDB, address: bytes) -> int:
    return state.get_account(address).balance


# --- the split -------------------------------------------------------------------------------


def test_the_split_rounds_both_paid_shares_down_and_the_fund_keeps_the_rest() -> None:
    p = AicfParams()
    assert split(99_999, p) == (79_999, 14_999, 5_001)
    assert split(1, p) == (0, 0, 1)
    assert split(10_000, p) == (8_000, 1_500, 500)
    s = _state()
    task = _resolve(s, 1, 99_999, 500)
    (event,) = settle(s, _env(L), p, L)
    assert _balance(s, PROVIDERS[0]) == 79_999 and _balance(s, PRODUCER) == 14_999
    assert _balance(s, FUND_ADDRESS) == 5_001
    payout = load_payout(s, task)
    assert payout is not None and len(payout.shares) == 1
    share = payout.shares[0]
    assert (share.price, share.provider_share, share.producer_share, share.fund_share) == (99_999, 79_999, 14_999,
                                                                                          5_001)
    assert (share.units, share.base_rate, share.weight_bp, share.latency_bp, share.availability_bp) == (
        500, 15_000, 10_000, 11_500, 11_000)
    assert share.epoch == 1 and share.producer == bytes(PRODUCER)
    assert dict(event.attrs)["payouts"] == 1 and dict(event.attrs)["retained"] == 5_001


# --- the cap, classes and carry-over ---------------------------------------------------------


def test_claims_over_the_cap_carry_to_the_next_epoch_in_order() -> None:
    s, p = _state(), _params(gamma=3)  # 3 units = 3,000 milli-units per epoch
    tasks = [_resolve(s, i, 1_000 * (i + 1), 1_500) for i in range(4)]
    settle(s, _env(L), p, L)
    first = load_epoch(s, 1)
    assert first is not None
    assert (first.payouts, first.carried_claims, first.gamma_used, first.stopped) == (2, 2, 3_000, "gamma_cap")
    assert first.carried_amount == 3_000 + 4_000 and first.carried_units == 3_000
    assert [load_payout(s, t) is not None for t in tasks] == [True, True, False, False]
    assert first.throttled  # a whole epoch of Γ is carried: no new leases until it is paid
    settle(s, _env(2 * L), p, L)
    second = load_epoch(s, 2)
    assert second is not None and (second.payouts, second.carried_claims, second.stopped) == (2, 0, "")
    assert not second.throttled and not throttled(s)
    share = load_payout(s, tasks[3])
    assert share is not None and share.shares[0].epoch == 2


def test_a_higher_class_is_paid_first_and_fifo_holds_within_a_class() -> None:
    s, p = _state(), _params(gamma=2)
    low_a = _resolve(s, 1, 1_000, 1_000, klass=0)
    low_b = _resolve(s, 2, 1_000, 1_000, klass=0)
    high = _resolve(s, 3, 1_000, 1_000, klass=7)
    settle(s, _env(L), p, L)
    assert [load_payout(s, t) is not None for t in (high, low_a, low_b)] == [True, True, False]
    assert load_ledger(s).classes == ((0, 1, 2),)


def test_a_claim_that_does_not_fit_stops_settlement_so_nothing_overtakes_it() -> None:
    s, p = _state(), _params(gamma=2)
    big = _resolve(s, 1, 1_000, 3_000)  # alone above the cap: waits for a larger cap, blocks the rest
    small = _resolve(s, 2, 1_000, 1_000)
    settle(s, _env(L), p, L)
    assert load_payout(s, big) is None and load_payout(s, small) is None
    settle(s, _env(2 * L), _params(gamma=5), L)
    assert load_payout(s, big) is not None and load_payout(s, small) is not None


def test_budget_exhaustion_carries_and_throttles_new_leases_until_the_fund_can_pay() -> None:
    s, p = _state(), _params()
    paid = _resolve(s, 1, 10_000, 1_000)
    owed = _resolve(s, 2, 10_000, 1_000, funded=False)  # a claim the fund never received the price of
    settle(s, _env(L), p, L)
    record = load_epoch(s, 1)
    assert record is not None and (record.payouts, record.stopped, record.throttled) == (1, "fund", True)
    assert load_payout(s, paid) is not None and load_payout(s, owed) is None
    assert throttled(s) and _balance(s, FUND_ADDRESS) == 500  # the first claim's fund share
    s.credit(FUND_ADDRESS, 20_000)
    note(s, treasury=20_000)
    settle(s, _env(2 * L), p, L)
    assert load_payout(s, owed) is not None and not throttled(s)


def test_the_matcher_assigns_nothing_while_throttled() -> None:
    c = JobsChain()
    assert all(r.ok for r in c.run(c.register_tx(0)))  # registered, never heartbeated: not eligible
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    assert c.job(task).status == "queued"
    state = c.state()
    h = c.height + 1
    # the provider as a heartbeat would leave it (eligible from this block on)
    save_provider(state, replace(c.record(0), heartbeat_height=h, lease_deadline=h + 20, telemetry=HEALTHY))
    env = BlockEnv(c.chain_id, h, c.mem.head.time_ms + 1000, PRODUCER, bytes(32))
    save_ledger(state, replace(load_ledger(state), throttled=True))
    assert match(state, env, c.params) == []
    save_ledger(state, replace(load_ledger(state), throttled=False))
    assert aicf_events_of(match(state, env, c.params), "job_assigned") == [bytes(task)]


def aicf_events_of(events: list[Any], name: str) -> list[bytes]:
    return [dict(e.attrs)["task_id"] for e in events if (e.module, e.name) == ("aicf", name)]


def test_events_name_the_requester() -> None:
    c = JobsChain()
    task = leased_job(c)
    job = c.job(task)
    out = c.block(proofs=[c.envelope(task, 0)])
    (resolved,) = aicf_events(out, "job_resolved", requester=True)
    assert resolved["requester"] == bytes(job.requester) and resolved["task_id"] == bytes(task)


# --- on a chain: jobs verified in an epoch are paid at its end --------------------------------


def _epoch_chain() -> JobsChain:
    g = fast_genesis()
    return JobsChain(replace(g, params=replace(g.params, epoch_length=L)))


def test_a_verified_job_is_paid_at_the_epoch_end_provable_and_split() -> None:
    c = _epoch_chain()
    task = leased_job(c)
    out = c.block(proofs=[c.envelope(task, 0)])
    assert c.job(task).status == "resolved" and load_payout(c.state(), task) is None  # not yet: epoch end
    proposer = bytes(c.mem.validator.address)
    before = {"provider": c.balance(provider_key(0).address), "proposer": c.balance(proposer)}
    outs = c.until(L)
    (settled,) = [e for o in outs for e in aicf_events(o, "epoch_settled")]
    assert settled["epoch"] == 1 and settled["payouts"] == 1
    payout = load_payout(c.state(), task)
    assert payout is not None
    (share,) = payout.shares
    assert share.price == PRICE_DEFAULT and share.provider == provider_key(0).address
    assert (share.provider_share, share.producer_share, share.fund_share) == (10_560, 1_980, 660)
    assert (share.units, share.base_rate, share.weight_bp, share.latency_bp, share.availability_bp) == (
        880, 15_000, 10_000, 8_000, 11_000)
    assert share.producer == proposer and share.proof_hash == c.job(task).results[0].proof_hash
    assert c.balance(provider_key(0).address) - before["provider"] == 10_560
    assert c.record(0).paid == 10_560 and c.record(0).payouts == (task,)
    epoch = load_epoch(c.state(), 1)
    assert epoch is not None and epoch.fees_in == PRICE_DEFAULT and epoch.paid_provider == 10_560
    assert epoch.refunds == AI_CEILING_64 - PRICE_DEFAULT and epoch.treasury_in > 0
    assert (epoch.start_height, epoch.end_height) == (1, L)
    assert aicf_events(out, "job_resolved")  # resolved in the epoch it is paid for


def test_a_replicated_job_pays_each_agreeing_replica_and_not_the_dissenter() -> None:
    c = _epoch_chain()
    task = replicated_job(c)
    c.block(proofs=[c.envelope(task, 2, text=b"a different answer"), c.envelope(task, 0), c.envelope(task, 1)])
    c.until(L)
    payout = load_payout(c.state(), task)
    assert payout is not None
    assert sorted(s.provider for s in payout.shares) == sorted([provider_key(0).address, provider_key(1).address])


# --- conservation ------------------------------------------------------------------------------

_step = st.one_of(
    st.tuples(st.just("resolve"), st.integers(0, 200_000), st.integers(0, 4_000), st.integers(0, 3),
              st.integers(0, 3)),
    st.tuples(st.just("treasury"), st.integers(0, 50_000)),
    st.tuples(st.just("slash"), st.integers(0, 1_000_000)),
    st.tuples(st.just("settle"), st.integers(0, 10)),
)


@settings(max_examples=80, deadline=None)
@given(steps=st.lists(_step, max_size=40))
def test_the_fund_is_conserved_to_the_unit(steps: list[Any]) -> None:
    s = _state()
    inflows = paid = 0
    epoch, task = 1, 0
    tasks: list[Hash32] = []
    for step in steps:
        if step[0] == "resolve":
            _, price, units, klass, provider = step
            task += 1
            tasks.append(_resolve(s, task, price, units, klass=klass, provider=provider, height=epoch * L - 1))
            inflows += price
        elif step[0] in ("treasury", "slash"):
            s.credit(FUND_ADDRESS, step[1])
            note(s, **{"treasury" if step[0] == "treasury" else "slashed": step[1]})
            inflows += step[1]
        else:
            settle(s, _env(epoch * L), _params(gamma=step[1]), L)
            record = load_epoch(s, epoch)
            assert record is not None
            paid += record.paid_provider + record.paid_producer
            assert record.fund_balance == _balance(s, FUND_ADDRESS)
            epoch += 1
    fund = _balance(s, FUND_ADDRESS)
    assert inflows == paid + fund  # nothing created or lost
    # what the fund holds is exactly: the queued claims' prices + fund shares of paid ones + the rest
    ledger = load_ledger(s)
    queued = []
    for klass, head, tail in ledger.classes:
        for seq in range(head, tail):
            data = s.get(claim_key(klass, seq))
            assert data is not None
            queued.append(decode_record(Claim, data))
    assert ledger.carried_amount == sum(c.work.price for c in queued)
    assert ledger.carried_units == sum(c.work.units for c in queued)
    shares = [sh for t in tasks if (po := load_payout(s, t)) is not None for sh in po.shares]
    assert paid == sum(sh.provider_share + sh.producer_share for sh in shares)
    assert fund >= ledger.carried_amount  # every queued claim's price is still in the fund
    assert sum(_balance(s, a) for a in PROVIDERS) == sum(sh.provider_share for sh in shares)
    assert _balance(s, PRODUCER) == sum(sh.producer_share for sh in shares)
    assert all(sh.provider_share + sh.producer_share + sh.fund_share == sh.price for sh in shares)
    assert len(shares) + len(queued) == len(tasks)
