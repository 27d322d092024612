"""Provider transactions on a real chain: registration, heartbeats, unbonding, unjailing.

Expectations come from ``aicf/txs.py``'s rules: each refusal is a failed receipt whose
reason starts with the stable word the docstring gives, and changes nothing but the fee.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aicf.records import ACTIVE, STAKE_ADDRESS, UNBONDING
from aicf.store import load_lane, provider_addresses
from chain.errors import InvalidGenesis
from chain.hashing import H
from chain.keys import address_of
from chain.tx import SignedTx
from genesis.devnet import devnet_genesis
from genesis.schema import parse_genesis
from tests.aicf.helpers import (
    HEALTHY,
    MODEL,
    OTHER_SIGNER,
    STAKE,
    JobsChain,
    account,
    aicf_events,
    fast_genesis,
    provider_key,
    tuned_genesis,
)

LANE = f"ai/{MODEL}"


def test_registration_bonds_the_stake_and_indexes_the_provider() -> None:
    c = JobsChain()
    key = provider_key(0)
    before = c.balance(key.address)
    out = c.block(c.register_tx(0, models=(MODEL, "clip-vit-b"), region="eu-west"))
    (r,) = out.receipts
    assert r.ok, r.reason
    assert c.balance(STAKE_ADDRESS) == STAKE
    assert c.balance(key.address) == before - STAKE - r.fee_paid
    record = c.record(0)
    assert (record.address, record.pubkey) == (key.address, bytes(key.public_key))
    assert (record.kinds, record.models, record.devices) == (("ai",), ("clip-vit-b", MODEL), ())
    assert (record.region, record.attestation_class, record.status) == ("eu-west", "devnet", ACTIVE)
    assert (record.stake, record.locked, record.registered_height) == (STAKE, 0, c.height)
    assert record.max_leases == 50  # 0 asks for the genesis default, max_concurrent_tasks_per_provider
    assert record.heartbeat_height == 0 and record.leases == ()
    state = c.state()
    assert provider_addresses(state) == (key.address,)
    assert load_lane(state, LANE).providers == (key.address,)
    assert load_lane(state, "ai/clip-vit-b").providers == (key.address,)
    assert aicf_events(out, "provider_registered") == [{"provider": bytes(key.address), "stake": STAKE}]


def test_lanes_list_their_providers_sorted_and_quantum_providers_serve_any_device() -> None:
    c = JobsChain()
    out = c.block(c.register_tx(2), c.register_tx(0), c.register_tx(1, kinds=("quantum",), models=(),
                                                                      devices=("sim8",)))
    assert all(r.ok for r in out.receipts)
    state = c.state()
    ai = sorted(provider_key(i).address for i in (0, 2))
    assert load_lane(state, LANE).providers == tuple(ai)
    q = provider_key(1).address
    assert load_lane(state, "quantum/any").providers == (q,)
    assert load_lane(state, "quantum/sim8").providers == (q,)
    assert c.record(1).models == ()  # a quantum-only provider lists devices, not models
    assert provider_addresses(state) == tuple(sorted([*ai, q]))
    assert c.balance(STAKE_ADDRESS) == 3 * STAKE


def _refused(c: JobsChain, tx: SignedTx) -> str:
    """Run ``tx``, which must fail having taken nothing but its fee; its receipt's reason."""
    sender = tx.body.sender_pubkey
    balance_before = c.balance(address_of(bytes(sender)))
    stake_before = c.balance(STAKE_ADDRESS)
    (r,) = c.run(tx)
    assert not r.ok
    assert c.balance(STAKE_ADDRESS) == stake_before
    assert c.balance(address_of(bytes(sender))) == balance_before - r.fee_paid
    return r.reason


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"stake": STAKE - 1}, "stake_too_low"),
    ({"models": ()}, "no_models"),
    ({"max_leases": 1_001}, "max_leases_too_high"),
    ({"stake": 10**15 + 1}, "insufficient_balance"),
    ({"signer": OTHER_SIGNER}, "attestation_invalid: devnet_unknown_signer"),
    ({"measurement": H(b"cairn/devnet-measurement/v1", b"some other software")},
     "attestation_invalid: devnet_measurement_not_allowed"),
    ({"sender": provider_key(1)}, "attestation_invalid: ai_report_data_mismatch"),
])
def test_registration_refusals(kwargs: dict[str, Any], reason: str) -> None:
    c = JobsChain()
    assert _refused(c, c.register_tx(0, **kwargs)).startswith(reason)
    assert c.provider(0) is None and c.provider(1) is None
    assert provider_addresses(c.state()) == ()
    assert load_lane(c.state(), LANE).providers == ()


def test_the_report_data_binds_the_registering_address() -> None:
    """Provider 0's payload (its attestation binds provider 0) sent by provider 1 is refused,
    while the same payload from provider 0 is accepted."""
    c = JobsChain()
    assert _refused(c, c.register_tx(0, sender=provider_key(1))) == (
        "attestation_invalid: ai_report_data_mismatch")
    assert c.register(0).ok
    assert c.provider(1) is None and c.record(0).stake == STAKE


