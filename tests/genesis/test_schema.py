"""Genesis validation names the bad field; the devnet genesis builds a chain deterministically."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from aicf.params import AicfParams
from chain.errors import InvalidGenesis
from genesis.build import build_genesis
from genesis.devnet import devnet_genesis
from genesis.schema import load_genesis, parse_genesis


def devnet_doc() -> dict[str, Any]:
    return devnet_genesis().to_json()


def test_devnet_round_trips_through_json() -> None:
    g = devnet_genesis()
    again = load_genesis(g.dumps())
    assert again == g
    assert again.hash() == g.hash()


def test_defaults_are_the_design_numbers() -> None:
    a = AicfParams()
    assert (a.treasury.block_mint_bps, a.treasury.fee_share_bps) == (150, 200)
    assert (a.split.provider_bps, a.split.miner_bps, a.split.fund_bps) == (8000, 1500, 500)
    assert a.epoch.gamma_cap == 1_000_000
    assert dict(a.pricing.ai.model_weights_bp) == {"llama3-8b": 10_000, "llama3-70b": 65_000, "clip-vit-b": 3_000}
    assert a.pricing.ai.base_rate_per_unit == 15_000 and a.pricing.quantum.base_rate_per_unit == 50_000
    assert a.matcher.max_concurrent_tasks_per_provider == 50


def test_genesis_state_is_deterministic() -> None:
    one, two = build_genesis(devnet_genesis()), build_genesis(devnet_genesis())
    assert one.header == two.header and one.header.hash() == two.header.hash()
    assert build_genesis(devnet_genesis(2)).header.state_root != one.header.state_root


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target = doc
    for p in path[:-1]:
        target = target[p]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["chain_id"], "Bad Chain", "chain_id"),
        (["chain_id"], _DELETE, "chain_id"),
        (["genesis_time"], "yesterday", "genesis_time"),
        (["genesis_time"], "2026-01-01T00:00:00", "genesis_time"),
        (["validators"], [], "validators"),
        (["validators", 0, "power"], 0, "validators[0].power"),
        (["validators", 0, "power"], "100", "validators[0].power"),
        (["validators", 0, "pubkey"], "zz", "validators[0].pubkey"),
        (["initial_balances", 0, "amount"], -1, "initial_balances[0].amount"),
        (["initial_balances", 0, "amount"], 1.5, "initial_balances[0].amount"),
        (["initial_balances", 0, "address"], "cairn1qqqq", "initial_balances[0].address"),
        (["params", "max_tx_bytes"], 0, "params.max_tx_bytes"),
        (["params", "min_gas_price"], True, "params.min_gas_price"),
        (["params", "bogus"], 1, "params.bogus"),
        (["aicf", "split", "provider_bps"], 9000, "aicf.split"),
        (["aicf", "treasury", "fee_share_bps"], 10_001, "aicf.treasury.fee_share_bps"),
        (["aicf", "matcher", "strategy"], "random", "aicf.matcher.strategy"),
        (["aicf", "epoch", "length_blocks"], 100, "aicf.epoch.length_blocks"),  # one epoch: params.epoch_length
        (["aicf", "pricing", "ai", "base_rate_per_unit"], "1", "aicf.pricing.ai.base_rate_per_unit"),
        (["aicf", "leases", "backoff_base_blocks"], 0, "aicf.leases.backoff_base_blocks"),
        (["aicf", "leases", "retry_budget"], 65, "aicf.leases.retry_budget"),
        (["aicf", "leases", "lease_blocks"], 0, "aicf.leases.lease_blocks"),
        (["aicf", "attestation", "devnet_signers"], ["zz"], "aicf.attestation"),
        (["capabilities", "max_shots"], 20_001, "capabilities.max_shots"),
        (["aicf", "queue", "tiers"], [["cairn1notanaddress", 5]], "aicf.queue.tiers[0]"),
        (["aicf", "governance"], {"keys": ["ab" * 32], "threshold": 0}, "aicf.governance.threshold"),
        (["aicf", "governance"], {"keys": ["ab" * 32], "threshold": 2}, "aicf.governance.threshold"),
        (["aicf", "governance"], {"keys": ["ab"], "threshold": 1}, "aicf.governance.keys[0]"),
        (["aicf", "governance"], {"keys": ["ab" * 32, "ab" * 32], "threshold": 1}, "aicf.governance.keys"),
        (["aicf", "attestation", "sgx_mrenclaves"], ["00" * 31], "aicf.attestation.sgx_mrenclaves[0]"),
        (["extra"], 1, "extra"),
    ],
)
def test_bad_fields_are_named(path: list[Any], value: Any, field: str) -> None:
    doc = _set(devnet_doc(), path, value)
    with pytest.raises(InvalidGenesis) as err:
        parse_genesis(doc)
    assert err.value.details["field"] == field
    assert field in err.value.message


def test_duplicate_validator_and_duplicate_balance() -> None:
    doc = devnet_doc()
    doc["validators"].append(dict(doc["validators"][0]))
    with pytest.raises(InvalidGenesis, match=r"validators\[1\]\.pubkey"):
        parse_genesis(doc)
    doc = devnet_doc()
    doc["initial_balances"].append(dict(doc["initial_balances"][0]))
    with pytest.raises(InvalidGenesis, match="listed twice"):
        parse_genesis(doc)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", json.dumps({"chain_id": 5})])
def test_not_a_genesis(text: str) -> None:
    with pytest.raises(InvalidGenesis):
        load_genesis(text)
