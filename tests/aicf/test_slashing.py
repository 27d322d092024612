"""Provider slashing (``aicf.slashing``): every reason costs the genesis share of stake, which
goes to the fund, jails the provider, and is recorded; unbonding stake stays slashable; an
honest provider is never slashed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aicf.records import FUND_ADDRESS, STAKE_ADDRESS, Slash
from aicf.settlement import load_epoch, load_ledger
from aicf.slashing import availability_bp, close_qos_windows
from aicf.store import index_provider, load_provider, save_provider
from chain.kv import MemoryKV
from chain.smt import EMPTY_ROOT
from chain.state import StateDB
from tests.aicf.helpers import STAKE, JobsChain, aicf_events, fast_genesis, make_record, provider_key
from tests.aicf.test_proofs import P0, P2, _wrong_model, leased_job, replicated_job


def _slashes(outs: list[Any], name: str = "provider_slashed") -> list[dict[str, Any]]:
    return [e for o in outs for e in aicf_events(o, name)]


def test_a_failed_proof_costs_bad_proof_bps_of_stake_into_the_fund() -> None:
    c = JobsChain()
    task = leased_job(c)
    fund, stake_account = c.balance(FUND_ADDRESS), c.balance(STAKE_ADDRESS)
    out = c.block(proofs=[_wrong_model(c, task)])
    amount = STAKE * 1_000 // 10_000
    assert aicf_events(out, "provider_slashed") == [{"provider": bytes(P0), "reason": "bad_proof", "amount": amount,
                                                     "task_id": bytes(task)}]
    record = c.record(0)
    assert record.stake == STAKE - amount and record.slashed == amount
    assert record.slashes == (Slash(c.height, "bad_proof", amount, task),)
    assert record.jailed_until == c.height + 3
    assert c.balance(STAKE_ADDRESS) == stake_account - amount
    assert c.balance(FUND_ADDRESS) - fund >= amount  # plus this block's treasury slice
    assert load_ledger(c.state()).slashed_in == amount


def test_dissent_in_a_quorum_is_slashed() -> None:
    c = JobsChain()
    task = replicated_job(c)
    out = c.block(proofs=[c.envelope(task, 2, text=b"a different answer"), c.envelope(task, 0),
                          c.envelope(task, 1)])
    amount = STAKE * 500 // 10_000
    assert aicf_events(out, "provider_slashed") == [{"provider": bytes(P2), "reason": "quorum_dissent",
                                                     "amount": amount, "task_id": bytes(task)}]
    assert c.record(2).stake == STAKE - amount and c.record(0).stake == STAKE == c.record(1).stake


def test_missed_leases_are_slashed_only_beyond_the_retry_budget() -> None:
    c = JobsChain()  # retry_budget 3, lease_blocks 4
    c.providers(0)
    contract = c.deploy_script()
    tasks = c.enqueued(*(c.script_ai_tx(contract, prompt=f"q{i}") for i in range(5)))
    assert all(c.job(t).lease_of(P0) is not None for t in tasks)
    outs = c.empty_blocks(6)  # no heartbeat: every lease ends missed at the deadline
    slashes = _slashes(outs)
    assert [s["reason"] for s in slashes] == ["missed_lease", "missed_lease"]  # the 4th and 5th miss
    record = c.record(0)
    assert record.missed == 5 and record.window_missed == 5
    first = STAKE * 100 // 10_000
    second = (STAKE - first) * 100 // 10_000
    assert [s["amount"] for s in slashes] == [first, second] and record.stake == STAKE - first - second


def test_unbonding_stake_stays_slashable_and_what_returns_is_what_is_left() -> None:
    c = JobsChain()
    task = leased_job(c)
    (r,) = c.run(c.tx(provider_key(0), "provider_unbond", []))
    assert r.ok, r.reason
    assert c.record(0).status == "unbonding"
    out = c.block(proofs=[_wrong_model(c, task)])
    amount = STAKE * 1_000 // 10_000
    assert [s["reason"] for s in aicf_events(out, "provider_slashed")] == ["bad_proof"]
    balance = c.balance(P0)
    outs = c.empty_blocks(4)  # unbonding_blocks 3: matured
    assert [e["stake"] for o in outs for e in aicf_events(o, "provider_unbonded")] == [STAKE - amount]
    assert c.provider(0) is None and c.balance(P0) == balance + STAKE - amount


def _qos_state(completed: int, faults: int) -> tuple[StateDB, bytes]:
    state = StateDB(MemoryKV(), EMPTY_ROOT)
    record = replace(make_record(1), window_completed=completed, window_faults=faults)
    save_provider(state, record)
    state.credit(STAKE_ADDRESS, record.stake)
    index_provider(state, record)
    return state, bytes(record.address)


def test_chronic_qos_failure_is_slashed_after_the_windows_in_a_row() -> None:
    params = fast_genesis().aicf  # qos: 9,000 bp over 3 epochs, at least 4 leases
    state, address = _qos_state(7, 3)  # 70 % availability
    record = load_provider(state, address)
    assert record is not None and availability_bp(record) == 7_000
    for epoch in range(1, 4):
        events = close_qos_windows(state, epoch * 10, params)
        record = load_provider(state, address)
        assert record is not None and record.window_completed == 0  # the window resets
        if epoch < 3:
            assert events == [] and record.qos_strikes == epoch
            save_provider(state, replace(record, window_completed=7, window_faults=3))
    (event,) = events
    assert dict(event.attrs)["reason"] == "qos_failure"
    assert record.stake == make_record(1).stake - make_record(1).stake * 50 // 10_000 and record.qos_strikes == 0


def test_a_quiet_or_good_epoch_is_no_strike() -> None:
    params = fast_genesis().aicf
    for completed, faults, strikes in ((2, 1, 0), (95, 5, 0), (9, 1, 0), (8, 2, 1)):
        state, address = _qos_state(completed, faults)
        assert close_qos_windows(state, 10, params) == []
        record = load_provider(state, address)
        assert record is not None and record.qos_strikes == strikes, (completed, faults)


def test_an_honest_provider_is_never_slashed() -> None:
    g = fast_genesis()
    c = JobsChain(replace(g, params=replace(g.params, epoch_length=10)))
    c.providers(0)
    contract = c.deploy_script()
    outs = []
    for i in range(6):
        (task,) = c.enqueued(c.heartbeat_tx(0), c.script_ai_tx(contract, prompt=f"question {i}"))
        outs.append(c.block(c.heartbeat_tx(0), proofs=[c.envelope(task, 0)]))
        assert c.job(task).status == "resolved"
    outs += [c.block(c.heartbeat_tx(0)) for _ in range(25 - c.height)]
    assert _slashes(outs) == [] and c.record(0).stake == STAKE and c.record(0).slashed == 0
    assert c.record(0).paid > 0
    epoch = load_epoch(c.state(), 2)
    assert epoch is not None and epoch.slashed_in == 0