def test_a_provider_registers_once() -> None:
    c = JobsChain()
    assert c.register(0).ok
    assert _refused(c, c.register_tx(0, stake=2 * STAKE)).startswith("provider_exists")
    assert c.record(0).stake == STAKE


@pytest.mark.parametrize("kind", ["provider_heartbeat", "provider_unbond", "provider_unjail", "quantum_commit"])
def test_lifecycle_transactions_from_an_unregistered_key_are_refused(kind: str) -> None:
    c = JobsChain()
    assert c.register(0).ok
    payload: list[object] = {"provider_heartbeat": [1, 2, 3, 4, 5], "quantum_commit": [bytes(32), bytes(32)]}.get(
        kind, [])
    (r,) = c.run(c.tx(account(3), kind, payload))
    assert not r.ok and r.reason.startswith("unknown_provider")


def test_heartbeat_stores_telemetry_and_moves_the_lease_deadline() -> None:
    c = JobsChain()
    assert c.register(0).ok
    out = c.block(c.heartbeat_tx(0))
    record = c.record(0)
    assert record.telemetry == HEALTHY
    assert record.heartbeat_height == c.height
    assert record.lease_deadline == c.height + 4  # lease_blocks = 4
    assert aicf_events(out, "heartbeat") == [{"provider": bytes(provider_key(0).address),
                                              "lease_deadline": c.height + 4}]


def test_unjail_needs_a_jail() -> None:
    c = JobsChain()
    assert c.register(0).ok
    (r,) = c.run(c.tx(provider_key(0), "provider_unjail", []))
    assert not r.ok and r.reason.startswith("not_jailed")


def test_unbonding_returns_the_stake_after_unbonding_blocks() -> None:
    c = JobsChain(fast_genesis(providers={"unbonding_blocks": 5}))
    key = provider_key(0)
    c.providers(0)
    out = c.block(c.tx(key, "provider_unbond", []))
    assert out.receipts[0].ok
    unbond_height = c.height
    record = c.record(0)
    assert (record.status, record.unbond_height) == (UNBONDING, unbond_height + 5)
    assert aicf_events(out, "provider_unbonding") == [{"provider": bytes(key.address), "at": unbond_height + 5}]

    (again,) = c.run(c.tx(key, "provider_unbond", []))
    assert not again.ok and again.reason.startswith("already_unbonding")

    c.until(unbond_height + 4)
    assert c.record(0).status == UNBONDING and c.balance(STAKE_ADDRESS) == STAKE
    before = c.balance(key.address)
    (out,) = c.empty_blocks(1)
    assert c.height == unbond_height + 5
    assert c.balance(key.address) == before + STAKE
    assert c.balance(STAKE_ADDRESS) == 0
    assert c.provider(0) is None
    assert provider_addresses(c.state()) == ()
    assert load_lane(c.state(), LANE).providers == ()
    assert aicf_events(out, "provider_unbonded") == [{"provider": bytes(key.address), "stake": STAKE}]
    # The address may register again once its stake is back.
    assert c.register(0).ok and c.record(0).status == ACTIVE


def test_an_unbonding_provider_takes_no_new_lease(samples: dict[str, bytes]) -> None:
    c = JobsChain()
    c.providers(0)
    agent = c.deploy(samples["ai_agent"])
    assert c.run(c.tx(provider_key(0), "provider_unbond", []), c.heartbeat_tx(0))[0].ok
    task = c.ask(agent)
    assert c.job(task).status == "queued"
    assert c.job(task).leases == ()


def test_matured_unbonding_releases_open_leases_without_a_fault() -> None:
    c = JobsChain(fast_genesis(providers={"unbonding_blocks": 5}, leases={"lease_blocks": 20}))
    c.providers(0)
    contract = c.deploy_script()
    (task,) = c.enqueued(c.script_ai_tx(contract))
    assert c.record(0).leases == (task,)
    (r,) = c.run(c.tx(provider_key(0), "provider_unbond", []))
    assert r.ok
    matures = c.record(0).unbond_height
    before = c.balance(provider_key(0).address)
    outs = c.until(matures)
    assert aicf_events(outs[-1], "job_requeued") == [{"task_id": bytes(task), "reason": "provider_unbonded",
                                                      "at": matures + 2}]
    assert c.provider(0) is None and c.balance(provider_key(0).address) == before + STAKE
    job = c.job(task)
    assert (job.status, job.leases, job.retries, job.excluded) == ("backoff", (), 1, ())
    assert c.balance(STAKE_ADDRESS) == 0


def test_devnet_attestation_needs_a_genesis_that_enables_it() -> None:
    """The devnet class is refused at registration when genesis does not enable it, and a
    genesis for a chain that is not a devnet cannot enable it at all."""
    off = tuned_genesis(attestation={"devnet_enabled": False})
    c = JobsChain(off)
    assert _refused(c, c.register_tx(0)) == "attestation_invalid: devnet_attestation_disabled"
    doc = replace(devnet_genesis(), chain_id="cairn-mainnet").to_json()
    doc["aicf"]["attestation"]["devnet_enabled"] = True
    with pytest.raises(InvalidGenesis) as err:
        parse_genesis(doc)
    assert err.value.details["field"] == "attestation.devnet.enabled"
